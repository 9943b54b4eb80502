"""TRADES (Zhang et al. 2019): CE on clean inputs + beta * KL(f(x) || f(x_adv)), x_adv maximizing the KL."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.attacks import attack_mode
from benchmark.strategies.base import Strategy, register_strategy


@register_strategy("trades")
class TRADES(Strategy):
    source = "optional"
    fields = ("eps", "attack_steps", "attack_step_size", "trades_beta")
    adversarial = True
    pgd_steps_per_batch = True

    def train_batch(self, run, batch):
        x, y = batch.x, batch.y
        eps, steps = self.eps, self.recipe.attack_steps
        alpha = self.recipe.attack_step_size or 2.5 * eps / steps
        with attack_mode(run.model):
            with torch.no_grad():
                p_clean = F.softmax(run.model(x), 1)
            x_adv = (x + 0.001 * torch.randn(x.shape, generator=run.generator).to(x.device)).clamp(0, 1)
            for _ in range(steps):
                x_adv.requires_grad_(True)
                kl = F.kl_div(F.log_softmax(run.model(x_adv), 1), p_clean, reduction="sum")
                (grad,) = torch.autograd.grad(kl, x_adv)
                x_adv = torch.min(torch.max(x_adv.detach() + alpha * grad.sign(), x - eps), x + eps).clamp(0, 1)
        run.meter.add(x.shape[0], forward=steps + 1, backward=steps)
        run.model.train()
        both = run.forward(torch.cat([x, x_adv]))  # one pass, so DDP sees one forward per backward
        logits, logits_adv = both[: x.shape[0]], both[x.shape[0]:]
        loss_robust = F.kl_div(F.log_softmax(logits_adv, 1), F.softmax(logits, 1), reduction="batchmean")
        run.meter.add(x.shape[0], forward=2, backward=2)
        loss = F.cross_entropy(logits, y) + self.recipe.trades_beta * loss_robust
        run.step(loss)
        return loss, logits
