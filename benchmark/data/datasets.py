"""Datasets by name, held as uint8 tensors (pixels in [0, 1] once scaled) or read from folders."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import torch
from torch.utils.data import Dataset

from benchmark.errors import BenchmarkError

FMNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def default_data_root() -> Path:
    return Path(os.environ.get("RTB_DATA_DIR", Path.home() / ".cache" / "robust-transfer-bench" / "data"))


class ImageDataset(Dataset):
    """Images as a uint8 tensor (N, C, H, W) and int64 labels; items are float pixels in [0, 1]."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, name: str = ""):
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise BenchmarkError(f"dataset {name!r}: images must be a uint8 tensor (N, C, H, W)")
        if labels.shape[0] != images.shape[0]:
            raise BenchmarkError(f"dataset {name!r}: {images.shape[0]} images but {labels.shape[0]} labels")
        self.images, self.labels, self.name = images, labels.long(), name

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, idx):
        return self.images[idx].float().div_(255), self.labels[idx]

    def subset(self, indices: torch.Tensor) -> "ImageDataset":
        return ImageDataset(self.images[indices], self.labels[indices], self.name)

    def relabel(self, mapping: dict[int, int]) -> "ImageDataset":
        lut = torch.full((int(self.labels.max()) + 1,), -1, dtype=torch.long)
        for old, new in mapping.items():
            lut[old] = new
        keep = lut[self.labels] >= 0
        return ImageDataset(self.images[keep], lut[self.labels[keep]], self.name)


class FolderDataset(Dataset):
    """An ImageNet-style folder (one sub-folder per class), resized to 224x224 by torchvision."""

    def __init__(self, root: Path, train: bool):
        from torchvision import datasets, transforms

        split = root / ("train" if train else "val")
        if not split.is_dir():
            raise BenchmarkError(
                f"image folder {split} not found: pass --data-dir DIR where DIR/train and DIR/val hold one folder per class"
            )
        tf = [transforms.Resize(256), transforms.CenterCrop(224), transforms.ToTensor()]
        if train:
            tf = [transforms.RandomResizedCrop(224), transforms.RandomHorizontalFlip(), transforms.ToTensor()]
        self.folder = datasets.ImageFolder(str(split), transform=transforms.Compose(tf))
        self.labels = torch.tensor(self.folder.targets, dtype=torch.long)
        self.name = "imagefolder"

    def __len__(self) -> int:
        return len(self.folder)

    def __getitem__(self, idx):
        x, y = self.folder[int(idx)]
        return x, torch.tensor(y)


def read_idx(path: Path) -> torch.Tensor:
    """Read an IDX file (optionally gzipped), as used by MNIST and Fashion-MNIST."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
        zero, dtype, ndim = struct.unpack(">HBB", data[:4])
        if zero != 0 or dtype != 0x08:
            raise ValueError("bad magic number")
        shape = struct.unpack(">" + "I" * ndim, data[4 : 4 + 4 * ndim])
        body = data[4 + 4 * ndim :]
        count = 1
        for s in shape:
            count *= s
        if len(body) != count:
            raise ValueError(f"expected {count} bytes, found {len(body)}")
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise BenchmarkError(f"corrupt IDX file {path} ({exc}): reinstall it with `apt-get install --reinstall dataset-fashion-mnist`") from None
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def _find_idx(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def load_fashion_mnist(train: bool, data_dir: Path | None, download: bool) -> ImageDataset:
    root = data_dir or default_data_root()
    dirs = [data_dir] if data_dir else [FMNIST_SYSTEM_DIR, root / "FashionMNIST" / "raw"]
    img_stem, lbl_stem = FMNIST_FILES[train]
    img, lbl = _find_idx(dirs, img_stem), _find_idx(dirs, lbl_stem)
    if (img is None or lbl is None) and download and data_dir is None:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=train, download=True)
        except Exception:  # any network failure means "not available offline"
            pass
        img, lbl = _find_idx(dirs, img_stem), _find_idx(dirs, lbl_stem)
    if img is None or lbl is None:
        where = ", ".join(str(d) for d in dirs)
        raise BenchmarkError(
            f"Fashion-MNIST not found in {where}: run `sudo apt-get install dataset-fashion-mnist` "
            "or pass --data-dir DIR holding the IDX files"
        )
    images = read_idx(img).unsqueeze(1)
    return ImageDataset(images, read_idx(lbl).long(), "fashion-mnist")


def load_cifar(num_classes: int, train: bool, data_dir: Path | None, download: bool) -> ImageDataset:
    from torchvision import datasets

    root = data_dir or default_data_root()
    cls = datasets.CIFAR10 if num_classes == 10 else datasets.CIFAR100
    try:
        ds = cls(str(root), train=train, download=download)
    except Exception as exc:
        raise BenchmarkError(
            f"CIFAR-{num_classes} not found under {root} ({type(exc).__name__}): connect to the internet "
            f"for torchvision's download, or pass --data-dir DIR holding the extracted CIFAR-{num_classes} python batches"
        ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageDataset(images, torch.tensor(ds.targets), f"cifar{num_classes}")


def load_dataset(name: str, train: bool, data_dir: Path | str | None = None, download: bool = True):
    """Load a dataset by name: fashion-mnist, cifar10, cifar100 or imagefolder."""
    data_dir = Path(data_dir) if data_dir else None
    if name == "fashion-mnist":
        return load_fashion_mnist(train, data_dir, download)
    if name in ("cifar10", "cifar100"):
        return load_cifar(int(name[5:]), train, data_dir, download)
    if name == "imagefolder":
        if data_dir is None:
            raise BenchmarkError("the imagefolder dataset needs --data-dir DIR (with DIR/train and DIR/val)")
        return FolderDataset(data_dir, train)
    raise BenchmarkError(f"unknown dataset {name!r}: choose one of fashion-mnist, cifar10, cifar100, imagefolder")
