"""The architecture registry and its one factory."""

from __future__ import annotations

from typing import Callable, Sequence

from benchmark.models.base import TransferModel
from benchmark.registry import Registry

ModelFn = Callable[..., TransferModel]
MODELS: Registry[ModelFn] = Registry("architecture")
register_model = MODELS.register


def create_model(name: str, num_classes: int, in_channels: int = 3, mean: Sequence[float] | None = None,
                 std: Sequence[float] | None = None, head: dict | None = None) -> TransferModel:
    """Build a registered architecture with normalization (mean, std) inside and a fresh head."""
    mean = tuple(mean) if mean is not None else (0.5,) * in_channels
    std = tuple(std) if std is not None else (0.25,) * in_channels
    return MODELS.get(name)(num_classes=num_classes, in_channels=in_channels, mean=mean, std=std, head=head)
