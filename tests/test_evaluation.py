import json

import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.evaluation import BatteryOptions, check_inputs, load_protocol, run_battery
from benchmark.results import read_record, write_record


def battery(protocol, eps=None):
    attacks = load_protocol(protocol).build_attacks(eps)
    return [a for a in attacks if a.name != "autoattack"]


def opts(eps, **kw):
    return BatteryOptions(eps, "Linf", **kw)


def test_worst_case_never_above_any_attack_and_cascade_matches_full(natural_model, target_data):
    _, _, x, y = target_data
    x, y, idx = x[:120], y[:120], torch.arange(120)
    atks = battery("fmnist-linf-quick", eps=0.03)
    full = run_battery(natural_model, atks, x, y, idx, opts(0.03, cascade=False))
    casc = run_battery(natural_model, atks, x, y, idx, opts(0.03, cascade=True))
    for a in full["attacks"]:
        assert full["robust_accuracy"] <= a["robust_accuracy"] + 1e-9
    assert full["robust_accuracy"] <= full["clean_accuracy"]
    # our attacks are deterministic per example, so the cascade loses nothing
    assert casc["robust_accuracy"] == full["robust_accuracy"]
    assert casc["per_example"]["robust"] == full["per_example"]["robust"]
    # an example is robust only if every attack failed on it
    pe = full["per_example"]
    for i in range(120):
        broken = any(pe[a.name][i] == 1 for a in atks)
        assert pe["robust"][i] == int(pe["clean_correct"][i] == 1 and not broken)


def test_minimal_norm_attack_counts_only_within_eps(natural_model, target_data):
    _, _, x, y = target_data
    from benchmark.attacks import DeepFool

    res = run_battery(natural_model, [DeepFool("df", "Linf", 0.001)], x[:50], y[:50], torch.arange(50), opts(0.001))
    a = res["attacks"][0]
    assert a["n_fooled_any_norm"] > a["n_success"]  # DeepFool found larger perturbations that do not count
    assert a["median_norm"] > 0.001


def test_record_roundtrip_and_incomplete_records(tmp_path):
    rec = {"complete": True, "model": "m", "robust_accuracy": 0.5, "clean_accuracy": 0.9, "attacks": []}
    path = write_record(rec, tmp_path / "p" / "m.json")
    assert read_record(path) == rec
    assert not list(path.parent.glob(".*.tmp"))
    with pytest.raises(BenchmarkError):
        write_record({**rec, "complete": False}, tmp_path / "x.json")
    (tmp_path / "half.json").write_text(json.dumps(rec)[:40])
    with pytest.raises(BenchmarkError, match="cannot be read"):
        read_record(tmp_path / "half.json")


@pytest.mark.parametrize("bad,match", [
    (lambda x: x[0], "batch"),
    (lambda x: x * 255, r"\[0, 1\]"),
    (lambda x: x.masked_fill(torch.zeros_like(x, dtype=torch.bool).index_fill_(0, torch.tensor([0]), True), float("nan")), "NaN"),
    (lambda x: x[:, :, :20, :20], "expects"),
])
def test_bad_inputs_are_rejected(bad, match, target_data):
    _, _, x, y = target_data
    with pytest.raises(BenchmarkError, match=match):
        check_inputs(bad(x[:4]), y[:4], 5, (1, 28, 28))
