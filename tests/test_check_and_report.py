"""Publishing, the two-part regression gate, and the reports, on a tiny zoo of the test's own."""

import json

import pytest
import torch
import yaml

from benchmark.attacks import PGD
from benchmark.cli import main
from benchmark.gate import band_check, compare_outcomes
from benchmark.zoo import load_entries, load_model
from benchmark.zoo.weights import read_safetensors
from tests.conftest import record_file, write_entry


@pytest.fixture()
def published(tiny_zoo, tmp_path, capsys):
    """A source and a linear head, two seeds each, trained, published and evaluated under a small protocol."""
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=60, seeds=[0, 1], suites=["ci"])
    write_entry(zoo, "lin", strategy="linear", source="src", n_per_class=30, seeds=[0, 1], suites=["ci"])
    proto = tmp_path / "tiny-proto.yaml"
    proto.write_text(yaml.safe_dump({
        "name": "tiny-proto", "version": 1, "threat_model": "Linf", "eps": 0.05, "n_examples": 80, "seed": 0,
        "attacks": [{"name": "pgd", "type": "pgd", "steps": 10}, {"name": "pgd-cw", "type": "pgd", "loss": "cw",
                                                                   "steps": 10}]}))
    assert main(["train", "--suite", "ci", "--publish", "--quiet"]) == 0
    assert main(["evaluate", "--suite", "ci", "--protocol", str(proto), "--no-guards", "--quiet"]) == 0
    capsys.readouterr()
    return zoo, cache, results, str(proto)


def test_published_linear_head_holds_only_the_head(published):
    zoo, cache, results, _ = published
    entries = load_entries()
    lin = entries["lin"]
    assert [w.seed for w in lin.weights] == [0, 1] and all(len(w.sha256) == 64 for w in lin.weights)
    state, meta = read_safetensors(zoo / lin.weights[0].file)
    assert set(state) == {"head.weight", "head.bias"} and meta["base"] == "src"
    assert meta["base_sha256"] == entries["src"].weights[0].sha256
    # the published copy is the trained model, bit for bit
    a = load_model(lin, 0, "published").state_dict()
    b = load_model(lin, 0, "trained").state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    rec = json.loads(record_file(results, "tiny-proto", "lin", 1).read_text())
    assert rec["weights"]["origin"] == "published" and rec["weights"]["sha256"] == lin.weights[1].sha256
    assert (results / "training" / "lin" / "seed1.json").is_file()


def test_tampered_published_weights_and_a_republished_base_are_refused(published, capsys):
    zoo, cache, results, proto = published
    lin = load_entries()["lin"]
    path = zoo / lin.weights[0].file
    data = path.read_bytes()
    path.write_bytes(data[:-4] + b"\0\0\0\0")
    assert main(["evaluate", "--model", "lin", "--seed", "0", "--protocol", proto, "--quiet"]) == 2
    assert "the entry pins" in capsys.readouterr().err
    path.write_bytes(data)
    # republishing the source (here: its seed 0 trained again) invalidates the head published on it
    assert main(["train", "--model", "src", "--seed", "0", "--force", "--quiet"]) == 0
    src = load_entries()["src"]
    state = read_safetensors(cache / "src" / "seed0.safetensors")[0]
    state["blocks.0.0.bias"] += 0.01
    from safetensors.torch import save_file

    save_file(state, str(cache / "src" / "seed0.safetensors"))
    (cache / "src" / "seed0.train.json").unlink()
    assert main(["publish", "--model", "src", "--seed", "0"]) == 0 and src.weights[0].sha256 != \
        load_entries()["src"].weights[0].sha256
    assert main(["evaluate", "--model", "lin", "--seed", "0", "--protocol", proto, "--quiet"]) == 2
    assert "republish lin" in capsys.readouterr().err


def test_evaluation_gate_is_exact_and_names_flipped_examples(published, capsys, monkeypatch):
    zoo, cache, results, proto = published
    args = ["check", "--suite", "ci", "--protocol", proto, "--no-guards", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "identical on all 80 examples" in out and "4 published models compared" in out
    # a weakened attack (PGD stops after 2 of its steps) must show up as flipped examples (in this process:
    # the patch does not reach worker processes)
    args += ["--jobs", "1"]
    original = PGD.perturb

    def weak(self, model, x, y, index):
        self.steps = min(self.steps, 2)
        return original(self, model, x, y, index)

    monkeypatch.setattr(PGD, "perturb", weak)
    assert main(args) == 1
    captured = capsys.readouterr()
    assert "examples flipped" in captured.out and "FAIL" in captured.out and "robust:" in captured.err


def test_evaluate_says_whether_the_committed_record_was_reproduced(published, capsys, monkeypatch, tmp_path):
    """A user's evaluation compares with the committed record and writes only into the user's folder; the
    committed record changes only with --update-records (maintainers), and only where it did not reproduce."""
    zoo, cache, results, proto = published
    mine = tmp_path / "mine"
    monkeypatch.setenv("RTB_USER_RESULTS", str(mine))
    path = record_file(results, "tiny-proto", "lin", 0)
    before = path.read_bytes()
    args = ["evaluate", "--model", "lin", "--seed", "0", "--protocol", proto, "--no-guards", "--quiet"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert f"committed record {path}: reproduced: identical on all 80 examples" in out
    assert path.read_bytes() == before and record_file(mine, "tiny-proto", "lin", 0).is_file()
    original = PGD.perturb

    def weak(self, model, x, y, index):
        self.steps = 1
        return original(self, model, x, y, index)

    monkeypatch.setattr(PGD, "perturb", weak)
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "NOT reproduced" in out and "the committed record is unchanged" in out
    assert path.read_bytes() == before  # a user's run never changes the checkout
    assert json.loads(record_file(mine, "tiny-proto", "lin", 0).read_text())["weights"]["origin"] == "published"
    assert main(args + ["--update-records"]) == 0
    assert "committed record rewritten" in capsys.readouterr().out
    assert path.read_bytes() != before  # maintainers: rewritten, git shows the change


def test_compare_outcomes_refuses_other_weights_or_protocols():
    rec = {"model": "m", "seed": 0, "n_examples": 2, "protocol": {"name": "p", "version": 1},
           "weights": {"sha256": "a" * 64}, "attacks": [{"name": "pgd"}],
           "per_example": {"index": [3, 9], "clean_correct": [1, 1], "robust": [1, 0], "pgd": [0, 1]}}
    assert compare_outcomes(rec, rec).examples == []
    flipped = json.loads(json.dumps(rec))
    flipped["per_example"].update(robust=[0, 0], pgd=[1, 1])
    assert compare_outcomes(rec, flipped).examples == [3]
    assert "other weights" in compare_outcomes(rec, {**rec, "weights": {"sha256": "b" * 64}}).problem
    assert "protocol" in compare_outcomes(rec, {**rec, "protocol": {"name": "p", "version": 2}}).problem


def test_training_band():
    refs = [{"model": "m", "clean_accuracy": c, "robust_accuracy": r, "attacks": [], "n_examples": 300}
            for c, r in ((0.90, 0.30), (0.91, 0.25), (0.89, 0.28))]
    inside = {"model": "m", "clean_accuracy": 0.92, "robust_accuracy": 0.33, "attacks": [], "n_examples": 300}
    assert band_check(refs, inside) == []
    collapsed = {**inside, "clean_accuracy": 0.2, "robust_accuracy": 0.1}
    lines = band_check(refs, collapsed)
    assert len(lines) == 2 and "outside the band" in lines[0]


def test_report_writes_leaderboard_with_seeds_and_plots(tiny_zoo, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40, seeds=[0, 1])
    for n in (10, 20, 40):
        write_entry(zoo, f"lin{n}", strategy="linear", source="src", n_per_class=n, seeds=[0, 1])
    for k in (1, 2):
        write_entry(zoo, f"re{k}", strategy="retrain_last_k", source="src", n_per_class="all", seeds=[0, 1],
                    recipe={"epochs": 1, "batch_size": 256, "lr": 0.02, "k": k})
    write_entry(zoo, "linall", strategy="linear", source="src", n_per_class="all", seeds=[0, 1])
    names = ["src", "lin10", "lin20", "lin40", "re1", "re2", "linall"]
    assert main(["train", "--model", *names, "--quiet"]) == 0
    assert main(["evaluate", "--model", *names, "--n", "30", "--no-guards", "--quiet"]) == 0
    before = record_file(results, "fmnist-linf-quick", "lin40").read_text()
    assert main(["sweep", "--model", "lin40", "--eps", "0.02", "0.1", "0.2", "--n", "20", "--quiet"]) == 0
    # a sweep point at the protocol's own eps goes to sweeps/, never over the protocol's record
    assert record_file(results, "fmnist-linf-quick", "lin40").read_text() == before
    assert (results / "fmnist-linf-quick" / "sweeps" / "lin40" / "seed1@eps=0.1.json").is_file()
    reports = results.parent / "reports"
    assert main(["report", "--reports-dir", str(reports)]) == 0
    md = (reports / "leaderboard.md").read_text()
    assert "## fmnist-linf-quick" in md and "`lin40`" in md and "worst case" in md and "95% interval" in md
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    assert all(" ± " in r for r in rows) and all("| 2 |" in r for r in rows)  # mean ± sd over 2 seeds
    # one table per task (the source on its task, the transfers on theirs), each ranked by worst case
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("| `"):
            current.append(float(line.split("**")[1].split(" ± ")[0]))
        elif current:
            tables, current = tables + [current], []
    assert len(tables) >= 2 and sum(map(len, tables)) == len(rows)
    assert all(worst == sorted(worst, reverse=True) for worst in tables)
    for plot in ("data_size_fmnist-linf-quick_fmnist-tgt", "blocks_fmnist-linf-quick", "cost_fmnist-linf-quick",
                 "eps_fmnist-linf-quick"):
        assert (reports / "plots" / f"{plot}.png").stat().st_size > 10_000
        assert f"plots/{plot}.png" in md


def test_plot_styles_are_all_distinct():
    from benchmark.reports.plots import styles

    for n in (3, 12, 25):
        s = styles(n)
        pairs = {(tuple(x["color"]), x["marker"], x["linestyle"]) for x in s}
        assert len(pairs) == n and len({tuple(x["color"]) for x in s}) == n
    assert len({x["marker"] for x in styles(14)}) == 14


def test_source_strength_series_vary_the_source_alone():
    """On the committed records: one point per source eps in every series (the LwF lambda sweep, all on the
    eps-0.1 source, must not join LwF's source-strength series), and the series cover linear and LwF."""
    from benchmark.reports.frame import aggregate, records_frame
    from benchmark.reports.plots import source_strength_table

    table, series = source_strength_table(aggregate(records_frame()), "fmnist-linf-quick")
    assert any(s.startswith("linear") for s in series) and any(s.startswith("lwf") for s in series)
    for name in series:
        part = table[table.series == name]
        assert not part.source_eps.duplicated().any(), name
        assert {0.0, 0.05, 0.1, 0.2} <= set(part.source_eps), name


def test_a_protocol_with_clean_split_records_the_whole_test_split_and_the_gate_checks_it(published, capsys):
    """The full protocol's clean accuracy is on the whole test split (5,000 images here), kept example by example:
    the claims' clean tests read it, and the exact gate compares it like the attacked subset."""
    zoo, cache, results, proto = published
    data = yaml.safe_load(open(proto))
    data.update(name="tiny-split", clean_split=True, n_examples=40)
    split_proto = proto.replace("tiny-proto", "tiny-split")
    open(split_proto, "w").write(yaml.safe_dump(data))
    assert main(["evaluate", "--model", "lin", "--seed", "0", "--protocol", split_proto, "--no-guards"]) == 0
    assert "clean, all" in capsys.readouterr().out
    rec = json.loads(record_file(results, "tiny-split", "lin").read_text())
    split = rec["clean_test_split"]
    assert split["n"] == len(split["correct"]) == 5000 and set(split["correct"]) <= {"0", "1"}
    assert split["accuracy"] == split["correct"].count("1") / 5000
    assert rec["protocol"]["clean_split"] is True and rec["n_examples"] == 40
    # on the evaluated subset the two agree example by example
    assert [int(split["correct"][i]) for i in rec["per_example"]["index"]] == rec["per_example"]["clean_correct"]
    assert compare_outcomes(rec, rec).examples == []
    flipped = json.loads(json.dumps(rec))
    bits = list(flipped["clean_test_split"]["correct"])
    bits[4321] = "1" if bits[4321] == "0" else "0"
    flipped["clean_test_split"]["correct"] = "".join(bits)
    assert compare_outcomes(rec, flipped).by_key["clean (whole test split)"] == [4321]
    # the reports' clean accuracy is the whole split's
    from benchmark.reports.frame import records_frame

    row = records_frame(results).query("protocol == 'tiny-split'").iloc[0]
    assert row["clean"] == split["accuracy"] and len(row["clean_outcomes"]) == 5000
    assert "clean_split" not in json.loads(record_file(results, "tiny-proto", "lin").read_text())["protocol"]
