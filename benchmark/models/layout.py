"""Memory layout for attacking a model fast.

Channels-last (NHWC) lets oneDNN on CPU and cuDNN on GPU pick their fast convolution
kernels: on the embedded small CNN it makes a forward pass about 2x and a
forward+backward pass about 1.5x faster on CPU (`python -m benchmark perf`). It changes
the order of floating-point sums only (logits differ by ~1e-7), so attack outcomes stay
the same; the perf and tests compare evaluations with and without it.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn


def has_conv(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


@contextlib.contextmanager
def channels_last(model: nn.Module, enabled: bool = True) -> Iterator[bool]:
    """Keep the model's 4-D weights channels-last inside the block; contiguous again after.

    Yields whether the layout is in effect (only for models with convolutions), so callers
    can lay their inputs out the same way.
    """
    active = enabled and has_conv(model)
    if active:
        model.to(memory_format=torch.channels_last)
    try:
        yield active
    finally:
        if active:
            model.to(memory_format=torch.contiguous_format)


def as_layout(x: torch.Tensor, active: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if active and x.dim() == 4 else x


class _StandardLayoutGrad(torch.autograd.Function):
    """Identity whose backward hands the gradient back in the standard (NCHW) layout."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad.contiguous()


class StandardLayoutGrads(nn.Module):
    """The model, with input gradients in the standard layout whatever the model's own.

    Code that `.view()`s input gradients, such as the reference AutoAttack, fails on the
    channels-last gradients a channels-last model gives 3-channel inputs; the model itself
    still runs in its fast layout.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.train(model.training)  # a wrapper must not switch the model's mode when code restores its own

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(_StandardLayoutGrad.apply(x))


def for_reference_code(model: nn.Module, x: torch.Tensor) -> tuple[nn.Module, torch.Tensor]:
    """The model and inputs as code that `.view()`s input gradients (the reference AutoAttack)
    needs them: NCHW inputs and gradients, while the model keeps its own layout."""
    return StandardLayoutGrads(model), x.contiguous()
