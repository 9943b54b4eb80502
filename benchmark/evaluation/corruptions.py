"""Common corruptions as a threat model (RobustBench's corruptions leaderboard): accuracy under each of the
ImageNet-C corruptions at each severity on a protocol's fixed subset, and their mean.

The corrupted images come from the `imagecorruptions` package (Michaelis et al. 2019, the ImageNet-C code as a
library). Each example's corruption seeds numpy's generator from (protocol seed, example, corruption,
severity), so an image is the same whatever the order, the batch or the machine, and a record reproduces
exactly. The images of a task's subset are made once and cached (every model of the task is evaluated on the
same ones); a record keeps every example's outcome under every corruption and severity.

Protocols are files in benchmark/protocols/corruptions/ (`kind: corruptions`): the corruptions that run, the
ones left out with the reason, the severities and the examples.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.evaluation.protocol import PROTOCOL_DIR, AppliesTo
from benchmark.spec import check_field, non_negative, parse_dataclass, positive, read_yaml

CORRUPTION_DIR = PROTOCOL_DIR / "corruptions"
RESULTS_FOLDER = "corruptions"   # results/corruptions/<protocol>/<model>/seed<k>.json


@dataclass(frozen=True)
class CorruptionProtocol:
    name: str
    version: int
    kind: Literal["corruptions"]
    n_examples: int = field(metadata=check_field(positive))
    seed: int
    corruptions: list[str]
    severities: list[int]
    left_out: dict[str, str] = field(default_factory=dict)
    applies_to: AppliesTo = field(default_factory=AppliesTo)
    pad_to: int = field(default=32, metadata=check_field(positive))   # the package's smallest image side
    flip_tolerance: int = field(default=0, metadata=check_field(non_negative))
    description: str = ""
    source: str = field(default="", compare=False)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("source")
        return d

    @property
    def variants(self) -> list[tuple[str, int]]:
        return [(c, s) for c in self.corruptions for s in self.severities]

    def check_task(self, task, model_name: str = "") -> None:
        problem = self.applies_to.mismatch(task)
        if problem:
            who = f"{model_name}'s task {task.name}" if model_name else f"task {task.name}"
            fits = [p for p in available_corruption_protocols()
                    if load_corruption_protocol(p).applies_to.mismatch(task) is None]
            raise BenchmarkError(f"protocol {self.name} is for {problem} ({self.applies_to.describe()}), but {who} is "
                                 f"{task.dataset} {task.image_size}x{task.image_size}x{task.channels}: choose one of "
                                 f"{', '.join(fits) or 'none (write one in benchmark/protocols/corruptions/)'}")


def available_corruption_protocols() -> list[str]:
    return sorted(p.stem for p in CORRUPTION_DIR.glob("*.yaml"))


def is_corruption_protocol(name_or_path) -> bool:
    if name_or_path is None:
        return False
    path = Path(str(name_or_path))
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return (read_yaml(path, "protocol") or {}).get("kind") == "corruptions"
    return str(name_or_path) in available_corruption_protocols()


def load_corruption_protocol(name_or_path: str) -> CorruptionProtocol:
    path = Path(name_or_path)
    if not (path.suffix in (".yaml", ".yml") and path.is_file()):
        path = CORRUPTION_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        raise BenchmarkError(f"unknown corruption protocol {name_or_path!r}: choose one of "
                             f"{', '.join(available_corruption_protocols())}")
    protocol = parse_dataclass(CorruptionProtocol, read_yaml(path, "protocol"), str(path))
    known = set(corruption_names())
    for i, name in enumerate(protocol.corruptions):
        if name not in known:
            raise BenchmarkError(f"{path}: field 'corruptions[{i}]' is {name!r}: choose one of {', '.join(sorted(known))}")
    for i, s in enumerate(protocol.severities):
        if s not in (1, 2, 3, 4, 5):
            raise BenchmarkError(f"{path}: field 'severities[{i}]' must be 1 to 5, got {s}")
    return CorruptionProtocol(**{**protocol.__dict__, "source": str(path)})


def _imagecorruptions():
    """The package, importable with today's numpy (2.x), scikit-image (>= 0.19) and setuptools (>= 81).

    As shipped (1.1.2) it imports `pkg_resources` for its frost images, calls skimage's `gaussian` with
    `multichannel=` (now `channel_axis=`) in glass and Gaussian blur, uses `np.float_` (gone in numpy 2) in
    fog, and draws impulse noise from scikit-image's unseeded generator. Each is mended in the package's own
    module only (never in numpy or scikit-image).
    """
    import importlib
    import sys
    import types

    import numpy as np

    from benchmark.compat import ensure_pkg_resources

    ensure_pkg_resources()
    try:
        import warnings

        with warnings.catch_warnings():  # its scipy.ndimage.interpolation import, deprecated, works until SciPy 2
            warnings.simplefilter("ignore", DeprecationWarning)
            module = importlib.import_module("imagecorruptions")
    except ImportError as exc:
        raise BenchmarkError(f"corruption protocols need imagecorruptions ({exc}): pip install \".[corruptions]\" "
                             "(or pip install imagecorruptions)") from None
    impl = importlib.import_module("imagecorruptions.corruptions")
    if not getattr(impl, "_rtb_compatible", False):
        if not hasattr(np, "float_"):
            class NumPy(types.ModuleType):
                def __getattr__(self, name):
                    return np.float64 if name == "float_" else getattr(np, name)

            impl.np = NumPy("numpy")
        gaussian = impl.gaussian

        def gaussian_compat(image, *args, multichannel=None, **kwargs):
            if multichannel is not None:
                kwargs.setdefault("channel_axis", -1 if multichannel else None)
            return gaussian(image, *args, **kwargs)

        impl.gaussian = gaussian_compat
        # impulse noise draws from scikit-image's own unseeded generator: seed it from numpy's global one, which
        # corrupt_images seeds per example
        import inspect

        sk = impl.sk
        random_noise = sk.util.random_noise
        seed_arg = "rng" if "rng" in inspect.signature(random_noise).parameters else "seed"

        def seeded_random_noise(image, *args, **kwargs):
            kwargs.setdefault(seed_arg, int(np.random.randint(0, 2**31 - 1)))
            return random_noise(image, *args, **kwargs)

        class SkImage(types.ModuleType):
            def __getattr__(self, name):
                return getattr(sk, name)

        class SkUtil(types.ModuleType):
            def __getattr__(self, name):
                return seeded_random_noise if name == "random_noise" else getattr(sk.util, name)

        proxy = SkImage("skimage")
        proxy.util = SkUtil("skimage.util")
        impl.sk = proxy
        impl._rtb_compatible = True
    return module


def corruption_names() -> list[str]:
    """Every corruption the package makes (the 15 of ImageNet-C and its 4 held-out ones)."""
    return list(_imagecorruptions().get_corruption_names("all"))


def _example_seed(seed: int, example: int, corruption: str, severity: int) -> int:
    digest = hashlib.sha256(f"{seed}:{example}:{corruption}:{severity}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def corrupt_images(images: torch.Tensor, index: torch.Tensor, corruption: str, severity: int,
                   protocol: CorruptionProtocol) -> torch.Tensor:
    """The corrupted copy of uint8 images (n, C, H, W), example by example; uint8 out, same shape."""
    import numpy as np

    corrupt = _imagecorruptions().corrupt
    n, c, h, w = images.shape
    pad_h, pad_w = max(0, protocol.pad_to - h), max(0, protocol.pad_to - w)
    top, left = pad_h // 2, pad_w // 2
    out = torch.empty_like(images)
    state = np.random.get_state()
    try:
        for i in range(n):
            img = images[i].permute(1, 2, 0).numpy()
            img = np.pad(img, ((top, pad_h - top), (left, pad_w - left), (0, 0)))
            if c == 1:
                img = np.repeat(img, 3, axis=2)
            np.random.seed(_example_seed(protocol.seed, int(index[i]), corruption, severity))
            res = np.asarray(corrupt(img, corruption_name=corruption, severity=severity), dtype=np.float64)
            res = res[top:top + h, left:left + w]
            if c == 1:  # back to grey (frost's texture is coloured; the other corruptions keep channels equal)
                res = res.mean(axis=2, keepdims=True)
            out[i] = torch.from_numpy(np.clip(np.rint(res), 0, 255).astype(np.uint8)).permute(2, 0, 1)
    finally:
        np.random.set_state(state)
    return out


def corruption_libraries() -> dict[str, str]:
    """The versions of the libraries that make the corrupted images (a record keeps them)."""
    from benchmark.io import package_versions

    return package_versions(("imagecorruptions", "opencv-python", "scikit-image", "numpy", "scipy"))


def _cache_file(task, protocol: CorruptionProtocol, index: torch.Tensor, cache=None) -> Path:
    from benchmark.paths import cache_dir

    key = json.dumps({"protocol": protocol.to_dict(), "task": task.name,
                      "index": hashlib.sha256(index.numpy().tobytes()).hexdigest(),
                      "libraries": corruption_libraries()}, sort_keys=True)
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return cache_dir(cache) / "corruptions" / f"{protocol.name}-{task.name}-{digest}.pt"


def corrupted_subset(task, protocol: CorruptionProtocol, data_dir=None, cache=None, n: int | None = None,
                     show_progress: bool = False):
    """(clean uint8 images, labels, index, {(corruption, severity): uint8 images}) of the protocol's subset,
    made once per task and protocol and cached."""
    from benchmark.data import eval_subset, load_split
    from benchmark.io import atomic_torch_save
    from benchmark.progress import progress_bar

    test = load_split(task, False, data_dir)
    n = protocol.n_examples if n is None else n
    if n <= 0:
        raise BenchmarkError(f"--n must be positive, got {n}")
    index = eval_subset(len(test), n, protocol.seed)
    images = test.pixels(index).mul(255).round().to(torch.uint8)
    path = _cache_file(task, protocol, index, cache)
    if path.is_file():
        made = torch.load(path, weights_only=True)
    else:
        made = {}
        bar = progress_bar(protocol.variants, desc=f"corrupting {task.name}", unit="variant",
                           disable=not show_progress)
        for corruption, severity in bar:
            bar.set_postfix_str(f"{corruption} {severity}")
            made[f"{corruption}@{severity}"] = corrupt_images(images, index, corruption, severity, protocol)
        atomic_torch_save(path, made)
    return images, test.labels[index], index, {(c, s): made[f"{c}@{s}"] for c, s in protocol.variants}


def evaluate_corruptions(model: nn.Module, protocol: CorruptionProtocol, images: torch.Tensor, y: torch.Tensor,
                         index: torch.Tensor, variants: dict, device: str = "cpu", batch_size: int = 500,
                         show_progress: bool = False, channels_last: bool = True) -> dict:
    """Accuracy of `model` (eval mode, pixels in [0, 1]) on the clean and every corrupted copy of the subset."""
    from benchmark.evaluation.entry import correct_outcomes
    from benchmark.models.layout import channels_last as layout
    from benchmark.progress import progress_bar

    model = model.to(device).eval()
    t0 = time.perf_counter()
    outcomes: dict[str, list[str]] = {}
    accuracy: dict[str, list[float]] = {}
    with layout(model, channels_last) as nhwc:  # faster convolutions; only the float rounding changes
        clean = correct_outcomes(model, images, y, device, batch_size, nhwc)
        for corruption, severity in progress_bar(protocol.variants, desc="corruptions", unit="variant",
                                                 disable=not show_progress):
            correct = correct_outcomes(model, variants[(corruption, severity)], y, device, batch_size, nhwc)
            outcomes.setdefault(corruption, []).append("".join(map(str, correct)))
            accuracy.setdefault(corruption, []).append(sum(correct) / len(correct))
    per_severity = [sum(accuracy[c][k] for c in protocol.corruptions) / len(protocol.corruptions)
                    for k in range(len(protocol.severities))]
    return {
        "protocol": protocol.to_dict(), "n_examples": int(images.shape[0]),
        "clean_accuracy": sum(clean) / len(clean),
        "corruption_accuracy": sum(per_severity) / len(per_severity),
        "per_corruption": accuracy, "per_severity": per_severity,
        "per_example": {"index": index.tolist(), "clean": "".join(map(str, clean)), **outcomes},
        "seconds": round(time.perf_counter() - t0, 3), "corruption_libraries": corruption_libraries(),
        "complete": True,
    }


def corruption_record_path(root: Path, protocol: str, model: str, seed: int) -> Path:
    from benchmark.results import record_path

    return record_path(Path(root) / RESULTS_FOLDER, protocol, model, seed)


def evaluate_entry_corruptions(entry, seed: int, protocol: CorruptionProtocol | str, opts, where) -> tuple[dict, Path]:
    """Evaluate one seed of a zoo entry under a corruption protocol; write its record (where.write)."""
    from benchmark.data import get_task
    from benchmark.io import provenance
    from benchmark.evaluation.entry import training_info
    from benchmark.results import write_record, write_root
    from benchmark.zoo.weights import load_model_and_weights

    protocol = load_corruption_protocol(protocol) if isinstance(protocol, str) else protocol
    task = get_task(entry.task, relative_to=entry.folder)
    protocol.check_task(task, entry.name)
    model, weights = load_model_and_weights(entry, seed, where.weights, opts.device, where.cache)
    images, y, index, variants = corrupted_subset(task, protocol, where.data_dir, where.cache, opts.n,
                                                  opts.show_progress)
    result = evaluate_corruptions(model, protocol, images, y, index, variants, opts.device, opts.batch_size,
                                  opts.show_progress, opts.channels_last)
    record = {"model": entry.name, "seed": seed, **result, "weights": weights.describe(), "device": opts.device,
              "entry": entry.to_dict(), "training": training_info(entry, weights, where.cache), **provenance()}
    root = write_root(entry, weights.origin, where.results_dir, where.update_records)
    path = corruption_record_path(root, protocol.name, entry.name, seed)
    if where.write:
        write_record(record, path)
    return record, path


def load_corruption_records(roots=None) -> list[dict]:
    """Every corruption record under the results folders (default: the project's)."""
    from benchmark.results import load_folder_records

    return load_folder_records(RESULTS_FOLDER, "corruption_accuracy", roots)
