"""Before a long job, say how long: projected time, disk and download sizes of training or evaluating
an entry, and the whole chain of commands (sources first) an entry without weights needs.

Two projections, both stated with what they rest on:
- on this device: the training step rate (or the forward+backward rate, for evaluation)
  measured on the spot in a few steps through the benchmark's own code (as `perf --paper`);
- on a GPU, from counted FLOPs at an assumed sustained rate (ASSUMED_GPU_TFLOPS), because
  no GPU has measured these entries yet: a planning figure, not a measurement.
Evaluation times are upper bounds: every example is assumed to survive every attack, while
in practice an example leaves the cascade at its first break.
"""

from __future__ import annotations

import functools

import math
from dataclasses import dataclass, field

import torch

ASSUMED_GPU = "H100"
ASSUMED_GPU_TFLOPS = 200.0   # sustained bf16 rate assumed for an H100 (about a fifth of its dense peak): not measured
FROZEN_BODY = {"linear": 1 / 3, "mlp": 1 / 3, "lwf": 4 / 3}  # fwd+bwd passes per example step vs natural training


@dataclass
class Projection:
    what: str
    examples: int
    fb_passes: float                  # full-model forward+backward passes in all
    seconds_here: float | None        # on this device, from a measured rate (None: not measured)
    device: str
    gpu_hours: float                  # from FLOPs at ASSUMED_GPU_TFLOPS
    download_bytes: int = 0
    disk_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        here = f"{_duration(self.seconds_here)} on this {self.device}" if self.seconds_here is not None else \
            "not measured on this device"
        sizes = []
        if self.download_bytes:
            sizes.append(f"download {_size(self.download_bytes)}")
        if self.disk_bytes:
            sizes.append(f"disk {_size(self.disk_bytes)}")
        return (f"{self.what}: {self.fb_passes:.3g} forward+backward passes; {here}; about "
                f"{_duration(self.gpu_hours * 3600)} on an {ASSUMED_GPU} (FLOP count at an assumed "
                f"{ASSUMED_GPU_TFLOPS:g} TFLOP/s, not measured)" + (f"; {', '.join(sizes)}" if sizes else "")
                + "".join(f"; {n}" for n in self.notes))


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 3 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _size(n: int) -> str:
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"


_FLOPS: dict = {}


def forward_flops(entry) -> tuple[float, int]:
    """FLOPs of one forward pass of one example, and the parameter count (counted once per network shape: a
    study's plan asks for every entry, most of which share one)."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmark.data import get_task
    from benchmark.zoo.weights import build_entry_model

    task = get_task(entry.task, relative_to=entry.folder)
    key = (entry.architecture, task.input_shape, task.n_classes, repr(entry.head), repr(entry.source))
    if key not in _FLOPS:
        model = build_entry_model(entry).eval()
        with torch.no_grad(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *task.input_shape))
        _FLOPS[key] = float(counter.get_total_flops()), sum(p.numel() for p in model.parameters())
    return _FLOPS[key]


def _n_train(entry) -> int:
    """Training examples per epoch: n per class times the classes, else the task's training pool (its
    `train_size`, or counted from the data where it is on this machine: the split's task classes, the validation
    split held out)."""
    from benchmark.data import get_task

    task = get_task(entry.task, relative_to=entry.folder)
    if entry.n is not None:
        return entry.n * task.n_classes
    return task.train_size or _pool_size(task.source or task.name, task.validation.n_per_class if task.validation
                                         else None, str(task.pool) if task.pool else "")


def test_size(task) -> int:
    """The task's test split size, where its data is on this machine (0 otherwise)."""
    return _test_size(task.source or task.name)


@functools.lru_cache(maxsize=None)
def _test_size(task_ref: str) -> int:
    from benchmark.data import get_task, load_split
    from benchmark.errors import BenchmarkError

    try:
        return len(load_split(get_task(task_ref), False, download=False))
    except BenchmarkError:
        return 0


@functools.lru_cache(maxsize=None)
def _pool_size(task_ref: str, validation: int | None, pool: str) -> int:
    from benchmark.data import get_task, load_split, training_subset
    from benchmark.errors import BenchmarkError

    task = get_task(task_ref)
    try:
        data = load_split(task, True, download=False)
    except BenchmarkError:
        return 0
    val = task.validation
    return int(training_subset(data.labels, None, 0, val.n_per_class if val else None, val.seed if val else 0,
                               getattr(data, "class_names", None), task.pool).numel())


def _fb_per_example_step(entry, recipe) -> float:
    """Forward+backward passes per training example per optimizer step."""
    if entry.strategy_cls().pgd_steps_per_batch:
        return recipe.attack_steps + 1
    if entry.strategy == "fast_at":
        return 2.0
    return FROZEN_BODY.get(entry.strategy, 1.0)


def _measured_rate(entry, recipe, device: str) -> float:
    """Training examples per second per optimizer step on this device, measured in a few steps."""
    from benchmark.data import get_task
    from benchmark.perf.paper import PaperPerfOptions, ours_rate

    task = get_task(entry.task, relative_to=entry.folder)
    kind = "natural" if entry.strategy in ("linear", "mlp", "retrain_last_k", "finetune", "lwf") else entry.strategy
    strategy = entry.make_strategy(recipe)
    batch = recipe.batch_size if device != "cpu" else min(recipe.batch_size, 8)
    opts = PaperPerfOptions(device=device, batch=batch, steps=strategy.optimizer_steps_per_batch(), warmup=1)
    rate = ours_rate(entry.architecture, kind, opts, task.input_shape, task.n_classes)
    return rate / (FROZEN_BODY.get(entry.strategy, 1.0) if kind == "natural" else 1.0)


def training_projection(entry, device: str = "cpu", measure: bool = True) -> Projection:
    from benchmark.data.datasets import download_size
    from benchmark.data import get_task

    recipe = entry.parsed_recipe()
    strategy = entry.make_strategy(recipe)
    n = _n_train(entry)
    steps = strategy.passes() * math.ceil(n / recipe.batch_size) * strategy.optimizer_steps_per_batch()
    fb = steps * recipe.batch_size * _fb_per_example_step(entry, recipe)
    flops, params = forward_flops(entry)
    seconds = steps * recipe.batch_size / _measured_rate(entry, recipe, device) if measure else None
    task = get_task(entry.task, relative_to=entry.folder)
    return Projection(f"train {entry.name} ({entry.architecture}, {entry.strategy}, {n} examples, {steps} steps)",
                      n, fb, seconds, device, fb * 3 * flops / (ASSUMED_GPU_TFLOPS * 1e12) / 3600,
                      download_size(task.dataset) or 0, params * 4 * 4,
                      ["disk: the weights and an epoch checkpoint with the optimizer's state"])


def _attack_fb(spec: dict, n_classes: int) -> float:
    """Forward+backward passes per example of one attack if the example survives it (an upper bound)."""
    kind = spec["type"]
    targets = min(9, n_classes - 1)
    if kind == "pgd":
        return spec.get("steps", 20) * spec.get("restarts", 1)
    if kind == "apgd":
        runs = targets if spec.get("loss") == "dlr-targeted" else 1
        return (spec.get("steps", 100) + 1) * spec.get("restarts", 1) * runs
    if kind == "deepfool":
        return spec.get("steps", 50) * (1 + min(spec.get("candidates", 10), n_classes)) / 2
    if kind == "cw":
        return spec.get("steps", 100) * len(spec.get("c_values", [1.0]))
    if kind == "autoattack":  # APGD-CE 100, APGD-T and FAB-T 9 x 100, Square 5000 queries (forward only)
        parts = spec.get("attacks") or ["apgd-ce", "apgd-t", "fab-t", "square"]
        cost = {"apgd-ce": 101, "apgd-dlr": 101, "apgd-t": 101 * targets, "fab": 100 * 2, "fab-t": 100 * 2 * targets,
                "square": 5000 / 3}
        return sum(cost.get(a, 101) for a in parts) * max(1, spec.get("apgd_restarts") or 1)
    return 100.0


def evaluation_projection(entry, protocol, device: str = "cpu", n: int | None = None,
                          measure: bool = True) -> Projection:
    from benchmark.data import get_task
    from benchmark.data.datasets import download_size
    from benchmark.perf.measure import fwd_bwd_seconds
    from benchmark.zoo.weights import build_entry_model

    task = get_task(entry.task, relative_to=entry.folder)
    n = n or protocol.n_examples
    per_example = sum(_attack_fb(a, task.n_classes) for a in protocol.attacks)
    from benchmark.evaluation.guards import guard_options

    g = guard_options(protocol, device)  # the guards' PGD runs, Square (forward only) and FAB-T on their slice
    guards = g.n * (10 + g.long_steps * g.long_restarts + 20 + 20 + g.square_queries / 3
                    + (100 * 2 * min(g.fab_targets, task.n_classes - 1) if g.fab_targets else 0))
    fb = n * per_example + guards
    flops, _ = forward_flops(entry)
    seconds = None
    if measure:
        model = build_entry_model(entry).to(device).eval()
        batch = 16 if device == "cpu" else 256
        x = torch.rand(batch, *task.input_shape, device=device)
        y = torch.zeros(batch, dtype=torch.long, device=device)
        seconds = fb * fwd_bwd_seconds(model, x, y, device, repeats=2) / batch
    return Projection(f"evaluate {entry.name} under {protocol.name} ({n} examples, at most {per_example:.0f} passes "
                      "each)", n, fb, seconds, device, fb * 3 * flops / (ASSUMED_GPU_TFLOPS * 1e12) / 3600,
                      download_size(task.dataset) or 0, 0,
                      ["an upper bound: examples leave the cascade at their first break"])


def chain(entry, entries, has_weights) -> list:
    """The entries to train before `entry` can be evaluated, sources first (those without weights)."""
    out = []
    e = entry
    while e is not None:
        if not has_weights(e):
            out.append(e)
        e = entries.get(e.source) if e.source else None
    return list(reversed(out))


def chain_message(entry, entries, has_weights, protocol, device: str = "cuda") -> str:
    """The whole sequence of commands an entry without weights needs, each with its projected GPU time."""
    steps = []
    total = 0.0
    for e in chain(entry, entries, has_weights):
        p = training_projection(e, "cpu", measure=False)
        total += p.gpu_hours
        steps.append(f"`python -m benchmark train --model {e.name} --device {device}` (about "
                     f"{_duration(p.gpu_hours * 3600)})")
    ev = evaluation_projection(entry, protocol, "cpu", measure=False)
    total += ev.gpu_hours
    steps.append(f"`python -m benchmark evaluate --model {entry.name} --device {device}` (at most "
                 f"{_duration(ev.gpu_hours * 3600)})")
    return (f"{entry.name} has no weights yet; run, in order: " + "; then ".join(steps) +
            f". About {_duration(total * 3600)} in all on an {ASSUMED_GPU} (from FLOP counts at an assumed "
            f"{ASSUMED_GPU_TFLOPS:g} TFLOP/s, not measured); add --dry-run to any of them to measure this machine's "
            "rate first")

