"""CIFAR-10 and CIFAR-100 stand-ins in CIFAR's own on-disk format (the python batches that
torchvision's CIFAR10 / CIFAR100 read), generated offline: each class is a smooth random
colour pattern plus noise, so a model can learn something in a few steps."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np


def _images(n_classes: int, per_class: int, seed: int) -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    templates = rng.normal(size=(n_classes, 3, 4, 4)).repeat(8, axis=2).repeat(8, axis=3)  # 3x32x32, smooth
    labels = [c for c in range(n_classes) for _ in range(per_class)]
    rng_noise = np.random.default_rng(seed + 1)
    x = 0.5 + 0.25 * templates[labels] + 0.15 * rng_noise.normal(size=(len(labels), 3, 32, 32))
    data = (np.clip(x, 0, 1) * 255).round().astype(np.uint8).reshape(len(labels), 3 * 32 * 32)  # R, G, B planes
    order = rng.permutation(len(labels))
    return data[order], [labels[i] for i in order]


def _dump(path: Path, obj: dict) -> None:
    with open(path, "wb") as fh:
        pickle.dump(obj, fh)


def write_cifar10(root: Path, train_per_class: int = 30, test_per_class: int = 10) -> Path:
    folder = Path(root) / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    data, labels = _images(10, train_per_class, 0)
    for i, part in enumerate(np.array_split(np.arange(len(labels)), 5), start=1):
        _dump(folder / f"data_batch_{i}", {"batch_label": f"training batch {i} of 5", "data": data[part],
                                            "labels": [labels[j] for j in part],
                                            "filenames": [f"{j}.png" for j in part]})
    data, labels = _images(10, test_per_class, 10)
    _dump(folder / "test_batch", {"batch_label": "testing batch 1 of 1", "data": data, "labels": labels,
                                  "filenames": [f"{j}.png" for j in range(len(labels))]})
    _dump(folder / "batches.meta", {"label_names": [f"class{c}" for c in range(10)], "num_cases_per_batch": 10000,
                                    "num_vis": 3072})
    return folder


def write_cifar100(root: Path, train_per_class: int = 6, test_per_class: int = 2) -> Path:
    folder = Path(root) / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for split, per_class, seed in (("train", train_per_class, 20), ("test", test_per_class, 30)):
        data, labels = _images(100, per_class, seed)
        _dump(folder / split, {"filenames": [f"{j}.png" for j in range(len(labels))], "batch_label": split,
                               "fine_labels": labels, "coarse_labels": [c // 5 for c in labels], "data": data})
    _dump(folder / "meta", {"fine_label_names": [f"fine{c}" for c in range(100)],
                            "coarse_label_names": [f"coarse{c}" for c in range(20)]})
    return folder
