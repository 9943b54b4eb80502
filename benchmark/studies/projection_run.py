"""`perf --projection-run`: how good `study plan`'s projection is, measured rather than argued. A small study
no one has run is planned here (nothing recorded to lean on: rates measured on the spot), then run from
nothing in a temporary home, and each job's projected time is set against the time it took (its process's
wall time, start-up included, as the plan means it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

DEFAULT_STUDY = Path(__file__).resolve().parents[1] / "perf" / "studies" / "projection_check.yaml"


def projection_run(study_ref: str | Path = DEFAULT_STUDY, device: str = "cpu", lanes: int = 1) -> list[dict]:
    """Plan `study_ref` in a fresh home, run it there, and return one row per job: kind, job, projected and
    actual seconds. The committed records and weights are only read (sources come from the published zoo)."""
    from benchmark.studies.catalog import load_study
    from benchmark.studies.executors import run_local
    from benchmark.studies.jobs import plan_study

    before = os.environ.get("RTB_HOME")
    with tempfile.TemporaryDirectory(prefix="rtb-projection-run-") as home:
        os.environ["RTB_HOME"] = home
        try:
            study = load_study(study_ref)
            plan = plan_study(study, device)
            projected = {j.key: j.seconds for j in plan.jobs}
            result = run_local(study, device, lanes)
        finally:
            if before is None:
                os.environ.pop("RTB_HOME", None)
            else:
                os.environ["RTB_HOME"] = before
    if result.failed:
        from benchmark.errors import BenchmarkError

        raise BenchmarkError(f"{len(result.failed)} jobs of the projection run failed: {', '.join(result.failed)}")
    return [{"kind": key.split(":")[0], "job": key, "projected": projected[key], "actual": result.times[key]}
            for key in result.done if key in projected]


def summary_lines(rows: list[dict], tolerance: float = 0.25) -> list[str]:
    """Per job and per kind: projected against taken, their ratio, and how many jobs fall within `tolerance`."""
    lines = [f"  {r['job']:<46} projected {r['projected']:7.0f} s, took {r['actual']:7.0f} s, ratio "
             f"{r['projected'] / r['actual']:5.2f}" for r in rows]
    for kind in ("train", "evaluate", "tune", None):
        part = [r for r in rows if kind is None or r["kind"] == kind]
        if not part:
            continue
        p, a = sum(r["projected"] for r in part), sum(r["actual"] for r in part)
        within = sum(abs(r["projected"] / r["actual"] - 1) <= tolerance for r in part)
        lines.append(f"  {kind or 'all':<8} {len(part):3d} jobs: projected {p:7.0f} s, took {a:7.0f} s, ratio "
                     f"{p / a:5.2f}; {within} of {len(part)} jobs within {100 * tolerance:.0f}%")
    return lines
