"""One-command transfer: a zoo source + a folder of the user's images -> a user zoo entry, trained,
published into the user's folder (sha256 pinned in the entry) and evaluated, with its records in the
user's results folder.

The folder is ImageNet-style (DATA/train/<class>/*, DATA/val/<class>/* or DATA/test/<class>/*).
Images are converted to the source's input (channels, size), since the transferred model
keeps the source's body. The task file and the entry are written to the user's folders
(`$RTB_HOME/tasks`, `$RTB_HOME/entries`), so they can be edited and rerun like any entry.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import yaml

from benchmark.data.folder_tasks import slug
from benchmark.errors import BenchmarkError
from benchmark.paths import user_zoo_dir

STEPS = 400          # default recipes: about this many minibatches, whatever the data size
BATCH = 64


@dataclass(frozen=True)
class TransferRequest:
    source: str
    data: str | None = None            # a folder of images, or
    task: str | None = None            # an existing task (name or file)
    strategy: str = "lwf"
    n_per_class: int | None = None     # None: all training images
    name: str | None = None
    seeds: list[int] = field(default_factory=lambda: [0])
    protocol: str | None = None        # default: the task's, or the first protocol made for its images
    lr: float | None = None
    epochs: int | None = None
    k: int = 1                         # retrain_last_k
    head: str = "linear"               # linear or mlp
    device: str = "cpu"
    show_progress: bool = False
    guards: bool = True


def default_recipe(strategy: str, n_train: int, req: TransferRequest) -> dict:
    """A recipe of about STEPS minibatches; the learning rate of the embedded suite's arms."""
    from benchmark.strategies import STRATEGIES

    cls = STRATEGIES.get(strategy)
    steps_per_epoch = max(1, -(-n_train // BATCH))
    epochs = req.epochs or max(1, STEPS // steps_per_epoch)
    recipe = {"epochs": epochs, "batch_size": BATCH, "lr": req.lr or cls.transfer_lr}
    if strategy == "lwf":
        recipe.update(lwf_lambda=0.1, lwf_distance="l1", warm_start_epochs=epochs // 2)
    if strategy == "retrain_last_k":
        recipe["k"] = req.k
    return recipe


def folder_task(req: TransferRequest, source_task) -> tuple[str, dict]:
    """A task file for the user's folder, shaped like the source's input; (path, per-class counts)."""
    from benchmark.data.folder_tasks import write_folder_task

    path, info = write_folder_task(req.data, source_task, validation=False)
    return path, info.train_counts


def choose_protocol(task, asked: str | None):
    from benchmark.evaluation import available_protocols, load_protocol

    if asked:
        protocol = load_protocol(asked)
        protocol.check_task(task)
        return protocol
    if task.protocol:
        protocol = load_protocol(task.protocol)
        protocol.check_task(task)
        return protocol
    fits = [p for p in available_protocols() if load_protocol(p).applies_to.mismatch(task) is None
            and load_protocol(p).min_classes <= task.n_classes]
    if not fits:
        raise BenchmarkError(f"no protocol is made for {task.image_size}x{task.image_size}x{task.channels} images with "
                             f"{task.n_classes} classes: write one (see benchmark/protocols/) and pass --protocol FILE")
    preferred = [p for p in fits if p.endswith("-quick")] or fits
    return load_protocol(preferred[0])


def run_transfer(req: TransferRequest):
    """Write the entry, train every seed, evaluate it; returns (entry, records, timings)."""
    from benchmark.data import get_task
    from benchmark.evaluation import EvalOptions, Locations, evaluate_entry
    from benchmark.strategies import STRATEGIES
    from benchmark.training import TrainOptions, train_entry
    from benchmark.zoo import get_entry, has_weights, load_entries
    from benchmark.zoo.entry import load_entry_file, source_seed
    from benchmark.zoo.publish import publish

    entries = load_entries()
    source = get_entry(req.source, entries)
    cls = STRATEGIES.get(req.strategy)
    if cls.source == "none":
        raise BenchmarkError(f"strategy {req.strategy!r} trains from scratch; a transfer needs one of "
                             f"{', '.join(n for n, c in STRATEGIES.items() if c.source != 'none')}")
    source_task = get_task(source.task, relative_to=source.folder)
    if source.normalization is not None:  # the source's own input statistics (a provider's model, say)
        from dataclasses import replace as _replace

        source_task = _replace(source_task, mean=list(source.normalization.mean), std=list(source.normalization.std))
    for seed in req.seeds:
        if (seed not in source.seeds and len(source.seeds) != 1) or \
                not has_weights(source, source_seed(source, seed), "auto"):
            raise BenchmarkError(f"source {source.name} has no weights for seed {seed}: download or train them first "
                                 f"(`python -m benchmark train --model {source.name} --seed {seed}`)")
    if req.n_per_class is not None and req.n_per_class <= 0:
        raise BenchmarkError(f"--n-per-class {req.n_per_class}: give a positive number of training images per class, "
                             "or leave it out for all of them")
    if (req.data is None) == (req.task is None):
        raise BenchmarkError("give the target data: --data DIR (a folder of images) or --task NAME|FILE")
    if req.data is not None:
        task_ref, counts = folder_task(req, source_task)
    else:
        task_ref, counts = req.task, None
    task = get_task(task_ref)
    if task.input_shape != source_task.input_shape:
        raise BenchmarkError(f"task {task.name} has images {task.input_shape}, but source {source.name} takes "
                             f"{source_task.input_shape}: set image_size/channels in the task file to the source's")
    if counts and req.n_per_class:
        short = {c: k for c, k in counts.items() if k < req.n_per_class}
        if short:
            c, k = next(iter(short.items()))
            raise BenchmarkError(f"class folder {c!r} has {k} training images, fewer than --n-per-class "
                                 f"{req.n_per_class}: lower it or add images")
    protocol = choose_protocol(task, req.protocol)
    n_train = (req.n_per_class * task.n_classes) if req.n_per_class else (sum(counts.values()) if counts else 5000)
    name = req.name or slug(f"{source.name}_{req.strategy}_{task.name}" +
                             (f"_n{req.n_per_class}" if req.n_per_class else ""))
    if name in entries and entries[name].origin == "project":
        raise BenchmarkError(f"{name} is a project entry: pass --name for your own")
    source_sha = None
    if source.provider:  # loaded (downloaded) by its provider now, before any training: pinned in the new entry
        from benchmark.zoo.weights import resolve

        source_sha = resolve(source, source_seed(source, req.seeds[0]), "published").sha256
    data = {"name": name, "task": task_ref, "architecture": source.architecture, "threat_model": protocol.threat_model,
            "eps": protocol.eps, "protocol": protocol.name, "strategy": req.strategy, "source": source.name,
            **({"source_sha256": source_sha} if source_sha else {}),
            "n_per_class": req.n_per_class or "all",
            "head": {"type": "mlp", "hidden": [256]} if req.head == "mlp" else {"type": "linear"},
            "seeds": list(req.seeds), "recipe": default_recipe(req.strategy, n_train, req),
            "description": f"Transfer of {source.name} to {task.name} ({req.strategy}), made by `benchmark transfer`.",
            "suites": ["user"]}
    path = user_zoo_dir() / f"{name}.yaml"
    from benchmark.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(data, sort_keys=False))
    entries = load_entries()
    entry = load_entry_file(path, "user")
    topts = TrainOptions(device=req.device, show_progress=req.show_progress)
    eopts = EvalOptions(device=req.device, guards=req.guards, show_progress=req.show_progress)
    records, timings = [], {"train": 0.0, "evaluate": 0.0}
    for seed in req.seeds:
        t0 = time.perf_counter()
        train_entry(entry, seed, topts, entries=entries)
        # published into the user's own folder, sha256 pinned in the entry: the records are of these weights,
        # so `check --model NAME` can gate them later, example by example
        entry = publish(entry, [seed], topts.cache, entries)
        entries[entry.name] = entry
        t1 = time.perf_counter()
        record, _ = evaluate_entry(entry, seed, protocol, eopts, Locations("published"))
        timings["train"] += t1 - t0
        timings["evaluate"] += time.perf_counter() - t1
        records.append(record)
    return entry, records, timings
