"""Carry a record to the next version of its protocol when only the guards changed (a maintainers' tool).

A protocol version that makes the guards' attacks count (`guards_count`) runs the same battery, on the
same examples with the same seeds, as the version before it: the battery's per-example outcomes of a
record under that version are what a fresh evaluation would produce (the evaluation gate checks exactly
this, example by example, on every record it re-runs). Upgrading such a record re-runs only the guards,
keeping their per-example outcomes, folds them into the worst case, and says in the record that its
battery was carried over (`regenerated`). Anything else about the protocol that differs is refused: such
a record must be evaluated again.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError

# protocol fields a guards-only upgrade may change
UPGRADABLE = ("version", "guards_count", "description")


def battery_unchanged(old: dict, new: dict) -> str | None:
    """Why a record under protocol `old` (a record's protocol dict) cannot be upgraded to `new`, else None."""
    if old.get("name") != new.get("name"):
        return f"the record is of protocol {old.get('name')}, not {new.get('name')}"
    if not new.get("guards_count") or old.get("guards_count"):
        return "the new version does not add counting the guards' attacks"
    keys = (set(old) | set(new)) - set(UPGRADABLE)
    differ = sorted(k for k in keys if old.get(k) != new.get(k))
    if differ:
        return f"the protocol's {', '.join(differ)} changed: evaluate again"
    return None


def upgrade_record(path: Path | str, protocol, cache=None, data_dir=None, device: str = "cpu") -> dict:
    """The record at `path` under `protocol` (its next version): the guards re-run with their outcomes counted,
    the battery carried over. Returns the new record (not written)."""
    from benchmark.data import get_task
    from benchmark.evaluation.entry import EvalResult, count_guards, evaluation_data
    from benchmark.evaluation.guards import guard_options, run_guards
    from benchmark.evaluation.verify import _model_of
    from benchmark.io import provenance
    from benchmark.models.layout import as_layout, channels_last
    from benchmark.results import read_record

    path = Path(path)
    old = read_record(path)
    new_protocol = protocol.to_dict()
    why = battery_unchanged(old["protocol"], new_protocol)
    if why:
        raise BenchmarkError(f"{path}: {why}")
    if old.get("eps") != protocol.eps or old.get("n_examples") != protocol.n_examples or not old.get("guards"):
        raise BenchmarkError(f"{path}: not a record of the protocol's own eps, examples and guards: evaluate again")
    entry, model = _model_of(old, cache, None)
    model = model.to(device).eval()
    task = get_task(entry.task, relative_to=entry.folder)
    x, y, index = evaluation_data(task, protocol, old["n_examples"], data_dir)
    pe = {k: list(v) for k, v in old["per_example"].items()}
    if index.tolist() != pe["index"]:
        raise BenchmarkError(f"{path}: the evaluation examples are not the task's any more (data changed)")
    t0 = time.perf_counter()
    robust = torch.tensor(pe["robust"])
    with channels_last(model, old.get("memory_format") == "channels_last") as nhwc:
        guards = run_guards(model, as_layout(x, nhwc), y, index, robust,
                            replace(guard_options(protocol, device), outcomes=True))
    result = EvalResult(new_protocol, old["eps"], old["n_examples"], old["cascade"], old["clean_accuracy"],
                        old["robust_accuracy"], old["attacks"], pe, old["seconds"], old["memory_format"],
                        old["attack_precision"], guards)
    count_guards(result)
    previous = {k: old["guards"].get(k) for k in ("flagged", "flags")}
    if previous != {k: result.guards.get(k) for k in ("flagged", "flags")}:
        raise BenchmarkError(f"{path}: the guards flag differently now ({previous} -> {result.guards['flags']}): "
                             "evaluate again")
    record = {k: v for k, v in old.items() if k not in ("date", "git_commit", "versions", "machine")}
    record.update({"protocol": new_protocol, "robust_accuracy": result.robust_accuracy,
                   "per_example": result.per_example, "guards": result.guards, **result.extra,
                   "entry": entry.to_dict(),
                   "regenerated": {"from_version": old["protocol"]["version"], "from_date": old["date"],
                                   "battery": "carried over from the record of the earlier version (the same attacks, "
                                              "examples and seeds); the guards re-run, their attacks counted",
                                   "seconds": round(time.perf_counter() - t0, 2)},
                   "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), **provenance()})
    return record
