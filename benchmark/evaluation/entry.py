"""Evaluate one zoo entry under a protocol and write its record: the CLI's `evaluate`."""

from __future__ import annotations

import json

from benchmark.errors import BenchmarkError


def evaluation_data(task: str, protocol, n: int | None, data_dir=None):
    """The protocol's fixed evaluation subset of the task's test split, as float pixels in [0, 1]."""
    from benchmark.data import eval_subset, load_task
    from benchmark.data.datasets import ImageDataset

    test = load_task(task, False, data_dir)
    n = protocol.n_examples if n is None else n
    if n <= 0:
        raise BenchmarkError(f"--n must be positive, got {n}")
    index = eval_subset(len(test), n, protocol.seed)
    if isinstance(test, ImageDataset):
        x = test.images[index].float().div(255)
    else:
        import torch

        x = torch.stack([test[int(i)][0] for i in index])
    return x, test.labels[index], index


def evaluate_entry(name: str, protocol_name: str | None = None, n: int | None = None, device: str = "cpu",
                   batch_size: int = 500, data_dir=None, cache=None, results_root=None, show_progress: bool = True,
                   cascade: bool | None = None, eps: float | None = None, write: bool = True,
                   guards: bool = True, sweep: bool = False, fast_layout: bool = True,
                   amp: bool = False):
    from benchmark.data.tasks import get_task
    from benchmark.evaluation import check_inputs, evaluate_model, record_header
    from benchmark.protocol import MAX_EPS, load_protocol
    from benchmark.results import record_path, write_record
    from benchmark.zoo import get_entry, load_model, training_record_path

    from benchmark.distributed import setup

    ctx = setup(device)
    device = ctx.device(device)
    entry = get_entry(name)
    protocol = load_protocol(protocol_name or entry.protocol)
    if eps is not None and not (0 < eps <= MAX_EPS[protocol.threat_model]):
        raise BenchmarkError(f"--eps must be in (0, {MAX_EPS[protocol.threat_model]}] for {protocol.threat_model}, got {eps}")
    if batch_size <= 0:
        raise BenchmarkError(f"--batch-size must be positive, got {batch_size}")
    if n is not None and n <= 0:
        raise BenchmarkError(f"--n must be positive, got {n}")
    model = load_model(name, device, cache)
    x, y, index = evaluation_data(entry.task, protocol, n, data_dir)
    task = get_task(entry.task)
    check_inputs(x, y, task.num_classes, (task.channels, task.image_size, task.image_size))
    result = evaluate_model(model, protocol, x, y, index, batch_size, device, cascade, show_progress, eps, fast_layout, amp)
    record = record_header(name, protocol, device, protocol.seed)
    record["n_examples"] = int(x.shape[0])
    record["entry"] = entry.to_dict()
    train_rec = training_record_path(entry, cache)
    if train_rec.is_file():
        t = json.loads(train_rec.read_text())
        record["training"] = {k: t.get(k) for k in ("wall_seconds", "cost", "epochs", "n_train", "device", "sha256")}
    record.update(result)
    if ctx.enabled:
        record["world_size"] = ctx.world_size
        if not ctx.is_main:  # rank 0 runs the guards and writes the one record
            return record, None
    if guards:
        import torch

        from benchmark.guards import run_guards
        from benchmark.models.layout import as_layout, channels_last

        robust = torch.tensor(result["per_example"]["robust"])
        with channels_last(model, fast_layout) as nhwc:
            record["guards"] = run_guards(model, protocol, as_layout(x, nhwc), y, index, robust, result["eps"], device)
    # sweep points never replace the protocol's own record, even at the protocol's eps
    path = record_path(name, protocol.name, results_root, result["eps"] if sweep or result["eps"] != protocol.eps else None)
    if write:
        write_record(record, path)
    return record, path
