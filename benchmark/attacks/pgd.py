"""Projected gradient descent (Madry et al.) under Linf or L2, with cross-entropy or CW margin loss.

Hand-written because it is the hot path: input gradients only, one forward and one
backward per step, and the forward of each step also records which examples are
already misclassified, so any iterate that fools the model counts (not just the last).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F

from benchmark.attacks.base import Attack, example_generator, register_attack
from benchmark.spec import check_field, positive


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """CW margin: best wrong logit minus the true logit (positive means misclassified)."""
    true = logits.gather(1, y[:, None]).squeeze(1)
    wrong = logits.clone()
    wrong.scatter_(1, y[:, None], float("-inf"))
    return wrong.amax(1) - true


@register_attack("pgd")
class PGD(Attack):
    @dataclass(frozen=True)
    class Params:
        steps: int = field(default=20, metadata=check_field(positive))
        step_size: float | None = field(default=None, metadata=check_field(positive))  # default 2.5 eps / steps
        restarts: int = field(default=1, metadata=check_field(positive))
        random_start: bool = True
        loss: Literal["ce", "cw"] = "ce"
        # evaluation keeps the first iterate that fools the model; adversarial training wants the last one
        return_last: bool = False

    def __init__(self, name: str, norm: str, eps: float, seed: int = 0, **params):
        super().__init__(name, norm, eps, seed, **params)
        self.step_size = float(self.step_size) if self.step_size else 2.5 * self.eps / self.steps

    def _init_delta(self, x: torch.Tensor, index: torch.Tensor, restart: int) -> torch.Tensor:
        if not self.random_start:
            return torch.zeros_like(x)
        d = x[0].numel()
        noise = torch.stack([
            torch.rand(d + 1, generator=example_generator(self.seed, int(i), f"pgd{restart}", x.device))
            for i in index
        ]).to(x.device)
        shape = (-1, *[1] * (x.dim() - 1))
        if self.norm == "Linf":
            delta = ((2 * noise[:, :d] - 1) * self.eps).view_as(x)
        else:  # a random direction (Gaussian via erfinv) at a random radius inside the L2 ball
            direction = torch.erfinv(2 * noise[:, :d].clamp(1e-6, 1 - 1e-6) - 1)
            direction = direction / direction.norm(dim=1, keepdim=True)
            delta = direction.view_as(x) * (self.eps * noise[:, d]).view(shape)
        return (x + delta).clamp(0, 1) - x

    def _project(self, delta: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            return delta.clamp(-self.eps, self.eps)
        norms = delta.flatten(1).norm(dim=1).clamp_min(1e-12)
        return delta * (self.eps / norms).clamp(max=1.0).view(-1, *[1] * (delta.dim() - 1))

    def _step(self, grad: torch.Tensor) -> torch.Tensor:
        if self.norm == "Linf":
            return self.step_size * grad.sign()
        norms = grad.flatten(1).norm(dim=1).clamp_min(1e-12)
        return self.step_size * grad / norms.view(-1, *[1] * (grad.dim() - 1))

    def perturb(self, model, x, y, index):
        x_adv = x.clone()
        fooled = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
        for restart in range(self.restarts):
            live = torch.nonzero(~fooled).flatten()  # positions in the batch still being attacked
            if live.numel() == 0:
                break
            xa, ya = x[live], y[live]
            delta = self._init_delta(xa, index[live.cpu()], restart)
            for step in range(self.steps + (0 if self.return_last else 1)):
                delta.requires_grad_(True)
                logits = model(xa + delta)
                keep = None
                if not self.return_last:
                    wrong = logits.argmax(1) != ya
                    if wrong.any():  # keep the first iterate that fools the model, stop attacking it
                        x_adv[live[wrong]] = (xa + delta).detach()[wrong]
                        fooled[live[wrong]] = True
                        keep = ~wrong
                    if step == self.steps or bool(wrong.all()):
                        live = live[~wrong]
                        delta, xa = delta.detach()[~wrong], xa[~wrong]
                        break
                loss = F.cross_entropy(logits, ya, reduction="sum") if self.loss == "ce" else margin_loss(logits, ya).sum()
                (grad,) = torch.autograd.grad(loss, delta)
                with torch.no_grad():
                    if keep is not None:  # examples are independent in eval mode, so dropping rows is exact
                        live, xa, ya, delta, grad = live[keep], xa[keep], ya[keep], delta[keep], grad[keep]
                    delta = self._project(delta + self._step(grad))
                    delta = (xa + delta).clamp(0, 1) - xa
            if live.numel():
                x_adv[live] = (xa + delta).detach()
        return x_adv
