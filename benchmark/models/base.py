"""The model interface every architecture follows.

Pixels in [0, 1] go in; normalization is the model's first step, so attacks never see
normalized inputs. The body is an ordered list of blocks whose last block yields the
penultimate (feature) vector; `head` maps features to logits and can be replaced.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from benchmark.errors import BenchmarkError


class TransferModel(nn.Module):
    # a task can ask for its images to be resized inside the model (bilinear), e.g. CIFAR's 32x32 pixels into
    # an ImageNet network at 224: the attacks still perturb the task's own pixels (`Task.upsample`)
    input_size: int | None = None

    def __init__(self, blocks: Sequence[nn.Module], head: nn.Module, feature_dim: int,
                 mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))
        self.blocks = nn.ModuleList(blocks)
        self.head = head
        self.feature_dim = feature_dim

    @property
    def num_blocks(self) -> int:
        return len(self.blocks)

    def prefix(self, x: torch.Tensor, n_blocks: int) -> torch.Tensor:
        """(Resize,) normalize pixels and apply the first `n_blocks` blocks."""
        if self.input_size is not None and tuple(x.shape[-2:]) != (self.input_size, self.input_size):
            x = torch.nn.functional.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear",
                                                align_corners=False)
        h = (x - self.mean) / self.std
        for block in self.blocks[:n_blocks]:
            h = block(h)
        return h

    def suffix(self, h: torch.Tensor, n_blocks: int) -> torch.Tensor:
        """Apply the blocks after the first `n_blocks`, then the head."""
        for block in self.blocks[n_blocks:]:
            h = block(h)
        return self.head(h)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate representation (input of the head)."""
        return self.prefix(x, self.num_blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class TrainedPart(nn.Module):
    """The part of a model after its first `frozen` blocks: what a partial transfer trains.

    It takes the frozen prefix's output (computed once) instead of pixels.
    """

    def __init__(self, model: TransferModel, frozen: int):
        super().__init__()
        self.model, self.frozen = model, frozen

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.model.suffix(h, self.frozen)


def make_head(feature_dim: int, num_classes: int, spec: dict | None = None) -> nn.Module:
    """A linear head, or an MLP head: spec = {"type": "mlp", "hidden": [256, 256], "dropout": 0.0}."""
    spec = spec or {"type": "linear"}
    kind = spec.get("type", "linear")
    if kind == "linear":
        return nn.Linear(feature_dim, num_classes)
    if kind == "mlp":
        layers, width = [], feature_dim
        for hidden in spec.get("hidden", [256]):
            layers += [nn.Linear(width, hidden), nn.ReLU(inplace=True)]
            if spec.get("dropout"):
                layers.append(nn.Dropout(spec["dropout"]))
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        return nn.Sequential(*layers)
    raise BenchmarkError(f"unknown head type {kind!r}: use 'linear' or 'mlp'")
