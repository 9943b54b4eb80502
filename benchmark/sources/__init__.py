"""Sources from outside: any robust model a user already has, named where a source goes.

    robustbench:<dataset>/<threat_model>/<name>   RobustBench's model zoo, through its own loader
    timm:<name>[?file=PATH]                       timm.create_model with pretrained weights
    hf:<owner>/<repo>/<file>[?arch=A&format=F]    a checkpoint in a Hugging Face Hub repository
    torchvision:<name>[?weights=W]                torchvision's models
    file:<path>?arch=A[&format=F]                 a checkpoint on disk

A provider name works as a zoo entry's `source`, a study's source, `transfer --source` and
`load_model`. The provider's own code downloads and loads the weights (into the cache); the network is
wrapped as a `TransferModel` by its family's layout (benchmark.sources.layouts), so every transfer
strategy works on it; the result is saved once as safetensors, and the sha256 of that file pins the
weights: written into the entries that use them and their records, and checked on every later load.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.registry import Registry


@dataclass(frozen=True)
class SourceInfo:
    """What a source is, without its weights: the data it takes and what it was made robust for."""

    task: dict                    # a task mapping (name, dataset, classes, image size, channels, mean/std)
    num_classes: int
    threat_model: str = "Linf"
    eps: float | None = None      # the eps it was trained or published for, where known
    mean: tuple = (0.0, 0.0, 0.0)  # the normalization our wrapper applies (identity when the network does it)
    std: tuple = (1.0, 1.0, 1.0)
    description: str = ""
    files: list[str] = field(default_factory=list)  # what the provider downloads, for the plan's sizes


class Provider:
    """One source of outside models. `build` makes the network without weights (for the transfers' own models),
    `load` with its published weights through the provider's own code."""

    name: str = ""
    package: str = ""           # the PyPI package it needs (an optional extra: pip install ".[sources]")
    form: str = ""              # how its names look, for `zoo sources` where it cannot list them

    def parse(self, spec: str) -> dict:
        raise NotImplementedError

    def list(self, **filters) -> list[str]:
        return []

    def info(self, spec: dict) -> SourceInfo:
        raise NotImplementedError

    def build(self, spec: dict) -> nn.Module:
        raise NotImplementedError

    def load(self, spec: dict, cache: Path) -> nn.Module:
        raise NotImplementedError


PROVIDERS: Registry[Provider] = Registry("source provider")


def register_provider(cls):
    PROVIDERS.register(cls.name)(cls())
    return cls


def is_ref(name: str | None) -> bool:
    return bool(name) and ":" in name and name.split(":", 1)[0] in _provider_names()


def _provider_names() -> list[str]:
    import benchmark.sources.providers  # noqa: F401  (registers the providers)

    return list(PROVIDERS)


def split_ref(ref: str) -> tuple[Provider, dict]:
    """The provider and its parsed spec; a malformed name is a one-line error naming the form."""
    if ":" not in ref:
        raise BenchmarkError(f"{ref!r} is not a source name: use PROVIDER:NAME with a provider of "
                             f"{', '.join(_provider_names())}")
    prefix, rest = ref.split(":", 1)
    if prefix not in _provider_names():
        raise BenchmarkError(f"source {ref!r}: {PROVIDERS.unknown(prefix)}")
    provider = PROVIDERS.get(prefix)
    path, _, query = rest.partition("?")
    spec = provider.parse(path)
    spec.update(dict(parse_qsl(query)))
    spec["ref"] = ref
    return provider, spec


def slug(ref: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", ref).strip("_")


def info(ref: str) -> SourceInfo:
    provider, spec = split_ref(ref)
    return provider.info(spec)


def wrap(net: nn.Module, source: SourceInfo, num_classes: int | None = None, head: dict | None = None,
         mean=None, std=None):
    """The network as a TransferModel: its family's blocks; its own head, or a new one for `num_classes`."""
    from benchmark.models.base import TransferModel, make_head
    from benchmark.sources.layouts import from_final_linear, layout_of

    import torch

    size, channels = source.task["image_size"], source.task["channels"]
    probe = torch.rand(2, channels, size, size, generator=torch.Generator().manual_seed(0))
    was = net.training
    net.eval()
    with torch.no_grad():
        expected = net((probe - torch.tensor(source.mean).view(1, -1, 1, 1)) / torch.tensor(source.std).view(1, -1, 1, 1))
    try:
        layout, why = layout_of(net), None
        plain = TransferModel(layout.blocks, layout.head, layout.feature_dim, source.mean, source.std).eval()
        with torch.no_grad():
            got = plain(probe)
        if got.shape != expected.shape or not torch.allclose(got, expected, rtol=1e-4, atol=1e-4):
            # a subclass that does more in its forward pass than its family (its own input preprocessing, say)
            why = (f"it computes something its family's layout does not (its outputs differ by "
                   f"{float((got - expected).abs().max()) if got.shape == expected.shape else 'shape'})")
    except BenchmarkError as exc:  # no layout for its family
        why = str(exc)
    if why is not None:
        # the network itself: its last linear layer is the head, the whole forward pass in front of it one block
        normalized = (probe - torch.tensor(source.mean).view(1, -1, 1, 1)) / torch.tensor(source.std).view(1, -1, 1, 1)
        layout = from_final_linear(net, normalized)
        if layout is None:
            raise BenchmarkError(f"a {type(net).__name__} has no layout that fits it ({why.split(': register')[0]}), "
                                 "and its output is not a linear layer's: register a layout for it with "
                                 f"@register_layout({type(net).__name__!r}) in a plugin (docs/extending.md)")
        plain = TransferModel(layout.blocks, layout.head, layout.feature_dim, source.mean, source.std).eval()
        with torch.no_grad():
            got = plain(probe)
        if not torch.allclose(got, expected, rtol=1e-4, atol=1e-4):
            raise BenchmarkError(f"a {type(net).__name__}: its forward pass up to its last linear layer does not give "
                                 f"its outputs: register a layout for it with @register_layout({type(net).__name__!r})")
    net.train(was)
    new_head = layout.head if num_classes is None else make_head(layout.feature_dim, num_classes, head)
    return TransferModel(layout.blocks, new_head, layout.feature_dim, mean if mean is not None else source.mean,
                         std if std is not None else source.std)


def build_model(ref: str, num_classes: int, head: dict | None = None, mean=None, std=None):
    """A transfer's own model on a provider's architecture (no weights: the source's come in by state dict)."""
    provider, spec = split_ref(ref)
    return wrap(provider.build(spec), provider.info(spec), num_classes, head, mean, std)


def cache_file(ref: str, cache=None) -> Path:
    from benchmark.paths import cache_dir

    return cache_dir(cache) / "providers" / slug(ref) / "seed0.safetensors"


def materialize(ref: str, pinned: str | None = None, cache=None) -> tuple[Path, str]:
    """The source's weights as a TransferModel state in the cache, and their sha256.

    Loaded through the provider's own code the first time (a download where it has to); afterwards from
    the cache. With `pinned`, a file of another sha256 is a one-line error, whichever way it came."""
    from benchmark.io import atomic_write, safetensors_bytes, sha256_file
    from benchmark.paths import cache_dir

    path = cache_file(ref, cache)
    if path.is_file():
        sha = sha256_file(path)
        if pinned is None or sha == pinned:
            return path, sha
    provider, spec = split_ref(ref)
    net = provider.load(spec, cache_dir(cache) / "providers" / "downloads").eval()
    model = wrap(net, provider.info(spec))
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    data = safetensors_bytes(state, {"provider": ref})
    sha = hashlib.sha256(data).hexdigest()
    if pinned is not None and sha != pinned:
        raise BenchmarkError(f"source {ref}: the weights its provider gives now have sha256 {sha[:12]}..., but "
                             f"{pinned[:12]}... is pinned: find out what changed, then update the pin "
                             "(`source_sha256` in your entry) or use another source")
    atomic_write(path, lambda p: p.write_bytes(data))
    atomic_write(path.with_suffix(".json"), lambda p: p.write_text(json.dumps({"ref": ref, "sha256": sha})))
    return path, sha


def import_optional(module: str, package: str):
    """A provider's package, or a one-line error saying how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BenchmarkError(f"this source needs {package} ({exc}): pip install \".[sources]\" (or pip install "
                             f"{package})") from None


__all__ = ["PROVIDERS", "Provider", "SourceInfo", "build_model", "info", "is_ref", "materialize", "register_provider",
           "slug", "split_ref", "wrap"]
