"""Command line: python -m benchmark <command> ...  (every command is listed here, explicitly)."""

from __future__ import annotations

import argparse
import os
import sys

from benchmark.cli import check, evaluate, perf, report, run, study, sweep, train, transfer, verify, zoo
from benchmark.cores import usable_cores
from benchmark.errors import BenchmarkError

COMMANDS = (zoo, train, evaluate, run, study, sweep, report, check, perf, transfer, verify)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmark",
                                     description="robustness benchmark for adversarially robust transfer learning")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.add_parsers(sub)
    return parser


def parse(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """The command line in any order of flags and names (`study plan --json fmnist` as `study plan fmnist --json`):
    the command's own words are parsed intermixed, so a name after a flag still fills its positional."""
    args, _ = parser.parse_known_args(argv)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    at = argv.index(args.command)
    own = sub.choices[args.command]
    rest = own.parse_intermixed_args(argv[at + 1:])
    for key, value in vars(rest).items():
        setattr(args, key, value)
    return args


def _threads_within_reach() -> None:
    """Held to fewer cores than the machine has (a Slurm job's affinity, a container's quota), start no more
    threads than those cores: torch would start one per machine core, and they would spin against each other."""
    cores = usable_cores()
    if cores < (os.cpu_count() or cores):
        os.environ.setdefault("OMP_NUM_THREADS", str(cores))  # read when torch is first imported


def main(argv: list[str] | None = None) -> int:
    _threads_within_reach()
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(parser, argv)
    try:
        from benchmark.plugins import load_plugins

        load_plugins()  # $RTB_PLUGINS: the user's own strategies, attacks, architectures and datasets
        return args.func(args)
    except BenchmarkError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: nothing half-written was kept; rerun the same command to continue", file=sys.stderr)
        return 130
