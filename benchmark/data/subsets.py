"""Deterministic subsets: identical on every run, machine and library version.

Order comes from a keyed hash of (seed, index), never from a library RNG, so that a
subset named in a protocol or a zoo entry means the same examples everywhere.
"""

from __future__ import annotations

import hashlib

import torch

from benchmark.errors import BenchmarkError


def hash_order(n: int, seed: int, salt: str = "") -> torch.Tensor:
    """A permutation of range(n) determined only by (seed, salt)."""
    key = f"{salt}:{seed}".encode()
    scores = [hashlib.blake2b(i.to_bytes(8, "little"), key=key[:64], digest_size=8).digest() for i in range(n)]
    return torch.tensor(sorted(range(n), key=scores.__getitem__), dtype=torch.long)


def stratified_subset(labels: torch.Tensor, n_per_class: int | None, seed: int, salt: str = "class",
                      class_names: list[str] | None = None) -> torch.Tensor:
    """Sorted indices of `n_per_class` examples of every class (all examples when None)."""
    if n_per_class is None:
        return torch.arange(labels.shape[0])
    if n_per_class <= 0:
        raise BenchmarkError(f"n_per_class must be positive or 'all', got {n_per_class}")
    picked = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if members.numel() < n_per_class:
            label = f"class {c}" + (f" ({class_names[c]!r})" if class_names and c < len(class_names) else "")
            raise BenchmarkError(f"{label} has only {members.numel()} training examples, fewer than "
                                 f"n_per_class={n_per_class}: lower n_per_class or add images")
        order = hash_order(members.numel(), seed, salt=f"{salt}{c}")
        picked.append(members[order[:n_per_class]])
    return torch.sort(torch.cat(picked)).values


def split_validation(labels: torch.Tensor, n_per_class: int | None, seed: int = 0,
                     class_names: list[str] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(training pool, validation) indices: the validation split is `n_per_class` examples of each
    class, fixed for the task; the pool is everything else. Without a validation split, the pool
    is the whole training split."""
    if not n_per_class:
        return torch.arange(labels.shape[0]), torch.zeros(0, dtype=torch.long)
    val = stratified_subset(labels, n_per_class, seed, salt="validation-class", class_names=class_names)
    keep = torch.ones(labels.shape[0], dtype=torch.bool)
    keep[val] = False
    return torch.nonzero(keep).flatten(), val


def pool_part(labels: torch.Tensor, pool: torch.Tensor, parts: int, part: int, seed: int = 0) -> torch.Tensor:
    """Sorted indices of part `part` of `parts` of each class's pool (equal shares of a seeded hash order; the
    remainder goes to the last part)."""
    picked = []
    for c in torch.unique(labels[pool]).tolist():
        members = pool[labels[pool] == c]
        order = hash_order(members.numel(), seed, salt=f"pool{c}")
        size = members.numel() // parts
        end = members.numel() if part == parts - 1 else (part + 1) * size
        picked.append(members[order[part * size:end]])
    return torch.sort(torch.cat(picked)).values


def training_subset(labels: torch.Tensor, n_per_class: int | None, seed: int, validation_per_class: int | None = None,
                    validation_seed: int = 0, class_names: list[str] | None = None, pool=None) -> torch.Tensor:
    """Indices (into the training split) of a seed's training subset, drawn from the pool that
    excludes the validation split (only its part `pool.part`, where the task names one)."""
    available, _ = split_validation(labels, validation_per_class, validation_seed, class_names)
    if pool is not None:
        available = pool_part(labels, available, pool.parts, pool.part, pool.seed)
    return available[stratified_subset(labels[available], n_per_class, seed, class_names=class_names)]


def eval_subset(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    """Indices of the fixed evaluation subset: the first n of the seeded hash order (sorted)."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    if n <= 0:
        raise BenchmarkError(f"the number of evaluation examples must be positive, got {n}")
    return torch.sort(hash_order(n_total, seed, salt="eval")[:n]).values
