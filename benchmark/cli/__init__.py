"""Command line: python -m benchmark <command> ...  (every command is listed here, explicitly)."""

from __future__ import annotations

import argparse
import sys

from benchmark.cli import check, evaluate, perf, report, run, study, sweep, train, transfer, verify, zoo
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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
