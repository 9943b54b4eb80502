"""The one base class every attack subclasses, the attack registry, and the norms they share."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from typing import Iterator

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry
from benchmark.spec import parse_dataclass, to_plain

NORMS = ("Linf", "L2")

ATTACKS: Registry[type["Attack"]] = Registry("attack type")
register_attack = ATTACKS.register


def perturbation_norm(delta: torch.Tensor, norm: str) -> torch.Tensor:
    flat = delta.flatten(1)
    return flat.abs().amax(1) if norm == "Linf" else flat.norm(p=2, dim=1)


def within_eps(dist: torch.Tensor, eps: float) -> torch.Tensor:
    """Inside the eps ball, with float slack on the projection far below any meaningful change."""
    return dist <= eps * (1 + 1e-5) + 1e-6


@contextlib.contextmanager
def attack_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no parameter gradients while attacking; the previous state comes back after."""
    was_training = model.training
    flags = [p.requires_grad for p in model.parameters()]
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)
        model.train(was_training)


def example_generator(seed: int, index: int, salt: str, device: torch.device) -> torch.Generator:
    """An RNG for one example, so its randomness does not depend on how examples are batched."""
    digest = hashlib.blake2b(f"{salt}:{seed}:{index}".encode(), digest_size=8).digest()
    return torch.Generator(device="cpu").manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))


@dataclasses.dataclass(frozen=True)
class NoParams:
    pass


class Attack:
    """An attack under a threat model (norm, eps), with its parameters in a typed `Params` dataclass.

    Subclasses implement `perturb`, which returns candidate adversarial inputs in [0, 1].
    The evaluator decides success: misclassified and within the eps ball. Attacks with
    `minimal_norm = True` (CW-L2, DeepFool) may return larger perturbations; those count
    as failures under the protocol but their norms are reported.
    """

    minimal_norm = False
    Params: type = NoParams

    def __init__(self, name: str, norm: str, eps: float, seed: int = 0, **params):
        where = f"attack {name}"
        if norm not in NORMS:
            raise BenchmarkError(f"{where}: norm must be one of {', '.join(NORMS)}, got {norm!r}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise BenchmarkError(f"{where}: eps must be positive, got {eps!r}")
        self.name, self.norm, self.eps, self.seed = name, norm, float(eps), int(seed)
        self.params = self.parse_params(params, where)
        for key, value in dataclasses.asdict(self.params).items():
            setattr(self, key, value)

    @classmethod
    def parse_params(cls, params: dict, where: str, prefix: str = ""):
        """The attack's parameters, checked: unknown names and wrong values are one-line errors."""
        return parse_dataclass(cls.Params, params, where, prefix)

    def perturb(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    has_low_precision = False  # whether `low_precision()` gives a bf16-search variant that judges in float32

    def low_precision(self) -> "Attack":
        raise NotImplementedError

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 index: torch.Tensor | None = None) -> torch.Tensor:
        if index is None:
            index = torch.arange(x.shape[0])
        with attack_mode(model):
            x_adv = self.perturb(model, x, y, index)
        return x_adv.detach()

    def describe(self) -> dict:
        base = {"name": self.name, "norm": self.norm, "eps": self.eps, "seed": self.seed}
        return {**base, **{k: to_plain(getattr(self, k)) for k in dataclasses.asdict(self.params)}}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.describe()})"
