"""Training cost in full-model forward+backward passes per example.

A forward pass counts 1/3 and a backward pass 2/3 of one forward+backward; passes
through only part of the network are weighted by that part's share of the model's
multiply-accumulates, measured once with forward hooks.
"""

from __future__ import annotations

import torch
from torch import nn


def block_mac_shares(model, input_shape: tuple[int, ...]) -> list[float]:
    """Share of the model's MACs in each block, then the head (sums to 1)."""
    macs = {"n": 0}

    def hook(mod, inp, out):
        if isinstance(mod, nn.Conv2d):
            macs["n"] += out.numel() * mod.in_channels * mod.kernel_size[0] * mod.kernel_size[1] // mod.groups
        elif isinstance(mod, nn.Linear):
            macs["n"] += out.numel() * mod.in_features

    shares = []
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()  # a train-mode pass would move batch-norm running statistics
    try:
        with torch.no_grad():
            h = (torch.zeros(1, *input_shape, device=model.mean.device) - model.mean) / model.std
            for block in list(model.blocks) + [model.head]:
                macs["n"] = 0
                h = block(h)
                shares.append(macs["n"])
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    total = max(sum(shares), 1)
    return [s / total for s in shares]


class CostMeter:
    """Counts forward and backward example-passes, weighted by the share of the model they touch."""

    def __init__(self, state: dict | None = None):
        self.forward = float((state or {}).get("forward", 0.0))
        self.backward = float((state or {}).get("backward", 0.0))

    def add(self, examples: int, forward: float = 1.0, backward: float = 1.0) -> None:
        self.forward += examples * forward
        self.backward += examples * backward

    @property
    def fb_passes(self) -> float:
        return (self.forward + 2 * self.backward) / 3

    def state(self) -> dict:
        return {"forward": self.forward, "backward": self.backward, "fb_passes": self.fb_passes}
