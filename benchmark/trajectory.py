"""Robustness along fine-tuning: an entry trained again with snapshots at fixed fractions of its batches, each
snapshot evaluated under a protocol (and scored on validation data), so a report shows when robustness is
lost and what early stopping on validation would have kept.

The run is the entry's own recipe and seed, trained into a cache of its own (`<cache>/trajectory-runs`), so
the published weights and the user's trained copy are never touched; its last snapshot is the trained model.
A record per seed goes to `<results>/trajectory/<protocol>/<model>/seed<k>.json`.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmark.errors import BenchmarkError

DEFAULT_FRACTIONS = (0.0, 0.125, 0.25, 0.5, 1.0)
RESULTS_FOLDER = "trajectory"


def trajectory_record_path(root: Path, protocol: str, model: str, seed: int) -> Path:
    from benchmark.results import record_path

    return record_path(Path(root) / RESULTS_FOLDER, protocol, model, seed)


def _snapshots(entry, seed: int, cache) -> dict[float, tuple[Path, int, int]]:
    """fraction -> (the snapshot's file, batches trained, epoch), from the files' metadata."""
    from safetensors import safe_open

    from benchmark.training.runner import snapshot_dir

    out = {}
    for path in sorted(snapshot_dir(entry, seed, cache).glob("batch*.safetensors")):
        with safe_open(str(path), "pt") as f:
            meta = f.metadata()
        for fraction in meta["fractions"].split(","):
            out[float(fraction)] = (path, int(meta["batches"]), int(meta["epoch"]))
    return out


def _snapshot_model(entry, path: Path, device: str):
    from safetensors.torch import load_file

    from benchmark.zoo.weights import build_entry_model, load_weights_into

    model = build_entry_model(entry)
    load_weights_into(model, load_file(str(path)), str(path))
    return model.to(device).eval()


def trajectory_entry(entry, seed: int, fractions=DEFAULT_FRACTIONS, protocol=None, opts=None, where=None,
                     entries=None) -> tuple[dict, Path]:
    """Train `entry` seed `seed` with snapshots at `fractions` of its batches (unless they exist), evaluate each
    under `protocol` (default: the entry's) and on validation data; write the record (where.write)."""
    from benchmark.data import get_task
    from benchmark.evaluation import EvalOptions, Locations, load_protocol
    from benchmark.evaluation.entry import correct_outcomes, evaluate_model, evaluation_data
    from benchmark.io import provenance
    from benchmark.paths import cache_dir
    from benchmark.results import write_record, write_root
    from benchmark.training import TrainOptions, train_entry
    from benchmark.tuning import validation_data

    opts = opts or EvalOptions()
    where = where or Locations()
    if not entry.source:
        raise BenchmarkError(f"{entry.name} trains from scratch: a trajectory follows a fine-tuning from a source "
                             "(choose an entry with a `source`)")
    fractions = tuple(sorted(set(float(f) for f in fractions)))
    if not fractions or any(not 0 <= f <= 1 for f in fractions):
        raise BenchmarkError(f"--fractions must be numbers in [0, 1], got {list(fractions)}")
    protocol = load_protocol(protocol or entry.protocol) if not hasattr(protocol, "attacks") else protocol
    task = get_task(entry.task, relative_to=entry.folder)
    protocol.check_task(task, entry.name)
    runs = cache_dir(where.cache) / "trajectory-runs"
    have = _snapshots(entry, seed, runs)
    if not set(fractions) <= set(have):
        train_entry(entry, seed, TrainOptions(device=opts.device, data_dir=where.data_dir, cache=runs,
                                              source_cache=cache_dir(where.cache), show_progress=opts.show_progress,
                                              snapshots=fractions), entries=entries)
        have = _snapshots(entry, seed, runs)
    x, y, index = evaluation_data(task, protocol, opts.n, where.data_dir)
    x_val, y_val, _ = validation_data(entry, where.data_dir)
    points = []
    t0 = time.perf_counter()
    for fraction in fractions:
        path, batches, epoch = have[fraction]
        model = _snapshot_model(entry, path, opts.device)
        result = evaluate_model(model, protocol, x, y, index, opts)
        # early stopping reads clean validation accuracy, as a natural fine-tuner would
        val_clean = sum(correct_outcomes(model, x_val, y_val, opts.device)) / len(y_val)
        points.append({"fraction": fraction, "batches": batches, "epoch": epoch,
                       "clean_accuracy": result.clean_accuracy, "robust_accuracy": result.robust_accuracy,
                       "robust": list(result.per_example["robust"]),
                       "validation_clean": val_clean,
                       "guards_flagged": bool((result.guards or {}).get("flagged"))})
        if opts.show_progress:
            print(f"  {entry.name} seed {seed} at {fraction:g} of training ({batches} batches): clean "
                  f"{100 * result.clean_accuracy:.1f}%, robust {100 * result.robust_accuracy:.1f}%", flush=True)
    # early stopping as a natural fine-tuner would do it: the snapshot most accurate on validation (the later on ties)
    pick = max(range(len(points)), key=lambda i: (points[i]["validation_clean"], i))
    record = {"model": entry.name, "seed": seed, "protocol": protocol.to_dict(), "n_examples": int(x.shape[0]),
              "index": index.tolist(), "points": points,
              "early_stop": {"fraction": points[pick]["fraction"], "rule": "highest validation clean accuracy",
                             "robust_accuracy": points[pick]["robust_accuracy"],
                             "clean_accuracy": points[pick]["clean_accuracy"]},
              "seconds": round(time.perf_counter() - t0, 2), "device": opts.device, "guards": opts.guards,
              "entry": entry.to_dict(), "complete": True, **provenance()}
    root = write_root(entry, "published" if entry.weights else "trained", where.results_dir, where.update_records)
    path = trajectory_record_path(root, protocol.name, entry.name, seed)
    if where.write:
        write_record(record, path)
    return record, path


def load_trajectory_records(roots=None) -> list[dict]:
    """Every trajectory record under the results folders (default: the project's)."""
    from benchmark.results import load_folder_records

    return load_folder_records(RESULTS_FOLDER, "points", roots)


__all__ = ["DEFAULT_FRACTIONS", "load_trajectory_records", "trajectory_entry", "trajectory_record_path"]
