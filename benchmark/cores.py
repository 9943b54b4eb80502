"""How many CPU cores this process may use: the lanes, pools and thread counts are sized from it.

`os.cpu_count()` counts the machine's cores, not this process's: a Slurm job or a container is often held to a
few of them by its CPU affinity or by a cgroup quota, and sizing lanes and threads from the machine's count
oversubscribes those few (OpenMP threads spinning against each other run many times slower). Python 3.13's
`os.process_cpu_count()` sees the affinity but not the quota; this sees both.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

# cgroup v2 keeps the quota in cpu.max ("200000 100000" or "max 100000"); v1 in two files
_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"))


def quota_cores(quota: str, period: str) -> int | None:
    """Cores a cgroup quota allows (rounded up: 1.5 cores lets two threads run), None when it sets none."""
    quota, period = quota.strip(), period.strip()
    if quota in ("max", "-1", "") or not period:
        return None
    q, p = int(quota), int(period)
    return max(1, math.ceil(q / p)) if q > 0 and p > 0 else None


def _cgroup_cores() -> int | None:
    try:
        if _CGROUP_V2.is_file():
            return quota_cores(*_CGROUP_V2.read_text().split()[:2])
        if all(p.is_file() for p in _CGROUP_V1):
            return quota_cores(_CGROUP_V1[0].read_text(), _CGROUP_V1[1].read_text())
    except (OSError, ValueError, TypeError):
        pass  # an unreadable or unexpected quota file: fall back to the affinity
    return None


def usable_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup CPU quota, at least 1."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # macOS and Windows have no affinity call
        cores = os.cpu_count() or 1
    quota = _cgroup_cores()
    return max(1, min(cores, quota) if quota else cores)


def threads_per_job(n_jobs: int) -> int:
    """Each of n_jobs processes side by side gets an equal share of the usable cores, at least one thread."""
    return max(1, usable_cores() // n_jobs)
