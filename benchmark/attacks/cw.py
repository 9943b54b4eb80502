"""Carlini-Wagner L2, from torchattacks, searched over several constants c."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from benchmark.attacks.base import Attack, register_attack
from benchmark.spec import check_field, non_negative, positive


@register_attack("cw-l2")
class CarliniWagnerL2(Attack):
    """torchattacks' CW-L2, a minimal-norm attack, run for each constant in `c_values`.

    torchattacks uses one fixed c; a single c either misses examples (too small) or finds
    needlessly large perturbations (too large). Like CW's own search over c, each example
    keeps its smallest successful perturbation over the constants tried.
    """

    minimal_norm = True

    @dataclass(frozen=True)
    class Params:
        c: float = field(default=1.0, metadata=check_field(positive))
        kappa: float = field(default=0.0, metadata=check_field(non_negative))
        steps: int = field(default=100, metadata=check_field(positive))
        lr: float = field(default=0.01, metadata=check_field(positive))
        c_values: list[float] | None = None

    def __init__(self, name: str, norm: str, eps: float, seed: int = 0, **params):
        super().__init__(name, norm, eps, seed, **params)
        self.c_values = [float(v) for v in self.c_values] if self.c_values else [self.c]

    def perturb(self, model, x, y, index):
        import torchattacks

        best = x.clone()
        best_norm = torch.full((x.shape[0],), float("inf"), device=x.device)
        for c in self.c_values:
            atk = torchattacks.CW(model, c=c, kappa=self.kappa, steps=self.steps, lr=self.lr)
            with torch.enable_grad():
                x_adv = atk(x, y)
            with torch.no_grad():
                fooled = model(x_adv).argmax(1) != y
            dist = (x_adv - x).flatten(1).norm(dim=1)
            better = fooled & (dist < best_norm)
            best[better], best_norm[better] = x_adv[better], dist[better]
        return best
