"""The Python API, in the spirit of RobustBench's `load_model` / `benchmark`.

    import benchmark as rtb
    rtb.list_models(suite="quick")                        # the zoo
    model = rtb.load_model("fmnist_lwf", seed=0)          # published (or your trained) weights
    result = rtb.evaluate(model, "fmnist-linf-quick", task="fmnist-tgt")
    print(result.clean_accuracy, result.robust_accuracy, result.per_attack)

`evaluate` takes any `nn.Module` mapping pixels in [0, 1] to logits; wrap a model that
expects normalized inputs in `Normalized(model, mean, std)`. Library calls never start a
process group and print nothing unless `show_progress=True`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from benchmark.errors import BenchmarkError
from benchmark.evaluation import EvalOptions, EvalResult, evaluate_model, evaluation_data, load_protocol
from benchmark.evaluation.battery import check_inputs
from benchmark.evaluation.protocol import Protocol


class Normalized(nn.Module):
    """A model that expects normalized inputs, made to take pixels in [0, 1] (normalization inside)."""

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean) / self.std)


def list_models(suite: str | None = None) -> list[str]:
    """Names of the zoo's entries (the project's and your own), optionally one suite's."""
    from benchmark.zoo import load_entries

    return [n for n, e in load_entries().items() if suite is None or suite in e.suites]


def load_model(name: str, seed: int = 0, weights: str = "auto", device: str = "cpu") -> nn.Module:
    """A zoo entry's model in eval mode: its published weights (checked against their sha256),
    or your trained copy (`weights="trained"`), or a file."""
    from benchmark.zoo import get_entry
    from benchmark.zoo.weights import load_model as _load

    return _load(get_entry(name), seed, weights, device)


def train(name: str, seed: int = 0, device: str = "cpu", show_progress: bool = False) -> dict:
    """Train one seed of a zoo entry from its recipe into the weights cache; returns the training record."""
    from benchmark.training import TrainOptions, train_entry
    from benchmark.zoo import get_entry, has_weights, load_entries

    entries = load_entries()
    entry = get_entry(name, entries)
    opts = TrainOptions(device=device, show_progress=show_progress)
    if entry.source and not has_weights(entries[entry.source], seed, "auto"):
        train(entry.source, seed, device, show_progress)
    return train_entry(entry, seed, opts, entries=entries)


def evaluate(model: nn.Module, protocol: str | Protocol = "fmnist-linf-quick", task: str | None = None,
             x: torch.Tensor | None = None, y: torch.Tensor | None = None, n: int | None = None,
             device: str = "cpu", guards: bool = True, show_progress: bool = False,
             data_dir: str | Path | None = None) -> EvalResult:
    """Attack `model` under a protocol, on a task's fixed evaluation subset or on tensors (x, y).

    Returns an `EvalResult`: clean, per-attack and worst-case robust accuracy and the
    per-example outcomes; `result.write(path, model=...)` saves it as a record.
    """
    from benchmark.data import get_task

    protocol = load_protocol(protocol) if isinstance(protocol, (str, Path)) else protocol
    if (x is None) != (y is None):
        raise BenchmarkError("pass both x (images) and y (labels), or neither and a task")
    if x is None:
        if task is None:
            raise BenchmarkError("name a task (e.g. task='fmnist-tgt') or pass tensors x and y")
        t = get_task(task)
        protocol.check_task(t)
        x, y, index = evaluation_data(t, protocol, n, data_dir)
        num_classes, shape = t.n_classes, t.input_shape
    else:
        x, y = torch.as_tensor(x), torch.as_tensor(y).long()
        problem = protocol.applies_to.mismatch_shape(tuple(x.shape[1:])) if x.dim() == 4 else None
        if problem:
            raise BenchmarkError(f"protocol {protocol.name} is for {problem} ({protocol.applies_to.describe()}), "
                                 f"but the images are {tuple(x.shape[1:])}: choose a protocol for your data")
        if n is not None:
            x, y = x[:n], y[:n]
        index = torch.arange(x.shape[0])
        with torch.no_grad():
            num_classes = int(model.eval().to(device)(x[:1].to(device)).shape[1])
        shape = None
    check_inputs(x, y, num_classes, shape)
    return evaluate_model(model, protocol, x, y, index, EvalOptions(device=device, guards=guards,
                                                                    show_progress=show_progress))


def transfer(source: str, data: str | Path, strategy: str = "lwf", n_per_class: int | None = None, **options):
    """Make, train and evaluate a transfer from a zoo source to your folder of images
    (see `python -m benchmark transfer --help`); returns (entry, records, timings in seconds)."""
    from benchmark.transfer import TransferRequest, run_transfer

    return run_transfer(TransferRequest(source=source, data=str(data), strategy=strategy, n_per_class=n_per_class,
                                        **options))


__all__ = ["EvalResult", "Normalized", "evaluate", "list_models", "load_model", "train", "transfer"]
