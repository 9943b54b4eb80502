"""Pre-activation wide residual networks (Zagoruyko & Komodakis) and PreAct ResNet-18.

The blocks follow the paper's split of a WRN: the stem convolution, then every residual
unit, then the final BN+ReLU (with global average pooling); "retrain the last k blocks"
counts from the end of that list. `wrn_10_1` (one unit per stage, widths 16/32/64,
64-d pooled features) is the embedded default: the paper's WRN-32-10 shape at a size a
CPU trains in minutes.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from benchmark.models.base import TransferModel, make_head
from benchmark.models.registry import register_model


class PreActBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, drop: float = 0.0):
        super().__init__()
        self.bn1, self.conv1 = nn.BatchNorm2d(cin), nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2, self.conv2 = nn.BatchNorm2d(cout), nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.shortcut = None
        if stride != 1 or cin != cout:
            self.shortcut = nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x):
        out = F.relu(self.bn1(x))
        short = self.shortcut(out) if self.shortcut is not None else x
        out = self.conv1(out)
        out = F.relu(self.bn2(out))
        if self.drop:
            out = F.dropout(out, self.drop, self.training)
        return self.conv2(out) + short


class FinalPool(nn.Module):
    """Final BN-ReLU of a pre-activation net, global average pooling and flatten."""

    def __init__(self, channels: int | None):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels) if channels else None

    def forward(self, x):
        if self.bn is not None:
            x = F.relu(self.bn(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def residual_units(widths: list[int], units_per_stage: int, stem: int) -> list[nn.Module]:
    units, cin = [], stem
    for stage, width in enumerate(widths):
        for i in range(units_per_stage):
            units.append(PreActBlock(cin, width, 2 if (stage > 0 and i == 0) else 1))
            cin = width
    return units


def preact_net(widths: list[int], units_per_stage: int, stem: int, num_classes, in_channels, mean, std,
               head=None) -> TransferModel:
    blocks = [nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False), *residual_units(widths, units_per_stage, stem),
              FinalPool(widths[-1])]
    return TransferModel(blocks, make_head(widths[-1], num_classes, head), widths[-1], mean, std)


def wide_resnet(depth: int, widen: int):
    """WRN-depth-widen: 3 stages of (depth - 4) / 6 units, widths 16k, 32k, 64k."""

    def build(num_classes, in_channels, mean, std, head=None) -> TransferModel:
        return preact_net([16 * widen, 32 * widen, 64 * widen], (depth - 4) // 6, 16, num_classes, in_channels,
                          mean, std, head)

    return build


register_model("wrn_10_1")(wide_resnet(10, 1))
register_model("wrn_28_10")(wide_resnet(28, 10))
register_model("wrn_32_10")(wide_resnet(32, 10))
register_model("wrn_34_10")(wide_resnet(34, 10))  # the WRN of TRADES and most RobustBench CIFAR entries


@register_model("preact_resnet18")
def preact_resnet18(num_classes, in_channels, mean, std, head=None) -> TransferModel:
    """PreAct ResNet-18 (He et al. 2016) for 32x32 inputs: 4 stages of 2 units, widths 64-512."""
    blocks = [nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)]
    cin = 64
    for stage, width in enumerate((64, 128, 256, 512)):
        for i in range(2):
            blocks.append(PreActBlock(cin, width, 2 if (stage > 0 and i == 0) else 1))
            cin = width
    blocks.append(FinalPool(512))
    return TransferModel(blocks, make_head(512, num_classes, head), 512, mean, std)
