"""Hyperparameter selection on validation data carved from the target's training split.

Every arm (transfer strategy or baseline) gets the same budget: the configurations of its
entry's `tuning.grid` (e.g. 2 learning rates x 2 epoch counts). Each is trained on the
entry's first `tuning.seeds` seeds (one by default) on the training pool, which never
contains the validation split, and scored on the whole validation split: clean accuracy and
robust accuracy under PGD-20 with cross-entropy and with the CW margin loss (worst case of
the two) at the entry's eps, averaged over the tuning seeds. The best configuration by the
entry's criterion (robust accuracy by default; ties go to clean accuracy, then to the
earlier configuration) becomes the entry's recipe. With `tuning.clean_at_least: OTHER`,
only configurations at least as accurate on validation as OTHER's selection are eligible
(claim (c)'s rule: the most robust LwF that does not lose clean accuracy to the linear head).
The test subset of any protocol is never touched.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_json, provenance
from benchmark.paths import cache_dir
from benchmark.training.runner import TrainOptions, train_entry
from benchmark.zoo.entry import Tuning, ZooEntry, update_entry_file

VALIDATION_ATTACKS = ({"name": "pgd-ce", "loss": "ce"}, {"name": "pgd-cw", "loss": "cw"})
VALIDATION_STEPS = 20


def grid_configs(tuning: Tuning) -> list[dict]:
    """The settings a tuning budget trains: its `points` as listed, else every combination of its grid."""
    if tuning.points:
        return [dict(p) for p in tuning.points]
    keys = list(tuning.grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(tuning.grid[k] for k in keys))]


def validation_data(entry: ZooEntry, data_dir=None):
    from benchmark.data import get_task, load_split, split_validation

    task = get_task(entry.task, relative_to=entry.folder)
    if task.validation is None:
        raise BenchmarkError(f"task {task.name} has no validation split to tune on: add "
                             f"`validation: {{n_per_class: 200}}` to {task.source}")
    data = load_split(task, True, data_dir)
    _, val = split_validation(data.labels, task.validation.n_per_class, task.validation.seed,
                              getattr(data, "class_names", None))
    return data.pixels(val), data.labels[val], val


def score(model, x, y, eps: float, norm: str, device: str, seed: int = 0) -> dict:
    """Clean and PGD robust accuracy (worst case over CE and CW-margin PGD) on validation data."""
    from benchmark.attacks import PGD
    from benchmark.evaluation.battery import BatteryOptions, run_battery

    attacks = [PGD(a["name"], norm, eps, seed=seed, steps=VALIDATION_STEPS, loss=a["loss"])
               for a in VALIDATION_ATTACKS]
    res = run_battery(model, attacks, x, y, torch.arange(x.shape[0]), BatteryOptions(eps, norm, device=device))
    return {"clean": res["clean_accuracy"], "robust": res["robust_accuracy"]}


def select(configs: list[dict], criterion: str, clean_floor: float | None = None) -> int:
    """The configuration the criterion picks (ties: the other score, then the earlier one); with a floor, among
    those whose clean accuracy reaches it, else the most accurate."""
    other = "clean" if criterion == "robust" else "robust"
    eligible = [i for i in range(len(configs)) if clean_floor is None or configs[i]["clean"] >= clean_floor - 1e-9]
    if not eligible:
        return max(range(len(configs)), key=lambda i: (configs[i]["clean"], configs[i]["robust"], -i))
    return max(eligible, key=lambda i: (configs[i][criterion], configs[i][other], -i))


def clean_floor(entry: ZooEntry, results_dir: Path | None = None, entries=None, opts=None) -> tuple[float, dict] | None:
    """The validation clean accuracy of `entry.tuning.clean_at_least` (mean over the tuning seeds), with what it
    came from; None without a floor. From that entry's tuning record where it was tuned on the same seeds; else
    (an untuned entry, a source, or one tuned on other seeds) measured on the same validation split from its
    weights at those seeds: the model the claim compares with, not its recipe's tuning run."""
    import json

    from benchmark.results import results_root, tuning_record_file
    from benchmark.zoo import load_entries

    other = entry.tuning.clean_at_least
    if other is None:
        return None
    entries = entries or load_entries()
    if other not in entries:
        raise BenchmarkError(f"{entry.path}: field 'tuning.clean_at_least' names {other!r}, which is not a zoo entry")
    seeds = entry.seeds[:entry.tuning.seeds]
    path = tuning_record_file(results_root(entries[other], "published", results_dir), other)
    if entries[other].tuning is not None and entries[other].tuning.selected is None:
        raise BenchmarkError(f"{entry.name}'s selection needs {other}'s validation clean accuracy: tune {other} first "
                             f"(python -m benchmark tune --model {other})")
    if path.is_file():
        record = json.loads(path.read_text())
        if record.get("tuning_seeds", [record.get("seed", 0)]) == seeds:
            chosen = next(c for c in record["configs"] if c["values"] == record["selected"])
            return chosen["clean"], {"entry": other, "selected": record["selected"], "clean": chosen["clean"]}
    return _measured_floor(entry, entries[other], seeds, entries, opts or TrainOptions(show_progress=False))


def _measured_floor(entry: ZooEntry, other: ZooEntry, seeds: list[int], entries, opts: TrainOptions):
    """`other`'s validation clean accuracy at `seeds`, from its weights (published where it has them)."""
    from benchmark.evaluation.battery import accuracy
    from benchmark.zoo import has_weights
    from benchmark.zoo.weights import load_model_and_weights

    if other.task != entry.task:
        raise BenchmarkError(f"{entry.path}: field 'tuning.clean_at_least' names {other.name}, which is on task "
                             f"{other.task}, not {entry.task}: the floor must be measured on the same validation split")
    missing = [s for s in seeds if not has_weights(other, s, "auto", opts.cache)]
    if missing:
        raise BenchmarkError(f"{entry.name}'s selection needs {other.name}'s validation clean accuracy at seeds "
                             f"{seeds}: train seed {missing[0]} first (python -m benchmark train --model {other.name} "
                             f"--seed {missing[0]})")
    x_val, y_val, _ = validation_data(entry, opts.data_dir)
    per_seed = []
    for s in seeds:
        model, _ = load_model_and_weights(other, s, "auto", opts.device, opts.cache, entries)
        per_seed.append(accuracy(model, x_val, y_val, opts.device))
    clean = sum(per_seed) / len(per_seed)
    return clean, {"entry": other.name, "selected": None, "clean": clean, "measured_on_seeds": seeds,
                   "per_seed": per_seed}


def tune_entry(entry: ZooEntry, opts: TrainOptions = TrainOptions(), write: bool = True,
               results_dir: Path | None = None, entries=None) -> dict:
    """Train every configuration of the entry's grid, score it on validation data, and select one.

    With `write`, the tuning record goes to `<results>/tuning/<entry>.json` and the entry's
    file gets the selected values in its recipe and `tuning.selected`.
    """
    from benchmark.results import results_root, tuning_record_file
    from benchmark.zoo.weights import load_model_and_weights

    if entry.tuning is None:
        raise BenchmarkError(f"{entry.name} has no tuning budget: add `tuning: {{grid: {{lr: [...], "
                             f"epochs: [...]}}}}` to {entry.path}")
    seeds = entry.seeds[:entry.tuning.seeds]
    if len(seeds) < entry.tuning.seeds:
        raise BenchmarkError(f"{entry.path}: field 'tuning.seeds' is {entry.tuning.seeds}, but the entry has only "
                             f"{len(entry.seeds)} seeds")
    floor = clean_floor(entry, results_dir, entries, replace(opts, show_progress=False))  # before any training
    base = entry.parsed_recipe()
    x_val, y_val, val_index = validation_data(entry, opts.data_dir)
    configs = []
    with tempfile.TemporaryDirectory(prefix=f"rtb-tune-{entry.name}-") as scratch:
        for values in grid_configs(entry.tuning):
            recipe = base.with_values(**values)
            t0 = time.perf_counter()
            scratch_opts = replace(opts, cache=scratch, source_cache=cache_dir(opts.cache), resume=False)
            per_seed = []
            for seed in seeds:
                rec = train_entry(entry, seed, scratch_opts, recipe=recipe, entries=entries)
                model, _ = load_model_and_weights(entry, seed, "trained", opts.device, scratch, entries)
                per_seed.append({"seed": seed, **score(model, x_val, y_val, entry.eps, entry.threat_model, opts.device),
                                 "cost_fb_passes": rec["cost"]["fb_passes"], "train_seconds": rec["wall_seconds"]})
            s = {k: sum(p[k] for p in per_seed) / len(per_seed) for k in ("clean", "robust")}
            configs.append({"values": values, **s, "cost_fb_passes": per_seed[0]["cost_fb_passes"],
                            "train_seconds": round(sum(p["train_seconds"] for p in per_seed), 2),
                            "seconds": round(time.perf_counter() - t0, 1),
                            **({"per_seed": per_seed} if len(seeds) > 1 else {})})
            if opts.show_progress:
                print(f"  {entry.name} {values}: val clean {100 * s['clean']:.1f}%, robust {100 * s['robust']:.1f}%"
                      + (f" (mean of seeds {seeds})" if len(seeds) > 1 else ""))
    best = select(configs, entry.tuning.criterion, floor[0] if floor else None)
    selected = configs[best]["values"]
    record = {
        "model": entry.name, "seed": seeds[0], **({"tuning_seeds": seeds} if len(seeds) > 1 else {}),
        **({"clean_floor": {**floor[1], "eligible": [c["values"] for c in configs if c["clean"] >= floor[0] - 1e-9]}}
           if floor else {}),
        "criterion": entry.tuning.criterion, "grid": entry.tuning.grid or _grid_of(entry.tuning.points),
        **({"points": entry.tuning.points} if entry.tuning.points else {}),
        "budget": len(configs) * len(seeds), "base_recipe": base.to_dict(),
        "validation": {"n_examples": int(x_val.shape[0]), "eps": entry.eps, "norm": entry.threat_model,
                       "attacks": [f"PGD-{VALIDATION_STEPS} {a['loss']}" for a in VALIDATION_ATTACKS],
                       "split": "validation split of the task's training data (never trained on)",
                       "index_sha": _index_digest(val_index)},
        "configs": configs, "selected": selected, **provenance(),
    }
    if write:
        root = results_root(entry, "published", results_dir)
        atomic_write_json(tuning_record_file(root, entry.name), record)
        def change(current):
            # the recipe as written plus the selection, every selected field spelled out (as a study writes it)
            recipe = {**current.recipe, **selected}
            # weights trained with another recipe no longer belong to the entry: train and publish it again
            weights = current.weights if recipe == current.recipe else []
            return replace(current.with_recipe(recipe), tuning=replace(current.tuning, selected=selected),
                           weights=weights)

        update_entry_file(entry, change)
    return record


def _grid_of(points: list[dict]) -> dict:
    """The fields a list of settings varies, each with the values it takes (for tables of the settings)."""
    out: dict = {}
    for p in points:
        for k, v in p.items():
            if v not in out.setdefault(k, []):
                out[k].append(v)
    return out


def _index_digest(index: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(index.numpy().tobytes()).hexdigest()[:16]
