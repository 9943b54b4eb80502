"""The reference AutoAttack (Croce & Hein 2020), from its authors' code (PyPI `pyautoattack`)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

import torch

from benchmark.attacks.base import Attack, register_attack
from benchmark.models.layout import for_reference_code
from benchmark.spec import check_field, positive

@register_attack("autoattack")
class AutoAttack(Attack):
    """version 'standard' runs APGD-CE, APGD-T, FAB-T and Square with the published settings;
    'custom' runs the listed `attacks`. Targeted attacks use min(9, classes - 1) targets."""

    @dataclass(frozen=True)
    class Params:
        version: Literal["standard", "custom", "plus", "rand"] = "standard"
        attacks: list[Literal["apgd-ce", "apgd-t", "fab", "fab-t", "square", "apgd-dlr"]] | None = None
        # APGD-CE restarts; the reference code uses 1 in 'standard' but 5 in 'custom' unless this says
        apgd_restarts: int | None = field(default=None, metadata=check_field(positive))

    def perturb(self, model, x, y, index):
        from pyautoattack import AutoAttack as ReferenceAutoAttack

        logging.getLogger("auto-attack").setLevel(logging.WARNING)
        with torch.no_grad():
            n_classes = model(x[:1]).shape[1]
        reference_model, x = for_reference_code(model, x)
        aa = ReferenceAutoAttack(reference_model, norm=self.norm, eps=self.eps, version=self.version,
                                 attacks=list(self.attacks) if self.version == "custom" and self.attacks else None,
                                 seed=self.seed, device=x.device)
        aa.verbose = False
        if self.apgd_restarts is not None:
            aa.apgd.n_restarts = self.apgd_restarts
        aa.apgd_targeted.n_target_classes = min(9, n_classes - 1)
        aa.fab.n_target_classes = min(9, n_classes - 1)
        with torch.enable_grad():
            x_adv, _ = aa.run_standard_evaluation(x, y, batch_size=x.shape[0])
        return x_adv
