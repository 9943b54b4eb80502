"""Run a protocol's attack battery on a model and build the evaluation record.

The battery runs as a cascade by default: each attack only sees the examples that are
still robust, as in AutoAttack. An example counts as robust only when every attack
failed on it, so the worst case over the battery is the same as running every attack on
every example (up to the attacks' own randomness).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Callable

import torch
from torch import nn

from benchmark.attacks import Attack, perturbation_norm, within_eps
from benchmark.errors import BenchmarkError

SCHEMA_VERSION = 1


def check_inputs(x: torch.Tensor, y: torch.Tensor, num_classes: int, expected_shape: tuple | None = None) -> None:
    if x.dim() != 4:
        raise BenchmarkError(f"images must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if expected_shape and tuple(x.shape[1:]) != tuple(expected_shape):
        raise BenchmarkError(f"images have shape {tuple(x.shape[1:])} but the model expects {tuple(expected_shape)}")
    if torch.isnan(x).any():
        raise BenchmarkError("images contain NaN: clean the input data")
    if x.min() < 0 or x.max() > 1:
        raise BenchmarkError(f"pixels must lie in [0, 1], found [{x.min():.3g}, {x.max():.3g}]: divide by 255 and do not normalize (the model does)")
    if y.shape[0] != x.shape[0] or y.min() < 0 or y.max() >= num_classes:
        raise BenchmarkError(f"labels must be {x.shape[0]} integers in [0, {num_classes})")


@torch.inference_mode()
def predict(model: nn.Module, x: torch.Tensor, batch_size: int = 1024, device: str = "cpu") -> torch.Tensor:
    was = model.training
    model.eval()
    out = torch.cat([model(x[i:i + batch_size].to(device)).argmax(1).cpu() for i in range(0, x.shape[0], batch_size)])
    model.train(was)
    return out


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, device: str = "cpu") -> float:
    return float((predict(model, x, device=device) == y.cpu()).float().mean())


def run_battery(model: nn.Module, attacks: list[Attack], x: torch.Tensor, y: torch.Tensor,
                index: torch.Tensor, eps: float, norm: str, batch_size: int = 500, device: str = "cpu",
                cascade: bool = True, progress: Callable | None = None, fast_layout: bool = True,
                amp: bool = False) -> dict:
    """Attack the correctly classified examples; return clean, per-attack and worst-case results.

    `fast_layout` runs the attacks on a channels-last model; `amp` lets them search in
    bf16 autocast (see `benchmark.models.layout`). Successes are always checked in float32.
    """
    from benchmark.models.layout import Autocast, channels_last

    with channels_last(model, fast_layout) as active:
        searcher = Autocast(model, torch.device(device).type) if amp else model
        return _run_battery(model, searcher, attacks, x, y, index, eps, norm, batch_size, device, cascade, progress,
                            active)


def _run_battery(model, searcher, attacks, x, y, index, eps, norm, batch_size, device, cascade, progress,
                 nhwc) -> dict:
    from benchmark.models.layout import as_layout

    n = x.shape[0]
    clean_pred = predict(model, x, device=device)
    correct = clean_pred == y.cpu()
    robust = correct.clone()
    per_example = {"index": index.tolist(), "label": y.tolist(), "clean_correct": correct.int().tolist()}
    meta = []
    for attack in attacks:
        todo = torch.nonzero(robust if cascade else correct).flatten()
        outcome = torch.full((n,), -1, dtype=torch.int8)  # -1 not attacked, 0 failed, 1 succeeded
        norms = torch.full((n,), float("nan"))
        start = time.perf_counter()
        for lo in range(0, todo.numel(), batch_size):
            b = todo[lo:lo + batch_size]
            xb, yb = as_layout(x[b].to(device), nhwc), y[b].to(device)
            x_adv = attack(searcher, xb, yb, index[b])
            if x_adv.shape != xb.shape:
                raise BenchmarkError(f"attack {attack.name} returned shape {tuple(x_adv.shape)}, expected {tuple(xb.shape)}")
            with torch.inference_mode():
                pred_adv = model(x_adv).argmax(1)
            dist = perturbation_norm((x_adv - xb).float(), norm)
            in_range = (x_adv.flatten(1).amin(1) >= -1e-6) & (x_adv.flatten(1).amax(1) <= 1 + 1e-6)
            fooled = (pred_adv != yb) & in_range & torch.isfinite(dist)
            success = fooled & within_eps(dist, eps)
            outcome[b] = success.cpu().to(torch.int8)
            norms[b] = torch.where(fooled, dist, torch.full_like(dist, float("nan"))).cpu()
            if progress:
                progress(attack.name, b.numel())
        robust &= outcome != 1
        per_example[attack.name] = outcome.tolist()
        per_example[f"norm:{attack.name}"] = [None if v != v else round(v, 6) for v in norms.tolist()]
        meta.append({"name": attack.name, "type": type(attack).__name__, "params": attack.describe(),
                     "seconds": round(time.perf_counter() - start, 3)})
    return summarize(per_example, meta, cascade)


def summarize(per_example: dict, meta: list[dict], cascade: bool) -> dict:
    """Clean, per-attack and worst-case accuracy from per-example outcomes alone.

    Single-process and sharded evaluations both go through here, so equal per-example
    outcomes give equal records.
    """
    correct = torch.tensor(per_example["clean_correct"], dtype=torch.bool)
    robust = correct.clone()
    per_attack = []
    for m in meta:
        outcome = torch.tensor(per_example[m["name"]], dtype=torch.int8)
        broken = outcome == 1
        robust &= ~broken
        found = torch.tensor([v for v in per_example[f"norm:{m['name']}"] if v is not None])
        per_attack.append({
            **m,
            "n_attacked": int((outcome >= 0).sum()),
            "n_success": int(broken.sum()),
            "robust_accuracy": float((robust if cascade else (correct & ~broken)).float().mean()),
            "median_norm": float(found.median()) if found.numel() else None,
            "n_fooled_any_norm": int(found.numel()),
        })
    per_example["robust"] = robust.int().tolist()
    return {"clean_accuracy": float(correct.float().mean()), "robust_accuracy": float(robust.float().mean()),
            "attacks": per_attack, "per_example": per_example}


def merge_shards(parts: list, attacks_meta: list[dict], cascade: bool) -> dict:
    """Put per-example results from every rank back in subset order and summarize them."""
    n = sum(len(pos) for pos, _, _ in parts)
    keys = list(parts[0][1])
    merged = {k: [None] * n for k in keys if k != "robust"}
    for positions, per_example, _ in parts:
        for k in merged:
            for p, v in zip(positions, per_example[k]):
                merged[k][p] = v
    meta = [{k: v for k, v in a.items() if k in ("name", "type", "params")} for a in attacks_meta]
    for i, m in enumerate(meta):
        m["seconds"] = max(secs[i] for _, _, secs in parts)  # ranks run side by side
    return summarize(merged, meta, cascade)


def evaluate_model(model: nn.Module, protocol, x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
                   batch_size: int = 500, device: str = "cpu", cascade: bool | None = None,
                   show_progress: bool = True, eps: float | None = None, fast_layout: bool = True,
                   amp: bool = False) -> dict:
    """Evaluate under the protocol; returns the result part of a record."""
    from tqdm.auto import tqdm

    from benchmark.models.layout import has_conv

    eps = protocol.eps if eps is None else eps
    attacks = protocol.build_attacks(eps)
    cascade = protocol.cascade if cascade is None else cascade
    from benchmark.distributed import all_gather, setup, shard

    ctx = setup(device)
    bar = tqdm(total=len(attacks), desc="attacks", unit="attack", disable=not (show_progress and ctx.is_main),
               leave=False)
    current = {"name": None}

    def progress(name: str, k: int):
        if name != current["name"]:
            if current["name"] is not None:
                bar.update(1)
            current["name"] = name
            bar.set_postfix_str(name)

    model = model.to(device).eval()
    t0 = time.perf_counter()
    mine = shard(ctx, x.shape[0])  # under torchrun each rank attacks its share of the fixed subset
    part = run_battery(model, attacks, x[mine], y[mine], index[mine], eps, protocol.threat_model, batch_size,
                       device, cascade, progress if ctx.is_main else None, fast_layout, amp)
    parts = all_gather(ctx, (mine.tolist(), part["per_example"], [a["seconds"] for a in part["attacks"]]))
    result = merge_shards(parts, part["attacks"], cascade)
    bar.update(bar.total - bar.n)
    bar.close()
    result["seconds"] = round(time.perf_counter() - t0, 3)
    result["eps"] = eps
    result["cascade"] = cascade
    result["memory_format"] = "channels_last" if fast_layout and has_conv(model) else "contiguous"
    result["attack_precision"] = "bf16 autocast (successes checked in float32)" if amp else "float32"
    return result


def record_header(model_name: str, protocol, device: str, seed: int) -> dict:
    from benchmark.io import git_commit, library_versions

    return {
        "schema": SCHEMA_VERSION,
        "complete": True,
        "model": model_name,
        "protocol": protocol.to_dict(),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device,
        "seed": seed,
        "git_commit": git_commit(),
        "versions": library_versions(),
    }


def summary_rows(record: dict) -> list[tuple[str, str]]:
    rows = [("clean", f"{100 * record['clean_accuracy']:.1f}%")]
    for a in record["attacks"]:
        extra = f"  (median norm of found perturbations {a['median_norm']:.3f})" if a.get("median_norm") is not None and a["type"] in ("DeepFool", "CarliniWagnerL2") else ""
        rows.append((a["name"], f"{100 * a['robust_accuracy']:.1f}%  [{a['n_success']}/{a['n_attacked']} broken, {a['seconds']:.1f}s]{extra}"))
    rows.append(("worst case", f"{100 * record['robust_accuracy']:.1f}%"))
    return rows
