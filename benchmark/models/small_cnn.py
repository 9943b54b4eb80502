"""A small CNN for 28x28 grey images whose features come from a fully connected layer.

The second architecture family of the embedded suite: its 128-d features are a
fully connected layer trained on the source's classes, unlike the pooled convolution
features of the paper's wide residual networks (`wrn_10_1`).
"""

from __future__ import annotations

from torch import nn

from benchmark.models.base import TransferModel, make_head
from benchmark.models.registry import register_model


@register_model("small_cnn")
def small_cnn(num_classes: int, in_channels: int, mean, std, head: dict | None = None,
              width: int = 16, feature_dim: int = 128) -> TransferModel:
    w = width
    blocks = [
        nn.Sequential(nn.Conv2d(in_channels, w, 3, padding=1), nn.ReLU(inplace=True),
                      nn.Conv2d(w, w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
        nn.Sequential(nn.Conv2d(w, 2 * w, 3, padding=1), nn.ReLU(inplace=True),
                      nn.Conv2d(2 * w, 2 * w, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2)),
        nn.Sequential(nn.Flatten(), nn.Linear(2 * w * 7 * 7, feature_dim), nn.ReLU(inplace=True)),
    ]
    return TransferModel(blocks, make_head(feature_dim, num_classes, head), feature_dim, mean, std)
