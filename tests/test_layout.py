"""Channels-last attacks: a faster layout that must not change any attack outcome."""

import torch

from benchmark.evaluation import BatteryOptions, load_protocol, run_battery
from benchmark.models.layout import as_layout, channels_last


def test_channels_last_is_restored_and_skips_models_without_convolutions(natural_model):
    conv = natural_model.blocks[1][0].weight
    assert conv.is_contiguous()
    with channels_last(natural_model) as active:
        assert active and conv is natural_model.blocks[1][0].weight
        assert natural_model.blocks[1][0].weight.is_contiguous(memory_format=torch.channels_last)
        assert not natural_model.blocks[1][0].weight.is_contiguous()
    assert natural_model.blocks[1][0].weight.is_contiguous()
    mlp = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
    with channels_last(mlp) as active:
        assert not active
    x = torch.rand(2, 3, 4, 4)
    assert as_layout(x, True).is_contiguous(memory_format=torch.channels_last)
    assert as_layout(x, False) is x


def test_channels_last_gives_the_same_outcome_for_every_example(natural_model, target_data):
    _, _, x, y = target_data
    x, y, idx = x[:60], y[:60], torch.arange(60)
    protocol = load_protocol("fmnist-linf-quick")
    runs = [run_battery(natural_model, protocol.build_attacks(0.03), x, y, idx,
                        BatteryOptions(0.03, "Linf", channels_last=fast)) for fast in (True, False)]
    fast, plain = (r["per_example"] for r in runs)
    assert 0 < runs[0]["robust_accuracy"] < runs[0]["clean_accuracy"]  # the attacks decide something here
    assert fast.keys() == plain.keys()
    for key in fast:
        if key.startswith("norm:"):  # norms of found perturbations: equal up to float rounding
            a, b = (torch.tensor([float("nan") if v is None else v for v in d[key]]) for d in (fast, plain))
            assert torch.allclose(a, b, atol=1e-4, equal_nan=True), key
        else:
            assert fast[key] == plain[key], key
    assert natural_model.blocks[0][0].weight.is_contiguous()


def test_amp_searches_in_bf16_but_successes_are_checked_in_float32(natural_model, target_data):
    from benchmark.evaluation.battery import BF16Search

    _, _, x, y = target_data
    x, y, idx = x[:100], y[:100], torch.arange(100)
    with torch.no_grad():
        full, low = natural_model(x), BF16Search(natural_model, "cpu")(x)
    assert low.dtype == torch.float32 and 0 < (full - low).abs().max() < 0.5  # really bf16, and close
    # one attack of each family (ours PGD, our APGD): the bf16 search is one wrapper around the model, whatever
    # attacks it; the targeted APGD's 9 x 100 steps in emulated bf16 would triple the test for nothing more
    attacks = [a for a in load_protocol("fmnist-linf-quick").build_attacks(0.03) if a.name in ("pgd-ce", "apgd-ce")]
    assert len(attacks) == 2
    fp32, amp = (run_battery(natural_model, attacks, x, y, idx, BatteryOptions(0.03, "Linf", amp=a))
                 for a in (False, True))
    assert amp["clean_accuracy"] == fp32["clean_accuracy"]  # clean predictions are float32
    assert abs(amp["robust_accuracy"] - fp32["robust_accuracy"]) <= 0.03


def test_reference_autoattack_runs_on_rgb_models_in_channels_last():
    """The reference code .view()s input gradients (APGD-T's zero-gradient check): channels-last gradients of
    3-channel inputs must not reach it, and the outcomes must equal the standard layout's."""
    from benchmark.attacks import build_attack
    from benchmark.models import create_model

    torch.manual_seed(0)
    model = create_model("wrn_10_1", 4, 3, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)).eval()
    x = torch.rand(6, 3, 16, 16)
    with torch.no_grad():
        y = model(x).argmax(1)
    aa = build_attack({"name": "aa", "type": "autoattack", "version": "custom", "attacks": ["apgd-t"]},
                      "Linf", 0.1)
    runs = [run_battery(model, [aa], x, y, torch.arange(6), BatteryOptions(0.1, "Linf", channels_last=fast))
            for fast in (True, False)]
    assert runs[0]["per_example"]["robust"] == runs[1]["per_example"]["robust"]
    assert runs[0]["robust_accuracy"] < 1.0  # the attack ran and broke something
