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
    progress: Callable[[str, int], None] | None = None


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
                opts: BatteryOptions) -> dict:
    """Attack the correctly classified examples; return clean, per-attack and worst-case results."""
    with channels_last(model, opts.channels_last) as nhwc:
        searcher = BF16Search(model, torch.device(opts.device).type) if opts.amp else model
        n = x.shape[0]
        correct = predict(model, x, device=opts.device) == y.cpu()
        robust = correct.clone()
        per_example = {"index": index.tolist(), "label": y.tolist(), "clean_correct": correct.int().tolist()}
        meta = []
        for attack in attacks:
            todo = torch.nonzero(robust if opts.cascade else correct).flatten()
            outcome = torch.full((n,), -1, dtype=torch.int8)  # -1 not attacked, 0 failed, 1 succeeded
            norms = torch.full((n,), float("nan"))
            start = time.perf_counter()
            for lo in range(0, todo.numel(), opts.batch_size):
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
                if opts.progress:
                    opts.progress(attack.name, b.numel())
            robust &= outcome != 1
            per_example[attack.name] = outcome.tolist()
            per_example[f"norm:{attack.name}"] = [None if v != v else round(v, 6) for v in norms.tolist()]
            meta.append({"name": attack.name, "type": type(attack).__name__, "params": attack.describe(),
                         "seconds": round(time.perf_counter() - start, 3)})
    result = summarize(per_example, meta, opts.cascade)
    result["memory_format"] = "channels_last" if nhwc else "contiguous"
    return result


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
