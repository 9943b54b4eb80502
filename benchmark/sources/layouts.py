"""Layouts: a published network as a `TransferModel` — which modules are its blocks (in order, what
"retrain the last k" counts), which is its head, how wide its penultimate features are, and what
normalization it does itself — registered per architecture family, where RobustBench, timm and
torchvision define them.

A family is matched on the network's class name. A network with no layout of its own, or one whose forward
pass does more than its family's (its own input normalization, say), is found from the network itself
(`from_final_linear`): its last linear layer is the head, its input the penultimate features, and the whole
forward pass in front of it one block, so the head and LwF strategies work on it ("retrain the last k" needs
the blocks, so a registered layout: `@register_layout` in a plugin, see docs/extending.md).
"""

from __future__ import annotations

from typing import Callable, NamedTuple

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


class Layout(NamedTuple):
    blocks: list[nn.Module]
    head: nn.Module
    feature_dim: int


LayoutFn = Callable[[nn.Module], Layout]
LAYOUTS: Registry[LayoutFn] = Registry("architecture family")
register_layout = LAYOUTS.register


class GlobalPool(nn.Module):
    """Average over the spatial positions, flattened: the feature vector a head reads."""

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return h.mean(dim=(2, 3)) if h.dim() == 4 else h.flatten(1)


class AvgPool(nn.Module):
    """The fixed-window average pooling a family's own forward pass does (e.g. 8x8 on CIFAR's 8x8 maps), so the
    wrapped network computes exactly what its authors' does."""

    def __init__(self, size: int):
        super().__init__()
        self.size = size

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return nn.functional.avg_pool2d(h, self.size).flatten(1)


class Normalize(nn.Module):
    """A network's own input normalization (RobustBench puts it inside its models), kept as its first step."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().reshape(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.detach().clone().reshape(1, -1, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class Pad(nn.Module):
    def __init__(self, padding: int):
        super().__init__()
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (self.padding,) * 4)


def _unwrap(net: nn.Module) -> tuple[list[nn.Module], nn.Module]:
    """RobustBench's `Sequential(normalize=ImageNormalizer, model=...)`: the normalizer as a prefix."""
    if isinstance(net, nn.Sequential) and len(net) == 2 and type(net[0]).__name__ == "ImageNormalizer":
        return [Normalize(net[0].mean, net[0].std)], net[1]
    return [], net


def layout_of(net: nn.Module) -> Layout:
    """The network's layout, by its family (its class name)."""
    prefix, body = _unwrap(net)
    # the nearest registered class up the network's class hierarchy (RobustBench subclasses its families)
    family = next((c.__name__ for c in type(body).__mro__ if c.__name__ in LAYOUTS), type(body).__name__)
    if family not in LAYOUTS:
        if hasattr(body, "forward_features") and hasattr(body, "get_classifier"):
            family = "timm"
        else:
            raise BenchmarkError(f"a {family} has no layout (which modules are its blocks and its head): register "
                                 f"one with @register_layout({family!r}) in a plugin (docs/extending.md), or choose "
                                 f"a source of another family ({', '.join(sorted(LAYOUTS))})")
    layout = LAYOUTS.get(family)(body)
    if prefix:
        layout = Layout([nn.Sequential(*prefix, layout.blocks[0]), *layout.blocks[1:]], layout.head,
                        layout.feature_dim)
    return layout


@register_layout("WideResNet")
def wide_resnet(net: nn.Module) -> Layout:
    """RobustBench's WideResNet (TRADES'): stem conv, 3 groups of units, final BN+ReLU, pooling (`sub_block1`
    is unused in its forward pass)."""
    return Layout([net.conv1, net.block1, net.block2, net.block3, nn.Sequential(net.bn1, net.relu), AvgPool(8)],
                  net.fc, net.fc.in_features)


class PerImageStandardize(nn.Module):
    """Ding et al.'s (MMA training) input step: each image minus its mean over its values, over their standard
    deviation (at least 1/sqrt(size))."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True)
        return (x - mu) / torch.max(std, torch.ones_like(std) / (x.shape[1] * x.shape[2] * x.shape[3]) ** 0.5)


@register_layout("Ding2020MMANet")
def ding2020_mma(net: nn.Module) -> Layout:
    """RobustBench's MMA-trained WideResNet (Ding et al., ICLR 2020): a WideResNet that standardizes each image
    first; that step joins the stem."""
    layout = wide_resnet(net)
    return Layout([nn.Sequential(PerImageStandardize(), layout.blocks[0]), *layout.blocks[1:]], layout.head,
                  layout.feature_dim)


@register_layout("DMWideResNet")
def dm_wide_resnet(net: nn.Module) -> Layout:
    """DeepMind's WideResNet (Gowal et al., Rebuffi et al.; most of RobustBench's top entries): its own
    normalization and padding first, then the groups, final BN+activation, pooling."""
    stem = [Pad(net.padding)] if net.padding > 0 else []
    stem += [Normalize(net.mean, net.std), net.init_conv]
    return Layout([nn.Sequential(*stem), *net.layer, nn.Sequential(net.batchnorm, net.relu), AvgPool(8)],
                  net.logits, net.logits.in_features)


@register_layout("DMPreActResNet")
def dm_preact_resnet(net: nn.Module) -> Layout:
    """DeepMind's pre-activation ResNet: its normalization and padding, stem conv, 4 layers, BN+activation,
    pooling."""
    stem = [Pad(net.padding)] if net.padding > 0 else []
    stem += [Normalize(net.mean, net.std), net.conv_2d]
    return Layout([nn.Sequential(*stem), net.layer_0, net.layer_1, net.layer_2, net.layer_3,
                   nn.Sequential(net.batchnorm, net.relu), AvgPool(4)], net.logits, net.logits.in_features)


@register_layout("PreActResNet")
def preact_resnet(net: nn.Module) -> Layout:
    """RobustBench's pre-activation ResNet: stem conv, 4 layers, (BN+ReLU), pooling."""
    tail = [nn.Sequential(net.bn, nn.ReLU())] if getattr(net, "bn_before_fc", False) else []
    return Layout([net.conv1, net.layer1, net.layer2, net.layer3, net.layer4, *tail, AvgPool(4)], net.linear,
                  net.linear.in_features)


@register_layout("ResNet")
def resnet(net: nn.Module) -> Layout:
    """torchvision's and timm's ResNets (and RobustBench's ImageNet ones): stem, layer1-4, pooling; RobustBench's
    CIFAR ResNet (no max-pool, `linear` head) too."""
    if hasattr(net, "fc"):
        act = getattr(net, "relu", None) or getattr(net, "act1")
        stem = nn.Sequential(net.conv1, net.bn1, act, net.maxpool)
        return Layout([stem, net.layer1, net.layer2, net.layer3, net.layer4, GlobalPool()], net.fc, net.fc.in_features)
    stem = nn.Sequential(net.conv1, net.bn1, nn.ReLU())
    return Layout([stem, net.layer1, net.layer2, net.layer3, net.layer4, AvgPool(4)], net.linear,
                  net.linear.in_features)


class _TimmFeatures(nn.Module):
    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.forward_features(x)


class _TimmPool(nn.Module):
    def __init__(self, features: _TimmFeatures):
        super().__init__()
        self._features = [features]  # not a submodule: the network's parameters live in the first block

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self._features[0].net.forward_head(h, pre_logits=True)


@register_layout("timm")
def timm_generic(net: nn.Module) -> Layout:
    """Any other timm model: its `forward_features` as one block and its pooling as the second, its classifier as
    the head (so "retrain the last k" covers k=1; the other strategies work as on any network)."""
    classifier = net.get_classifier()
    head = nn.Linear(classifier.in_features, classifier.out_features)
    with torch.no_grad():
        head.weight.copy_(classifier.weight)
        head.bias.copy_(classifier.bias)
    net.reset_classifier(0)
    features = _TimmFeatures(net)
    return Layout([features, _TimmPool(features)], head, head.in_features)


def from_final_linear(net: nn.Module, probe: torch.Tensor) -> Layout | None:
    """The network's own forward pass up to its last linear layer, as one block, and that layer as the head: found
    by running `probe` (a real batch, or one on the meta device) with a hook on every nn.Linear. None when the
    network's output is not a linear layer's output (something happens after it: not a head to replace).

    The network is changed in place (its head becomes an identity, so its forward pass returns the features);
    call it only once the family's own layout has failed."""
    calls: list[tuple[nn.Module, torch.Tensor]] = []
    hooks = [m.register_forward_hook(lambda mod, inp, out: calls.append((mod, out)))
             for m in net.modules() if isinstance(m, nn.Linear)]
    try:
        with torch.no_grad():
            out = net(probe)
    finally:
        for h in hooks:
            h.remove()
    if not calls or calls[-1][1] is not out:
        return None
    head = calls[-1][0]
    owner, name = next((mod, n) for mod in net.modules() for n, child in mod.named_children() if child is head)
    setattr(owner, name, nn.Identity())
    return Layout([_WholeForward(net)], head, head.in_features)


class _WholeForward(nn.Module):
    """A network whose head is an identity: its forward pass gives the penultimate features."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
