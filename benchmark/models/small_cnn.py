"""A small CNN for 28x28 grey images: the embedded default that trains on a CPU."""

from __future__ import annotations

from torch import nn

from benchmark.models.base import TransferModel, make_head


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
