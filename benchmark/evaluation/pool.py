"""Evaluate many (entry, seed) pairs side by side: one process per job, one thread each.

At the embedded models' size a PyTorch operator gains little from a second thread, while
two processes keep both cores busy all the time (profile in reports/perf_cpu.txt). Each
worker evaluates whole models, so every record is computed exactly as one process with
that many threads would compute it; the record says how many threads that was.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, replace
from typing import Iterator

from benchmark.cores import threads_per_job, usable_cores


@dataclass(frozen=True)
class Job:
    name: str
    seed: int
    protocol: object          # a Protocol (picklable dataclass)


def default_jobs(n_tasks: int, device: str = "cpu") -> int:
    """Side by side on a CPU when there is more than one model; GPUs and torchrun run one at a time."""
    from benchmark.distributed import context

    if device != "cpu" or context().enabled or n_tasks < 2:
        return 1
    return max(1, min(n_tasks, usable_cores()))


def _init(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _evaluate(job: Job, opts, where) -> tuple[Job, dict, object]:
    from benchmark.evaluation.entry import evaluate_entry
    from benchmark.zoo import load_entries

    entry = load_entries()[job.name]
    record, path = evaluate_entry(entry, job.seed, job.protocol, opts, replace(where, write=False))
    return job, record, path


def evaluate_jobs(jobs: list[Job], opts, where, n_jobs: int, entries=None) -> Iterator[tuple[Job, dict, object]]:
    """(job, record, the record's path) for every job, as they finish; records are not written (the
    caller decides).

    With n_jobs == 1 the jobs run here, in order, with this process's threads.
    """
    if n_jobs <= 1:
        from benchmark.evaluation.entry import evaluate_entry
        from benchmark.zoo import load_entries

        entries = entries or load_entries()
        for job in jobs:
            record, path = evaluate_entry(entries[job.name], job.seed, job.protocol, opts, replace(where, write=False))
            yield job, record, path
        return
    threads = threads_per_job(n_jobs)
    ctx = multiprocessing.get_context("spawn")  # no fork after OpenMP threads have started
    worker_opts = replace(opts, show_progress=False)
    with ProcessPoolExecutor(n_jobs, mp_context=ctx, initializer=_init, initargs=(threads,)) as pool:
        pending: set[Future] = {pool.submit(_evaluate, job, worker_opts, where) for job in jobs}
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
