"""Arrays in a file: `.npz` (numpy) or `.pt` (torch), one file per split.

The file holds images under `x` (or `images`) and labels under `y` (or `labels`); images
are uint8 (0-255) or floats in [0, 1], shaped (N, H, W), (N, H, W, C) or (N, C, H, W).
"""

from __future__ import annotations

from pathlib import Path

import torch

from benchmark.data.datasets import DatasetRequest, ImageDataset, register_dataset
from benchmark.errors import BenchmarkError


def _read(path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        if path.suffix == ".npz":
            import numpy as np

            with np.load(path) as f:
                data = {k: torch.from_numpy(f[k]) for k in f.files}
        else:
            data = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(data, (tuple, list)) and len(data) == 2:
                data = {"x": data[0], "y": data[1]}
    except Exception as exc:  # unreadable file: name it
        raise BenchmarkError(f"cannot read arrays from {path} ({type(exc).__name__}): write it with numpy.savez "
                             "or torch.save({'x': images, 'y': labels})") from None
    x = next((data[k] for k in ("x", "images") if k in data), None)
    y = next((data[k] for k in ("y", "labels") if k in data), None)
    if x is None or y is None:
        raise BenchmarkError(f"{path}: expected arrays 'x' (images) and 'y' (labels), found {sorted(data)}")
    return x, y


def to_nchw(x: torch.Tensor, channels: int | None, where: str) -> torch.Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(1)
    elif x.dim() == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
        x = x.permute(0, 3, 1, 2)
    if x.dim() != 4 or (channels and x.shape[1] != channels):
        raise BenchmarkError(f"{where}: images of shape {tuple(x.shape)} do not fit {channels or 'any'} channels")
    if x.dtype == torch.uint8:
        return x.contiguous()
    x = x.float()
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise BenchmarkError(f"{where}: float images must lie in [0, 1], found [{x.min():.3g}, {x.max():.3g}]")
    return x.contiguous()


@register_dataset("arrays")
def load_arrays(req: DatasetRequest) -> ImageDataset:
    name = req.path or f"{req.split}.npz"
    path = (req.root / name) if req.root else Path(name)
    if not path.is_file():
        raise BenchmarkError(f"array file {path} not found: set the task's `root` and `splits`, or pass --data-dir DIR")
    x, y = _read(path)
    return ImageDataset(to_nchw(x, req.channels, str(path)), y.long().flatten(), path.stem)
