"""Command line: python -m benchmark {zoo,evaluate,train,report,check,sweep} ..."""

from __future__ import annotations

import argparse
import sys
import time

from benchmark.errors import BenchmarkError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--data-dir", default=None, help="where the dataset lives (default: system / cache dirs)")
    p.add_argument("--cache-dir", default=None, help="zoo weights cache (default: $RTB_CACHE or ~/.cache/robust-transfer-bench/zoo)")
    p.add_argument("--results-dir", default=None, help="evaluation records (default: ./results)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _check_device(device: str) -> str:
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BenchmarkError(f"--device {device} asked for, but no CUDA GPU is available: use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        raise BenchmarkError(f"unknown device {device!r}: use cpu, cuda or cuda:N")
    return device


def cmd_zoo(args) -> int:
    import pandas as pd

    from benchmark.training import is_trained
    from benchmark.zoo import load_entries

    entries = load_entries()
    rows = [{
        "name": e.name, "task": e.task, "arch": e.architecture, "threat": f"{e.threat_model} {e.eps:g}",
        "source": e.source or "-", "strategy": e.family, "n/class": e.n_per_class or "all",
        "suites": ",".join(e.suites), "trained": "yes" if is_trained(e, args.cache_dir) else "no",
    } for e in entries.values() if not args.suite or args.suite in e.suites]
    with pd.option_context("display.max_rows", None, "display.width", 200, "display.max_colwidth", 40):
        print(pd.DataFrame(rows).to_string(index=False) if rows else "no entries")
    return 0


def cmd_evaluate(args) -> int:
    from benchmark.evaluate_entry import evaluate_entry
    from benchmark.evaluation import summary_rows

    device = _check_device(args.device)
    names = args.model
    for name in names:
        t0 = time.perf_counter()
        record, path = evaluate_entry(name, protocol_name=args.protocol, n=args.n, device=device,
                                      batch_size=args.batch_size, data_dir=args.data_dir, cache=args.cache_dir,
                                      results_root=args.results_dir, show_progress=not args.quiet,
                                      cascade=None if args.cascade is None else args.cascade == "on",
                                      eps=args.eps, guards=not args.no_guards,
                                      fast_layout=not args.no_channels_last, amp=args.amp)
        if path is None:  # another rank under torchrun: rank 0 prints and writes
            continue
        print(f"\n{name} under {record['protocol']['name']} v{record['protocol']['version']} "
              f"({record['protocol']['threat_model']} eps={record['eps']:g}, n={record['n_examples']}, "
              f"{'cascade' if record['cascade'] else 'every attack on every example'})")
        for label, value in summary_rows(record):
            print(f"  {label:<12} {value}")
        g = record.get("guards")
        if g:
            print(f"  guards       {'FLAGGED: ' + '; '.join(g['flags']) if g['flagged'] else 'passed'} "
                  f"({g['seconds']:.1f}s on {g['n_examples']} examples)")
        print(f"  evaluation time {time.perf_counter() - t0:.1f}s; record: {path}")
    return 0


def cmd_train(args) -> int:
    from benchmark.training import is_trained, train_entry
    from benchmark.zoo import dependency_order, get_entry, load_entries

    device = _check_device(args.device)
    entries = load_entries()
    if args.all:
        names = [n for n, e in entries.items() if args.suite is None or args.suite in e.suites]
    elif args.model:
        names = args.model
        for n in names:
            get_entry(n, entries)
    else:
        raise BenchmarkError("name what to train: --model NAME or --all [--suite quick]")
    order = dependency_order(names, entries)
    t0 = time.perf_counter()
    for name in order:
        entry = entries[name]
        if is_trained(entry, args.cache_dir) and not (args.force and name in names):
            print(f"{name}: already trained, skipping (use --force to retrain)")
            continue
        rec = train_entry(entry, data_dir=args.data_dir, cache=args.cache_dir, device=device,
                          resume=not args.no_resume, show_progress=not args.quiet, results_root=args.results_dir)
        if rec is None:  # another rank under torchrun: rank 0 reports
            continue
        last = rec["history"][-1] if rec["history"] else {}
        print(f"{name}: {rec['epochs']} epochs on {rec['n_train']} examples in {rec['wall_seconds']:.1f}s, "
              f"cost {rec['cost']['fb_passes']:.3g} fwd+bwd passes, train acc {last.get('train_accuracy', 0):.3f}")
    print(f"trained {len(order)} entries (with sources) in {time.perf_counter() - t0:.1f}s")
    return 0


# Suites trained and evaluated on a CPU use the cheaper protocol variant.
SUITE_PROTOCOLS = {"quick": "fmnist-linf-quick", "ci": "fmnist-linf-quick"}


def cmd_run(args) -> int:
    """Train (if needed) and evaluate a suite: the main job."""
    from benchmark.zoo import load_entries

    entries = load_entries()
    names = [n for n, e in entries.items() if args.suite in e.suites]
    if not names:
        raise BenchmarkError(f"no zoo entry is in suite {args.suite!r}")
    t0 = time.perf_counter()
    args.all, args.model, args.force = True, None, False
    cmd_train(args)
    t_train = time.perf_counter() - t0
    args.model, args.n, args.cascade, args.eps, args.no_guards = names, None, None, None, False
    args.no_channels_last, args.amp = False, False  # the main job evaluates as `evaluate` does by default
    args.protocol = args.protocol or SUITE_PROTOCOLS.get(args.suite)
    cmd_evaluate(args)
    print(f"\nsuite {args.suite}: {len(names)} entries, training {t_train:.0f}s, "
          f"total {time.perf_counter() - t0:.0f}s")
    if args.report:
        from benchmark.report import build_report

        print(f"report: {build_report(args.results_dir)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark", description=__doc__)
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("zoo", help="the model zoo")
    p.add_argument("action", choices=["list"])
    p.add_argument("--suite", default=None)
    p.add_argument("--cache-dir", default=None)
    p.set_defaults(func=cmd_zoo)

    p = sub.add_parser("evaluate", help="attack zoo entries under a protocol")
    p.add_argument("--model", required=True, nargs="+")
    p.add_argument("--protocol", default=None, help="protocol name or YAML file (default: the entry's)")
    p.add_argument("--n", type=int, default=None, help="evaluation examples (default: the protocol's)")
    p.add_argument("--eps", type=float, default=None, help="override the protocol's eps (sweeps)")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--cascade", choices=["on", "off"], default=None,
                   help="off: every attack on every example (per-attack robust accuracy)")
    p.add_argument("--no-guards", action="store_true", help="skip the gradient-masking guards")
    p.add_argument("--no-channels-last", action="store_true",
                   help="attack the model in its stored (NCHW) layout; the default channels-last layout is faster")
    p.add_argument("--amp", action="store_true",
                   help="attacks search in bf16 autocast (faster on recent GPUs; successes still checked in float32; "
                        "may weaken attacks, so off by default and recorded)")
    _common(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("train", help="train zoo entries from their recipes (sources first)")
    p.add_argument("--model", nargs="+")
    p.add_argument("--all", action="store_true")
    p.add_argument("--suite", default=None)
    p.add_argument("--force", action="store_true", help="retrain even if weights exist")
    p.add_argument("--no-resume", action="store_true", help="ignore an existing checkpoint")
    _common(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("run", help="train (if needed) and evaluate a whole suite")
    p.add_argument("--suite", default="quick")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--no-resume", action="store_true")
    p.add_argument("--protocol", default=None, help="default: fmnist-linf-quick for the quick and ci suites")
    p.add_argument("--report", action="store_true", help="also write reports/")
    _common(p)
    p.set_defaults(func=cmd_run)

    for extra in ("report", "check", "sweep", "perf"):
        try:
            module = __import__(f"benchmark.{extra}", fromlist=["add_parser"])
        except ImportError:
            continue
        module.add_parser(sub, _common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except BenchmarkError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept; rerun the same command to continue", file=sys.stderr)
        return 130
