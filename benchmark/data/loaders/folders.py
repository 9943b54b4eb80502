"""ImageNet-style folders: ROOT/<split>/<class>/<image>, any number of classes and any image size.

Small folders (up to `max_memory_gb` of pixels at the task's image size) are decoded once
into memory, resized to the task's size (shorter side, then a centre crop), so training
and attacks run on tensors. Larger ones are streamed through torchvision transforms
(random-resized crops and flips for training) with DataLoader workers.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset

from benchmark.cores import usable_cores
from benchmark.data.datasets import DatasetRequest, ImageDataset, register_dataset
from benchmark.errors import BenchmarkError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


def default_workers() -> int:
    return int(os.environ.get("RTB_WORKERS", min(8, usable_cores())))


def list_images(split_dir: Path) -> tuple[list[tuple[Path, int]], list[str]]:
    """(path, class index) for every image, classes in sorted folder-name order (ImageFolder's)."""
    if not split_dir.is_dir():
        raise BenchmarkError(f"image folder {split_dir} not found: it must hold one sub-folder per class "
                             "(set the task's `root` and `splits`, or pass --data-dir DIR)")
    classes = sorted(d.name for d in split_dir.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise BenchmarkError(f"image folder {split_dir} has no class sub-folders: put each class's images in "
                             f"{split_dir}/<class>/")
    items = []
    for c, name in enumerate(classes):
        files = sorted(p for p in (split_dir / name).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        items += [(p, c) for p in files]
    return items, classes


def _open(path: Path, channels: int | None):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            mode = {1: "L", 3: "RGB"}.get(channels or 3, "RGB")
            return im.convert(mode)
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise BenchmarkError(f"cannot read image {path} ({type(exc).__name__}): remove or replace the file") from None


class _Decoded(Dataset):
    def __init__(self, items, size: int, channels: int | None):
        from torchvision import transforms

        self.items, self.channels = items, channels
        self.tf = transforms.Compose([transforms.Resize(size), transforms.CenterCrop(size), transforms.PILToTensor()])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, label = self.items[i]
        return self.tf(_open(path, self.channels)), label


class FolderDataset(Dataset):
    """A folder streamed through torchvision transforms (training: random-resized crop and flip)."""

    def __init__(self, items, classes, size: int, channels: int | None, train: bool):
        from torchvision import transforms

        self.items, self.class_names, self.channels, self.name = items, classes, channels, "imagefolder"
        self.labels = torch.tensor([c for _, c in items], dtype=torch.long)
        if train:
            tf = [transforms.RandomResizedCrop(size), transforms.RandomHorizontalFlip()]
        else:
            tf = [transforms.Resize(int(round(size * 256 / 224))), transforms.CenterCrop(size)]
        self.tf = transforms.Compose(tf + [transforms.ToTensor()])

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, idx):
        path, label = self.items[int(idx)]
        return self.tf(_open(path, self.channels)), torch.tensor(label)

    def pixels(self, index) -> torch.Tensor:
        return torch.stack([self[int(i)][0] for i in torch.as_tensor(index).flatten()])

    def subset(self, indices: torch.Tensor) -> "FolderDataset":
        out = FolderDataset.__new__(FolderDataset)
        out.__dict__.update(self.__dict__)
        out.items = [self.items[int(i)] for i in indices]
        out.labels = self.labels[indices]
        return out

    def relabel(self, mapping: dict[int, int]) -> "FolderDataset":
        keep = [(p, mapping[c]) for p, c in self.items if c in mapping]
        out = FolderDataset.__new__(FolderDataset)
        out.__dict__.update(self.__dict__)
        out.items = keep
        out.labels = torch.tensor([c for _, c in keep], dtype=torch.long)
        out.class_names = [self.class_names[old] for old, _ in sorted(mapping.items(), key=lambda t: t[1])]
        return out


def decode_into_memory(items, classes, size: int, channels: int | None, workers: int | None = None) -> ImageDataset:
    loader = DataLoader(_Decoded(items, size, channels), batch_size=64,
                        num_workers=default_workers() if workers is None and len(items) > 2000 else (workers or 0))
    images, labels = [], []
    for x, y in loader:
        images.append(x)
        labels.append(y)
    if not images:
        raise BenchmarkError("the image folder holds no images")
    return ImageDataset(torch.cat(images), torch.cat(labels), "imagefolder", classes)


@register_dataset("imagefolder")
def load_imagefolder(req: DatasetRequest):
    if req.root is None:
        raise BenchmarkError("an imagefolder task needs its folder: set `root` in the task file or pass --data-dir DIR")
    size = req.image_size or 224
    split = req.root / (req.path or ("train" if req.train else "val"))
    items, classes = list_images(split)
    channels = req.channels or 3
    in_memory = req.options.get("in_memory", "auto")
    if in_memory == "auto":
        in_memory = len(items) * channels * size * size <= float(req.options.get("max_memory_gb", 2.0)) * 2**30
    if in_memory:
        return decode_into_memory(items, classes, size, channels)
    return FolderDataset(items, classes, size, channels, req.train)
