"""Fast adversarial training (Wong et al. 2020): FGSM from a random start, step 1.25 eps."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.attacks import attack_mode
from benchmark.strategies.base import Strategy, register_strategy


@register_strategy("fast_at")
class FastAT(Strategy):
    source = "optional"
    fields = ("eps", "attack_step_size")
    adversarial = True

    def train_batch(self, run, batch):
        x, y = batch.x, batch.y
        eps = self.eps
        alpha = self.recipe.attack_step_size or 1.25 * eps
        delta = (torch.rand(x.shape, generator=run.generator).to(x.device) * 2 - 1) * eps
        delta = ((x + delta).clamp(0, 1) - x).requires_grad_(True)
        with attack_mode(run.model):
            loss = F.cross_entropy(run.model(x + delta), y)
            (grad,) = torch.autograd.grad(loss, delta)
        run.meter.add(x.shape[0])
        delta = (delta.detach() + alpha * grad.sign()).clamp(-eps, eps)
        x_adv = (x + delta).clamp(0, 1)
        run.model.train()
        logits = run.forward(x_adv)
        run.meter.add(x.shape[0])
        loss = F.cross_entropy(logits, y)
        run.step(loss)
        return loss, logits

    def describe(self, entry) -> str:
        return "fast AT (" + ("adv. fine-tune" if entry.source else "from scratch") + ")"
