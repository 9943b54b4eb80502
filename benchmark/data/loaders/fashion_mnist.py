"""Fashion-MNIST from IDX files: Debian's `dataset-fashion-mnist`, a folder, or torchvision's download."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import torch

from benchmark.data.datasets import DatasetRequest, ImageDataset, default_data_root, register_dataset
from benchmark.errors import BenchmarkError

# Debian's dataset-fashion-mnist, looked at first (RTB_FMNIST_SYSTEM_DIR moves it: another distribution's path)
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
        raise BenchmarkError(f"corrupt IDX file {path} ({exc}): delete it to download it again, or reinstall "
                             "Debian's package (apt-get install --reinstall dataset-fashion-mnist)") from None
    return torch.frombuffer(bytearray(body), dtype=torch.uint8).reshape(shape)


def _find(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for name in (stem + ".gz", stem):
            if (d / name).is_file():
                return d / name
    return None


def system_dir() -> Path:
    return Path(os.environ.get("RTB_FMNIST_SYSTEM_DIR") or SYSTEM_DIR)


def _resources() -> tuple[list[str], list[tuple[str, str]]]:
    """torchvision's Fashion-MNIST mirrors and files with their md5 checksums (RTB_FMNIST_MIRROR: another mirror)."""
    from torchvision.datasets import FashionMNIST

    mirrors = [os.environ["RTB_FMNIST_MIRROR"]] if os.environ.get("RTB_FMNIST_MIRROR") else list(FashionMNIST.mirrors)
    return mirrors, list(FashionMNIST.resources)


def _md5(path: Path) -> str:
    import hashlib

    h = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch(folder: Path, mirrors: list[str] | None = None, resources: list[tuple[str, str]] | None = None) -> Path:
    """Download the four IDX files into `folder` once, each checked against its md5 (torchvision's by default),
    with a progress bar (a line per file in a log). A failed or corrupt download is removed and is one line naming
    the URL, where to put the file, and the Debian package."""
    import urllib.error
    import urllib.request

    from benchmark.progress import progress_bar

    if mirrors is None or resources is None:
        mirrors, resources = _resources()
    folder.mkdir(parents=True, exist_ok=True)
    for filename, md5 in resources:
        target = folder / filename
        if target.is_file() and _md5(target) == md5:
            continue
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + filename
            part = target.with_name(target.name + ".part")
            try:
                with urllib.request.urlopen(url, timeout=60) as response, open(part, "wb") as out:
                    total = int(response.headers.get("Content-Length") or 0) or None
                    with progress_bar(total=total, desc=f"downloading {filename}", unit="B", unit_scale=True) as bar:
                        for chunk in iter(lambda: response.read(1 << 16), b""):
                            out.write(chunk)
                            bar.update(len(chunk))
            except (urllib.error.URLError, OSError, ValueError) as exc:
                part.unlink(missing_ok=True)
                errors.append(f"{url} ({getattr(exc, 'reason', exc)})")
                continue
            if _md5(part) != md5:
                part.unlink()
                raise BenchmarkError(f"Fashion-MNIST: {url} does not match its md5 checksum {md5} (a corrupt or "
                                     f"truncated download, removed): try again, put the file at {target}, or install "
                                     "Debian's dataset-fashion-mnist (sudo apt-get install dataset-fashion-mnist)")
            os.replace(part, target)
            break
        else:
            raise BenchmarkError(f"Fashion-MNIST is not on this machine and could not be downloaded ({'; '.join(errors)}): "
                                 "install Debian's dataset-fashion-mnist (sudo apt-get install dataset-fashion-mnist), "
                                 f"or put {', '.join(f for f, _ in resources)} in {folder} (or pass --data-dir DIR)")
    return folder


@register_dataset("fashion-mnist")
def load_fashion_mnist(req: DatasetRequest) -> ImageDataset:
    root = req.root or default_data_root()
    cached = root / "FashionMNIST" / "raw"
    dirs = [req.root] if req.root else [system_dir(), cached]
    img_stem, lbl_stem = FILES[req.train]
    img, lbl = _find(dirs, img_stem), _find(dirs, lbl_stem)
    if (img is None or lbl is None) and req.download and req.root is None:
        fetch(cached)  # once, into the data root; Debian's package stays the first place looked
        img, lbl = _find(dirs, img_stem), _find(dirs, lbl_stem)
    if img is None or lbl is None:
        where = ", ".join(str(d) for d in dirs)
        raise BenchmarkError(f"Fashion-MNIST not found in {where}: install Debian's dataset-fashion-mnist (sudo apt-get "
                             "install dataset-fashion-mnist), let it download (leave out --data-dir), or pass "
                             "--data-dir DIR holding the IDX files")
    return ImageDataset(read_idx(img).unsqueeze(1), read_idx(lbl).long(), "fashion-mnist")
