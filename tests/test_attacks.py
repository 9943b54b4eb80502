"""Every attack must actually hurt a naturally trained model; nothing may look robust by accident."""

import pytest
import torch

from benchmark.attacks import PGD, AutoAttack, CarliniWagnerL2, DeepFool, perturbation_norm


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def test_natural_model_is_accurate(natural_model, target_data):
    _, _, x, y = target_data
    assert accuracy(natural_model, x, y) > 0.85


@pytest.mark.parametrize("attack", [
    PGD("pgd-ce", "Linf", 0.1, steps=10),
    PGD("pgd-cw", "Linf", 0.1, steps=10, loss="cw"),
    PGD("pgd-l2", "L2", 1.5, steps=10),
    DeepFool("deepfool", "Linf", 0.1),
    DeepFool("deepfool-l2", "L2", 1.5),
    CarliniWagnerL2("cw-l2", "L2", 1.5, c_values=[1.0, 10.0, 100.0], steps=100, lr=0.05),
    AutoAttack("aa", "Linf", 0.1, version="custom", attacks=["apgd-ce"]),
], ids=lambda a: a.name)
def test_every_attack_lowers_accuracy_within_budget(attack, natural_model, target_data):
    _, _, x, y = target_data
    x, y = x[:100], y[:100]
    clean = accuracy(natural_model, x, y)
    x_adv = attack(natural_model, x, y)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    dist = perturbation_norm(x_adv - x, attack.norm)
    fooled = natural_model(x_adv).argmax(1) != y
    if attack.minimal_norm:
        # a minimal-norm attack must find an adversarial example for nearly every input;
        # only those inside the eps ball count against the protocol's robust accuracy
        assert fooled.float().mean() > 0.8, f"{attack.name} fooled only {fooled.float().mean():.2f}"
        robust = 1 - (fooled & (dist <= attack.eps + 1e-5)).float().mean().item()
        assert robust < clean - 0.1, f"{attack.name}: {clean:.2f} -> {robust:.2f}"
        return
    else:
        assert dist.max() <= attack.eps + 1e-5
        robust = accuracy(natural_model, x_adv, y)
    assert robust < clean - 0.3, f"{attack.name}: {clean:.2f} -> {robust:.2f}"


def test_pgd_reaches_zero_at_large_eps(natural_model, target_data):
    _, _, x, y = target_data
    assert accuracy(natural_model, PGD("p", "Linf", 0.3, steps=20)(natural_model, x, y), y) <= 0.02


def test_robust_accuracy_never_rises_with_eps_steps_or_restarts(natural_model, target_data):
    _, _, x, y = target_data
    accs = [accuracy(natural_model, PGD("p", "Linf", e, steps=10)(natural_model, x, y), y) for e in (0.01, 0.02, 0.04, 0.1)]
    assert accs == sorted(accs, reverse=True)
    weak = accuracy(natural_model, PGD("p", "Linf", 0.02, steps=5)(natural_model, x, y), y)
    strong = accuracy(natural_model, PGD("p", "Linf", 0.02, steps=5, restarts=3)(natural_model, x, y), y)
    longer = accuracy(natural_model, PGD("p", "Linf", 0.02, steps=40)(natural_model, x, y), y)
    # restarts only add attempts on the examples still robust, so they can never help the model
    assert strong <= weak
    assert longer <= weak + 0.02


def test_attack_mode_restores_state_and_skips_parameter_grads(natural_model, target_data):
    _, _, x, y = target_data
    natural_model.train()
    natural_model.zero_grad(set_to_none=True)
    seen = {}

    class Spy(PGD):
        def perturb(self, model, x, y, index):
            seen["training"] = model.training
            seen["param_grad"] = any(p.requires_grad for p in model.parameters())
            return super().perturb(model, x, y, index)

    Spy("s", "Linf", 0.1, steps=2)(natural_model, x[:10], y[:10])
    assert seen == {"training": False, "param_grad": False}
    assert natural_model.training and all(p.requires_grad for p in natural_model.parameters())
    assert all(p.grad is None for p in natural_model.parameters())
    natural_model.eval()


def test_pgd_randomness_is_per_example(natural_model, target_data):
    """An example's attack does not depend on which batch it is in (sharding-safe)."""
    _, _, x, y = target_data
    atk = PGD("p", "Linf", 0.05, steps=3, return_last=True)
    idx = torch.arange(20)
    whole = atk(natural_model, x[:20], y[:20], idx)
    part = atk(natural_model, x[10:20], y[10:20], idx[10:20])
    assert torch.allclose(whole[10:], part, atol=1e-6)
