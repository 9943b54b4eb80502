import json

import torch
import yaml
from safetensors.torch import save_file

from benchmark.check import compare
from benchmark.cli import main
from benchmark.io import sha256_file
from benchmark.zoo import load_state
from tests.conftest import write_entry


def record(clean, robust, atk, n=100):
    return {"model": "m", "n_examples": n, "protocol": {"name": "p"}, "clean_accuracy": clean,
            "robust_accuracy": robust, "attacks": [{"name": "pgd", "robust_accuracy": atk}]}


def test_compare_tolerance_drops_and_rises():
    ref = record(0.9, 0.5, 0.55)
    assert compare(ref, record(0.9, 0.46, 0.55), tolerance_examples=5) == []
    drops = compare(ref, record(0.8, 0.4, 0.45), tolerance_examples=5)
    assert len(drops) == 3 and all("dropped" in d for d in drops)
    rises = compare(ref, record(0.9, 0.7, 0.55), tolerance_examples=5)
    assert len(rises) == 1 and "rose" in rises[0]
    assert compare(ref, record(0.9, 0.7, 0.55), 5, allow_improvement=True) == []
    assert "another protocol" in compare(ref, record(0.9, 0.5, 0.55, n=50), 5)[0]


def test_check_passes_on_reference_and_fails_on_weakened_model(tiny_zoo, tmp_path, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "guarded", strategy="fast_at", n_per_class=100,
                recipe={"epochs": 3, "batch_size": 32, "lr": 0.02, "seed": 0}, suites=["ci"])
    proto = tmp_path / "tiny-proto.yaml"
    proto.write_text(yaml.safe_dump({
        "name": "tiny-proto", "version": 1, "threat_model": "Linf", "eps": 0.05, "n_examples": 100, "seed": 0,
        "tolerance_examples": 3, "attacks": [{"name": "pgd", "type": "pgd", "steps": 10}]}))
    args = ["check", "--suite", "ci", "--protocol", str(proto), "--quiet"]
    assert main(args + ["--update"]) == 0
    assert main(args) == 0
    assert "0 regressions" in capsys.readouterr().out
    # weaken the model: perturb its weights, as a broken training change would
    state = load_state(cache / "guarded.safetensors")
    torch.manual_seed(0)
    state = {k: v + 0.5 * v.std() * torch.randn_like(v) if k.startswith("blocks") else v for k, v in state.items()}
    save_file(state, str(cache / "guarded.safetensors"))
    rec = json.loads((cache / "guarded.train.json").read_text())
    rec["sha256"] = sha256_file(cache / "guarded.safetensors")
    (cache / "guarded.train.json").write_text(json.dumps(rec))
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "guarded: " in err and "dropped" in err


def test_report_writes_leaderboard_and_plots(tiny_zoo, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40)
    for n in (10, 20, 40):
        write_entry(zoo, f"lin{n}", strategy="linear", source="src", n_per_class=n)
    for k in (1, 2):
        write_entry(zoo, f"re{k}", strategy="retrain_last_k", source="src", n_per_class="all",
                    recipe={"epochs": 1, "batch_size": 256, "lr": 0.02, "seed": 0, "k": k})
    write_entry(zoo, "linall", strategy="linear", source="src", n_per_class="all")
    names = ["lin10", "lin20", "lin40", "re1", "re2", "linall"]
    assert main(["train", "--model", *names, "--quiet"]) == 0
    assert main(["evaluate", "--model", *names, "--n", "30", "--quiet"]) == 0
    before = (results / "fmnist-linf-quick" / "lin40.json").read_text()
    assert main(["sweep", "--model", "lin40", "--eps", "0.02", "0.1", "0.2", "--n", "20", "--quiet"]) == 0
    # a sweep point at the protocol's own eps goes to sweeps/, never over the protocol's record
    assert (results / "fmnist-linf-quick" / "lin40.json").read_text() == before
    assert (results / "fmnist-linf-quick" / "sweeps" / "lin40@eps=0.1.json").is_file()
    reports = results.parent / "reports"
    assert main(["report", "--reports-dir", str(reports)]) == 0
    md = (reports / "leaderboard.md").read_text()
    assert "## fmnist-linf-quick" in md and "`lin40`" in md and "worst case" in md
    rows = [line for line in md.splitlines() if line.startswith("| `")]
    worst = [float(r.split("**")[1]) for r in rows]
    assert worst == sorted(worst, reverse=True)
    for plot in ("data_size", "blocks", "cost", "eps"):
        assert (reports / "plots" / f"{plot}_fmnist-linf-quick.png").stat().st_size > 10_000
        assert f"plots/{plot}_fmnist-linf-quick.png" in md


def test_perf_runs_side_by_side(tiny_zoo, capsys):
    zoo, _, _ = tiny_zoo
    write_entry(zoo, "m", n_per_class=60)
    assert main(["train", "--model", "m", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["perf", "--model", "m", "--n-pgd", "40", "--n-battery", "8", "--steps", "5",
                 "--battery-models", "m", "--train-models", "m", "--amp", "--aa-seeds", "2", "--quiet"]) == 0
    out = capsys.readouterr().out
    for needle in ("1. PGD-5", "ratio torchattacks/ours", "ours (channels-last)", "3. PGD step / (forward+backward)",
                   "2. Battery on m, 8", "ours (cascade, NCHW)", "bf16 search", "seeds 0-1", "per-example outcomes identical", "speed-up",
                   "4. Training cost", "trained here", "[fresh]"):
        assert needle in out, needle
    # without retraining, costs come from the records, and a model never evaluated says how to fix it
    assert main(["perf", "--model", "m", "--n-pgd", "20", "--steps", "2", "--skip-battery", "--no-retrain",
                 "--train-models", "m", "--quiet"]) == 0
    assert "not trained/evaluated" in capsys.readouterr().out
