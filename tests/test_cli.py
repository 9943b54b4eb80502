"""End to end through the CLI on a tiny zoo of the test's own."""

import json
import re

import pytest

from benchmark.cli import main
from tests.conftest import record_file, weights_file, write_entry


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_train_evaluate_every_seed_and_report(tiny_zoo, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "tiny_src", task="fmnist-src", n_per_class=60, seeds=[0, 1])
    write_entry(zoo, "tiny_lin", strategy="linear", source="tiny_src", n_per_class=20, seeds=[0, 1])
    code, out, _ = run(capsys, "train", "--model", "tiny_lin", "--quiet")
    assert code == 0 and "tiny_src seed 0" in out and "tiny_lin seed 1" in out  # sources first, every seed
    assert weights_file(cache, "tiny_lin", 1).is_file()
    code, out, _ = run(capsys, "evaluate", "--model", "tiny_lin", "--n", "40", "--quiet")
    assert code == 0 and "worst case" in out and "over 2 seeds" in out and "95% interval" in out
    rec = json.loads(record_file(results, "fmnist-linf-quick", "tiny_lin", 1).read_text())
    assert rec["complete"] and rec["n_examples"] == 40 and rec["seed"] == 1 and rec["training"]["cost"]["fb_passes"] > 0
    assert rec["weights"]["origin"] == "trained" and rec["machine"]["cpu_capability"]
    assert rec["robust_accuracy"] <= min(a["robust_accuracy"] for a in rec["attacks"])
    assert len(rec["per_example"]["index"]) == 40 and rec["versions"]["torch"]
    code, out, _ = run(capsys, "zoo", "list")
    assert "tiny_lin" in out


def test_main_job_evaluates_a_suite(tiny_zoo, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "tiny_nat", n_per_class=30)
    code, out, _ = run(capsys, "run", "--suite", "test", "--quiet")
    assert code == 0 and "suite test: 1 entries, 1 models" in out and "worst case" in out
    rec = json.loads(record_file(results, "fmnist-linf-quick", "tiny_nat").read_text())
    assert rec["memory_format"] == "channels_last" and rec["attack_precision"] == "float32" and rec["guards"]


@pytest.mark.parametrize("argv,match", [
    (["evaluate", "--model", "nope"], "unknown model 'nope'"),
    (["evaluate", "--model", "tiny", "--protocol", "nope"], "unknown protocol 'nope': choose one of"),
    (["evaluate", "--model", "tiny"], "no weights for tiny"),
    (["evaluate", "--model", "tiny", "--seed", "7"], r"tiny has no seed 7: choose from \[0\]"),
    (["evaluate", "--model", "tiny", "--weights", "published"], "has no published weights for seeds \\[0\\]"),
    (["evaluate", "--model", "tiny", "--device", "cuda"], "no CUDA GPU"),
    (["evaluate", "--model", "tiny", "--protocol", "cifar-linf", "--weights", "published"],
     r"protocol cifar-linf is for 3-channel images \(32x32 RGB\).*choose one of fmnist-l2, fmnist-linf"),
    (["train", "--model", "tiny", "--data-dir", "/nonexistent", "--quiet"], "apt-get install dataset-fashion-mnist"),
    (["train", "--suite", "nothing-here"], "no zoo entry is in suite 'nothing-here'"),
])
def test_clear_one_line_errors(tiny_zoo, capsys, argv, match):
    zoo, _, _ = tiny_zoo
    write_entry(zoo, "tiny")
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert re.search(match, err), err
    if "no weights" in match:
        assert "python -m benchmark train --model tiny" in err


def test_eps_and_n_are_checked_before_any_work(tiny_zoo, capsys):
    zoo, _, _ = tiny_zoo
    write_entry(zoo, "tiny")
    assert run(capsys, "train", "--model", "tiny", "--quiet")[0] == 0
    for argv, match in ((["--eps", "1.5"], r"--eps must be in \(0, 1\]"), (["--eps", "-0.1"], "--eps must be in"),
                        (["--n", "0"], "--n must be positive")):
        code, _, err = run(capsys, "evaluate", "--model", "tiny", *argv)
        assert code == 2 and re.search(match, err), err


def test_corrupt_and_mismatched_weights(tiny_zoo, capsys):
    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "tiny")
    assert run(capsys, "train", "--model", "tiny", "--quiet")[0] == 0
    weights = weights_file(cache, "tiny")
    good = weights.read_bytes()
    weights.write_bytes(good[:-10] + b"0123456789")
    code, _, err = run(capsys, "evaluate", "--model", "tiny", "--n", "10", "--quiet")
    assert code == 2 and "sha256" in err and "python -m benchmark train --model tiny" in err
    # weights of another architecture: same file name, no recorded checksum
    write_entry(zoo, "tiny", head={"type": "mlp", "hidden": [32]})
    weights.write_bytes(good)
    (cache / "tiny" / "seed0.train.json").unlink()
    code, _, err = run(capsys, "evaluate", "--model", "tiny", "--n", "10", "--quiet")
    assert code == 2 and "do not fit the entry's architecture" in err
