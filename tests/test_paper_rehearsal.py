"""The paper's own chain rehearsed at toy size through the real code path: CIFAR-100 and CIFAR-10 read
by torchvision from files in CIFAR's format, the free-AT source and its transfers trained from their
recipes with an explicit size override, evaluated under cifar-linf (the fewer-passes APGD, with the reference
FAB-T and Square on the guards' slice) and under cifar-linf-reference (the standard AutoAttack on every
example), and reported. Slow (FAB-T and Square spend their whole budgets on what survives): `.ci/run` runs it
with `pytest -m slow tests/test_paper_rehearsal.py`."""

import json
import os

import pytest
import torchvision
import yaml

from benchmark.cli import main
from tests.cifar_standin import write_cifar10, write_cifar100

OVERRIDE = ["--override", "architecture=wrn_10_1", "n_per_class=4", "epochs=2", "batch_size=32"]
TAG = "wrn_10_1-n4-e2-b32"


@pytest.fixture
def standins(tmp_path, monkeypatch):
    root = tmp_path / "data"
    write_cifar10(root)
    write_cifar100(root)
    # the stand-ins cannot have CIFAR's md5 sums: the one check a rehearsal may patch
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda path, md5=None: os.path.isfile(path))
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home"))
    return root, tmp_path / "home"


@pytest.mark.slow  # a few minutes: AutoAttack's FAB-T and Square spend their full budgets on what survives
def test_paper_chain_at_toy_size(standins, capsys):
    root, home = standins
    data = ["--data-dir", str(root), "--quiet"]
    assert main(["train", "--model", "lwf_cifar100", "linear_cifar100", *OVERRIDE, *data]) == 0
    out = capsys.readouterr().out
    assert f"cifar100_wrn_free_source@{TAG} seed 0" in out and f"lwf_cifar100@{TAG} seed 0" in out
    assert main(["evaluate", "--model", "lwf_cifar100", "linear_cifar100", *OVERRIDE, "--protocol", "cifar-linf",
                 "--n", "24", "--save-adversarial", *data]) == 0
    records = sorted((home / "results" / "cifar-linf").glob("*/seed0.json"))
    assert [r.parent.name for r in records] == [f"linear_cifar100@{TAG}", f"lwf_cifar100@{TAG}"]
    for path in records:
        rec = json.loads(path.read_text())
        assert rec["entry"]["override"] == {"architecture": "wrn_10_1", "n_per_class": 4, "epochs": 2,
                                            "batch_size": 32}
        assert rec["protocol"]["name"] == "cifar-linf" and rec["n_examples"] == 24
        assert [a["name"] for a in rec["attacks"]][-2:] == ["apgd-ce", "apgd-t"]
        assert rec["guards"]["square_queries"] == 5000 and "fab_t_broken" in rec["guards"]  # on the guards' slice
        assert main(["verify", str(path), "--data-dir", str(root)]) == 0
    # the standard AutoAttack on every example, one flag away
    assert main(["evaluate", "--model", "lwf_cifar100", *OVERRIDE, "--protocol", "cifar-linf-reference", "--n", "12",
                 "--no-guards", *data]) == 0
    ref = json.loads((home / "results" / "cifar-linf-reference" / f"lwf_cifar100@{TAG}" / "seed0.json").read_text())
    aa = next(a for a in ref["attacks"] if a["type"] == "AutoAttack")
    assert aa["params"]["version"] == "standard"  # APGD-CE, APGD-T, FAB-T and Square
    lwf = json.loads(records[1].read_text())
    assert lwf["entry"]["source"] == f"cifar100_wrn_free_source@{TAG}"
    assert lwf["entry"]["recipe"]["warm_start_epochs"] == 1  # the authors' warm start kept at its share
    assert main(["report", "--with-user"]) == 0
    board = (home / "reports" / "leaderboard.md").read_text()
    assert f"lwf_cifar100@{TAG}" in board


def _imagenet_source_standin(override: list[str]):
    """The paper's ImageNet source at toy size as a stand-in checkpoint in the cache (its training on ImageNet
    is a GPU-days job; the free-AT source training itself is rehearsed by paper_cifar's source)."""
    from safetensors.torch import save_file

    from benchmark.zoo import load_entries
    from benchmark.zoo.entry import derive, parse_override
    from benchmark.zoo.weights import build_entry_model, trained_path

    entries = load_entries()
    source = derive(entries["imagenet_resnet50_free4"], parse_override(override), entries)
    path = trained_path(source, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in build_entry_model(source).state_dict().items()}, str(path))


@pytest.fixture
def job_standins(standins, tmp_path, monkeypatch):
    """The stand-ins for jobs that run in processes of their own: the md5 patch goes in through sitecustomize."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import os\nimport torchvision.datasets.cifar as cifar\n"
        "cifar.check_integrity = lambda path, md5=None: os.path.isfile(path)\n")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    return standins


@pytest.mark.slow  # both paper studies through `study plan`, `study run` and `study report`, at toy size
def test_both_paper_studies_run_end_to_end_at_toy_size(job_standins, capsys):
    root, home = job_standins
    write_cifar10(root, train_per_class=205)  # cifar10-224 holds 200 per class out for tuning
    override = ["architecture=wrn_10_1", "n_per_class=1", "epochs=2", "batch_size=32"]
    _imagenet_source_standin(override)
    common = ["--override", *override, "--seed", "0", "--data-dir", str(root), "--n", "24", "--no-measure"]
    # a cheaper protocol for the low-data study, whose models see 224x224 inputs (cifar-linf with AutoAttack is
    # rehearsed on the CIFAR study and by the chain above)
    quick = root / "cifar-quick.yaml"
    quick.write_text(yaml.safe_dump({"name": "cifar-quick", "version": 1, "threat_model": "Linf", "eps": 8 / 255,
                                     "n_examples": 24, "seed": 0, "applies_to": {"channels": 3, "image_size": 32},
                                     "attacks": [{"name": "pgd-ce", "type": "pgd", "loss": "ce", "steps": 5,
                                                  "step_size": 2 / 255, "restarts": 1}]}))
    runs = {"paper_cifar": ("(lwf|linear)_cifar100", []),
            # the Salman et al. arms need a download: left out here
            "paper_lowdata": ("lowdata_(linear_free4|free_scratch)_n10", ["--protocol", str(quick), "--no-guards"])}
    for study, (match, more) in runs.items():
        common_study = common + more
        assert main(["study", "plan", study, "--match", match, *common_study, "--json"]) == 0
        plan = json.loads(capsys.readouterr().out)
        assert plan["left"] == (5 if study == "paper_cifar" else 4)  # the ImageNet source: the stand-in
        assert {j["kind"] for j in plan["jobs"]} == {"train", "evaluate"}
        assert main(["study", "run", study, "--match", match, *common_study, "--report"]) == 0
        out = capsys.readouterr().out
        assert f"finished {plan['left']} jobs" in out and "failed: 0" in out, out
        assert main(["study", "plan", study, "--match", match, *common_study, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["left"] == 0
    tag = "wrn_10_1-n1-e2-b32"
    for protocol, names in (("cifar-linf", ("linear_cifar100", "lwf_cifar100")),
                            ("cifar-quick", ("lowdata_linear_free4_n10", "lowdata_free_scratch_n10"))):
        records = sorted(p.parent.name for p in (home / "results" / protocol).glob("*/seed0.json"))
        assert records == sorted(f"{n}@{tag}" for n in names)
    low = json.loads((home / "results" / "cifar-quick" / f"lowdata_linear_free4_n10@{tag}" / "seed0.json").read_text())
    assert low["entry"]["source"] == f"imagenet_resnet50_free4@{tag}" and low["n_examples"] == 24
    assert (home / "studies" / "paper_lowdata" / "rehearsal" / "claims.md").is_file()
