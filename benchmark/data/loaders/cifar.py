"""CIFAR-10 and CIFAR-100 through torchvision (downloaded when online)."""

from __future__ import annotations

import torch

from benchmark.data.datasets import DOWNLOAD_BYTES, DatasetRequest, ImageDataset, default_data_root, register_dataset
from benchmark.errors import BenchmarkError


def _load_cifar(num_classes: int, req: DatasetRequest) -> ImageDataset:
    from torchvision import datasets

    root = req.root or default_data_root()
    cls = datasets.CIFAR10 if num_classes == 10 else datasets.CIFAR100
    try:
        ds = cls(str(root), train=req.train, download=req.download)
    except Exception as exc:
        raise BenchmarkError(
            f"CIFAR-{num_classes} not found under {root} ({type(exc).__name__}): connect to the internet "
            f"for torchvision's download, or pass --data-dir DIR holding the extracted CIFAR-{num_classes} python batches"
        ) from None
    images = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()
    return ImageDataset(images, torch.tensor(ds.targets), f"cifar{num_classes}", list(ds.classes))


# the archives torchvision downloads (cifar-10-python.tar.gz, cifar-100-python.tar.gz)
DOWNLOAD_BYTES.update({"cifar10": 170_498_071, "cifar100": 169_001_437})


@register_dataset("cifar10")
def load_cifar10(req: DatasetRequest) -> ImageDataset:
    return _load_cifar(10, req)


@register_dataset("cifar100")
def load_cifar100(req: DatasetRequest) -> ImageDataset:
    return _load_cifar(100, req)
