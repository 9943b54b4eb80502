"""Make every missing piece of the embedded zoo: tune, train and publish, then evaluate, side by side.

    python tools/zoo_jobs.py plan                      # what is missing
    python tools/zoo_jobs.py run --lanes 2             # do it: one process per lane, one thread each
    python tools/zoo_jobs.py run --lanes 2 --evaluate fmnist-linf-quick --suite full

Each job is one CLI command (`tune`, `train --publish`, `evaluate`) in its own process with
one thread, so jobs on two cores run side by side without sharing a core. The state is read
back from the zoo entries and the records on disk before each job starts, so the runner can
be stopped and started again at any time: nothing finished is redone, and an unfinished
training resumes from its last epoch checkpoint. After each tuning the zoo generator runs
again, so that entries which inherit a selection (data sizes that are not tuned) get it
before they train.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOGS = Path(os.environ.get("RTB_JOB_LOGS", "/tmp/rtb-zoo-jobs"))


def generator():
    spec = importlib.util.spec_from_file_location("make_fmnist_zoo", ROOT / "tools" / "make_fmnist_zoo.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class Job:
    kind: str          # tune, train, evaluate
    name: str
    seed: int | None
    priority: tuple

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.name}" + ("" if self.seed is None else f":{self.seed}")

    def command(self, protocol: str | None) -> list[str]:
        base = [sys.executable, "-m", "benchmark"]
        if self.kind == "tune":
            return base + ["tune", "--model", self.name, "--quiet"]
        if self.kind == "train":
            return base + ["train", "--model", self.name, "--seed", str(self.seed), "--publish", "--quiet"]
        return base + ["evaluate", "--model", self.name, "--seed", str(self.seed), "--protocol", protocol,
                       "--weights", "published", "--quiet"]


def record_exists(protocol: str, name: str, seed: int, sha256: str) -> bool:
    path = ROOT / "results" / protocol / name / f"seed{seed}.json"
    if not path.is_file():
        return False
    rec = json.loads(path.read_text())
    return rec.get("weights", {}).get("sha256") == sha256 and rec.get("protocol", {}).get("version") == \
        protocol_version(protocol)


def protocol_version(protocol: str) -> int:
    from benchmark.evaluation import load_protocol

    return load_protocol(protocol).version


def claim_roles() -> set[str]:
    """Every entry a claim test uses (benchmark/reports/claims.yaml, all families), and the sources they need."""
    import yaml

    config = yaml.safe_load((ROOT / "benchmark" / "reports" / "claims.yaml").read_text())
    names: set[str] = set()

    def collect(v):
        if isinstance(v, str):
            names.add(v)
        elif isinstance(v, (list, tuple)):
            for x in v:
                collect(x)
        elif isinstance(v, dict):
            for x in v.values():
                collect(x)

    for family in config["families"]:
        collect(family["roles"])
    return names


def group(entries, name: str, claims: set[str]) -> int:
    """What to make first: the claims' entries (and their sources), then the data-size sweeps, then the rest."""
    if name in claims or any(entries[c].source == name for c in claims if c in entries):
        return 0
    return 1 if re.search(r"_n\d+(_oracle)?$", name) else 2


def selected(entries, suites: set[str] | None, match: str | None) -> list:
    """The project's embedded entries this runner makes: of these suites (all if None), names matching `match`."""
    return [e for e in entries.values() if e.origin == "project" and e.strategy != "external" and
            e.name.startswith("fmnist_") and (suites is None or suites & set(e.suites)) and
            (match is None or re.fullmatch(match, e.name))]


def pending(entries, inherits: dict, suites: set[str] | None, protocol: str | None, running: set[str],
            seeds: set[int] | None = None, match: str | None = None) -> list:
    """Jobs whose inputs are all there, best first (only these seeds, if given)."""
    from benchmark.reports.claims import MIN_SEEDS  # the seeds a provisional verdict needs: made first

    jobs = []
    claims = claim_roles()
    chosen = selected(entries, suites, match)
    sources = {e.source for e in entries.values() if e.source}
    for e in chosen:
        src = entries.get(e.source) if e.source else None
        untuned = e.tuning is not None and e.tuning.selected is None
        waiting = e.name in inherits and entries[inherits[e.name]].tuning.selected is None
        depth = 0 if src is None else 1
        if untuned:
            if src is None or src.published(e.seeds[0]):
                jobs.append(Job("tune", e.name, None, (1, depth, e.name)))
            continue
        if waiting:
            continue
        for s in e.seeds:
            if seeds is not None and s not in seeds:
                continue
            w = e.published(s)
            if w is None:
                if src is None or src.published(s):
                    # seed 0 of sources first (tunings wait for them), then by seed so claims fill evenly
                    first = s == 0 and e.name in sources
                    g = group(entries, e.name, claims)
                    # the claims' first MIN_SEEDS seeds (what a provisional verdict needs) before other records
                    early = (g == 0 or e.name.endswith("_oracle")) and s < MIN_SEEDS  # oracles: the (d) analysis
                    jobs.append(Job("train", e.name, s, (0,) if first else (1.4 if depth == 0 else 1.6, s, depth, e.name) if early else
                                    (2, g, s, depth, e.name)))
            elif protocol and not record_exists(protocol, e.name, s, w.sha256):
                # records of published weights before new trainings (a protocol's new version regenerates them
                # all): the ci suite's (the gate compares them), then the quick suite's, then by seed
                rank = 0 if "ci" in e.suites else 1 if "quick" in e.suites else 2
                g = group(entries, e.name, claims)
                first = g == 0 or e.name.endswith("_oracle") or s < MIN_SEEDS and rank < 2
                jobs.append(Job("evaluate", e.name, s, (1.5 if first else 1.7, rank, s,
                                                       e.name)))
    return sorted((j for j in jobs if j.key not in running and not busy_entry(j, running)), key=lambda j: j.priority)


def claimed() -> set[str]:
    """Jobs another runner started and whose process still lives (runners may run side by side)."""
    out = set()
    for f in (LOGS / "claims").glob("*"):
        try:
            os.kill(int(f.read_text()), 0)
            out.add(f.name.replace("@", ":"))
        except (ValueError, ProcessLookupError, PermissionError):
            f.unlink(missing_ok=True)
    return out


def busy_entry(job: Job, running: set[str]) -> bool:
    """An entry being tuned is not trained meanwhile (its recipe is about to change)."""
    return f"tune:{job.name}" in running


def run(args) -> int:
    from benchmark.zoo import load_entries

    (LOGS / "claims").mkdir(parents=True, exist_ok=True)
    gen = generator()
    gen.main()
    suites = set(args.suite) if args.suite else None
    seeds = set(args.seed) if args.seed else None
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs: dict[str, tuple[subprocess.Popen, Job, float]] = {}
    failed: set[str] = set()
    done = 0
    t_start = time.time()
    while True:
        for key, (proc, job, t0) in list(procs.items()):
            if proc.poll() is None:
                continue
            del procs[key]
            (LOGS / "claims" / key.replace(":", "@")).unlink(missing_ok=True)
            status = "ok" if proc.returncode == 0 else f"FAILED (exit {proc.returncode}, log {LOGS / key})"
            print(f"[{time.strftime('%H:%M:%S')}] {key} {status} in {time.time() - t0:.0f}s", flush=True)
            if proc.returncode != 0:
                failed.add(key)
            done += 1
            if job.kind == "tune" and proc.returncode == 0:
                gen.INHERITS.clear()
                gen.main()  # entries that inherit this selection get it now
        if args.max_jobs and done >= args.max_jobs and not procs:
            break
        if Path(args.stop_file).exists():
            if not procs:
                print("stop file found; stopping")
                break
            time.sleep(2)
            continue
        if len(procs) >= args.lanes:
            # every lane busy: reading the zoo and the records again costs a third of a core per runner
            time.sleep(2)
            continue
        entries = load_entries()
        others = claimed() - set(procs)
        jobs = [j for j in pending(entries, gen.INHERITS, suites, args.evaluate, set(procs) | others, seeds, args.match)
                if j.key not in failed]
        while jobs and len(procs) < args.lanes and not (args.max_jobs and done + len(procs) >= args.max_jobs):
            job = jobs.pop(0)
            if any(j.kind == "tune" and j.name == job.name for _, j, _ in procs.values()):
                continue
            log = open(LOGS / job.key.replace(":", "_"), "w")
            proc = subprocess.Popen(job.command(args.evaluate), cwd=ROOT, env=env, stdout=log,
                                    stderr=subprocess.STDOUT)
            procs[job.key] = (proc, job, time.time())
            (LOGS / "claims" / job.key.replace(":", "@")).write_text(str(proc.pid))
            print(f"[{time.strftime('%H:%M:%S')}] start {job.key}", flush=True)
            jobs = [j for j in jobs if not (job.kind == "tune" and j.name == job.name)]
        if not procs:
            break
        time.sleep(2)
    print(f"finished {done} jobs in {time.time() - t_start:.0f}s; failed: {sorted(failed) or 'none'}")
    return 1 if failed else 0


def plan(args) -> int:
    from benchmark.zoo import load_entries

    gen = generator()
    gen.main()
    entries = load_entries()
    suites = set(args.suite) if args.suite else None
    missing_tune, missing_train, blocked = [], 0, []
    for e in selected(entries, suites, args.match):
        if e.tuning is not None and e.tuning.selected is None:
            missing_tune.append(e.name)
        if e.name in gen.INHERITS and entries[gen.INHERITS[e.name]].tuning.selected is None:
            blocked.append(e.name)
        missing_train += sum(1 for s in e.seeds if e.published(s) is None and (not args.seed or s in args.seed))
    print(f"to tune: {len(missing_tune)} {missing_tune}")
    print(f"waiting for a selection to inherit: {len(blocked)}")
    print(f"(entry, seed) without published weights: {missing_train}")
    if args.evaluate:
        ready = pending(entries, gen.INHERITS, suites, args.evaluate, set(), set(args.seed) if args.seed else None,
                        args.match)
        print(f"records missing under {args.evaluate} (published weights): {sum(j.kind == 'evaluate' for j in ready)}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("plan", "run"):
        p = sub.add_parser(name)
        p.add_argument("--suite", nargs="+", default=None, help="only entries of these suites (default: all)")
        p.add_argument("--seed", nargs="+", type=int, default=None, help="only these seeds (default: all)")
        p.add_argument("--match", default=None, metavar="REGEX",
                       help="only entries whose name matches (sources they need must be published already)")
        p.add_argument("--evaluate", default=None, metavar="PROTOCOL",
                       help="also evaluate every published seed without a record under this protocol")
        if name == "run":
            p.add_argument("--lanes", type=int, default=os.cpu_count() or 1)
            p.add_argument("--max-jobs", type=int, default=0)
            p.add_argument("--stop-file", default=str(LOGS / "STOP"),
                           help="create this file to stop after the running jobs")
    args = ap.parse_args()
    return plan(args) if args.cmd == "plan" else run(args)


if __name__ == "__main__":
    sys.exit(main())
