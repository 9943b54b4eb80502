"""A protocol's worst case is over every attack it runs on an example, the guards' attacks included."""

import json

import pytest
import torch

from benchmark.evaluation import load_protocol
from benchmark.evaluation.entry import EvalOptions, evaluate_model
from benchmark.evaluation.protocol import parse_protocol

WEAK = {"name": "weak", "version": 1, "threat_model": "Linf", "eps": 0.1, "n_examples": 40, "seed": 0,
        "guards": {"n": 40, "square_queries": 20, "long_steps": 10, "long_restarts": 1},
        # a battery that barely moves: one step of 0.002, so the guards' PGD at eps breaks what it leaves
        "attacks": [{"name": "pgd-tiny", "type": "pgd", "loss": "ce", "steps": 1, "step_size": 0.002,
                     "restarts": 1}]}


@pytest.fixture(scope="module")
def weak(natural_model, target_data):
    _, _, x, y = target_data
    runs = {}
    for counted in (False, True):
        protocol = parse_protocol({**WEAK, "guards_count": counted}, "test")
        runs[counted] = evaluate_model(natural_model, protocol, x[:40], y[:40], torch.arange(40),
                                       EvalOptions(keep_adversarial=True))
    return runs


def test_an_example_a_guard_attack_breaks_is_not_robust(weak):
    plain, counted = weak[False], weak[True]
    battery = plain.per_example["robust"]
    assert counted.per_example["robust"] != battery              # the guards broke what the battery left
    assert counted.extra["robust_accuracy_battery"] == plain.robust_accuracy
    assert counted.robust_accuracy < plain.robust_accuracy
    for name in ("guard:pgd-10", "guard:pgd-long", "guard:pgd-0.5x", "guard:square"):
        outcome = counted.per_example[name]
        assert len(outcome) == 40
        for r, b, o in zip(counted.per_example["robust"], battery, outcome):
            assert r <= b and (o != 1 or r == 0)                 # robust only if every attack that ran failed
    # what the guards count: inside the threat model only (2x and the large eps test the attack, not the model)
    assert not any(k.startswith("guard:") and ("2x" in k or "large" in k) for k in counted.per_example)
    assert counted.robust_accuracy == sum(counted.per_example["robust"]) / 40
    assert "guard:pgd-10" not in plain.per_example and "robust_accuracy_battery" not in plain.extra
    assert plain.guards["flags"] == counted.guards["flags"]      # the guards flag what they flagged before


def test_every_example_a_guard_broke_has_its_adversarial_input(weak, natural_model, target_data):
    from benchmark.attacks import perturbation_norm

    _, _, x, y = target_data
    counted = weak[True]
    adv = counted.adversarial
    broken = [i for i, (c, r) in enumerate(zip(counted.per_example["clean_correct"], counted.per_example["robust"]))
              if c == 1 and r == 0]
    assert adv["index"].tolist() == broken
    assert any(a.startswith("guard:") for a in adv["attack"])
    pred = natural_model(adv["x_adv"]).argmax(1)
    assert (pred != y[adv["index"]]).all()
    assert (perturbation_norm(adv["x_adv"] - x[adv["index"]], "Linf") <= 0.1 + 1e-6).all()


def test_the_gate_compares_the_guards_outcomes_and_scales_its_tolerance_with_the_examples():
    from benchmark.gate import allowed_flips, compare_outcomes

    pe = {"index": [0, 1, 2], "label": [0, 0, 0], "clean_correct": [1, 1, 1], "robust": [1, 1, 0],
          "guard:square": [0, 0, -1]}
    ref = {"model": "m", "seed": 0, "n_examples": 3, "protocol": {"name": "p", "flip_tolerance": 3, "n_examples": 300},
           "weights": {"sha256": "a"}, "attacks": [], "per_example": pe, "machine": {"platform": "x"}}
    fresh = json.loads(json.dumps(ref))
    fresh["per_example"]["guard:square"] = [0, 1, -1]
    fresh["machine"] = {"platform": "y"}
    assert compare_outcomes(ref, fresh).by_key["guard:square"] == [1]
    assert allowed_flips(ref, fresh) == 1                        # 3 of 300 is 1 of 3 (rounded up), not 3
    assert allowed_flips(ref, {**fresh, "n_examples": 300}) == 3
    assert allowed_flips(ref, {**fresh, "machine": {"platform": "x"}}) == 0


def test_a_record_upgraded_to_a_counting_version_equals_a_fresh_evaluation(tiny_zoo):
    """The maintainers' upgrade re-runs only the guards: the outcomes are those of evaluating again."""
    import yaml

    from benchmark.cli import main
    from benchmark.evaluation.upgrade import upgrade_record
    from tests.conftest import record_file, write_entry

    zoo, cache, results = tiny_zoo
    write_entry(zoo, "nat", n_per_class=40)
    assert main(["train", "--model", "nat", "--quiet"]) == 0
    folder = results.parent / "protocols"
    folder.mkdir()
    quick = yaml.safe_load(open(load_protocol("fmnist-linf-quick").source))
    old = {**quick, "version": 4, "n_examples": 40, "guards_count": False}
    new = {**old, "version": 5, "guards_count": True}
    (folder / "old.yaml").write_text(yaml.safe_dump(old))
    (folder / "new.yaml").write_text(yaml.safe_dump(new))
    for name in ("old", "new"):
        assert main(["evaluate", "--model", "nat", "--protocol", str(folder / f"{name}.yaml"), "--weights", "trained",
                     "--results-dir", str(results / name), "--quiet"]) == 0
    path = record_file(results / "old", "fmnist-linf-quick", "nat")
    fresh = json.loads(record_file(results / "new", "fmnist-linf-quick", "nat").read_text())
    upgraded = upgrade_record(path, load_protocol(str(folder / "new.yaml")))
    assert upgraded["per_example"] == fresh["per_example"] or \
        {k: v for k, v in upgraded["per_example"].items() if not k.startswith("norm:")} == \
        {k: v for k, v in fresh["per_example"].items() if not k.startswith("norm:")}
    assert upgraded["robust_accuracy"] == fresh["robust_accuracy"] and upgraded["protocol"] == fresh["protocol"]
    assert upgraded["regenerated"]["from_version"] == 4
    from benchmark.errors import BenchmarkError

    (folder / "other.yaml").write_text(yaml.safe_dump({**new, "attacks": new["attacks"][:2]}))
    with pytest.raises(BenchmarkError, match="attacks changed: evaluate again"):
        upgrade_record(path, load_protocol(str(folder / "other.yaml")))


def test_the_pages_say_which_records_predate_their_protocol():
    """A verdict that reads missing data because its records are of an older protocol version says so."""
    from pathlib import Path

    from benchmark.reports.frame import stale_records, stale_text

    stale = stale_records()
    root = Path(__file__).resolve().parents[1] / "reports"
    claims, board = (root / "claims.md").read_text(), (root / "leaderboard.md").read_text()
    assert stale_text(stale) in board.replace("\n", " ") or stale_text(stale) in board
    if "fmnist-linf" in stale:
        older = ", ".join(f"{n} of v{v}" for v, n in sorted(stale["fmnist-linf"]["older"].items()))
        assert f"`fmnist-linf` ({older}" in " ".join(claims.split())
    assert stale_text({"p": {"version": 3, "older": {2: 5}, "models": ["m"]}}).count("5 of v2") == 1
