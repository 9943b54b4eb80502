"""Adapters: torchvision (and timm) networks as `TransferModel`s.

An adapter names which modules of the wrapped network are the blocks, in order, and
which is the classifier; normalization comes from the entry's task (or the source
checkpoint's own statistics), so the wrapped model takes pixels in [0, 1] like every
other. The published robust sources of the transfer literature (Salman et al. 2020,
Madry lab's `robustness` library, RobustBench) are torchvision ResNets and WRNs.
"""

from __future__ import annotations

from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.models.base import TransferModel, make_head
from benchmark.models.registry import register_model
from benchmark.models.wrn import FinalPool


def resnet_blocks(net: nn.Module) -> list[nn.Module]:
    """torchvision/timm ResNet layout: stem, layer1-4, pooling (BN lives inside the layers)."""
    act = getattr(net, "relu", None) or getattr(net, "act1")
    return [nn.Sequential(net.conv1, net.bn1, act, net.maxpool), net.layer1, net.layer2, net.layer3, net.layer4,
            FinalPool(None)]


def torchvision_resnet(builder: str):
    def build(num_classes, in_channels, mean, std, head=None) -> TransferModel:
        import torchvision.models as tvm

        net = getattr(tvm, builder)(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        width = net.fc.in_features
        return TransferModel(resnet_blocks(net), make_head(width, num_classes, head), width, mean, std)

    return build


for _name in ("resnet18", "resnet50", "wide_resnet50_2"):
    register_model(_name)(torchvision_resnet(_name))


def timm_resnet(name: str):
    def build(num_classes, in_channels, mean, std, head=None) -> TransferModel:
        try:
            import timm
        except ImportError:
            raise BenchmarkError(f"architecture timm/{name} needs timm: pip install timm") from None
        net = timm.create_model(name, pretrained=False, num_classes=0, in_chans=in_channels)
        width = net.num_features
        return TransferModel(resnet_blocks(net), make_head(width, num_classes, head), width, mean, std)

    return build


for _name in ("resnet50", "wide_resnet50_2"):
    register_model(f"timm/{_name}")(timm_resnet(_name))
