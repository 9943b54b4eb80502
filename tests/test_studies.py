"""Studies: the embedded suite as data, the checks a study gets before any job, and a small study run end
to end (plan, tune -> train -> evaluate, resume, report) on this machine and through a real Slurm."""

import json
from pathlib import Path

import pytest
import yaml

from benchmark.cli import main
from benchmark.errors import BenchmarkError

ROOT = Path(__file__).resolve().parents[1]

TINY_PROTOCOL = {"name": "tiny-linf", "version": 1, "threat_model": "Linf", "eps": 0.1, "n_examples": 40, "seed": 0,
                 "cascade": True, "applies_to": {"channels": 1, "image_size": 28},
                 # the guards at a test's size: every one of them runs, with fewer queries and steps
                 "guards": {"square_queries": 50, "long_steps": 10, "long_restarts": 1},
                 "attacks": [{"name": "pgd-ce", "type": "pgd", "loss": "ce", "steps": 5, "step_size": 0.025,
                              "restarts": 1}]}


def tiny_study(folder: Path, name: str = "tiny", seeds: int = 2) -> Path:
    """A small study on the embedded target task: a tuned linear head at two sizes (the second inherits the
    first's selection) on the published small-CNN source, and PGD-2 adversarial training from scratch."""
    protocol = folder / "tiny-linf.yaml"
    folder.mkdir(parents=True, exist_ok=True)
    protocol.write_text(yaml.safe_dump(TINY_PROTOCOL))
    study = {"name": name, "task": "fmnist-tgt", "architecture": "small_cnn", "eps": 0.1, "protocol": str(protocol),
             "names": f"{name}_{{arm}}", "seeds": seeds, "low_data": {"steps": 12, "batch_size": 32, "tuned": [10]},
             "arms": {"linear": {"strategy": "linear", "source": "fmnist_cnn_src_robust",
                                 "recipe": {"epochs": 2, "batch_size": 32, "lr": 0.05},
                                 "tuning": {"grid": {"lr": {"scale": [0.5, 2]}}}, "sizes": [10, 20],
                                 "description": "linear head, {n} per class.{inherited}"},
                      "adv_scratch": {"strategy": "pgd_at", "recipe": {"epochs": 2, "batch_size": 32, "lr": 0.02,
                                                                      "eps": 0.1, "attack_steps": 2},
                                      "sizes": [10, 20]}},
             "data_size": {"sizes": [10, 20], "arms": {"linear": "linear head", "adv_scratch": "scratch"},
                           "transfer": ["linear"], "baseline": "adv_scratch"}}
    path = folder / "studies" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    return path


@pytest.fixture
def home(tmp_path, monkeypatch, fmnist_available):
    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_embedded_studies_expand_to_the_committed_entries_byte_for_byte():
    from benchmark.studies import expand, load_study
    from benchmark.studies.catalog import entry_text

    planned = expand(load_study("fmnist"))
    zoo = ROOT / "model_zoo"
    assert {p.name for p in planned} == {f.stem for f in zoo.glob("fmnist_*.yaml")}
    differ = [p.name for p in planned if (zoo / f"{p.name}.yaml").read_text() != entry_text(p)]
    assert not differ, f"regenerating from the studies would change {differ}"
    inherits = {p.name: p.inherits for p in planned if p.inherits}
    assert inherits["fmnist_linear_n25"] == "fmnist_linear_n10" and inherits["fmnist_lwf_n250"] == "fmnist_lwf_n100"
    assert inherits["fmnist_lwf_lambda1"] == "fmnist_lwf" and inherits["fmnist_linear_n10_oracle"] == "fmnist_linear_n10"


def test_embedded_study_has_nothing_left_but_the_replication(capsys):
    """What the committed study still plans is the confirmatory replication (its fresh seeds, and the claim roles
    new to the frozen analysis: LwF's front, LwF on the source's own task, tuned and on every seed) and the arms
    of the questions beyond the paper. Every other job of the exploratory half is done, and every entry file is as
    the study writes it."""
    from benchmark.studies import expand, load_study, parts

    fresh, new_roles, beyond = {}, set(), set()
    for part in parts(load_study("fmnist")):
        # the arms of the questions beyond the paper (issue 44), fixed before any of their seeds was trained
        beyond |= {p.name for p in expand(part) if p.key in ("lora", "bitfit", "lora_at", "bitfit_at")
                   or (p.key == "adv_finetune" and p.data.get("n_per_class") not in (10, 100))}
        if part.claims is not None and part.claims.confirmatory_seeds:
            roles = {part.claims.roles["lwf"], part.claims.roles["lwf_self"]}
            planned = expand(part)
            fresh.update({p.name: set(range(part.claims.seeds, part.claims.all_seeds)) for p in planned})
            new_roles |= {p.name for p in planned if p.key in roles}
    assert len(new_roles) == 6
    assert main(["study", "plan", "fmnist", "--json", "--no-measure"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(beyond) == 44 and plan["entries"] == 175 and plan["entry_files_to_write"] == []
    for job in plan["jobs"]:
        assert job["entry"] in new_roles | beyond or job.get("seed") in fresh.get(job["entry"], ()), job


BAD = [
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"arms": {"linear": {"strategy": "linear", "sizes": [10]}}}, r"arms.linear \(entry t_linear_n10\): field "
                                                                 r"'source' is required for strategy 'linear'"),
    ({"arms": {"x": {"like": "nope"}}}, r"field 'arms.x.like' names 'nope'"),
    ({"arms": {"x": {"strategy": "natural", "sizes": [0]}}}, r"field 'arms.x.sizes' must list positive"),
    ({"arms": {"x": {"strategy": "natural", "tuning": {"grid": {"lr": []}}}}}, r"field 'arms.x.tuning.grid.lr'"),
    ({"arms": {"x": {"strategy": "natural", "suites_at": {10: ["a"]}}}}, r"field 'arms.x.suites_at' names size 10"),
    ({"arms": {"x": {"strategy": "linear", "source": "no_such_entry"}}}, r"'arms.x.source' names 'no_such_entry'"),
    ({"task": None}, "give exactly one of 'task'"),
    ({"arms": {"x": {"strategy": "natural", "sizes": [10], "tuning": {"grid": {"lr": [0.1]}, "seeds": {25: 2}}}}},
     r"field 'arms.x.tuning.seeds' names size 25"),
    ({"arms": {"x": {"strategy": "natural", "tuning": {"grid": {"lr": [0.1]}, "seeds": 0}}}},
     r"field 'arms.x.tuning.seeds' must be a positive number"),
]


@pytest.mark.parametrize("change,match", BAD)
def test_a_malformed_study_is_one_line_naming_the_field(tmp_path, change, match, fmnist_available):
    from benchmark.studies import expand, load_study_file
    from benchmark.studies.catalog import validate

    base = {"name": "t", "task": "fmnist-tgt", "architecture": "small_cnn", "eps": 0.1,
            "protocol": "fmnist-linf-quick", "names": "t_{arm}", "arms": {"x": {"strategy": "natural"}}}
    data = {**base, **change}
    data = {k: v for k, v in data.items() if v is not None}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(BenchmarkError, match=match) as exc:
        study = load_study_file(path, "user")
        validate(study, expand(study))
    assert "\n" not in str(exc.value) and str(path) in str(exc.value)


def test_a_folder_study_refuses_sizes_the_folder_cannot_serve(home, tmp_path):
    from benchmark.studies import expand, load_study_file

    folder = tmp_path / "imgs"
    for split, k in (("train", 30), ("val", 5)):
        for c in ("a", "b", "c", "d"):
            (folder / split / c).mkdir(parents=True)
            for i in range(k):
                from PIL import Image

                Image.new("L", (28, 28), color=i * 8).save(folder / split / c / f"{i}.png")
    study = {"name": "f", "data": str(folder), "architecture": "small_cnn", "eps": 0.1,
             "protocol": "fmnist-linf-quick", "names": "f_{arm}",
             "arms": {"linear": {"strategy": "linear", "source": "fmnist_cnn_src_robust",
                                 "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.1}, "sizes": [10, 25]}}}
    path = tmp_path / "f.yaml"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(BenchmarkError, match=r"field 'arms.linear.sizes' has 25 examples per class, but the folder's "
                                             r"smallest class has 24 training images"):
        expand(load_study_file(path, "user"))
    (folder / "val" / "d" / "0.png").unlink()
    for i in range(1, 5):
        (folder / "val" / "d" / f"{i}.png").unlink()
    with pytest.raises(BenchmarkError, match=r"class folder .*val/d has no images"):
        expand(load_study_file(path, "user"))


def _outcomes(home: Path, protocol: str = "tiny-linf") -> dict:
    out = {}
    for path in sorted((home / "results" / protocol).glob("*/seed*.json")):
        rec = json.loads(path.read_text())
        out[(rec["model"], rec["seed"])] = (rec["weights"]["sha256"], rec["per_example"]["robust"],
                                            rec["per_example"]["clean_correct"])
    return out


@pytest.mark.slow  # minutes: a whole study end to end (CI's slow tier runs it)
def test_a_study_runs_resumes_and_reports_on_this_machine(home, capsys):
    study = tiny_study(home)
    assert main(["study", "plan", str(study), "--json", "--no-measure"]) == 0
    plan = json.loads(capsys.readouterr().out)
    kinds = [j["kind"] for j in plan["jobs"]]
    assert plan["left"] == 17 and kinds.count("tune") == 1 and kinds.count("train") == 8
    train20 = next(j for j in plan["jobs"] if j["kind"] == "train" and j["entry"] == "tiny_linear_n20")
    assert train20["state"] == "waiting" and "tune:tiny_linear_n10" in train20["after"]  # it inherits the selection
    # stopped after three jobs, then started again: nothing done twice
    assert main(["study", "run", str(study), "--max-jobs", "3", "--no-measure"]) == 0
    capsys.readouterr()
    assert main(["study", "run", str(study), "--no-measure", "--report"]) == 0
    out = capsys.readouterr().out
    assert "finished 14 jobs" in out and "failed: 0" in out
    entries = yaml.safe_load((home / "home" / "entries" / "tiny_linear_n20.yaml").read_text())
    selected = yaml.safe_load((home / "home" / "entries" / "tiny_linear_n10.yaml").read_text())["tuning"]["selected"]
    assert entries["recipe"]["lr"] == selected["lr"] and "not tuned at this size" in entries["description"]
    assert len(_outcomes(home / "home")) == 8
    assert main(["study", "plan", str(study), "--json", "--no-measure"]) == 0
    assert json.loads(capsys.readouterr().out)["left"] == 0
    report = (home / "home" / "studies" / "tiny" / "report" / "claims.md").read_text()
    assert "No point has 3 seeds yet" in report and "tiny_linear_n10 (2 seeds)" in report
    # the user's own gate: their published weights against their records, example by example
    capsys.readouterr()
    assert main(["check", "--study", str(study), "--quiet"]) == 0
    assert "evaluation gate: 8 published models compared example by example, 0 failed" in capsys.readouterr().out
    path = home / "home" / "results" / "tiny-linf" / "tiny_linear_n20" / "seed1.json"
    rec = json.loads(path.read_text())
    i = rec["per_example"]["clean_correct"].index(1)
    rec["per_example"]["robust"][i] = 1 - rec["per_example"]["robust"][i]  # a tampered record
    path.write_text(json.dumps(rec))
    assert main(["check", "--model", "tiny_linear_n20", "--quiet"]) == 1
    assert "tiny_linear_n20 seed 1: 1 of 40 examples flipped" in capsys.readouterr().out


def test_a_gate_with_nothing_published_fails_saying_what_to_publish(home, capsys):
    entries = home / "home" / "entries"
    entries.mkdir(parents=True)
    (entries / "mine.yaml").write_text(yaml.safe_dump({
        "name": "mine", "task": "fmnist-tgt", "architecture": "small_cnn", "threat_model": "Linf", "eps": 0.1,
        "protocol": "fmnist-linf-quick", "strategy": "linear", "source": "fmnist_cnn_src_robust", "n_per_class": 10,
        "seeds": [0], "recipe": {"epochs": 1, "batch_size": 8, "lr": 0.1}}))
    assert main(["check", "--model", "mine"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: nothing to compare: mine has no published weights") and "--publish" in err
    assert "\n" not in err


def test_a_failed_job_is_reported_and_the_others_go_on(home, capsys, monkeypatch):
    study = tiny_study(home)
    data = yaml.safe_load(study.read_text())
    data["arms"]["adv_scratch"]["recipe"]["lr"] = 1e9  # training diverges at once: the loss turns non-finite
    data["arms"]["linear"].pop("tuning")
    data["seeds"] = 1
    study.write_text(yaml.safe_dump(data, sort_keys=False))
    code = main(["study", "run", str(study), "--no-measure"])
    out = capsys.readouterr().out
    assert code == 1
    assert "train:tiny_adv_scratch_n10:0 FAILED" in out and "log " in out
    assert "evaluate:tiny_linear_n10:0 ok" in out and "evaluate:tiny_linear_n20:0 ok" in out
    assert "not run evaluate:tiny_adv_scratch_n10:0: needs train:tiny_adv_scratch_n10:0" in out


@pytest.fixture
def slurm(tmp_path_factory):
    from tests.slurm_cluster import Unavailable, start, stop

    folder = tmp_path_factory.mktemp("slurm")
    try:
        env = start(folder)
    except Unavailable as exc:
        pytest.skip(f"no Slurm cluster here: {exc}")
    yield env
    stop(folder, env)


@pytest.mark.slow  # two runs of the study, one through Slurm: .ci/run runs it with the slow tests
def test_the_same_study_through_slurm_gives_the_same_records(home, slurm, capsys, monkeypatch, tmp_path):
    pytest.importorskip("submitit", reason="the slurm executor needs submitit (pip install submitit)")
    monkeypatch.setenv("SLURM_CONF", slurm["SLURM_CONF"])
    study = tiny_study(home, seeds=1)
    assert main(["study", "run", str(study), "--no-measure"]) == 0
    local = _outcomes(home / "home")
    capsys.readouterr()
    # the same study from nothing, in a second home and cache, through Slurm
    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home2"))
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache2"))
    study2 = tiny_study(tmp_path / "second", seeds=1)
    assert main(["study", "run", str(study2), "--executor", "slurm", "--no-measure", "--time-min", "20"]) == 0
    out = capsys.readouterr().out
    assert "submitted" in out and "as array" in out and "FAILED" not in out
    assert (tmp_path / "home2" / "studies" / "tiny" / "logs").is_dir()
    remote = _outcomes(tmp_path / "home2")
    assert len(local) == 4 and remote == local  # the same weights and the same per-example outcomes


def test_the_paper_studies_plan_every_job(capsys):
    """The paper's two experiments as studies: every arm, size and seed is a job, sources first."""
    counts = {}
    for name in ("paper_cifar", "paper_lowdata"):
        assert main(["study", "plan", name, "--json", "--no-measure"]) == 0
        plan = json.loads(capsys.readouterr().out)
        counts[name] = {k: sum(j["kind"] == k for j in plan["jobs"]) for k in ("tune", "train", "evaluate")}
        keys = [f"{j['kind']}:{j['entry']}" + ("" if j["seed"] is None else f":{j['seed']}") for j in plan["jobs"]]
        for key, j in zip(keys, plan["jobs"]):  # every job after the jobs it waits for
            assert all(keys.index(a) < keys.index(key) for a in j["after"])
    # 12 entries x 3 seeds, no tuning (the paper's own settings)
    assert counts["paper_cifar"] == {"tune": 0, "train": 36, "evaluate": 36}
    # 5 arms x 5 sizes x 3 seeds, 2 tuned sizes per arm, and the paper's Free-4 ImageNet source (one model)
    assert counts["paper_lowdata"] == {"tune": 10, "train": 76, "evaluate": 75}


@pytest.mark.slow  # measures training and evaluation rates of WRN-32-10 and ResNet-50 on this device
def test_the_paper_studies_project_every_job_on_this_device(capsys):
    for name in ("paper_cifar", "paper_lowdata"):
        assert main(["study", "plan", name, "--json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["left"] > 0 and all(j["projected_seconds"] > 0 for j in plan["jobs"])
        assert plan["projected_seconds"] >= max(j["projected_seconds"] for j in plan["jobs"])


def test_transfer_refuses_a_zero_size_and_an_empty_class_folder(home, tmp_path, capsys):
    from PIL import Image

    folder = tmp_path / "imgs"
    for split in ("train", "val"):
        for c in ("a", "b"):
            (folder / split / c).mkdir(parents=True)
            if split == "val" and c == "b":
                continue  # an empty class folder under val/
            for i in range(3):
                Image.new("L", (28, 28), color=40 * i).save(folder / split / c / f"{i}.png")
    base = ["transfer", "--source", "fmnist_cnn_src_robust", "--data", str(folder), "--strategy", "linear"]
    assert main(base + ["--n-per-class", "0"]) == 2
    assert "--n-per-class 0: give a positive number" in capsys.readouterr().err
    assert main(base) == 2
    assert f"class folder {folder}/val/b has no images" in capsys.readouterr().err


def test_logs_written_to_a_file_have_one_line_per_stage_and_no_redraws(home, tmp_path):
    """A training and an evaluation (`transfer`) with their output in a file, not a terminal: no `\\r`, a line
    per epoch and per attack."""
    import os
    import subprocess
    import sys

    from PIL import Image

    folder = tmp_path / "imgs"
    for split, k in (("train", 12), ("val", 6)):
        for c in ("a", "b", "c", "d"):
            (folder / split / c).mkdir(parents=True)
            for i in range(k):
                Image.new("L", (28, 28), color=(60 * "abcd".index(c) + 5 * i) % 256).save(folder / split / c / f"{i}.png")
    log = tmp_path / "log"
    with open(log, "w") as fh:
        code = subprocess.call([sys.executable, "-m", "benchmark", "transfer", "--source", "fmnist_cnn_src_robust",
                                "--data", str(folder), "--strategy", "linear", "--n-per-class", "10", "--epochs", "3",
                                "--no-guards"], stdout=fh, stderr=subprocess.STDOUT, env={**os.environ})
    text = log.read_text()
    assert code == 0, text
    assert "\r" not in text
    assert sum(f"epoch {e}/3:" in text for e in (1, 2, 3)) == 3  # one line per epoch
    for attack in ("pgd-ce", "pgd-cw", "deepfool", "apgd-ce", "apgd-t"):
        assert f"attacks: {attack} done in" in text


def test_a_protocol_that_does_not_fit_the_images_is_refused_before_any_job(tmp_path, fmnist_available):
    from benchmark.studies import load_study_file
    from benchmark.studies.jobs import plan_study

    study = {"name": "t", "task": "fmnist-tgt", "architecture": "small_cnn", "eps": 0.1, "protocol": "cifar-linf",
             "names": "t_{arm}", "arms": {"x": {"strategy": "natural", "recipe": {"epochs": 1, "batch_size": 8,
                                                                                  "lr": 0.1}}}}
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(study))
    with pytest.raises(BenchmarkError, match=r"t.yaml: field 'protocol': protocol cifar-linf is for 3-channel images"):
        plan_study(load_study_file(path, "user"), project=False)


def _folder(root: Path, classes, train: int = 12, val: int = 6) -> Path:
    from PIL import Image

    for split, k in (("train", train), ("val", val)):
        for ci, c in enumerate(classes):
            (root / split / c).mkdir(parents=True)
            for i in range(k):
                Image.new("L", (28, 28), color=(90 * ci + 7 * i) % 256).save(root / split / c / f"{i}.png")
    return root


def test_two_and_three_class_tasks_are_served_or_refused_before_training(home, tmp_path, capsys):
    """APGD-T's targeted DLR needs 4 classes: ours falls back to the CW margin (recorded); the reference
    AutoAttack cannot, so its protocols refuse such a task before anything trains."""
    two = _folder(tmp_path / "two", ["bag", "sandal"])
    assert main(["transfer", "--source", "fmnist_cnn_src_robust", "--data", str(two), "--strategy", "linear",
                 "--n-per-class", "10", "--epochs", "2", "--no-guards", "--quiet"]) == 0
    rec = json.loads(next((home / "home" / "results" / "fmnist-linf-quick").glob("*/seed0.json")).read_text())
    apgd_t = next(a for a in rec["attacks"] if a["name"] == "apgd-t")
    assert apgd_t["params"]["ran"] == {"loss": "margin-targeted", "targets": 1, "classes": 2}
    three = _folder(tmp_path / "three", ["bag", "sandal", "shirt"])
    capsys.readouterr()
    assert main(["transfer", "--source", "fmnist_cnn_src_robust", "--data", str(three), "--strategy", "linear",
                 "--protocol", "fmnist-linf-reference", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "protocol fmnist-linf-reference runs the reference AutoAttack, whose APGD-T needs at least 4 classes" in err
    assert "choose one of fmnist-linf, fmnist-linf-quick" in err
    assert not list((home / "home" / "entries").glob("*three*.yaml"))  # refused before the entry was written


def test_a_plugin_strategy_is_compared_in_a_study(home, tmp_path, capsys):
    """Your own method from a file of yours: registered by the plugin, run by the study's jobs."""
    plugin = tmp_path / "my_method.py"
    plugin.write_text(
        "from benchmark.strategies.base import register_strategy\n"
        "from benchmark.strategies.natural import Natural\n\n\n"
        "@register_strategy('my_method')\n"
        "class MyMethod(Natural):\n"
        "    label = 'my method'\n")
    study = yaml.safe_load(tiny_study(home, seeds=1).read_text())
    study["plugins"] = [str(plugin)]
    study["arms"] = {"mine": {"strategy": "my_method", "recipe": {"epochs": 1, "batch_size": 32, "lr": 0.05},
                              "sizes": [10]}}
    study.pop("data_size")
    path = home / "studies" / "tiny.yaml"
    path.write_text(yaml.safe_dump(study))
    assert main(["study", "run", str(path), "--no-measure"]) == 0
    out = capsys.readouterr().out
    assert "train:tiny_mine_n10:0 ok" in out and "evaluate:tiny_mine_n10:0 ok" in out
    assert yaml.safe_load((home / "home" / "entries" / "tiny_mine_n10.yaml").read_text())["strategy"] == "my_method"


@pytest.mark.slow  # minutes: a whole study end to end (CI's slow tier runs it)
def test_a_study_of_a_folder_runs_end_to_end_to_its_plot_and_page(home, capsys):
    """`study --data FOLDER --source SOURCE`: the default study of a folder of images planned first (`study plan
    --data`), then run and reported, down to the data-size plot and the page: every arm at every size with its
    interval and the differences between the arms even without a baseline arm; the task named by its name, never
    its path (a folder's task is a file); the plot's intervals inside 0-100% and its axis labelled with the sizes."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fmnist_to_png", ROOT / "tools" / "fmnist_to_png.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    folder = home / "shoes"
    tool.write(folder, train_per_class=20, val_per_class=10, classes=["sandal", "sneaker"])
    protocol = home / "tiny-linf.yaml"
    protocol.write_text(yaml.safe_dump(TINY_PROTOCOL))
    args = ["--data", str(folder), "--source", "fmnist_cnn_src_robust", "--sizes", "5", "--seeds", "3",
            "--arms", "linear", "lwf", "--no-tuning", "--protocol", str(protocol), "--no-measure", "--lanes", "2"]
    assert main(["study", "plan", *args]) == 0
    planned = capsys.readouterr().out
    assert "12 jobs left" in planned and "not projected" in planned   # 2 arms x 3 seeds: train, evaluate
    assert main(["study", "run", *args, "--report"]) == 0
    out = capsys.readouterr().out
    assert "not projected" in out.split("start ")[0] and "failed: 0" in out
    report = home / "home" / "studies" / "shoes" / "report"
    plots = sorted(p.name for p in (report / "plots").glob("*.png"))
    assert plots and all("/" not in p and "yaml" not in p for p in plots), plots
    claims = (report / "claims.md").read_text()
    assert "| linear head on the frozen source |" in claims                       # each arm at each size
    assert "| linear head on the frozen source - LwF fine-tuning |" in claims     # their differences
    board = (report / "leaderboard.md").read_text()
    assert "tasks/" not in board and ".yaml" not in board, board[:2000]
    assert (report / "index.html").is_file()


def test_a_log_scale_axis_of_sizes_is_labelled_with_the_sizes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.reports.plots import _label_sizes

    fig, ax = plt.subplots()
    ax.plot([10, 25, 100], [1, 2, 3])
    ax.set_xscale("log")
    _label_sizes(ax)
    fig.canvas.draw()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["10", "25", "100"]
    plt.close(fig)


def test_a_runner_stopped_by_sigterm_stops_its_jobs_and_the_next_run_resumes(home, tmp_path):
    """`study run` killed (a `kill`, a scheduler's end of allocation) leaves no job training without its parent."""
    import os
    import signal
    import subprocess
    import sys
    import time

    path = tiny_study(tmp_path / "mine")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runner = subprocess.Popen([sys.executable, "-m", "benchmark", "study", "run", str(path), "--lanes", "1"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    def children() -> list[int]:
        """The runner's jobs (not the short process the plan measures a job's start-up in)."""
        out = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
                argv = (stat.parent / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if int(fields[1]) == runner.pid and b"benchmark" in argv[1:3]:
                out.append(int(stat.parent.name))
        return out

    start = time.time()
    while not children():
        assert runner.poll() is None, runner.stdout.read()
        assert time.time() - start < 120
        time.sleep(0.2)
    jobs = children()
    runner.send_signal(signal.SIGTERM)
    out = runner.communicate(timeout=60)[0]
    assert runner.returncode != 0 and "stopped by signal SIGTERM" in out and "resumes them" in out, out
    for pid in jobs:
        assert not Path(f"/proc/{pid}").exists() or "zombie" in Path(f"/proc/{pid}/status").read_text()
    # the stopped job is still to do: the next `study run` starts it again (a training from its last checkpoint)
    stopped = out.split("stopped with it (")[1].split(")")[0].split(", ")
    plan = subprocess.run([sys.executable, "-m", "benchmark", "study", "plan", str(path), "--json", "--no-measure"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert plan.returncode == 0, plan.stderr
    left = {j["kind"] + ":" + j["entry"] + ("" if j["seed"] is None else f":{j['seed']}")
            for j in json.loads(plan.stdout)["jobs"]}
    assert stopped and set(stopped) <= left


def test_the_runner_starts_the_job_with_the_most_work_behind_it_first():
    """A tuning with every seed of its arm behind it starts before lone evaluations listed ahead of it."""
    from benchmark.studies.executors import dependents
    from benchmark.studies.jobs import Job

    jobs = [Job("evaluate", "a", 0), Job("evaluate", "b", 0), Job("tune", "t"),
            Job("train", "t", 0, after=["tune:t"]), Job("train", "t", 1, after=["tune:t"]),
            Job("evaluate", "t", 0, after=["train:t:0"])]
    count = dependents(jobs)
    assert count["tune:t"] == 3 and count["train:t:0"] == 1 and count["evaluate:a:0"] == 0
    ready = sorted(jobs[:3], key=lambda j: -count.get(j.key, 0))
    assert [j.key for j in ready] == ["tune:t", "evaluate:a:0", "evaluate:b:0"]
