"""Architectures by name; every one is a `TransferModel` with normalization inside."""

from __future__ import annotations

from benchmark.errors import BenchmarkError
from benchmark.models.base import TransferModel, make_head
from benchmark.models.resnets import preact_resnet18, resnet50, wide_resnet
from benchmark.models.small_cnn import small_cnn

ARCHITECTURES = {
    "small_cnn": small_cnn,
    "preact_resnet18": preact_resnet18,
    "wrn_28_10": wide_resnet(28, 10),
    "wrn_32_10": wide_resnet(32, 10),
    "resnet50": resnet50,
}

# Per-dataset pixel statistics, applied inside the model.
NORMALIZATION = {
    "fashion-mnist": ((0.2860,), (0.3530,)),
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2471, 0.2435, 0.2616)),
    "cifar100": ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)),
    "imagefolder": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
}


def build_model(arch: str, num_classes: int, dataset: str, head: dict | None = None) -> TransferModel:
    if arch not in ARCHITECTURES:
        raise BenchmarkError(f"unknown architecture {arch!r}: choose one of {', '.join(ARCHITECTURES)}")
    mean, std = NORMALIZATION[dataset]
    return ARCHITECTURES[arch](num_classes, len(mean), mean, std, head=head)


__all__ = ["ARCHITECTURES", "NORMALIZATION", "TransferModel", "build_model", "make_head"]
