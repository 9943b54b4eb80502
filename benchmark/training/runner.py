"""Train one seed of a zoo entry from its recipe: deterministic, checkpointed every epoch, resumable.

Frozen leading blocks (heads on frozen features, retrain-last-k) are run once over the
training subset and their outputs cached, since they never change; only the trained
part runs per epoch. Under torchrun every rank takes its share of each global batch and
DistributedDataParallel averages the gradients; rank 0 writes checkpoints and weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_torch_save, atomic_write, atomic_write_json, provenance, sha256_file
from benchmark.models.base import TrainedPart
from benchmark.models.layout import as_layout, has_conv
from benchmark.strategies import Batch, Recipe
from benchmark.training.cost import CostMeter, block_mac_shares
from benchmark.zoo.catalog import get_entry
from benchmark.zoo.entry import ZooEntry, source_seed
from benchmark.zoo.weights import (build_entry_model, checkpoint_path, load_model_and_weights, trained_path,
                                   training_record_path)


@dataclass(frozen=True)
class TrainOptions:
    device: str = "cpu"
    data_dir: str | None = None
    cache: str | Path | None = None      # where trained weights, records and checkpoints go
    resume: bool = True
    show_progress: bool = True
    channels_last: bool = True           # faster convolutions on CPU and GPU; changes float rounding only
    workers: int | None = None           # DataLoader workers for streamed image folders
    source_weights: str = "auto"         # the source's published weights when it has them, else its trained copy
    source_cache: str | Path | None = None  # where the source's trained copy lives (default: cache)
    stop_after_batches: int | None = None  # test hook: simulate an interruption mid-epoch
    # the weights at these fractions of the run's batches (0: before the first step, 1: the trained model), saved
    # beside the checkpoint as snapshot_dir(...)/batch<k>.safetensors: robustness along fine-tuning
    snapshots: tuple[float, ...] = ()


def _reinit(module: nn.Module, seed: int) -> None:
    torch.manual_seed(seed)
    for m in module.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()


def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random crop (reflect-pad 4) and horizontal flip, batched on x's device."""
    n, c, h, w = x.shape
    padded = F.pad(x, (4, 4, 4, 4), mode="reflect")
    dx, dy = (t.to(x.device) for t in torch.randint(0, 9, (2, n), generator=generator))
    flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
    cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
    cols = torch.where(flip[:, None, None, None], cols.flip(3), cols)
    batch = torch.arange(n, device=x.device)[:, None, None, None]
    chans = torch.arange(c, device=x.device)[None, :, None, None]
    return padded[batch, chans, rows, cols]


class BatchSource:
    """Pixels in [0, 1] of positions of the training subset, on the device.

    In-memory datasets are sliced (kept on the GPU when training there); streamed folders
    go through a DataLoader with workers and pinned memory, in the order asked for.
    """

    def __init__(self, data, idx: torch.Tensor, device: str, workers: int | None):
        from benchmark.data.datasets import ImageDataset

        self.device, self.in_memory = device, isinstance(data, ImageDataset)
        if self.in_memory:
            images = data.images[idx]
            self.images = images.to(device) if device.startswith("cuda") else images
        else:
            from benchmark.data.loaders.folders import default_workers

            self.data, self.idx = data, idx
            self.workers = default_workers() if workers is None else workers

    def _scale(self, x: torch.Tensor) -> torch.Tensor:
        return x.float().div_(255) if x.dtype == torch.uint8 else x.float()

    def get(self, positions: torch.Tensor) -> torch.Tensor:
        if self.in_memory:
            return self._scale(self.images[positions.to(self.images.device)]).to(self.device, non_blocking=True)
        return self.data.pixels(self.idx[positions]).to(self.device)

    def iterate(self, batches: list[torch.Tensor]):
        """The pixels of each list of positions, in order."""
        if self.in_memory:
            for b in batches:
                yield self.get(b)
            return
        from torch.utils.data import DataLoader, Subset

        loader = DataLoader(Subset(self.data, self.idx.tolist()), batch_sampler=[b.tolist() for b in batches],
                            num_workers=self.workers, pin_memory=self.device.startswith("cuda"),
                            persistent_workers=False)
        for x, _ in loader:
            yield x.to(self.device, non_blocking=True)


class TrainingRun:
    """The state a strategy sees while training (benchmark.strategies.base.Run)."""

    def __init__(self, model, forward, source, seed: int, frozen: int, shares: list[float], opt, sched, scaler):
        self.model, self.forward, self.source, self.seed, self.frozen = model, forward, source, seed, frozen
        self.trained_share, self.head_share = sum(shares[frozen:]), shares[-1]
        self.opt, self.sched, self.scaler = opt, sched, scaler
        self.meter = CostMeter()
        self.generator = torch.Generator()
        self.epoch = 0
        self.weight = 1.0

    def step(self, loss: torch.Tensor) -> None:
        """One optimizer step on `loss` (scaled for the rank's share of a global batch under DDP)."""
        self.opt.zero_grad(set_to_none=True)
        self.scaler.scale(self.weight * loss).backward()
        self.scaler.step(self.opt)
        self.scaler.update()
        self.sched.step()


def prepare_model(entry: ZooEntry, strategy, seed: int, opts: TrainOptions, entries=None):
    """The model to train, its frozen leading blocks, the frozen source (for LwF) and the source's weights."""
    torch.manual_seed(seed)
    model = build_entry_model(entry, strategy)
    source, source_w = None, None
    if entry.source:
        src_entry = get_entry(entry.source, entries)
        try:
            src_seed = source_seed(src_entry, seed)
        except BenchmarkError as exc:
            raise BenchmarkError(f"{entry.name}: {exc}") from None
        source_cache = opts.source_cache if opts.source_cache is not None else opts.cache
        source, source_w = load_model_and_weights(src_entry, src_seed, opts.source_weights, "cpu", source_cache,
                                                  entries)
        keep_head = bool(getattr(strategy.recipe, "keep_head", False))
        body = {k: v for k, v in source.state_dict().items() if keep_head or not k.startswith("head.")}
        try:
            result = model.load_state_dict(body, strict=False)
        except RuntimeError:  # shapes differ
            result = None
        if keep_head and (result is None or result.missing_keys):
            raise BenchmarkError(f"entry {entry.name}: recipe.keep_head needs a source with the same architecture and "
                                 f"classes; {entry.source} differs (train a new head: drop keep_head)")
        added = strategy.added_keys(model)
        if (result is None or any(not k.startswith("head.") and k not in added for k in result.missing_keys)
                or result.unexpected_keys):
            raise BenchmarkError(f"entry {entry.name}: source {entry.source} has a different architecture")
        for i in strategy.reinit_blocks(model):
            _reinit(model.blocks[i], seed + 1 + i)
        source = source.to(opts.device).eval()
        for p in source.parameters():
            p.requires_grad_(False)
    frozen = strategy.frozen_blocks(model)
    for block in model.blocks[:frozen]:
        for p in block.parameters():
            p.requires_grad_(False)
    trainable = strategy.trainable(model)
    if trainable is not None:  # parameter-efficient tuning: the rest of the network keeps the source's values
        for name, p in model.named_parameters():
            if name not in trainable:
                p.requires_grad_(False)
    return model.to(opts.device), frozen, source, source_w


@torch.no_grad()
def precompute(model, frozen: int, batches: BatchSource, n: int, nhwc: bool, batch_size: int = 1024) -> torch.Tensor:
    model.eval()
    chunks = [torch.arange(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    return torch.cat([model.prefix(as_layout(x, nhwc), frozen).cpu() for x in batches.iterate(chunks)])


def train_entry(entry: ZooEntry, seed: int = 0, opts: TrainOptions = TrainOptions(), recipe: Recipe | None = None,
                entries=None) -> dict | None:
    """Train one seed of `entry` and write its weights, sha256 and training record into the cache.

    `recipe` overrides the entry's (hyperparameter tuning). Returns the training record
    (None on ranks other than 0 under torchrun).
    """
    from benchmark.progress import progress_bar

    from benchmark.data import get_task, load_split, training_subset
    from benchmark.distributed import all_reduce_sum, context

    ctx = context(opts.device)
    device = ctx.device(opts.device)
    opts = TrainOptions(**{**opts.__dict__, "device": device})
    show_progress = opts.show_progress and ctx.is_main
    recipe = recipe or entry.parsed_recipe()
    strategy = entry.make_strategy(recipe)
    use_amp = device.startswith("cuda") and recipe.amp

    task = get_task(entry.task, relative_to=entry.folder)
    data = load_split(task, True, opts.data_dir)
    val = task.validation
    idx = training_subset(data.labels, entry.n, seed, val.n_per_class if val else None, val.seed if val else 0,
                          getattr(data, "class_names", None), task.pool)
    labels, n = data.labels[idx], idx.numel()
    source_data = BatchSource(data, idx, device, opts.workers)

    model, frozen, source, source_w = prepare_model(entry, strategy, seed, opts, entries)
    shares = block_mac_shares(model, task.input_shape)
    nhwc = opts.channels_last and has_conv(model)
    if nhwc:  # weights are saved contiguous; the layout only changes how kernels sum
        model.to(memory_format=torch.channels_last)
        if source is not None:
            source.to(memory_format=torch.channels_last)
    total_cost = CostMeter()
    t_start = time.perf_counter()
    inputs = None
    if frozen:
        total_cost.add(n, forward=sum(shares[:frozen]), backward=0)
        inputs = precompute(model, frozen, source_data, n, nhwc)
        net = TrainedPart(model, frozen)
    else:
        net = model

    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=recipe.lr, momentum=recipe.momentum, weight_decay=recipe.weight_decay,
                          nesterov=recipe.nesterov)
    passes, batch_size = strategy.passes(), recipe.batch_size
    total_steps = passes * math.ceil(n / batch_size) * strategy.optimizer_steps_per_batch()
    if recipe.schedule == "cosine":
        lr_at = lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total_steps) / total_steps))  # noqa: E731
    else:
        lr_at = lambda s: 1.0  # noqa: E731
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    history, start_epoch, elapsed_before = [], 0, 0.0

    ckpt_file = checkpoint_path(entry, seed, opts.cache)
    if opts.resume and ckpt_file.is_file():
        try:
            ckpt = torch.load(ckpt_file, map_location=device, weights_only=False)
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            sched.load_state_dict(ckpt["scheduler"])
            start_epoch, history = ckpt["epoch"], ckpt["history"]
            total_cost = CostMeter(ckpt["cost"])
            elapsed_before = ckpt["elapsed"]
        except Exception as exc:  # a corrupt checkpoint is reported, not silently discarded
            raise BenchmarkError(f"checkpoint {ckpt_file} cannot be resumed ({type(exc).__name__}): "
                                 f"delete it or rerun with --no-resume") from None
        if ctx.is_main:
            print(f"resuming {entry.name} seed {seed} from epoch {start_epoch}/{passes}")

    run = TrainingRun(model, net, source, seed, frozen, shares, opt, sched, scaler)
    ddp_flags = None
    batches_seen = 0
    per_epoch = len([lo for lo in range(0, n, batch_size) if min(batch_size, n - lo) >= ctx.world_size])
    marks = snapshot_marks(opts.snapshots, passes * per_epoch)
    done_batches = start_epoch * per_epoch
    if 0 in marks and done_batches == 0 and ctx.is_main:
        save_snapshot(entry, seed, model, 0, marks[0], 0, opts.cache)
    for epoch in range(start_epoch, passes):
        run.epoch = epoch
        model.train()
        for block in model.blocks[:frozen]:
            block.eval()  # frozen batch-norm statistics stay the source's
        torch.manual_seed(seed * 1000003 + epoch)  # dropout etc.: the same on resume
        run.generator = torch.Generator().manual_seed(seed * 7919 + epoch)
        run.meter = CostMeter()
        strategy.begin_epoch(run)
        flags = tuple(p.requires_grad for p in model.parameters())
        if ctx.enabled and flags != ddp_flags:  # DDP tracks the parameters that train: rewrap when they change
            from torch.nn.parallel import DistributedDataParallel

            run.forward = DistributedDataParallel(net, device_ids=[ctx.local_rank] if device.startswith("cuda")
                                                  else None)
            ddp_flags = flags
        perm = torch.randperm(n, generator=run.generator)
        global_batches = [perm[lo:lo + batch_size] for lo in range(0, n, batch_size)]
        global_batches = [g for g in global_batches if g.numel() >= ctx.world_size]  # every rank takes part
        mine = [g[ctx.rank::ctx.world_size] for g in global_batches]
        pixels = None if inputs is not None else source_data.iterate(mine)
        correct = total = 0
        loss_sum = 0.0
        bar = progress_bar(zip(global_batches, mine), total=len(mine),
                           desc=f"{entry.name} s{seed} epoch {epoch + 1}/{passes}", disable=not show_progress,
                           leave=False, unit="batch")
        for global_batch, b in bar:
            # DDP averages gradients over ranks; weighting by the shard size makes that average
            # the gradient of the mean loss over the whole global batch
            run.weight = b.numel() * ctx.world_size / global_batch.numel()
            y = labels[b].to(device)
            if inputs is not None:
                x = as_layout(inputs[b].to(device), nhwc)
            else:
                x = next(pixels)
                if recipe.augment and source_data.in_memory:  # streamed folders augment in their transforms
                    x = augment(x, run.generator)
                x = as_layout(x, nhwc)
            with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
                loss, logits = strategy.train_batch(run, Batch(x, y, idx[b] + epoch * 10**7))
            if not torch.isfinite(loss.detach()):
                raise BenchmarkError(f"entry {entry.name}: the loss became {loss.item()} at epoch {epoch + 1}: "
                                     "lower recipe.lr")
            correct += int((logits.argmax(1) == y).sum())
            total += y.numel()
            loss_sum += float(loss.detach()) * y.numel()
            bar.set_postfix(loss=f"{loss_sum / max(total, 1):.3f}", acc=f"{correct / max(total, 1):.3f}")
            batches_seen += 1
            done_batches += 1
            if done_batches in marks and ctx.is_main:
                save_snapshot(entry, seed, model, done_batches, marks[done_batches], epoch, opts.cache)
            if opts.stop_after_batches is not None and batches_seen >= opts.stop_after_batches:
                raise KeyboardInterrupt  # test hook: simulate an interruption mid-epoch
        correct, total, loss_sum, fwd, bwd = all_reduce_sum(ctx, [correct, total, loss_sum, run.meter.forward,
                                                                 run.meter.backward])
        total_cost.forward += fwd
        total_cost.backward += bwd
        history.append({"epoch": epoch + 1, "loss": loss_sum / total, "train_accuracy": correct / total})
        elapsed = elapsed_before + time.perf_counter() - t_start
        if ctx.is_main:
            state = {k: v.contiguous() for k, v in model.state_dict().items()}
            atomic_torch_save(ckpt_file, {"model": state, "optimizer": opt.state_dict(),
                                          "scheduler": sched.state_dict(), "epoch": epoch + 1, "history": history,
                                          "cost": total_cost.state(), "elapsed": elapsed})
        ctx.barrier()
    wall = elapsed_before + time.perf_counter() - t_start
    record = None
    if ctx.is_main:
        record = finish(entry, seed, model, recipe, opts, n, passes, history, total_cost, wall, source_w, nhwc)
        record["world_size"] = ctx.world_size
    ctx.barrier()  # later entries may load these weights on any rank
    return record


def snapshot_marks(fractions, total_batches: int) -> dict[int, list[float]]:
    """Batch counts at which to save a snapshot, each with the fractions that fall on it (a short run can put
    two on one batch): {round(fraction * total): [fraction, ...]}."""
    marks: dict[int, list[float]] = {}
    for f in fractions:
        if not 0 <= f <= 1:
            raise BenchmarkError(f"snapshot fractions must be in [0, 1], got {f}")
        marks.setdefault(round(f * total_batches), []).append(float(f))
    return marks


def snapshot_dir(entry: ZooEntry, seed: int, cache=None) -> Path:
    from benchmark.paths import cache_dir

    return cache_dir(cache) / "snapshots" / entry.name / f"seed{seed}"


def save_weights(path: Path, model, metadata: dict[str, str] | None = None) -> None:
    """The model's state dict as a safetensors file (contiguous, on the CPU), written atomically."""
    from safetensors.torch import save_file

    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    atomic_write(path, lambda p: save_file(state, str(p), metadata=metadata))


def save_snapshot(entry, seed: int, model, batches: int, fractions: list[float], epoch: int, cache) -> Path:
    path = snapshot_dir(entry, seed, cache) / f"batch{batches}.safetensors"
    save_weights(path, model, {"fractions": ",".join(map(str, fractions)), "batches": str(batches),
                               "epoch": str(epoch)})
    return path


def finish(entry, seed, model, recipe, opts, n, passes, history, meter, wall, source_w, nhwc) -> dict:
    model = model.cpu().eval()
    path = trained_path(entry, seed, opts.cache)
    save_weights(path, model)
    record = {
        "model": entry.name, "seed": seed, "strategy": entry.strategy, "source": entry.source,
        "source_weights": source_w.describe() if source_w else None, "task": entry.task,
        "n_per_class": entry.n_per_class, "n_train": n, "epochs": passes, "device": opts.device,
        "channels_last": bool(nhwc), "wall_seconds": round(wall, 2), "cost": meter.state(), "history": history,
        "recipe": recipe.to_dict(), "sha256": sha256_file(path), **provenance(),
    }
    atomic_write_json(training_record_path(entry, seed, opts.cache), record)
    ckpt = checkpoint_path(entry, seed, opts.cache)
    if ckpt.exists():
        ckpt.unlink()
    return record


def is_trained(entry: ZooEntry, seed: int = 0, cache=None) -> bool:
    from benchmark.zoo.weights import has_weights

    return has_weights(entry, seed, "trained", cache)
