"""The fewer-passes battery, measured: `python -m benchmark perf --passes` and `--strength`.

- `--passes` runs v3 (`fmnist-linf-quick-v3`) and v4 (`fmnist-linf-quick`) side by side on the same
  published models, battery and guards, and counts the rows the model runs forward and the rows an input
  gradient runs backward through it (`units` = forward rows + backward rows: a forward+backward row costs
  about two forward-only rows), with the wall time of each. It does the same for the full protocol
  (`fmnist-linf-reference`, the standard AutoAttack, against `fmnist-linf` v2) on a few models, and projects
  the full protocols' counts to 10 and 100 classes from the per-example cost of each attack.
- `--strength` compares v4's records with v3's example by example over every published model, against
  how much v3 disagrees with itself: v3 with another seed of its attacks (attack_seed 1), run on the
  examples v3 broke (the only ones that can count as missed). PGD's random starts are drawn per example, so
  they are exactly a reseeded full run's; APGD's are drawn per batch, another draw of the same kind.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch

V3 = "fmnist-linf-quick-v3"
V4 = "fmnist-linf-quick"
V3_RECORDS = Path("archive") / V3   # under the results folder: v3's records, kept as they were committed
FULL_REFERENCE, FULL = "fmnist-linf-reference", "fmnist-linf"


class RowCounter:
    """Forward rows (with or without an input gradient) and backward rows through a model."""

    def __init__(self, model: torch.nn.Module):
        self.forward = self.backward = 0
        self._hooks = [model.register_forward_pre_hook(self._fwd), model.register_full_backward_hook(self._bwd)]

    def _fwd(self, module, args) -> None:
        self.forward += args[0].shape[0]

    def _bwd(self, module, grad_in, grad_out) -> None:
        self.backward += grad_out[0].shape[0]

    @property
    def units(self) -> int:
        return self.forward + self.backward

    def close(self) -> None:
        for h in self._hooks:
            h.remove()


def counted_evaluation(model, protocol, x, y, index, device: str, guards: bool = True) -> dict:
    """One evaluation (with its guards): seconds, forward and backward rows, and the result."""
    from benchmark.evaluation import EvalOptions, evaluate_model

    counter = RowCounter(model)
    try:
        t0 = time.perf_counter()
        result = evaluate_model(model, protocol, x, y, index, EvalOptions(device=device, guards=guards))
        seconds = time.perf_counter() - t0
    finally:
        counter.close()
    return {"seconds": seconds, "forward": counter.forward, "backward": counter.backward, "units": counter.units,
            "result": result}


def _outcome_sets(per_example: dict) -> tuple[set[int], set[int]]:
    """(examples broken, examples robust) of an evaluation's per-example outcomes."""
    broken = {i for i, c, r in zip(per_example["index"], per_example["clean_correct"], per_example["robust"])
              if c and not r}
    return broken, {i for i, r in zip(per_example["index"], per_example["robust"]) if r}


def compare_passes(models: list[tuple[str, int]], device: str, data_dir=None, cache=None, old: str = V3,
                   new: str = V4, n: int | None = None) -> list[dict]:
    """Two protocols side by side on each published model (the old one first, then the new, on the same data):
    units, seconds, robust accuracy, the examples the old one broke that the new one left robust, the flags."""
    from dataclasses import replace

    from benchmark.evaluation import load_protocol
    from benchmark.perf.measure import _published_quick

    p_old, p_new = load_protocol(old), load_protocol(new)
    if n is not None:
        p_old, p_new = replace(p_old, n_examples=n), replace(p_new, n_examples=n)
    rows = []
    for name, seed, model, x, y, index in _published_quick(models, device, data_dir, cache, protocol=p_new):
        a = counted_evaluation(model, p_old, x, y, index, device)
        b = counted_evaluation(model, p_new, x, y, index, device)
        broken_old, _ = _outcome_sets(a["result"].per_example)
        _, robust_new = _outcome_sets(b["result"].per_example)
        rows.append({"model": name, "seed": seed, **{f"old_{k}": v for k, v in a.items() if k != "result"},
                     **{f"new_{k}": v for k, v in b.items() if k != "result"},
                     "old_robust": a["result"].robust_accuracy, "new_robust": b["result"].robust_accuracy,
                     "missed": sorted(broken_old & robust_new),
                     "old_flagged": bool(a["result"].guards["flagged"]),
                     "new_flagged": bool(b["result"].guards["flagged"])})
    return rows


def reseed_misses(name: str, seed: int, v3_record: dict, device: str = "cpu", data_dir=None, cache=None) -> list[int]:
    """The examples v3 broke that v3 with attack seed 1 leaves robust (run on those examples only)."""
    from dataclasses import replace

    from benchmark.evaluation import EvalOptions, evaluate_model, load_protocol
    from benchmark.perf.measure import _published_quick

    broken, _ = _outcome_sets(v3_record["per_example"])
    if not broken:
        return []
    reseeded = replace(load_protocol(V3), attack_seed=1)
    for _, _, model, x, y, index in _published_quick([(name, seed)], device, data_dir, cache):
        pos = [k for k, i in enumerate(index.tolist()) if i in broken]
        result = evaluate_model(model, reseeded, x[pos], y[pos], index[pos], EvalOptions(device=device, guards=False))
        return sorted(i for i, r in zip(result.per_example["index"], result.per_example["robust"]) if r)
    return []


def _reseed_job(args) -> tuple[str, int, list[int]]:
    name, seed, path, device = args
    torch.set_num_threads(1)
    return name, seed, reseed_misses(name, seed, json.loads(Path(path).read_text()), device)


def strength(results: Path, jobs: int = 1, device: str = "cpu", done: dict | None = None,
             on_model=None) -> list[dict]:
    """Per published model with a v3 and a v4 record: what v4 missed, what v3 reseeded missed, the flags.

    `done` holds reseed results already computed (model:seed -> missed list), reused as they are; `on_model`
    is called with each new one (to keep it)."""
    import multiprocessing as mp

    pairs = []
    for new_path in sorted((Path(results) / V4).glob("*/seed*.json")):
        old_path = Path(results) / V3_RECORDS / new_path.parent.name / new_path.name
        if old_path.is_file():
            pairs.append((new_path.parent.name, int(new_path.stem[4:]), old_path, new_path))
    done = dict(done or {})
    todo = [(n, s, str(o), device) for n, s, o, _ in pairs if f"{n}:{s}" not in done]
    if todo:
        ctx = mp.get_context("spawn")
        with ctx.Pool(max(1, jobs)) as pool:
            for name, seed, missed in pool.imap_unordered(_reseed_job, todo):
                done[f"{name}:{seed}"] = missed
                if on_model:
                    on_model(name, seed, missed)
    rows = []
    for name, seed, old_path, new_path in pairs:
        old, new = json.loads(old_path.read_text()), json.loads(new_path.read_text())
        old_broken, old_robust = _outcome_sets(old["per_example"])
        new_broken, new_robust = _outcome_sets(new["per_example"])
        rows.append({"model": name, "seed": seed, "n": old["n_examples"], "v3": old["robust_accuracy"],
                     "v4": new["robust_accuracy"], "missed_by_new": sorted(old_broken & new_robust),
                     "broken_only_by_new": sorted(old_robust & new_broken),
                     "missed_by_reseed": done[f"{name}:{seed}"],
                     "v3_flagged": bool(old["guards"]["flagged"]), "v4_flagged": bool(new["guards"]["flagged"])})
    return rows


def strength_summary(rows: list[dict]) -> dict:
    """The issue's three tests over all models.

    v3's reseed spread is the largest rise in robust accuracy that reseeding v3's attacks caused on any model
    (examples it missed, of n); a model fails the second test when v4 is above v3 by more than that."""
    spread = max((len(r["missed_by_reseed"]) / r["n"] for r in rows), default=0.0)
    return {
        "models": len(rows),
        "missed_by_new": sum(len(r["missed_by_new"]) for r in rows),
        "missed_by_reseed": sum(len(r["missed_by_reseed"]) for r in rows),
        "broken_only_by_new": sum(len(r["broken_only_by_new"]) for r in rows),
        "reseed_spread": spread,
        "above_spread": [r for r in rows if r["v4"] - r["v3"] > spread + 1e-9],
        # the strictest reading: above v3 by more than that model's own reseed rise
        "above_own_reseed": [r for r in rows if len(r["missed_by_new"]) - len(r["broken_only_by_new"])
                             > len(r["missed_by_reseed"])],
        "flags_differ": [r for r in rows if r["v3_flagged"] != r["v4_flagged"]],
        "v3_flagged": sum(r["v3_flagged"] for r in rows), "v4_flagged": sum(r["v4_flagged"] for r in rows),
    }


def attack_units(model, x, y, index, device: str) -> dict:
    """Per example that survives everything, the units of each attack of the standard AutoAttack (the reference
    code) and of the fewer-passes APGD (fmnist-linf v2's), counted on (x, y): examples every attack fails on."""
    from benchmark.attacks import ATTACKS
    from benchmark.evaluation import load_protocol

    out = {}
    for sub in ("apgd-ce", "apgd-t", "fab-t", "square"):
        attack = ATTACKS.get("autoattack")("aa", "Linf", load_protocol(FULL).eps, 0, version="custom", attacks=[sub],
                                           apgd_restarts=1)
        counter = RowCounter(model)
        attack(model, x.to(device), y.to(device), index)
        counter.close()
        out[f"reference {sub}"] = counter.units / x.shape[0]
    for spec in load_protocol(FULL).attacks:
        if spec["type"] != "apgd":
            continue
        params = {k: v for k, v in spec.items() if k not in ("name", "type")}
        attack = ATTACKS.get("apgd")(spec["name"], "Linf", load_protocol(FULL).eps, 0, **params)
        counter = RowCounter(model)
        attack(model, x.to(device), y.to(device), index)
        counter.close()
        out[f"new {spec['name']}"] = counter.units / x.shape[0]
    return out


def projected_full_passes(per_example: dict, n_classes_measured: int, n_classes: int, survivors: float,
                          slice_share: float) -> dict:
    """The standard AutoAttack's units per evaluated example against fmnist-linf v2's (cifar-linf v3's) for a
    task of `n_classes`, from per-attack units measured on a task of `n_classes_measured`: the targeted attacks
    scale with their min(9, classes - 1) targets; `survivors` is the share of examples every attack fails on
    (an upper bound on what reaches the last attacks), `slice_share` the guards' slice over the evaluation."""
    t_meas, t = min(9, n_classes_measured - 1), min(9, n_classes - 1)
    ref = (per_example["reference apgd-ce"] + per_example["reference apgd-t"] * t / t_meas
           + per_example["reference fab-t"] * t / t_meas + per_example["reference square"])
    new = (per_example["new apgd-ce"] + per_example["new apgd-t"] * t / t_meas
           + slice_share * (per_example["reference fab-t"] * t / t_meas + per_example["reference square"]))
    return {"classes": n_classes, "reference": survivors * ref, "new": survivors * new, "ratio": new / ref}
