"""PreAct ResNet-18 and WideResNet for 32x32 inputs, torchvision's ResNet-50 for 224x224."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn

from benchmark.models.base import TransferModel, make_head


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


def _stage(cin: int, cout: int, n: int, stride: int, drop: float = 0.0) -> nn.Sequential:
    return nn.Sequential(*[PreActBlock(cin if i == 0 else cout, cout, stride if i == 0 else 1, drop) for i in range(n)])


class _Pool(nn.Module):
    """Final BN-ReLU (pre-activation nets), global average pool and flatten."""

    def __init__(self, channels: int | None):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels) if channels else None

    def forward(self, x):
        if self.bn is not None:
            x = F.relu(self.bn(x))
        return F.adaptive_avg_pool2d(x, 1).flatten(1)


def preact_resnet18(num_classes, in_channels, mean, std, head=None) -> TransferModel:
    blocks = [nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), _stage(64, 64, 2, 1), _stage(64, 128, 2, 2),
              _stage(128, 256, 2, 2), _stage(256, 512, 2, 2), _Pool(512)]
    return TransferModel(blocks, make_head(512, num_classes, head), 512, mean, std)


def wide_resnet(depth: int, widen: int):
    def build(num_classes, in_channels, mean, std, head=None) -> TransferModel:
        n = (depth - 4) // 6
        w = [16, 16 * widen, 32 * widen, 64 * widen]
        blocks = [nn.Conv2d(in_channels, w[0], 3, 1, 1, bias=False), _stage(w[0], w[1], n, 1),
                  _stage(w[1], w[2], n, 2), _stage(w[2], w[3], n, 2), _Pool(w[3])]
        return TransferModel(blocks, make_head(w[3], num_classes, head), w[3], mean, std)

    return build


def resnet50(num_classes, in_channels, mean, std, head=None) -> TransferModel:
    from torchvision.models import resnet50 as tv_resnet50

    net = tv_resnet50(weights=None)
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    blocks = [nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool), net.layer1, net.layer2, net.layer3,
              net.layer4, _Pool(None)]
    return TransferModel(blocks, make_head(2048, num_classes, head), 2048, mean, std)
