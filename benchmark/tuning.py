"""Hyperparameter selection on validation data carved from the target's training split.

Every arm (transfer strategy or baseline) gets the same budget: the configurations of its
entry's `tuning.grid` (e.g. 2 learning rates x 2 epoch counts). Each is trained once
(the entry's first seed) on the training pool, which never contains the validation
split, and scored on the whole validation split: clean accuracy and robust accuracy
under PGD-20 with cross-entropy and with the CW margin loss (worst case of the two) at the
entry's eps. The best configuration by the entry's criterion (robust accuracy by default;
ties go to clean accuracy, then to the earlier configuration) becomes the entry's recipe.
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


def select(configs: list[dict], criterion: str) -> int:
    other = "clean" if criterion == "robust" else "robust"
    best = max(range(len(configs)), key=lambda i: (configs[i][criterion], configs[i][other], -i))
    return best


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
    seed = entry.seeds[0]
    base = entry.parsed_recipe()
    x_val, y_val, val_index = validation_data(entry, opts.data_dir)
    configs = []
    with tempfile.TemporaryDirectory(prefix=f"rtb-tune-{entry.name}-") as scratch:
        for values in grid_configs(entry.tuning):
            recipe = base.with_values(**values)
            t0 = time.perf_counter()
            scratch_opts = replace(opts, cache=scratch, source_cache=cache_dir(opts.cache), resume=False)
            rec = train_entry(entry, seed, scratch_opts, recipe=recipe, entries=entries)
            model, _ = load_model_and_weights(entry, seed, "trained", opts.device, scratch, entries)
            s = score(model, x_val, y_val, entry.eps, entry.threat_model, opts.device)
            configs.append({"values": values, **s, "cost_fb_passes": rec["cost"]["fb_passes"],
                            "train_seconds": rec["wall_seconds"], "seconds": round(time.perf_counter() - t0, 1)})
            if opts.show_progress:
                print(f"  {entry.name} {values}: val clean {100 * s['clean']:.1f}%, robust {100 * s['robust']:.1f}%")
    best = select(configs, entry.tuning.criterion)
    selected = configs[best]["values"]
    record = {
        "model": entry.name, "seed": seed, "criterion": entry.tuning.criterion, "grid": entry.tuning.grid,
        "budget": len(configs), "base_recipe": base.to_dict(),
        "validation": {"n_examples": int(x_val.shape[0]), "eps": entry.eps, "norm": entry.threat_model,
                       "attacks": [f"PGD-{VALIDATION_STEPS} {a['loss']}" for a in VALIDATION_ATTACKS],
                       "split": "validation split of the task's training data (never trained on)",
                       "index_sha": _index_digest(val_index)},
        "configs": configs, "selected": selected, **provenance(),
    }
    if write:
        root = results_root(entry, "published", results_dir)
        atomic_write_json(tuning_record_file(root, entry.name), record)
        update_entry_file(entry, lambda current: replace(
            current.with_recipe(base.with_values(**selected)), tuning=replace(current.tuning, selected=selected)))
    return record


def _index_digest(index: torch.Tensor) -> str:
    import hashlib

    return hashlib.sha256(index.numpy().tobytes()).hexdigest()[:16]
