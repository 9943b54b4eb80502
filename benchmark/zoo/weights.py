"""Weights: published (pinned by sha256 in the entry), trained (in the cache), or external.

Published weights of a transfer entry hold only what differs from its source (a linear
head's file holds the head); the file's metadata names the base (source entry, seed and
the sha256 of the source's published file), and loading overlays it on the base.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch

from benchmark.errors import BenchmarkError
from benchmark.io import sha256_file
from benchmark.paths import cache_dir
from benchmark.zoo.entry import WeightsRef, ZooEntry

WeightsChoice = Literal["auto", "published", "trained"]


def trained_path(entry: ZooEntry, seed: int, cache=None) -> Path:
    return cache_dir(cache) / entry.name / f"seed{seed}.safetensors"


def training_record_path(entry: ZooEntry, seed: int, cache=None) -> Path:
    return cache_dir(cache) / entry.name / f"seed{seed}.train.json"


def checkpoint_path(entry: ZooEntry, seed: int, cache=None) -> Path:
    return cache_dir(cache) / "checkpoints" / entry.name / f"seed{seed}.pt"


def train_command(entry: ZooEntry, seed: int | None = None) -> str:
    return f"python -m benchmark train --model {entry.name}" + (f" --seed {seed}" if seed is not None else "")


@dataclass(frozen=True)
class Weights:
    """Resolved weights of one seed of an entry."""

    entry: ZooEntry
    seed: int
    origin: Literal["published", "trained", "file"]
    path: Path
    sha256: str
    ref: WeightsRef | None = None

    def describe(self) -> dict:
        return {"origin": self.origin, "seed": self.seed, "sha256": self.sha256,
                "file": self.ref.where() if self.ref else str(self.path)}


def _trained(entry: ZooEntry, seed: int, cache) -> Weights:
    path = trained_path(entry, seed, cache)
    if not path.is_file():
        raise BenchmarkError(f"no weights for {entry.name} seed {seed} at {path}: run `{train_command(entry, seed)}`")
    expected = None
    rec = training_record_path(entry, seed, cache)
    if rec.is_file():
        try:
            expected = json.loads(rec.read_text()).get("sha256")
        except (json.JSONDecodeError, OSError):
            expected = None
    actual = sha256_file(path)
    if expected and actual != expected:
        raise BenchmarkError(f"weights {path} are corrupt or not this entry's (sha256 {actual[:12]}... != "
                             f"{expected[:12]}...): delete the file and rerun `{train_command(entry, seed)}`")
    return Weights(entry, seed, "trained", path, actual)


def _published(entry: ZooEntry, seed: int) -> Weights:
    from benchmark.zoo.download import fetch

    ref = entry.published(seed)
    if ref is None:
        raise BenchmarkError(f"{entry.name} has no published weights for seed {seed}: "
                             f"train them with `{train_command(entry, seed)}`")
    if ref.format == "provider":  # loaded by the provider's own code, saved once in the cache, pinned
        from benchmark.sources import materialize

        path, sha = materialize(entry.provider, ref.sha256)
        return Weights(entry, seed, "published", path, sha, WeightsRef(seed=seed, sha256=sha))
    path = fetch(ref, entry)
    actual = sha256_file(path)
    if ref.sha256 and actual != ref.sha256:
        raise BenchmarkError(f"published weights {path} of {entry.name} seed {seed} have sha256 {actual[:12]}..., "
                             f"the entry pins {ref.sha256[:12]}...: the file is corrupt or changed; restore it "
                             f"(git checkout / re-download) or fix the entry's sha256")
    return Weights(entry, seed, "published", path, actual, ref)


def resolve(entry: ZooEntry, seed: int = 0, weights: str = "auto", cache=None) -> Weights:
    """Which weights to use: published ones when the entry has them (auto), or the trained cache
    copy, or a file given by path."""
    if weights not in ("auto", "published", "trained"):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise BenchmarkError(f"weights file {path} not found: pass --weights auto|published|trained|PATH")
        return Weights(entry, seed, "file", path, sha256_file(path))
    if weights == "trained" or (weights == "auto" and entry.published(seed) is None):
        return _trained(entry, seed, cache)
    return _published(entry, seed)


def has_weights(entry: ZooEntry, seed: int, weights: str = "auto", cache=None) -> bool:
    try:
        if weights == "published" or (weights == "auto" and entry.published(seed) is not None):
            return entry.published(seed) is not None  # present in the repository or downloadable
        _trained(entry, seed, cache)
        return True
    except BenchmarkError:
        return False


def read_safetensors(path: Path) -> tuple[dict, dict]:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise BenchmarkError(f"weights {path} cannot be read ({exc}): delete the file and retrain it") from None


def _load_torch(path: Path, trusted: bool, entry: ZooEntry):
    try:
        return torch.load(path, map_location="cpu", weights_only=not trusted)
    except Exception as exc:  # pickles that need more than tensors, or a broken file
        raise BenchmarkError(f"checkpoint {path} cannot be loaded safely ({type(exc).__name__}); if you trust "
                             f"its source, set `trusted: true` in {entry.name}'s weights") from None


def _key(obj, ref: WeightsRef, path: Path, entry: ZooEntry):
    if not isinstance(obj, dict) or ref.state_key not in obj:
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise BenchmarkError(f"checkpoint {path} has no key {ref.state_key!r} (it has {keys}): "
                             f"fix `state_key` in {entry.name}'s weights")
    return obj[ref.state_key]


def read_checkpoint(path: Path, ref: WeightsRef, entry: ZooEntry) -> tuple[dict, dict]:
    """(state dict, metadata) of a weights file: its `state_key`, then its conversion, drops and renames."""
    if ref.format == "safetensors":
        obj, meta = read_safetensors(path)
    else:
        obj, meta = _load_torch(path, ref.trusted, entry), {}
    if ref.state_key:
        obj = _key(obj, ref, path, entry)
    if ref.convert:
        from benchmark.zoo.converters import CONVERTERS

        obj = CONVERTERS.get(ref.convert, f"{entry.name}'s weights: ")(obj)
    if not isinstance(obj, dict):
        raise BenchmarkError(f"checkpoint {path} holds a {type(obj).__name__}, not a state dict: "
                             f"set `state_key` in {entry.name}'s weights")
    state = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if ref.drop:
        state = {k: v for k, v in state.items() if not re.search(ref.drop, k)}
    for pattern, replacement in ref.rename:
        state = {re.sub(pattern, replacement, k): v for k, v in state.items()}
    return state, meta


def read_state(w: Weights, cache=None, entries=None) -> dict:
    """The full state dict of resolved weights; a published delta is laid over its base."""
    if w.origin == "published":
        state, meta = read_checkpoint(w.path, w.ref, w.entry)
    else:  # trained copies are full safetensors files; a user's file may also be a torch state dict
        fmt = "safetensors" if w.path.suffix == ".safetensors" else "torch"
        state, meta = read_checkpoint(w.path, WeightsRef(format=fmt), w.entry)
    base_name = meta.get("base")
    if not base_name:
        return state
    from benchmark.zoo.catalog import get_entry

    base_entry = get_entry(base_name, entries)
    base_seed = int(meta.get("base_seed", w.seed))
    base = resolve(base_entry, base_seed, "published", cache)
    if meta.get("base_sha256") and base.sha256 != meta["base_sha256"]:
        raise BenchmarkError(f"{w.path} was published on {base_name} seed {base_seed} with sha256 "
                             f"{meta['base_sha256'][:12]}..., but that entry now pins {base.sha256[:12]}...: "
                             f"republish {w.entry.name}")
    full = {k: v for k, v in read_state(base, cache, entries).items() if not k.startswith("head.")}
    full.update(state)
    return full


def build_entry_model(entry: ZooEntry, strategy=None):
    """The entry's network before any weights load: its architecture, head and normalization, adapted by its
    strategy (LoRA's factors); `strategy` overrides the entry's own (a tuning recipe)."""
    from benchmark.data.tasks import get_task
    from benchmark.models import create_model

    task = get_task(entry.task, relative_to=entry.folder)
    mean, std = (entry.normalization.mean, entry.normalization.std) if entry.normalization else task.normalization
    from benchmark.sources import build_model, info, is_ref

    if is_ref(entry.architecture):  # a source provider's network (RobustBench, timm, ...) in its family's layout
        # the provider's model itself keeps its own classes (a checkpoint's `classes=`); a transfer has its task's
        n_classes = info(entry.architecture).num_classes if entry.provider else task.n_classes
        model = build_model(entry.architecture, n_classes, entry.head, mean, std)
    else:
        model = create_model(entry.architecture, task.n_classes, task.channels, mean, std, head=entry.head)
    if task.upsample:
        model.input_size = task.upsample
    if strategy is None and entry.strategy != "external":
        strategy = entry.make_strategy()
    if strategy is not None:
        strategy.adapt_model(model)
    return model


def load_weights_into(model, state: dict, what: str) -> None:
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [line.strip() for line in str(exc).split("\n") if line.strip()]
        first = lines[1] if len(lines) > 1 else lines[0]
        raise BenchmarkError(f"weights {what} do not fit the entry's architecture ({first[:200]}): "
                             "check the entry's architecture, head and weights conversion") from None


def load_model(entry: ZooEntry, seed: int = 0, weights: str = "auto", device: str = "cpu", cache=None,
               entries=None):
    """The entry's model (one seed) in eval mode, with weights verified against their sha256."""
    model, _ = load_model_and_weights(entry, seed, weights, device, cache, entries)
    return model


def load_model_and_weights(entry: ZooEntry, seed: int = 0, weights: str = "auto", device: str = "cpu", cache=None,
                           entries=None):
    w = resolve(entry, seed, weights, cache)
    model = build_entry_model(entry)
    state = read_state(w, cache, entries)
    for key in ("mean", "std"):  # checkpoints from elsewhere normalize outside: the entry's statistics
        state.setdefault(key, getattr(model, key))
    load_weights_into(model, state, str(w.path))
    return model.to(device).eval(), w
