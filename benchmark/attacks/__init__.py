"""The attack battery: build attacks from protocol specs."""

from __future__ import annotations

from benchmark.attacks.base import Attack, attack_mode, perturbation_norm, within_eps
from benchmark.attacks.deepfool import DeepFool
from benchmark.attacks.external import AutoAttack, CarliniWagnerL2
from benchmark.attacks.pgd import PGD
from benchmark.errors import BenchmarkError

ATTACK_TYPES: dict[str, type[Attack]] = {
    "pgd": PGD,
    "deepfool": DeepFool,
    "cw-l2": CarliniWagnerL2,
    "autoattack": AutoAttack,
}


def build_attack(spec: dict, norm: str, eps: float, seed: int = 0) -> Attack:
    """Build an attack from a protocol entry {name, type, **params}."""
    params = dict(spec)
    kind = params.pop("type", None)
    name = params.pop("name", kind)
    if kind not in ATTACK_TYPES:
        raise BenchmarkError(f"attack {name!r}: unknown type {kind!r}, choose one of {', '.join(ATTACK_TYPES)}")
    params.setdefault("seed", seed)
    try:
        return ATTACK_TYPES[kind](name, norm, eps, **params)
    except TypeError as exc:
        raise BenchmarkError(f"attack {name!r}: bad parameter ({exc})") from None


__all__ = ["ATTACK_TYPES", "Attack", "AutoAttack", "CarliniWagnerL2", "DeepFool", "PGD",
           "attack_mode", "build_attack", "perturbation_norm", "within_eps"]
