"""The paper's own chain rehearsed at toy size through the real code path: CIFAR-100 and CIFAR-10 read
by torchvision from files in CIFAR's format, the free-AT source and its transfers trained from their
recipes with an explicit size override, evaluated under cifar-linf (the standard AutoAttack with FAB-T
and Square) and reported. Slow (FAB-T and Square spend their whole budgets on every surviving example): `.ci/run`
runs it with `pytest -m slow tests/test_paper_rehearsal.py`."""

import json
import os

import pytest
import torchvision

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
        aa = next(a for a in rec["attacks"] if a["type"] == "AutoAttack")
        assert aa["params"]["version"] == "standard"  # APGD-CE, APGD-T, FAB-T and Square
        assert main(["verify", str(path), "--data-dir", str(root)]) == 0
    lwf = json.loads(records[1].read_text())
    assert lwf["entry"]["source"] == f"cifar100_wrn_free_source@{TAG}"
    assert lwf["entry"]["recipe"]["warm_start_epochs"] == 1  # the authors' warm start kept at its share
    assert main(["report", "--with-user"]) == 0
    board = (home / "reports" / "leaderboard.md").read_text()
    assert f"lwf_cifar100@{TAG}" in board
