"""Running a study's jobs: on this machine (`local`: one job per core with one thread each, or one per
GPU) or on a Slurm cluster (`slurm`: each job submitted through submitit, in job arrays, with the
order between jobs as Slurm dependencies, and requeued on preemption or timeout).

Either way each job is one CLI command in its own process, its log beside the study
(`$RTB_HOME/studies/<study>/logs/`), and the state is read back from disk: a run can be stopped
and started again at any time, nothing finished is redone, and an interrupted training resumes
from its last epoch checkpoint. A failed job is reported with its log and does not stop the
jobs that do not need it; the run's exit code says that some failed.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.cores import usable_cores
from benchmark.errors import BenchmarkError
from benchmark.paths import user_studies_dir
from benchmark.studies.catalog import write_entries
from benchmark.studies.jobs import Job, Scope, plan_study
from benchmark.studies.spec import Study


def study_plugins(study: Study) -> list[str]:
    """The plugins of a study and of its parts (a group's jobs run its parts' arms)."""
    from benchmark.studies.catalog import parts

    out = list(study.plugin_paths)
    for part in parts(study):
        out += [p for p in part.plugin_paths if p not in out]
    return out


def study_home(study: Study) -> Path:
    """The study's own folder for logs and Slurm files."""
    return user_studies_dir() / study.name


def job_env(device: str, gpu: int | None = None, threads: int = 1, plugins: list[str] | None = None) -> dict:
    """A job's environment: its threads, its GPU, and the study's plugins (every job imports them)."""
    from benchmark.plugins import plugin_refs

    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), "PYTHONUNBUFFERED": "1"}
    if gpu is not None:
        env["CUDA_VISIBLE_DEVICES"] = str(gpu)
    refs = plugin_refs(plugins)
    if refs:
        env["RTB_PLUGINS"] = os.pathsep.join(refs)
    return env


@dataclass
class RunResult:
    done: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)      # job -> its log
    blocked: dict[str, str] = field(default_factory=dict)     # job -> the failed job it needed
    seconds: float = 0.0
    times: dict[str, float] = field(default_factory=dict)     # job -> its wall seconds (start-up included)

    def summary(self) -> list[str]:
        lines = [f"finished {len(self.done)} jobs in {self.seconds:.0f}s; failed: {len(self.failed)}"
                 + (f"; not run because a job they need failed: {len(self.blocked)}" if self.blocked else "")]
        lines += [f"  FAILED {k}: log {v}" for k, v in self.failed.items()]
        lines += [f"  not run {k}: needs {v}" for k, v in list(self.blocked.items())[:20]]
        return lines


def _blocked_by(job: Job, bad: dict[str, str], failed: dict[str, str]) -> str | None:
    for a in job.after:
        if a in failed:
            return a
        if a in bad:
            return bad[a]
    return None


def _say(line: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)


def default_lanes(device: str) -> int:
    if device.startswith("cuda"):
        import torch

        return max(1, torch.cuda.device_count())
    return usable_cores()


class Stopped(BenchmarkError):
    """The runner was told to stop (SIGTERM, SIGHUP): its jobs were stopped with it."""


def _stop_jobs(procs: dict, grace: float = 20.0) -> list[str]:
    """Stop every running job: SIGTERM, then SIGKILL after `grace` seconds; each keeps its last checkpoint."""
    for proc, *_ in procs.values():
        if proc.poll() is None:
            proc.terminate()
    deadline = time.time() + grace
    for proc, *_ in procs.values():
        try:
            proc.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return list(procs)


def dependents(jobs) -> dict[str, int]:
    """How many jobs wait, directly or not, on each job: the ones that unlock the most start first (a tuning
    with every seed of its arm behind it before a lone evaluation), so a long chain does not start last."""
    children: dict[str, list[str]] = {}
    for j in jobs:
        for a in j.after:
            children.setdefault(a, []).append(j.key)
    memo: dict[str, set[str]] = {}

    def below(key: str) -> set[str]:
        if key not in memo:
            memo[key] = set()
            for c in children.get(key, []):
                memo[key] |= {c} | below(c)
        return memo[key]

    return {j.key: len(below(j.key)) for j in jobs}


def run_local(study: Study, device: str = "cpu", lanes: int | None = None, protocol: str | None = None,
              seeds: list[int] | None = None, max_jobs: int = 0, scope: Scope = Scope()) -> RunResult:
    """Run every job left, `lanes` at a time, re-planning from disk after each one finishes.

    Stopped by SIGTERM or SIGHUP (a `kill`, a scheduler ending the allocation) or Ctrl-C, it stops its running
    jobs too (each resumes from its last checkpoint at the next `study run`) and raises Stopped."""
    import signal
    import threading

    procs: dict[str, tuple[subprocess.Popen, Job, float, int | None]] = {}

    def stop(signum, _frame):
        raise Stopped(f"stopped by signal {signal.Signals(signum).name}")

    handlers = {}
    if threading.current_thread() is threading.main_thread():
        handlers = {sig: signal.signal(sig, stop) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return _run_local(study, device, lanes, protocol, seeds, max_jobs, scope, procs)
    except (Stopped, KeyboardInterrupt) as exc:
        stopped = _stop_jobs(procs)
        why = str(exc) if isinstance(exc, Stopped) else "interrupted"
        raise Stopped(f"{why}: {len(stopped)} running job{'s' if len(stopped) != 1 else ''} stopped with it "
                      f"({', '.join(stopped) or 'none'}); `study run {study.name}` resumes them from their last "
                      "checkpoints") from None
    finally:
        for sig, old in handlers.items():
            signal.signal(sig, old)


def _run_local(study: Study, device: str, lanes: int | None, protocol: str | None, seeds: list[int] | None,
               max_jobs: int, scope: Scope, procs: dict) -> RunResult:
    lanes = lanes or default_lanes(device)
    logs = study_home(study) / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result = RunResult()
    t0 = time.time()
    write_entries(study)
    plugins = study_plugins(study)
    started = 0
    while True:
        for key, (proc, job, t_job, gpu) in list(procs.items()):
            if proc.poll() is None:
                continue
            del procs[key]
            log = logs / f"{key.replace(':', '_')}.log"
            result.times[key] = time.time() - t_job
            if proc.returncode == 0:
                result.done.append(key)
                _say(f"{key} ok in {result.times[key]:.0f}s")
            else:
                result.failed[key] = str(log)
                _say(f"{key} FAILED (exit {proc.returncode}) in {result.times[key]:.0f}s; log {log}")
        if max_jobs and started >= max_jobs:
            if not procs:
                break
            time.sleep(0.2)
            continue
        if len(procs) >= lanes:
            time.sleep(0.2)  # every lane busy: planning again now would only cost time
            continue
        plan = plan_study(study, device, protocol, project=False, seeds=seeds, scope=scope)
        bad: dict[str, str] = {}
        for job in plan.jobs:  # in dependency order: a job after a blocked one is blocked too
            cause = _blocked_by(job, bad, result.failed)
            if cause:
                bad[job.key] = cause
        result.blocked = bad
        running = set(procs)
        for j in plan.jobs:  # a job that exited 0 but left its work undone would run forever
            if j.key in result.done and j.key not in running and j.key not in result.failed:
                result.failed[j.key] = str(logs / f"{j.key.replace(':', '_')}.log")
                _say(f"{j.key} FAILED: it finished without its result on disk; log {result.failed[j.key]}")
        ready = [j for j in plan.jobs if j.state == "ready" and j.key not in running and j.key not in result.failed
                 and j.key not in bad]
        behind = dependents(plan.jobs)
        ready.sort(key=lambda j: -behind.get(j.key, 0))  # stable: dependency order on ties
        busy_gpus = {g for *_, g in procs.values()}
        for job in ready:
            if len(procs) >= lanes or (max_jobs and started >= max_jobs):
                break
            gpu = next(i for i in range(lanes) if i not in busy_gpus) if device.startswith("cuda") else None
            busy_gpus.add(gpu)
            log = logs / f"{job.key.replace(':', '_')}.log"
            with open(log, "w") as fh:
                proc = subprocess.Popen(job.command(study.path or study.name, "cuda" if gpu is not None else device),
                                        env=job_env(device, gpu, plugins=plugins), stdout=fh, stderr=subprocess.STDOUT)
            procs[job.key] = (proc, job, time.time(), gpu)
            started += 1
            _say(f"start {job.key}")
        if not procs:
            break
        time.sleep(1)
    result.seconds = time.time() - t0
    return result


# Slurm ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SlurmOptions:
    partition: str | None = None
    gpus_per_job: int = 0
    cpus_per_job: int = 1
    time_min: int = 240            # each job's time limit; a training that runs out is requeued and resumes
    mem_gb: float | None = None
    array_parallelism: int = 256
    account: str | None = None
    wait: bool = True              # wait for every job (and report them) before returning


def _require_submitit():
    try:
        import submitit
    except ImportError:
        raise BenchmarkError("the slurm executor needs submitit: pip install submitit (or pip install "
                             "'.[slurm]')") from None
    return submitit


class StudyJob:
    """One job as a Slurm task: runs its CLI command; requeued (and resumed from disk) on timeout or
    preemption. A plain class so submitit can pickle it."""

    def __init__(self, key: str, argv: list[str], log: str, threads: int, plugins: list[str] | None = None):
        self.key, self.argv, self.log, self.threads, self.plugins = key, argv, log, threads, plugins

    def __call__(self) -> str:
        with open(self.log, "a") as fh:
            code = subprocess.call(self.argv, env=job_env("cpu", None, self.threads, self.plugins), stdout=fh,
                                   stderr=subprocess.STDOUT)
        if code != 0:
            raise RuntimeError(f"{self.key} failed with exit code {code}; log {self.log}")
        return self.key

    def checkpoint(self, *args, **kwargs):
        import submitit

        return submitit.helpers.DelayedSubmission(self)  # the command resumes from what is on disk


def levels(jobs: list[Job]) -> list[list[Job]]:
    """Jobs by dependency depth: each level needs only jobs of the levels before it."""
    depth: dict[str, int] = {}
    by_key = {j.key: j for j in jobs}

    def d(key: str) -> int:
        if key not in depth:
            job = by_key[key]
            depth[key] = 1 + max((d(a) for a in job.after if a in by_key), default=-1)
        return depth[key]

    out: list[list[Job]] = []
    for j in jobs:
        k = d(j.key)
        while len(out) <= k:
            out.append([])
        out[k].append(j)
    return out


def run_slurm(study: Study, opts: SlurmOptions, device: str = "cpu", protocol: str | None = None,
              seeds: list[int] | None = None, scope: Scope = Scope()) -> RunResult:
    """Submit every job left as Slurm job arrays, one per dependency level, each level after the ones before
    (afterany: a failed job does not cancel the others; a job whose input is missing fails fast and says so)."""
    submitit = _require_submitit()
    home = study_home(study)
    logs = home / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    write_entries(study)
    plan = plan_study(study, device, protocol, project=False, seeds=seeds, scope=scope)
    result = RunResult()
    t0 = time.time()
    if not plan.jobs:
        _say("nothing left to do")
        return result
    executor = submitit.AutoExecutor(folder=str(home / "slurm" / "%j"), cluster="slurm")
    base = dict(timeout_min=opts.time_min, slurm_partition=opts.partition, cpus_per_task=opts.cpus_per_job,
                slurm_array_parallelism=opts.array_parallelism, name=f"rtb-{study.name}")
    if opts.gpus_per_job:
        base["gpus_per_node"] = opts.gpus_per_job
    if opts.mem_gb:
        base["mem_gb"] = opts.mem_gb
    if opts.account:
        base["slurm_account"] = opts.account
    job_device = "cuda" if opts.gpus_per_job else "cpu"
    submitted: list[tuple[Job, object]] = []
    previous: list[str] = []
    for level in levels(plan.jobs):
        params = dict(base)
        params["slurm_additional_parameters"] = {"dependency": "afterany:" + ":".join(previous)} if previous else {}
        executor.update_parameters(**{k: v for k, v in params.items() if v is not None})
        calls = [StudyJob(j.key, j.command(study.path or study.name, job_device),
                          str(logs / f"{j.key.replace(':', '_')}.log"), opts.cpus_per_job, study_plugins(study))
                 for j in level]
        with executor.batch():
            handles = [executor.submit(c) for c in calls]
        ids = sorted({h.job_id.split("_")[0] for h in handles})
        previous += ids
        submitted += list(zip(level, handles))
        _say(f"submitted {len(level)} jobs as array {', '.join(ids)}" +
             (f" (after {len(previous) - len(ids)} earlier arrays)" if len(previous) > len(ids) else ""))
    if not opts.wait:
        _say(f"submitted {len(submitted)} jobs; follow them with `python -m benchmark study plan {study.name}` "
             f"(what is left) and their logs in {logs}")
        return result
    for job, handle in submitted:
        try:
            handle.result()
            result.done.append(job.key)
            _say(f"{job.key} ok (slurm job {handle.job_id})")
        except Exception:  # submitit re-raises the job's failure; its log says why
            result.failed[job.key] = str(logs / f"{job.key.replace(':', '_')}.log")
            _say(f"{job.key} FAILED (slurm job {handle.job_id}); log {result.failed[job.key]}")
    result.seconds = time.time() - t0
    return result


EXECUTORS = ("local", "slurm")


def run_study(study: Study, executor: str = "local", device: str = "cpu", lanes: int | None = None,
              protocol: str | None = None, seeds: list[int] | None = None, slurm: SlurmOptions | None = None,
              max_jobs: int = 0, scope: Scope = Scope()) -> RunResult:
    if executor == "local":
        return run_local(study, device, lanes, protocol, seeds, max_jobs, scope)
    if executor == "slurm":
        return run_slurm(study, slurm or SlurmOptions(), device, protocol, seeds, scope)
    raise BenchmarkError(f"unknown executor {executor!r}: choose one of {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "RunResult", "SlurmOptions", "run_local", "run_slurm", "run_study", "study_home"]
