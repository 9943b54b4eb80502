"""Datasets: images held in memory (uint8 or float pixels) or streamed from a folder, and the
registry of loaders by name (`@register_dataset` next to each loader)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch.utils.data import Dataset

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


def default_data_root() -> Path:
    """Where downloaded data sets go: $RTB_DATA_DIR, else `data/` in the user's folder ($RTB_HOME)."""
    from benchmark.paths import user_home

    return Path(os.environ.get("RTB_DATA_DIR") or user_home() / "data")


class ImageDataset(Dataset):
    """Images (N, C, H, W) as uint8 (scaled by 1/255) or float pixels in [0, 1], with int64 labels."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, name: str = "",
                 class_names: list[str] | None = None):
        if images.dim() != 4 or images.dtype not in (torch.uint8, torch.float32):
            raise BenchmarkError(f"dataset {name!r}: images must be a uint8 or float32 tensor (N, C, H, W), "
                                 f"got {images.dtype} {tuple(images.shape)}")
        if labels.shape[0] != images.shape[0]:
            raise BenchmarkError(f"dataset {name!r}: {images.shape[0]} images but {labels.shape[0]} labels")
        self.images, self.labels, self.name = images, labels.long(), name
        self.class_names = class_names

    def __len__(self) -> int:
        return self.images.shape[0]

    def pixels(self, index) -> torch.Tensor:
        """Float pixels in [0, 1] for the given positions."""
        x = self.images[index]
        return x.float().div_(255) if x.dtype == torch.uint8 else x.clone()

    def __getitem__(self, idx):
        return self.pixels(idx), self.labels[idx]

    def subset(self, indices: torch.Tensor) -> "ImageDataset":
        return ImageDataset(self.images[indices], self.labels[indices], self.name, self.class_names)

    def relabel(self, mapping: dict[int, int]) -> "ImageDataset":
        lut = torch.full((int(self.labels.max()) + 1,), -1, dtype=torch.long)
        for old, new in mapping.items():
            if old < lut.numel():
                lut[old] = new
        keep = lut[self.labels] >= 0
        names = None
        if self.class_names:
            names = [self.class_names[old] for old, _ in sorted(mapping.items(), key=lambda t: t[1])]
        return ImageDataset(self.images[keep], lut[self.labels[keep]], self.name, names)


@dataclass(frozen=True)
class DatasetRequest:
    """What a loader is asked for: one split of a dataset, shaped for a task."""

    train: bool
    root: Path | None = None           # the dataset's folder (the task's `root`, or --data-dir)
    path: str | None = None            # the split's own file or sub-folder, relative to root
    image_size: int | None = None      # images are resized to this (folder datasets)
    channels: int | None = None
    download: bool = True
    options: dict = field(default_factory=dict)

    @property
    def split(self) -> str:
        return "train" if self.train else "test"


DatasetLoader = Callable[[DatasetRequest], Dataset]
DATASETS: Registry[DatasetLoader] = Registry("dataset")
register_dataset = DATASETS.register
DOWNLOAD_BYTES: dict[str, int] = {}   # what a loader downloads when the data is not there (set by the loader)


def download_size(name: str) -> int | None:
    """Bytes a dataset's loader downloads (None when it downloads nothing or the size is unknown)."""
    return DOWNLOAD_BYTES.get(name)


def load_dataset(name: str, train: bool, data_dir: Path | str | None = None, download: bool = True, **kw):
    """One split of a registered dataset (the loaders live in benchmark/data/loaders/)."""
    import benchmark.data.loaders  # noqa: F401  (registers the loaders)

    loader = DATASETS.get(name)
    return loader(DatasetRequest(train, Path(data_dir).expanduser() if data_dir else None, download=download, **kw))
