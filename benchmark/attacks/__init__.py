"""The attack battery: one file per attack, each registered where it is defined."""

from __future__ import annotations

from benchmark.attacks.apgd import APGD
from benchmark.attacks.autoattack import AutoAttack
from benchmark.attacks.base import (ATTACKS, Attack, attack_mode, perturbation_norm, register_attack,
                                    within_eps)
from benchmark.attacks.cw import CarliniWagnerL2
from benchmark.attacks.deepfool import DeepFool
from benchmark.attacks.pgd import PGD
from benchmark.errors import BenchmarkError


def build_attack(spec: dict, norm: str, eps: float, seed: int = 0, where: str = "protocol",
                 field_prefix: str = "attacks[0].") -> Attack:
    """Build an attack from a protocol entry {name, type, **params}; errors name the field."""
    params = dict(spec)
    kind = params.pop("type", None)
    name = params.pop("name", kind)
    seed = params.pop("seed", seed)  # an attack may pin its own seed
    if kind not in ATTACKS:
        raise BenchmarkError(f"{where}: field '{field_prefix}type': {ATTACKS.unknown(kind)}")
    cls = ATTACKS.get(kind)
    cls.parse_params(params, where, field_prefix)
    return cls(name, norm, eps, seed, **params)


__all__ = ["APGD", "ATTACKS", "Attack", "AutoAttack", "CarliniWagnerL2", "DeepFool", "PGD", "attack_mode", "build_attack",
           "perturbation_norm", "register_attack", "within_eps"]
