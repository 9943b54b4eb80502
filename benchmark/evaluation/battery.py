"""Run a protocol's attack battery on a model: clean, per-attack and worst-case results per example.

The battery runs as a cascade by default: each attack only sees the examples that are
still robust, as in AutoAttack. An example counts as robust only when every attack
failed on it, so the worst case over the battery is the same as running every attack on
every example (up to the attacks' own randomness).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from benchmark.attacks import Attack, perturbation_norm, within_eps
from benchmark.errors import BenchmarkError
from benchmark.models.layout import as_layout, channels_last


@dataclass(frozen=True)
class BatteryOptions:
    eps: float
    norm: str
    batch_size: int = 500
    device: str = "cpu"
    cascade: bool = True
    channels_last: bool = True   # attack a channels-last model: same outcomes, faster kernels
    amp: bool = False            # let attacks search in bf16 autocast; successes still checked in float32
    progress: Callable[..., None] | None = None   # (attack name, examples just attacked, the attack's total)
    keep_adversarial: bool = False  # return the input that broke each broken example (record audits)


def check_inputs(x: torch.Tensor, y: torch.Tensor, num_classes: int, expected_shape: tuple | None = None) -> None:
    if x.dim() != 4:
        raise BenchmarkError(f"images must be a batch (N, C, H, W), got shape {tuple(x.shape)}")
    if expected_shape and tuple(x.shape[1:]) != tuple(expected_shape):
        raise BenchmarkError(f"images have shape {tuple(x.shape[1:])} but the model expects {tuple(expected_shape)}")
    if torch.isnan(x).any():
        raise BenchmarkError("images contain NaN: clean the input data")
    if x.min() < 0 or x.max() > 1:
        raise BenchmarkError(f"pixels must lie in [0, 1], found [{x.min():.3g}, {x.max():.3g}]: divide by 255 and "
                             "do not normalize (the model does)")
    if y.dim() != 1 or y.shape[0] != x.shape[0] or y.min() < 0 or y.max() >= num_classes:
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


class BF16Search(nn.Module):
    """The model under bf16 autocast, returning float32 logits: for the attacks' search only.

    Opt-in (`evaluate --amp`). The battery decides every success with the float32 model,
    so low precision can never count a false break; it can make an attack weaker, which
    is why it is off by default and recorded in each record. APGD instead searches on its
    own bfloat16 copy and asks the float32 model about every iterate near the boundary.
    """

    def __init__(self, model: nn.Module, device_type: str, dtype: torch.dtype = torch.bfloat16):
        super().__init__()
        self.model, self.device_type, self.dtype = model, device_type, dtype
        # a new module starts in training mode, and attack_mode() restores the mode it found, which
        # would switch the wrapped model's batch norms to batch statistics after the first attack
        self.train(model.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(self.device_type, dtype=self.dtype):
            return self.model(x).float()


def run_battery(model: nn.Module, attacks: list[Attack], x: torch.Tensor, y: torch.Tensor, index: torch.Tensor,
                opts: BatteryOptions, checkpoint=None) -> dict:
    """Attack the correctly classified examples; return clean, per-attack and worst-case results.

    With a checkpoint (benchmark.evaluation.checkpoint), progress is saved after every batch
    and a saved state is taken up where it stopped. With `opts.keep_adversarial`, the result's
    "adversarial" holds, for every example an attack broke, the input that broke it.
    """
    from benchmark.evaluation.checkpoint import restore_rng

    state = checkpoint.load() if checkpoint is not None else None
    kept: list[dict] = []
    t_run = time.perf_counter()
    with channels_last(model, opts.channels_last) as nhwc:
        searcher = BF16Search(model, torch.device(opts.device).type) if opts.amp else model
        n = x.shape[0]
        if state is None:
            correct = predict(model, x, device=opts.device) == y.cpu()
            state = {"attack": 0, "next": 0, "robust": correct.clone(), "outcome": None, "norms": None,
                     "seconds": 0.0, "meta": [],
                     "per_example": {"index": index.tolist(), "label": y.tolist(),
                                     "clean_correct": correct.int().tolist()}}
        else:
            restore_rng(state)
        correct = torch.tensor(state["per_example"]["clean_correct"], dtype=torch.bool)
        robust, per_example, meta = state["robust"], state["per_example"], state["meta"]
        before = state.get("total", 0.0)  # seconds spent by earlier, interrupted runs

        def save(**fields):
            checkpoint.save({**fields, "meta": meta, "per_example": per_example,
                             "total": before + time.perf_counter() - t_run})

        for ai, attack in enumerate(attacks):
            if ai < state["attack"]:
                continue
            todo = torch.nonzero(robust if opts.cascade else correct).flatten()
            resumed = ai == state["attack"] and state["outcome"] is not None
            # -1 not attacked, 0 failed, 1 succeeded
            outcome = state["outcome"] if resumed else torch.full((n,), -1, dtype=torch.int8)
            norms = state["norms"] if resumed else torch.full((n,), float("nan"))
            spent = state["seconds"] if resumed else 0.0
            start = time.perf_counter()
            for lo in range(state["next"] if resumed else 0, todo.numel(), opts.batch_size):
                b = todo[lo:lo + opts.batch_size]
                xb, yb = as_layout(x[b].to(opts.device), nhwc), y[b].to(opts.device)
                # an attack with its own low-precision search (APGD) gets the float32 model to judge with
                x_adv = attack.low_precision()(model, xb, yb, index[b]) if opts.amp and attack.has_low_precision \
                    else attack(searcher, xb, yb, index[b])
                if x_adv.shape != xb.shape:
                    raise BenchmarkError(f"attack {attack.name} returned shape {tuple(x_adv.shape)}, "
                                         f"expected {tuple(xb.shape)}")
                with torch.inference_mode():
                    pred_adv = model(x_adv).argmax(1)
                dist = perturbation_norm((x_adv - xb).float(), opts.norm)
                in_range = (x_adv.flatten(1).amin(1) >= -1e-6) & (x_adv.flatten(1).amax(1) <= 1 + 1e-6)
                fooled = (pred_adv != yb) & in_range & torch.isfinite(dist)
                success = fooled & within_eps(dist, opts.eps)
                outcome[b] = success.cpu().to(torch.int8)
                norms[b] = torch.where(fooled, dist, torch.full_like(dist, float("nan"))).cpu()
                if opts.keep_adversarial:
                    part = {"index": index[b][success.cpu()], "x_adv": x_adv[success].float().cpu().contiguous(),
                            "attack": attack.name}
                    if checkpoint is not None:
                        checkpoint.save_adversarial(ai, lo, part["index"], part["x_adv"], attack.name)
                    else:
                        kept.append(part)
                if checkpoint is not None:
                    save(attack=ai, next=lo + opts.batch_size, robust=robust, outcome=outcome, norms=norms,
                         seconds=spent + time.perf_counter() - start)
                if opts.progress:
                    opts.progress(attack.name, b.numel(), todo.numel())
            robust &= outcome != 1
            per_example[attack.name] = outcome.tolist()
            per_example[f"norm:{attack.name}"] = [None if v != v else round(v, 6) for v in norms.tolist()]
            meta.append({"name": attack.name, "type": type(attack).__name__, "params": attack.describe(),
                         "seconds": round(spent + time.perf_counter() - start, 3)})
            if checkpoint is not None:
                save(attack=ai + 1, next=0, robust=robust, outcome=None, norms=None, seconds=0.0)
    result = summarize(per_example, meta, opts.cascade)
    result["seconds"] = before + time.perf_counter() - t_run
    result["memory_format"] = "channels_last" if nhwc else "contiguous"
    if opts.keep_adversarial:
        result["adversarial"] = merge_adversarial(checkpoint.adversarial_parts() if checkpoint is not None else kept)
    return result


def merge_adversarial(parts: list[dict]) -> dict:
    """One set of adversarial inputs, in test-set index order, with the attack that found each."""
    if not parts or not any(p["index"].numel() for p in parts):
        return {"index": torch.zeros(0, dtype=torch.long), "x_adv": torch.zeros(0), "attack": []}
    index = torch.cat([p["index"] for p in parts])
    x_adv = torch.cat([p["x_adv"] for p in parts])
    names = [p["attack"] for p in parts for _ in range(p["index"].numel())]
    order = torch.argsort(index)
    return {"index": index[order], "x_adv": x_adv[order], "attack": [names[i] for i in order.tolist()]}


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
