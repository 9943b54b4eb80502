"""Publish trained weights: copy them into the project (without the frozen source's tensors),
pin their sha256 in the entry, and commit the training record beside the evaluation records."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write, atomic_write_json, sha256_file
from benchmark.zoo.catalog import get_entry
from benchmark.zoo.entry import WeightsRef, ZooEntry, source_seed, update_entry_file
from benchmark.zoo.weights import load_model_and_weights, read_state, resolve, training_record_path


def delta_state(state: dict, base: dict) -> dict:
    """The tensors of `state` that are not bit-identical to the base's (the head is always new)."""
    keep = {}
    for key, value in state.items():
        ref = base.get(key)
        if key.startswith("head.") or ref is None or ref.shape != value.shape or not torch.equal(ref, value):
            keep[key] = value.contiguous()
    return keep


def publish_seed(entry: ZooEntry, seed: int, cache=None, entries=None, folder: str = "weights") -> WeightsRef:
    from benchmark.io import safetensors_bytes
    from benchmark.results import results_root, training_record_file

    trained = resolve(entry, seed, "trained", cache)
    state = read_state(trained, cache, entries)
    metadata = {"entry": entry.name, "seed": str(seed)}
    source = get_entry(entry.source, entries) if entry.source else None
    src_seed = source_seed(source, seed) if source is not None else None
    if source is not None and source.published(src_seed) is not None:  # only what it trained, laid over the source
        base = resolve(source, src_seed, "published", cache)
        state = delta_state(state, {k: v for k, v in read_state(base, cache, entries).items()
                                    if not k.startswith("head.")})
        metadata.update(base=source.name, base_seed=str(src_seed), base_sha256=base.sha256)
    rel = Path(folder) / entry.name / f"seed{seed}.safetensors"
    path = entry.folder / rel
    data = safetensors_bytes(state, metadata)
    atomic_write(path, lambda p: p.write_bytes(data))
    ref = WeightsRef(seed=seed, file=str(rel), sha256=sha256_file(path))
    published = replace(entry, weights=[w for w in entry.weights if w.seed != seed] + [ref])
    # the published file must give back exactly the trained model
    model, _ = load_model_and_weights(published, seed, "published", "cpu", cache, {**(entries or {}),
                                                                                     entry.name: published})
    full = read_state(trained, cache, entries)
    for key, value in model.state_dict().items():
        if not torch.equal(value, full[key]):
            raise BenchmarkError(f"publishing {entry.name} seed {seed}: {key} differs after the round trip")
    record_src = training_record_path(entry, seed, cache)
    if record_src.is_file():
        record = json.loads(record_src.read_text())
        atomic_write_json(training_record_file(results_root(entry, "published"), entry.name, seed), record)
    return ref


def publish(entry: ZooEntry, seeds: list[int], cache=None, entries=None) -> ZooEntry:
    """Publish the given seeds of a trained entry and write their pins into the entry's file."""
    new = {seed: publish_seed(entry, seed, cache, entries) for seed in seeds}

    def pin(current: ZooEntry) -> ZooEntry:
        refs = {**{w.seed: w for w in current.weights}, **new}
        return replace(current, weights=[refs[s] for s in sorted(refs)])

    return update_entry_file(entry, pin)
