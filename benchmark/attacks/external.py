"""Attacks taken from the field's libraries: CW-L2 from torchattacks, AutoAttack from its authors."""

from __future__ import annotations

import logging

import torch

from benchmark.attacks.base import Attack


class CarliniWagnerL2(Attack):
    """torchattacks' CW-L2, a minimal-norm attack, run for each constant in `c_values`.

    torchattacks uses one fixed c; a single c either misses examples (too small) or finds
    needlessly large perturbations (too large). Like CW's own search over c, each example
    keeps its smallest successful perturbation over the constants tried.
    """

    minimal_norm = True

    def __init__(self, name: str, norm: str, eps: float, c: float = 1.0, kappa: float = 0.0,
                 steps: int = 100, lr: float = 0.01, c_values: list[float] | None = None, seed: int = 0):
        super().__init__(name, norm, eps, seed)
        self.c, self.kappa, self.steps, self.lr = float(c), float(kappa), int(steps), float(lr)
        self.c_values = [float(v) for v in c_values] if c_values else [self.c]

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


class AutoAttack(Attack):
    """The reference AutoAttack (Croce & Hein), from the `pyautoattack` package.

    version 'standard' runs APGD-CE, APGD-T, FAB-T and Square with the published settings;
    'custom' runs the listed `attacks`. Targeted attacks use min(9, classes - 1) targets.
    """

    def __init__(self, name: str, norm: str, eps: float, version: str = "standard",
                 attacks: list[str] | None = None, seed: int = 0):
        super().__init__(name, norm, eps, seed)
        self.version = version
        self.attacks = list(attacks) if attacks else None

    def perturb(self, model, x, y, index):
        from pyautoattack import AutoAttack as ReferenceAutoAttack

        logging.getLogger("auto-attack").setLevel(logging.WARNING)
        with torch.no_grad():
            n_classes = model(x[:1]).shape[1]
        aa = ReferenceAutoAttack(model, norm=self.norm, eps=self.eps, version=self.version,
                                 attacks=self.attacks if self.version == "custom" else None,
                                 seed=self.seed, device=x.device)
        aa.verbose = False
        aa.apgd_targeted.n_target_classes = min(9, n_classes - 1)
        aa.fab.n_target_classes = min(9, n_classes - 1)
        with torch.enable_grad():
            x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=x.shape[0])
        return x_adv
