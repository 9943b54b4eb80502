"""Tasks: a dataset, optionally restricted to some classes that are relabelled 0..k-1."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchmarkError


@dataclass(frozen=True)
class TaskSpec:
    dataset: str
    num_classes: int
    classes: tuple[int, ...] | None = None  # None: every class, labels unchanged
    image_size: int = 32
    channels: int = 3


TASKS: dict[str, TaskSpec] = {
    "fmnist": TaskSpec("fashion-mnist", 10, None, 28, 1),
    "fmnist-src": TaskSpec("fashion-mnist", 5, (0, 1, 2, 3, 4), 28, 1),
    "fmnist-tgt": TaskSpec("fashion-mnist", 5, (5, 6, 7, 8, 9), 28, 1),
    "cifar10": TaskSpec("cifar10", 10),
    "cifar100": TaskSpec("cifar100", 100),
    "imagenet": TaskSpec("imagefolder", 1000, None, 224, 3),
}


def get_task(name: str) -> TaskSpec:
    if name not in TASKS:
        raise BenchmarkError(f"unknown task {name!r}: choose one of {', '.join(TASKS)}")
    return TASKS[name]


def load_task(name: str, train: bool, data_dir: Path | str | None = None, download: bool = True):
    """The task's train or test split, with its classes relabelled 0..k-1."""
    from benchmark.data.datasets import load_dataset

    spec = get_task(name)
    ds = load_dataset(spec.dataset, train, data_dir, download)
    if spec.classes is not None:
        ds = ds.relabel({c: i for i, c in enumerate(spec.classes)})
    return ds
