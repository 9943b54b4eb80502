"""Train a zoo entry from its recipe: deterministic, checkpointed every epoch, resumable.

Frozen parts (linear/MLP heads, retrain-last-k) are run once over the training set and
their outputs cached, since they never change; only the trained part runs per epoch.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_torch_save, atomic_write, atomic_write_json, sha256_file
from benchmark.training.cost import CostMeter, block_mac_shares
from benchmark.training.objectives import OBJECTIVES, free_at_batch
from benchmark.zoo import (ZooEntry, build_entry_model, cache_dir, load_model, training_record_path, verify_weights,
                           weights_path)


def checkpoint_path(entry: ZooEntry, cache=None) -> Path:
    return cache_dir(cache) / "checkpoints" / f"{entry.name}.pt"


def _reinit(module: nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def prepare_model(entry: ZooEntry, cache, device: str, seed: int):
    """The model to train, the number of frozen leading blocks, and the frozen source (for LwF)."""
    torch.manual_seed(seed)
    model = build_entry_model(entry)
    frozen, source = 0, None
    if entry.source:
        src_entry_model = load_model(entry.source, "cpu", cache)
        body = {k: v for k, v in src_entry_model.state_dict().items() if not k.startswith("head.")}
        try:
            missing = model.load_state_dict(body, strict=False)
        except RuntimeError:  # shapes differ
            missing = None
        if missing is None or any(not k.startswith("head.") for k in missing.missing_keys) or missing.unexpected_keys:
            raise BenchmarkError(f"entry {entry.name}: source {entry.source} has a different architecture")
        if entry.strategy in ("linear", "mlp"):
            frozen = model.num_blocks
        elif entry.strategy == "retrain_last_k":
            k = int(entry.recipe["k"])
            if not 1 <= k <= model.num_blocks:
                raise BenchmarkError(f"entry {entry.name}: recipe.k must be in [1, {model.num_blocks}], got {k}")
            frozen = model.num_blocks - k
            for i, block in enumerate(model.blocks[frozen:]):
                _reinit(block, seed + 1 + i)
        if entry.strategy == "lwf":
            source = src_entry_model.to(device).eval()
            for p in source.parameters():
                p.requires_grad_(False)
    for block in model.blocks[:frozen]:
        for p in block.parameters():
            p.requires_grad_(False)
    return model.to(device), frozen, source


class _Frozen(nn.Module):
    """The trained part of a model whose first `frozen` blocks are fixed and precomputed."""

    def __init__(self, model, frozen: int):
        super().__init__()
        self.model, self.frozen = model, frozen

    def forward(self, h):
        return self.model.suffix(h, self.frozen)


def batch_fetcher(data, idx: torch.Tensor):
    """Pixels in [0, 1] for positions `b` of the training subset: sliced from memory, or read
    (with the folder's train-time transforms) from an ImageNet-style folder."""
    from benchmark.data.datasets import ImageDataset

    if isinstance(data, ImageDataset):
        images = data.images[idx]
        return lambda b: images[b].float().div_(255)
    return lambda b: torch.stack([data[int(i)][0] for i in idx[b]])


@torch.no_grad()
def precompute(model, frozen: int, fetch, n: int, device: str, batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    outs = [model.prefix(fetch(torch.arange(i, min(i + batch_size, n))).to(device), frozen).cpu()
            for i in range(0, n, batch_size)]
    return torch.cat(outs)


def _augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (pad 4) and horizontal flip, for CIFAR-style recipes."""
    n = x.shape[0]
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dx, dy = torch.randint(0, 9, (2, n), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    out = torch.stack([padded[i, :, dy[i]:dy[i] + x.shape[2], dx[i]:dx[i] + x.shape[3]] for i in range(n)])
    out[flip] = out[flip].flip(3)
    return out


def train_entry(entry: ZooEntry, data_dir=None, cache=None, device: str = "cpu", resume: bool = True,
                show_progress: bool = True, results_root=None, stop_after_batches: int | None = None) -> dict | None:
    """Train `entry` from its recipe and write weights, sha256 and a training record.

    Under torchrun every rank takes its share of each global batch and DistributedDataParallel
    averages the gradients; rank 0 writes checkpoints, weights and records (others return None).
    """
    from tqdm.auto import tqdm

    from benchmark.data import load_task, stratified_subset
    from benchmark.data.datasets import ImageDataset
    from benchmark.data.tasks import get_task
    from benchmark.distributed import all_reduce_sum, setup

    ctx = setup(device)
    device = ctx.device(device)
    show_progress = show_progress and ctx.is_main
    recipe = dict(entry.recipe)
    seed = int(recipe.get("seed", 0))
    cfg = {**recipe, "eps": float(recipe.get("eps", entry.eps)), "norm": entry.threat_model}
    use_amp = device.startswith("cuda") and recipe.get("amp", True)

    data = load_task(entry.task, True, data_dir)
    idx = stratified_subset(data.labels, entry.n_per_class, seed)
    labels, fetch = data.labels[idx], batch_fetcher(data, idx)
    n = idx.numel()
    in_memory = isinstance(data, ImageDataset)

    model, frozen, source = prepare_model(entry, cache, device, seed)
    task = get_task(entry.task)
    shares = block_mac_shares(model, (task.channels, task.image_size, task.image_size))
    trained_share = sum(shares[frozen:])
    cost = CostMeter()
    t_start = time.perf_counter()
    inputs = None
    if frozen:
        cost.add(n, forward=sum(shares[:frozen]), backward=0)
        inputs = precompute(model, frozen, fetch, n, device)
        net = _Frozen(model, frozen)
    else:
        net = model
    forward = net
    if ctx.enabled:
        from torch.nn.parallel import DistributedDataParallel

        forward = DistributedDataParallel(net, device_ids=[ctx.local_rank] if device.startswith("cuda") else None)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=recipe.get("lr", 0.01), momentum=recipe.get("momentum", 0.9),
                          weight_decay=recipe.get("weight_decay", 5e-4), nesterov=recipe.get("nesterov", False))
    epochs, batch_size = int(recipe["epochs"]), int(recipe["batch_size"])
    replays = int(recipe.get("replays", 4)) if entry.strategy == "free_at" else 1
    passes = max(1, math.ceil(epochs / replays))  # free AT: epochs counted in replayed passes
    steps_per_epoch = math.ceil(n / batch_size)
    total_steps = passes * steps_per_epoch * replays
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps)))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history, start_epoch, elapsed_before = [], 0, 0.0

    ckpt_file = checkpoint_path(entry, cache)
    if resume and ckpt_file.is_file():
        try:
            ckpt = torch.load(ckpt_file, map_location=device, weights_only=False)
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            start_epoch, history = ckpt["epoch"], ckpt["history"]
            cost = CostMeter(ckpt["cost"])
            elapsed_before = ckpt["elapsed"]
        except Exception as exc:  # a corrupt checkpoint is reported, not silently discarded
            raise BenchmarkError(f"checkpoint {ckpt_file} cannot be resumed ({type(exc).__name__}): "
                                 f"delete it or rerun with --no-resume") from None
        if ctx.is_main:
            print(f"resuming {entry.name} from epoch {start_epoch}/{passes}")

    def optimizer_step(loss):
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        sched.step()

    delta = None
    if entry.strategy == "free_at":
        delta = torch.zeros((batch_size, *fetch(torch.arange(1)).shape[1:]), device=device)
    batches_seen = 0
    for epoch in range(start_epoch, passes):
        model.train()
        if frozen:
            for block in model.blocks[:frozen]:
                block.eval()  # frozen batch-norm statistics stay the source's
        torch.manual_seed(seed * 1000003 + epoch)  # dropout etc.: the same on resume
        gen = torch.Generator().manual_seed(seed * 7919 + epoch)
        perm = torch.randperm(n, generator=gen)
        if delta is not None:
            delta.zero_()
        meter = CostMeter()
        correct = total = 0
        loss_sum = 0.0
        bar = tqdm(range(0, n, batch_size), desc=f"{entry.name} {epoch + 1}/{passes}", disable=not show_progress,
                   leave=False, unit="batch")
        for lo in bar:
            global_batch = perm[lo:lo + batch_size]
            if global_batch.numel() < ctx.world_size:
                continue  # every rank must take part in every step
            b = global_batch[ctx.rank::ctx.world_size]
            # DDP averages gradients over ranks; weighting by the shard size makes that average
            # the gradient of the mean loss over the whole global batch
            weight = b.numel() * ctx.world_size / global_batch.numel()
            y = labels[b].to(device)
            if inputs is not None:
                x = inputs[b].to(device)
            else:
                x = fetch(b).to(device)
                if recipe.get("augment") and in_memory:  # folders augment in their own transforms
                    x = _augment(x, gen)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                if entry.strategy == "free_at":
                    loss, logits = free_at_batch(model, x, y, cfg, meter, delta, opt,
                                                 lambda loss, d: optimizer_step(weight * loss), forward)
                else:
                    kind = "natural" if entry.strategy in ("linear", "mlp", "retrain_last_k") else entry.strategy
                    if kind == "natural" and frozen:
                        logits = forward(x)
                        loss = F.cross_entropy(logits, y)
                        meter.add(x.shape[0], forward=trained_share, backward=trained_share)
                    else:
                        loss, logits = OBJECTIVES[kind](model, x, y, cfg, meter, index=idx[b] + epoch * 10**7,
                                                       seed=seed, generator=gen, source=source, forward=forward)
                    opt.zero_grad(set_to_none=True)
                    optimizer_step(weight * loss)
            if not torch.isfinite(loss.detach()):
                raise BenchmarkError(f"entry {entry.name}: the loss became {loss.item()} at epoch {epoch + 1}: "
                                     "lower recipe.lr")
            correct += int((logits.argmax(1) == y).sum())
            total += y.numel()
            loss_sum += float(loss.detach()) * y.numel()
            bar.set_postfix(loss=f"{loss_sum / max(total, 1):.3f}", acc=f"{correct / max(total, 1):.3f}")
            batches_seen += 1
            if stop_after_batches is not None and batches_seen >= stop_after_batches:
                raise KeyboardInterrupt  # test hook: simulate an interruption mid-epoch
        correct, total, loss_sum, fwd, bwd = all_reduce_sum(ctx, [correct, total, loss_sum, meter.forward, meter.backward])
        cost.forward += fwd
        cost.backward += bwd
        history.append({"epoch": epoch + 1, "loss": loss_sum / total, "train_accuracy": correct / total})
        elapsed = elapsed_before + time.perf_counter() - t_start
        if ctx.is_main:
            atomic_torch_save(ckpt_file, {"model": model.state_dict(), "optimizer": opt.state_dict(),
                                          "scheduler": sched.state_dict(), "epoch": epoch + 1, "history": history,
                                          "cost": cost.state(), "elapsed": elapsed})
        ctx.barrier()
    wall = elapsed_before + time.perf_counter() - t_start
    record = None
    if ctx.is_main:
        record = finish(entry, model, cache, device, n, passes, history, cost, wall, results_root)
        record["world_size"] = ctx.world_size
    ctx.barrier()  # later entries may load these weights on any rank
    return record


def finish(entry, model, cache, device, n, epochs, history, meter, wall, results_root=None) -> dict:
    from safetensors.torch import save_file

    from benchmark.io import git_commit
    from benchmark.results import results_dir

    model = model.cpu().eval()
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    path = weights_path(entry, cache)
    atomic_write(path, lambda p: save_file(state, str(p)))
    record = {
        "model": entry.name, "strategy": entry.strategy, "source": entry.source, "task": entry.task,
        "n_per_class": entry.n_per_class, "n_train": n, "epochs": epochs, "device": device,
        "wall_seconds": round(wall, 2), "cost": meter.state(), "history": history,
        "recipe": entry.recipe, "sha256": sha256_file(path), "git_commit": git_commit(),
    }
    atomic_write_json(training_record_path(entry, cache), record)
    atomic_write_json(results_dir(results_root) / "training" / f"{entry.name}.json", record)
    ckpt = checkpoint_path(entry, cache)
    if ckpt.exists():
        ckpt.unlink()
    return record


def is_trained(entry: ZooEntry, cache=None) -> bool:
    try:
        verify_weights(entry, cache)
        return True
    except BenchmarkError:
        return False
