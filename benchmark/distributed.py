"""torch.distributed under torchrun: process group set-up, sharding and gathering.

Without torchrun (no WORLD_SIZE in the environment) everything here is a no-op, so the
same commands run unchanged in a single process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Context:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, requested: str) -> str:
        """Each process drives its own GPU under torchrun."""
        if self.enabled and requested.startswith("cuda"):
            return f"cuda:{self.local_rank}"
        return requested

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()


def context(device: str = "cpu") -> Context:
    """The process group this process is in, without ever starting one (library calls)."""
    if not (dist.is_available() and dist.is_initialized()):
        return Context()
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: str = "cpu") -> Context:
    """Join the process group torchrun describes (nccl on GPUs, gloo on CPU): the CLI's commands do."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Context()
    if not dist.is_initialized():
        backend = "nccl" if device.startswith("cuda") else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def all_gather(ctx: Context, obj):
    """Every rank's `obj`, in rank order (a one-element list without torchrun)."""
    if not ctx.enabled:
        return [obj]
    out = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out


def all_reduce_sum(ctx: Context, values: list[float]) -> list[float]:
    if not ctx.enabled:
        return values
    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def shard(ctx: Context, n: int) -> torch.Tensor:
    """Positions 0..n-1 that this rank handles (round robin)."""
    return torch.arange(ctx.rank, n, ctx.world_size)
