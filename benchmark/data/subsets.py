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


def stratified_subset(labels: torch.Tensor, n_per_class: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of `n_per_class` examples of every class (all examples when None)."""
    if n_per_class is None:
        return torch.arange(labels.shape[0])
    if n_per_class <= 0:
        raise BenchmarkError(f"n_per_class must be positive or 'all', got {n_per_class}")
    picked = []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        if members.numel() < n_per_class:
            raise BenchmarkError(
                f"class {c} has only {members.numel()} examples, fewer than n_per_class={n_per_class}"
            )
        order = hash_order(members.numel(), seed, salt=f"class{c}")
        picked.append(members[order[:n_per_class]])
    return torch.sort(torch.cat(picked)).values


def eval_subset(n_total: int, n: int | None, seed: int) -> torch.Tensor:
    """Indices of the fixed evaluation subset: the first n of the seeded hash order (sorted)."""
    if n is None or n >= n_total:
        return torch.arange(n_total)
    if n <= 0:
        raise BenchmarkError(f"the number of evaluation examples must be positive, got {n}")
    return torch.sort(hash_order(n_total, seed, salt="eval")[:n]).values
