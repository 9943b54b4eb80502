"""Per-batch training objectives: natural, PGD-AT, fast AT, TRADES and LwF.

Each returns (loss, logits) and charges its passes to the cost meter. Free AT replays
minibatches and updates its perturbation in the same backward pass, so it lives in the
loop (`free_at_batch`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.attacks import PGD, attack_mode


# `forward` is the module used for the training pass: the model itself, or its
# DistributedDataParallel wrapper under torchrun. Attacks always use the bare model.

def natural(model, x, y, cfg, meter, forward, **_):
    logits = forward(x)
    meter.add(x.shape[0])
    return F.cross_entropy(logits, y), logits


def _train_pgd(cfg, seed: int) -> PGD:
    eps = cfg["eps"]
    steps = int(cfg.get("attack_steps", 7))
    return PGD("train-pgd", cfg["norm"], eps, steps=steps, step_size=cfg.get("attack_step_size", 2.5 * eps / steps),
               restarts=1, random_start=True, loss="ce", seed=seed, return_last=True)


def pgd_at(model, x, y, cfg, meter, index, seed, forward, **_):
    attack = _train_pgd(cfg, seed)
    x_adv = attack(model, x, y, index)
    model.train()
    meter.add(x.shape[0], forward=attack.steps, backward=attack.steps)
    logits = forward(x_adv)
    meter.add(x.shape[0])
    return F.cross_entropy(logits, y), logits


def fast_at(model, x, y, cfg, meter, generator, forward, **_):
    """FGSM with a random start (Wong et al. 2020), step 1.25 eps."""
    eps, alpha = cfg["eps"], cfg.get("attack_step_size", 1.25 * cfg["eps"])
    delta = (torch.rand(x.shape, generator=generator).to(x.device) * 2 - 1) * eps
    delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
    with attack_mode(model):
        loss = F.cross_entropy(model(x + delta), y)
        (grad,) = torch.autograd.grad(loss, delta)
    meter.add(x.shape[0])
    delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
    x_adv = (x + delta).clamp(0, 1)
    model.train()
    logits = forward(x_adv)
    meter.add(x.shape[0])
    return F.cross_entropy(logits, y), logits


def trades(model, x, y, cfg, meter, generator, forward, **_):
    """TRADES (Zhang et al. 2019): CE on clean + beta * KL(f(x) || f(x_adv)), x_adv maximizing the KL."""
    eps, steps = cfg["eps"], int(cfg.get("attack_steps", 7))
    alpha = cfg.get("attack_step_size", 2.5 * eps / steps)
    with attack_mode(model):
        with torch.no_grad():
            p_clean = F.softmax(model(x), 1)
        x_adv = (x + 0.001 * torch.randn(x.shape, generator=generator).to(x.device)).clamp(0, 1)
        for _ in range(steps):
            x_adv.requires_grad_(True)
            kl = F.kl_div(F.log_softmax(model(x_adv), 1), p_clean, reduction="sum")
            (grad,) = torch.autograd.grad(kl, x_adv)
            x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
    meter.add(x.shape[0], forward=steps + 1, backward=steps)
    model.train()
    both = forward(torch.cat([x, x_adv]))  # one pass, so DDP sees one forward per backward
    logits, logits_adv = both[: x.shape[0]], both[x.shape[0]:]
    loss_robust = F.kl_div(F.log_softmax(logits_adv, 1), F.softmax(logits, 1), reduction="batchmean")
    meter.add(x.shape[0], forward=2, backward=2)
    return F.cross_entropy(logits, y) + cfg.get("trades_beta", 6.0) * loss_robust, logits


def lwf(model, x, y, cfg, meter, source, forward, **_):
    """Learning without Forgetting: CE + lambda * ||z(x) - z0(x)||^2, z0 from the frozen robust source."""
    with torch.no_grad():
        z0 = source.features(x)
    seen = {}
    hook = model.head.register_forward_pre_hook(lambda mod, inp: seen.__setitem__("z", inp[0]))
    try:
        logits = forward(x)  # the penultimate features are the head's input
    finally:
        hook.remove()
    z = seen["z"]
    meter.add(x.shape[0], forward=2, backward=1)  # the frozen source costs one more forward
    feature_loss = (z - z0).pow(2).sum(1).mean()
    return F.cross_entropy(logits, y) + cfg["lwf_lambda"] * feature_loss, logits


OBJECTIVES = {"natural": natural, "finetune": natural, "pgd_at": pgd_at, "fast_at": fast_at,
              "trades": trades, "lwf": lwf}


def free_at_batch(model, x, y, cfg, meter, delta, optimizer, step_fn, forward):
    """One minibatch of free adversarial training (Shafahi et al. 2019): m replays, each one
    backward pass that updates both the weights and the perturbation."""
    eps = cfg["eps"]
    replays = int(cfg.get("replays", 4))
    logits = None
    for _ in range(replays):
        d = delta[: x.shape[0]].clone().requires_grad_(True)
        logits = forward((x + d).clamp(0, 1))
        loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        step_fn(loss, d)
        meter.add(x.shape[0])
        delta[: x.shape[0]] = (d.detach() + eps * d.grad.sign()).clamp(-eps, eps)
    return loss, logits
