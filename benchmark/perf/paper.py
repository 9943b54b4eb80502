"""Paper-scale throughput on synthetic tensors (no dataset needed): `python -m benchmark perf --paper`.

For each paper architecture (WRN-28-10 / WRN-32-10 and PreAct ResNet-18 on CIFAR-shaped
inputs, ResNet-50 on ImageNet-shaped inputs) it measures examples per second of a training
step of every strategy through the benchmark's own code path (strategy + training run),
the same step in a bare hand-written torch loop (so ours/bare shows our overhead), and the
attack battery's throughput (our PGD, the reference APGD-CE and APGD-T). It then projects
the wall time of each paper zoo entry from its recipe.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

PAPER_MODELS = {  # architecture: (input shape, classes)
    "wrn_28_10": ((3, 32, 32), 10),
    "wrn_32_10": ((3, 32, 32), 100),
    "preact_resnet18": ((3, 32, 32), 10),
    "resnet50": ((3, 224, 224), 1000),
}
TRAINING = ("natural", "pgd_at", "free_at", "fast_at")
EPS = 8 / 255


@dataclass(frozen=True)
class PaperPerfOptions:
    device: str = "cpu"
    batch: int = 128
    steps: int = 10               # timed optimizer steps (after warm-up)
    warmup: int = 3
    amp: bool = True              # fp16 autocast + loss scaling on CUDA (as training does)
    channels_last: bool = True
    compile: bool = False         # torch.compile the model first


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _examples_per_second(step, per_call: int, opts: PaperPerfOptions) -> float:
    """Training examples per second per optimizer step, `step()` making `per_call` optimizer steps."""
    for _ in range(max(1, math.ceil(opts.warmup / per_call))):
        step()
    _sync(opts.device)
    calls = max(1, math.ceil(opts.steps / per_call))
    t0 = time.perf_counter()
    for _ in range(calls):
        step()
    _sync(opts.device)
    return opts.batch * calls * per_call / (time.perf_counter() - t0)


def _model(arch: str, opts: PaperPerfOptions, shape=None, classes=None):
    from benchmark.models import create_model

    if shape is None:
        shape, classes = PAPER_MODELS[arch]
    torch.manual_seed(0)
    model = create_model(arch, classes, shape[0]).to(opts.device)
    if opts.channels_last:
        model = model.to(memory_format=torch.channels_last)
    return model, shape, classes


def _batch(shape, classes, opts: PaperPerfOptions):
    g = torch.Generator().manual_seed(0)
    x = torch.rand((opts.batch, *shape), generator=g).to(opts.device)
    if opts.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, torch.randint(0, classes, (opts.batch,), generator=g).to(opts.device)


def _recipe(strategy: str, batch: int):
    from benchmark.strategies import Recipe

    return Recipe(epochs=8, batch_size=batch, lr=0.1, eps=EPS if strategy != "natural" else None, attack_steps=7,
                  replays=8)


def ours_rate(arch: str, strategy: str, opts: PaperPerfOptions, shape=None, classes=None) -> float:
    """Examples per second per optimizer step, through the benchmark's training code path."""
    from benchmark.strategies import STRATEGIES, Batch
    from benchmark.training.runner import TrainingRun

    model, shape, classes = _model(arch, opts, shape, classes)
    x, y = _batch(shape, classes, opts)
    recipe = _recipe(strategy, opts.batch)
    strat = STRATEGIES.get(strategy)(recipe, EPS, "Linf")
    forward = torch.compile(model) if opts.compile else model
    opt = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=0.9, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    use_amp = opts.amp and opts.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    run = TrainingRun(model, forward, None, 0, 0, [0.0] * model.num_blocks + [1.0], opt, sched, scaler)
    index = torch.arange(opts.batch)
    per_call = strat.optimizer_steps_per_batch()

    def step():
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            strat.train_batch(run, Batch(x, y, index))

    return _examples_per_second(step, per_call, opts)


def bare_rate(arch: str, strategy: str, opts: PaperPerfOptions) -> float:
    """The same step written by hand in plain torch (the reference for our overhead)."""
    model, shape, classes = _model(arch, opts)
    x, y = _batch(shape, classes, opts)
    forward = torch.compile(model) if opts.compile else model
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    use_amp = opts.amp and opts.device.startswith("cuda")
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    delta = torch.zeros_like(x)
    alpha, steps, replays = 2.5 * EPS / 7, 7, 8

    def train_on(inputs):
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            loss = F.cross_entropy(forward(inputs), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    def input_grad(inputs):
        inputs = inputs.detach().requires_grad_(True)
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            loss = F.cross_entropy(forward(inputs), y)
        return torch.autograd.grad(loss, inputs)[0]

    def step():
        nonlocal delta
        if strategy == "natural":
            train_on(x)
        elif strategy == "pgd_at":
            model.eval()
            d = (torch.rand_like(x) * 2 - 1) * EPS
            for _ in range(steps):
                d = (d + alpha * input_grad(x + d).sign()).clamp(-EPS, EPS)
                d = (x + d).clamp(0, 1) - x
            model.train()
            train_on(x + d)
        elif strategy == "fast_at":
            model.eval()
            d = (torch.rand_like(x) * 2 - 1) * EPS
            d = (d + 1.25 * EPS * input_grad(x + d).sign()).clamp(-EPS, EPS)
            model.train()
            train_on((x + d).clamp(0, 1))
        elif strategy == "free_at":
            for _ in range(replays):
                d = delta.clone().requires_grad_(True)
                with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                    loss = F.cross_entropy(forward((x + d).clamp(0, 1)), y)
                opt.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
                delta = (d.detach() + EPS * d.grad.sign()).clamp(-EPS, EPS)

    per_call = replays if strategy == "free_at" else 1
    model.train()
    return _examples_per_second(step, per_call, opts)


def attack_rates(arch: str, opts: PaperPerfOptions, iters: int = 20) -> dict[str, float]:
    """Examples per second per attack iteration: our PGD and the reference APGD-CE / APGD-T."""
    from benchmark.attacks import PGD, attack_mode

    model, shape, classes = _model(arch, opts)
    model.eval()
    x, y = _batch(shape, classes, opts)
    out = {}
    pgd = PGD("pgd", "Linf", EPS, steps=iters, return_last=True)
    pgd(model, x, y)  # warm-up
    _sync(opts.device)
    t0 = time.perf_counter()
    pgd(model, x, y)
    _sync(opts.device)
    out["pgd (ours)"] = opts.batch * iters / (time.perf_counter() - t0)
    from pyautoattack.autopgd_base import APGDAttack, APGDAttack_targeted

    from benchmark.models.layout import for_reference_code

    reference_model, x_ref = for_reference_code(model, x)

    for name, cls, kw in (("apgd-ce", APGDAttack, {}), ("apgd-t", APGDAttack_targeted,
                                                        {"n_target_classes": 1})):
        atk = cls(reference_model, n_iter=iters, norm="Linf", eps=EPS, n_restarts=1, seed=0, device=opts.device, **kw)
        with attack_mode(model):
            _sync(opts.device)
            t0 = time.perf_counter()
            atk.perturb(x_ref, y)
            _sync(opts.device)
        out[name] = opts.batch * iters / (time.perf_counter() - t0)
    return out


def project_entries(rates: dict, entries=None) -> list[dict]:
    """Projected wall time of each paper zoo entry whose architecture and strategy were measured."""
    from benchmark.data import get_task
    from benchmark.zoo import load_entries

    entries = entries or load_entries()
    rows = []
    for e in entries.values():
        if "paper" not in e.suites or e.strategy == "external":
            continue
        kind = "natural" if e.strategy in ("linear", "mlp", "retrain_last_k", "finetune", "lwf") else e.strategy
        rate = rates.get((e.architecture, kind))
        task = get_task(e.task, relative_to=e.folder)
        if rate is None or not task.train_size:
            continue
        recipe = e.parsed_recipe()
        strategy = e.make_strategy(recipe)
        n = task.train_size if e.n is None else e.n * task.n_classes
        optimizer_steps = strategy.passes() * math.ceil(n / recipe.batch_size) * strategy.optimizer_steps_per_batch()
        factor = {"lwf": 1.5, "linear": 0.34, "mlp": 0.34}.get(e.strategy, 1.0)  # frozen body: forward only
        seconds = optimizer_steps * recipe.batch_size / rate * factor
        rows.append({"model": e.name, "architecture": e.architecture, "strategy": e.strategy, "examples": n,
                     "optimizer_steps": optimizer_steps, "hours": seconds / 3600})
    return sorted(rows, key=lambda r: r["model"])


def run(archs: list[str], strategies: list[str], opts: PaperPerfOptions, log=print) -> dict:
    import platform

    import torchvision

    device_name = torch.cuda.get_device_name() if opts.device.startswith("cuda") else platform.processor() or "cpu"
    log(f"perf --paper on {device_name} ({opts.device}); torch {torch.__version__}, torchvision "
        f"{torchvision.__version__}, cuda {torch.version.cuda}; batch {opts.batch}, {opts.steps} timed steps, "
        f"amp {opts.amp and opts.device.startswith('cuda')}, channels-last {opts.channels_last}, "
        f"compile {opts.compile}")
    rates = {}
    for arch in archs:
        shape, _ = PAPER_MODELS[arch]
        log(f"\n{arch} on {shape} inputs: training examples/s per optimizer step (ours, bare, ours/bare time)")
        for strategy in strategies:
            ours, bare = ours_rate(arch, strategy, opts), bare_rate(arch, strategy, opts)
            rates[(arch, strategy)] = ours
            log(f"  {strategy:<9} ours {ours:9.1f}  bare {bare:9.1f}  ours/bare {bare / ours:5.2f}x time")
        att = attack_rates(arch, opts)
        log("  attacks, examples x iterations per second: " + ", ".join(f"{k} {v:.1f}" for k, v in att.items()))
    rows = project_entries(rates)
    if rows:
        log("\nprojected training time of the paper's zoo entries (from their recipes, measured step rates):")
        for r in rows:
            log(f"  {r['model']:<28} {r['architecture']:<16} {r['strategy']:<15} {r['optimizer_steps']:>8} steps "
                f"{r['hours']:8.2f} h")
    return {"rates": {f"{a}/{s}": v for (a, s), v in rates.items()}, "projections": rows}
