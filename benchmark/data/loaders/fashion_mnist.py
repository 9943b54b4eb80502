"""Fashion-MNIST from IDX files: Debian's `dataset-fashion-mnist`, a folder, or torchvision's download."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import torch

from benchmark.data.datasets import DatasetRequest, ImageDataset, default_data_root, register_dataset
from benchmark.errors import BenchmarkError

SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FILES = {
    True: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    False: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


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
        raise BenchmarkError(f"corrupt IDX file {path} ({exc}): reinstall it with "
                             "`apt-get install --reinstall dataset-fashion-mnist`") from None
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def _find(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


@register_dataset("fashion-mnist")
def load_fashion_mnist(req: DatasetRequest) -> ImageDataset:
    root = req.root or default_data_root()
    dirs = [req.root] if req.root else [SYSTEM_DIR, root / "FashionMNIST" / "raw"]
    img_stem, lbl_stem = FILES[req.train]
    img, lbl = _find(dirs, img_stem), _find(dirs, lbl_stem)
    if (img is None or lbl is None) and req.download and req.root is None:
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(root), train=req.train, download=True)
        except Exception:  # any network failure means "not available offline"
            pass
        img, lbl = _find(dirs, img_stem), _find(dirs, lbl_stem)
    if img is None or lbl is None:
        where = ", ".join(str(d) for d in dirs)
        raise BenchmarkError(f"Fashion-MNIST not found in {where}: run `sudo apt-get install dataset-fashion-mnist` "
                             "or pass --data-dir DIR holding the IDX files")
    return ImageDataset(read_idx(img).unsqueeze(1), read_idx(lbl).long(), "fashion-mnist")
