"""Low-rank adaptation (LoRA, Hu et al. 2022) of a network's convolutions and linear layers.

A wrapped layer keeps its frozen weight W under its own name and adds two factors,
`lora_A` (rank x fan-in) and `lora_B` (out x rank), so that it computes the layer with
W + (alpha / rank) * B A. B starts at zero: before training the network is exactly the
source. For a convolution, A spans the kernel's whole fan-in (in / groups x kh x kw) and
B A is reshaped to the kernel's shape, as loralib's ConvLoRA does; the product is formed
once per forward pass, so a wrapped convolution costs one convolution, not two.

Written here rather than taken from `peft`: peft's convolution LoRA is the same product,
but the package pulls in `transformers` and `accelerate` for layers of twenty lines, and
the benchmark's layers must keep their state-dict names (the source's weights load into
them unchanged). tests/test_peft.py checks the layers against the two-convolution
reference (conv with A as kernels, then a 1x1 conv with B) and against merged weights.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

LoRATargets = Literal["conv", "linear", "all"]
LORA_KEYS = ("lora_A", "lora_B")


class _LoRA:
    """The factors and their product; mixed into nn.Conv2d and nn.Linear."""

    weight: torch.Tensor

    def _add_factors(self, rank: int, alpha: float, fan_in: int, fan_out: int) -> None:
        self.rank, self.scaling = rank, alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, fan_in, dtype=self.weight.dtype, device=self.weight.device))
        self.lora_B = nn.Parameter(torch.zeros(fan_out, rank, dtype=self.weight.dtype, device=self.weight.device))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))  # loralib's and peft's choice; B = 0 keeps W

    def delta(self) -> torch.Tensor:
        """The low-rank update (alpha / rank) B A, in the weight's shape."""
        return (self.lora_B @ self.lora_A).view(self.weight.shape) * self.scaling

    def merged_weight(self) -> torch.Tensor:
        return self.weight + self.delta()


class LoRAConv2d(_LoRA, nn.Conv2d):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.merged_weight(), self.bias)


class LoRALinear(_LoRA, nn.Linear):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.merged_weight(), self.bias)


def _wrapped(layer: nn.Module, rank: int, alpha: float) -> nn.Module:
    """A LoRA copy of `layer` holding the same weight and bias parameters (so their names do not change)."""
    if isinstance(layer, nn.Conv2d):
        new = LoRAConv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride, layer.padding,
                         layer.dilation, layer.groups, layer.bias is not None, layer.padding_mode,
                         device="meta")
        fan_in = layer.in_channels // layer.groups * math.prod(layer.kernel_size)
    else:
        new = LoRALinear(layer.in_features, layer.out_features, layer.bias is not None, device="meta")
        fan_in = layer.in_features
    new.weight, new.bias = layer.weight, layer.bias
    new._add_factors(rank, alpha, fan_in, layer.weight.shape[0])
    return new.train(layer.training)


def add_lora(module: nn.Module, rank: int, alpha: float, targets: LoRATargets = "all") -> list[str]:
    """Replace every convolution and/or linear layer under `module` by its LoRA version, in place.

    Returns the wrapped layers' names (relative to `module`), in module order.
    """
    kinds = {"conv": (nn.Conv2d,), "linear": (nn.Linear,), "all": (nn.Conv2d, nn.Linear)}[targets]
    wrapped = []
    for name, parent in list(module.named_modules()):
        for child_name, child in list(parent.named_children()):
            if type(child) in kinds:  # exact types: an already wrapped layer is not wrapped twice
                setattr(parent, child_name, _wrapped(child, rank, alpha))
                wrapped.append(f"{name}.{child_name}" if name else child_name)
    return wrapped


def is_lora_key(key: str) -> bool:
    return key.rsplit(".", 1)[-1] in LORA_KEYS
