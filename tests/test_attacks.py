"""Every attack must actually hurt a naturally trained model; nothing may look robust by accident."""

import pytest
import torch

from benchmark.attacks import APGD, PGD, AutoAttack, CarliniWagnerL2, DeepFool, perturbation_norm


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
    APGD("apgd-ce", "Linf", 0.1, steps=20),
    APGD("apgd-t", "Linf", 0.1, loss="dlr-targeted", steps=20),
    APGD("apgd-l2", "L2", 1.5, steps=20),
    APGD("apgd-bf16", "Linf", 0.1, steps=20, precision="bf16"),
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


@pytest.mark.parametrize("loss", ["ce", "dlr-targeted"])
def test_apgd_takes_the_reference_codes_steps(loss, natural_model, target_data):
    """Our APGD follows the authors' code step for step and draws their random starts: on the same
    examples it breaks exactly the same ones (here at a small eps, where many survive)."""
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    _, _, x, y = target_data
    x, y = x[:120], y[:120]
    eps, steps = 0.02, 15
    ours = APGD("ours", "Linf", eps, steps=steps, loss=loss, targets=4)(natural_model, x, y)
    if loss == "ce":
        ref = APGDAttack(natural_model, n_iter=steps, norm="Linf", eps=eps, seed=0, loss="ce", device="cpu")
    else:
        ref = APGDAttack_targeted(natural_model, n_iter=steps, norm="Linf", eps=eps, seed=0, n_target_classes=4,
                                  device="cpu")
    natural_model.eval()
    theirs = ref.perturb(x, y)
    with torch.no_grad():
        fooled_ours = natural_model(ours).argmax(1) != y
        fooled_theirs = natural_model(theirs).argmax(1) != y
    assert 0.1 < fooled_theirs.float().mean() < 0.9  # a test that can tell the two apart
    assert torch.equal(fooled_ours, fooled_theirs)
    assert perturbation_norm(ours - x, "Linf").max() <= eps + 1e-6


def test_wrappers_leave_the_model_in_eval_mode(target_data):
    """A wrapper module starts in training mode; attack_mode() restores the wrapper's mode, which
    must not switch the wrapped model's batch norms to batch statistics (the --amp bug)."""
    from benchmark.evaluation.battery import BF16Search
    from benchmark.models import create_model
    from benchmark.models.layout import StandardLayoutGrads

    _, _, x, y = target_data
    model = create_model("wrn_10_1", 5, 1, (0.2860,), (0.3530,)).eval()
    for wrapper in (BF16Search(model, "cpu"), StandardLayoutGrads(model)):
        PGD("p", "Linf", 0.1, steps=2)(wrapper, x[:8], y[:8])
        assert not model.training and not wrapper.training
