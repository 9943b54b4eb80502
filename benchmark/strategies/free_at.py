"""Free adversarial training (Shafahi et al. 2019): each minibatch is replayed m times, and
each replay's one backward pass updates both the weights and the perturbation."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from benchmark.strategies.base import Strategy, register_strategy


@register_strategy("free_at")
class FreeAT(Strategy):
    source = "optional"
    fields = ("eps", "replays")
    adversarial = True
    delta: torch.Tensor | None = None

    def passes(self) -> int:
        return max(1, -(-self.recipe.epochs // self.recipe.replays))  # epochs counted in replayed passes

    def optimizer_steps_per_batch(self) -> int:
        return self.recipe.replays

    def begin_epoch(self, run):
        if self.delta is not None:
            self.delta.zero_()

    def train_batch(self, run, batch):
        x, y = batch.x, batch.y
        if self.delta is None or self.delta.shape[1:] != x.shape[1:]:
            self.delta = torch.zeros((self.recipe.batch_size, *x.shape[1:]), device=x.device)
        eps, loss, logits = self.eps, None, None
        for _ in range(self.recipe.replays):
            d = self.delta[: x.shape[0]].clone().requires_grad_(True)
            logits = run.forward((x + d).clamp(0, 1))
            loss = F.cross_entropy(logits, y)
            run.step(loss)  # the same backward pass fills d.grad (scaled under fp16; only its sign is used)
            run.meter.add(x.shape[0])
            grad = d.grad
            if grad is None or not torch.isfinite(grad).all():  # a skipped fp16 step: keep delta as is
                continue
            self.delta[: x.shape[0]] = (d.detach() + eps * grad.sign()).clamp(-eps, eps)
        return loss, logits

    def describe(self, entry) -> str:
        kind = "adv. fine-tune" if entry.source else ("source" if entry.task.endswith("-src") else "from scratch")
        return f"free AT m={self.recipe.replays} ({kind})"
