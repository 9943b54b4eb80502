"""The training-strategy interface and registry.

A strategy says what a training run trains (which leading blocks stay frozen, which are
re-initialized), whether it needs a source model, which recipe fields it uses, and how
one minibatch is trained (`train_batch`, which calls `run.step(loss)` for each optimizer
step and charges its forward/backward passes to `run.meter`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol

import torch

from benchmark.registry import Registry
from benchmark.strategies.recipe import Recipe

if TYPE_CHECKING:
    from benchmark.models import TransferModel


@dataclass
class Batch:
    x: torch.Tensor          # pixels in [0, 1] (or a frozen prefix's output), on the device
    y: torch.Tensor
    index: torch.Tensor      # global example ids, for per-example attack randomness


class Run(Protocol):
    """What a strategy sees of the training loop (benchmark.training.runner.TrainingRun)."""

    model: "TransferModel"
    forward: torch.nn.Module       # the module of the training pass (the trained part; DDP-wrapped)
    source: "TransferModel | None"
    meter: object
    generator: torch.Generator
    epoch: int
    frozen: int
    trained_share: float
    seed: int

    def step(self, loss: torch.Tensor) -> None: ...


class Strategy:
    name: ClassVar[str]
    label: ClassVar[str] = ""
    source: ClassVar[Literal["required", "optional", "none"]] = "none"
    fields: ClassVar[tuple[str, ...]] = ()      # recipe fields beyond the common ones
    required: ClassVar[tuple[str, ...]] = ()
    adversarial: ClassVar[bool] = False
    pgd_steps_per_batch: ClassVar[bool] = False   # the training attack costs recipe.attack_steps passes a batch
    transfer_lr: ClassVar[float] = 0.01         # the default learning rate of `benchmark transfer`

    def __init__(self, recipe: Recipe, eps: float, norm: str):
        self.recipe, self.norm = recipe, norm
        self.eps = float(recipe.eps if recipe.eps is not None else eps)

    def frozen_blocks(self, model: "TransferModel") -> int:
        """Leading blocks kept fixed for the whole run (their outputs are computed once)."""
        return 0

    def reinit_blocks(self, model: "TransferModel") -> list[int]:
        """Blocks re-initialized before training (after loading the source)."""
        return []

    def adapt_model(self, model: "TransferModel") -> None:
        """Change the network the entry trains, in place, before any weights load into it (LoRA adds its
        factors): the entry's architecture is the result, for training and evaluation alike."""

    def added_keys(self, model: "TransferModel") -> set[str]:
        """State-dict keys `adapt_model` added: the source does not have them."""
        return set()

    def trainable(self, model: "TransferModel") -> set[str] | None:
        """The names of the only parameters that train (parameter-efficient tuning), or None: every
        parameter outside the frozen blocks."""
        return None

    def passes(self) -> int:
        """Passes over the training data (epochs, or epochs / replays for free AT)."""
        return self.recipe.epochs

    def optimizer_steps_per_batch(self) -> int:
        return 1

    def begin_epoch(self, run: Run) -> None:
        pass

    def train_batch(self, run: Run, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def describe(self, entry) -> str:
        return self.label or self.name


STRATEGIES: Registry[type[Strategy]] = Registry("strategy")


def register_strategy(name: str):
    def add(cls: type[Strategy]) -> type[Strategy]:
        cls.name = name
        return STRATEGIES.register(name)(cls)

    return add
