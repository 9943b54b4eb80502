"""Options shared by the commands, and their conversion into the library's option objects."""

from __future__ import annotations

import argparse

from benchmark.errors import BenchmarkError


def add_common(p: argparse.ArgumentParser, data: bool = True) -> None:
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    if data:
        p.add_argument("--data-dir", default=None, help="where the dataset lives (default: the task's own)")
    p.add_argument("--cache-dir", default=None,
                   help="trained-weights cache (default: $RTB_CACHE or ~/.cache/robust-transfer-bench/zoo)")
    p.add_argument("--results-dir", default=None,
                   help="where records go (default: your folder, $RTB_HOME/results; the committed results/ only with "
                        "--update-records)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_update_records(p: argparse.ArgumentParser) -> None:
    p.add_argument("--update-records", action="store_true",
                   help="maintainers: write into the project's committed records (results/, reports/, the zoo's "
                        "tuning selections) instead of your folder ($RTB_HOME)")


def add_models(p: argparse.ArgumentParser, required: bool = False) -> None:
    group = p.add_mutually_exclusive_group(required=required)
    group.add_argument("--model", nargs="+", help="zoo entries")
    group.add_argument("--suite", help="every entry of a suite (quick, ci, full, cnn, ...)")
    p.add_argument("--seed", type=int, nargs="+", default=None, help="seeds (default: every seed of the entry)")


def add_override(p: argparse.ArgumentParser) -> None:
    p.add_argument("--override", nargs="+", metavar="KEY=VALUE", default=None,
                   help="a rehearsal at toy size that keeps the recipe's logic: architecture=NAME, n_per_class=N, "
                        "epochs=N, batch_size=N; makes derived entries NAME@TAG (sources too), recorded in their "
                        "weights and records, kept in your cache and results")


def overridden(args, entries, names: list[str]) -> list[str]:
    """The names to work on: the derived entries of `--override` (added to `entries`), or the names themselves."""
    from benchmark.zoo.entry import derive, parse_override

    override = parse_override(getattr(args, "override", None))
    if override is None:
        return names
    return [derive(entries[n], override, entries).name for n in names]


def add_eval_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--jobs", type=int, default=None,
                   help="models evaluated side by side, one process each (default: one per CPU core when there "
                        "are several models; 1 on a GPU or under torchrun)")
    p.add_argument("--no-guards", action="store_true", help="skip the gradient-masking guards")
    p.add_argument("--no-channels-last", action="store_true",
                   help="attack the model in its stored (NCHW) layout; channels-last is faster, same outcomes")
    p.add_argument("--amp", action="store_true",
                   help="attacks search in bf16 autocast (successes still checked in float32; may weaken attacks, "
                        "so off by default and recorded)")


def check_device(device: str) -> str:
    import torch

    if not (device == "cpu" or device.startswith("cuda")):
        raise BenchmarkError(f"unknown device {device!r}: use cpu, cuda or cuda:N")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError(f"--device {device} asked for, but no CUDA GPU is available: use --device cpu")
    return device


def selected_models(args, entries) -> list[str]:
    from benchmark.zoo import get_entry, suite_entries

    if getattr(args, "suite", None):
        return suite_entries(args.suite, entries)
    if not getattr(args, "model", None):
        raise BenchmarkError("name the models: --model NAME [NAME ...] or --suite SUITE")
    for name in args.model:
        get_entry(name, entries)
    return list(args.model)


def eval_options(args, **overrides):
    from benchmark.evaluation import EvalOptions

    values = dict(device=check_device(args.device), batch_size=getattr(args, "batch_size", 500),
                  guards=not getattr(args, "no_guards", False),
                  channels_last=not getattr(args, "no_channels_last", False), amp=getattr(args, "amp", False),
                  show_progress=not args.quiet)
    values.update(overrides)
    return EvalOptions(**values)


def train_options(args, **overrides):
    from benchmark.training import TrainOptions

    values = dict(device=check_device(args.device), data_dir=getattr(args, "data_dir", None), cache=args.cache_dir,
                  resume=not getattr(args, "no_resume", False), show_progress=not args.quiet)
    values.update(overrides)
    return TrainOptions(**values)
