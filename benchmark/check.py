"""`python -m benchmark check`: a regression gate comparing fresh evaluations with committed references.

It fails (exit 1, one line per regression) when clean or robust accuracy drops by more than
the protocol's tolerance. A robust accuracy that rises by more than the tolerance fails
too, unless --allow-improvement: an unexplained gain is how a weakened attack shows up.
"""

from __future__ import annotations

import sys

from benchmark.errors import BenchmarkError


def compare(reference: dict, fresh: dict, tolerance_examples: int, allow_improvement: bool = False) -> list[str]:
    """Regression lines for one model (empty when it passes)."""
    n = fresh["n_examples"]
    if reference["n_examples"] != n or reference["protocol"] != fresh["protocol"]:
        return [f"{fresh['model']}: reference was made with another protocol or n; regenerate it with --update"]
    tol = tolerance_examples / n
    problems = []
    metrics = [("clean accuracy", reference["clean_accuracy"], fresh["clean_accuracy"]),
               ("worst-case robust accuracy", reference["robust_accuracy"], fresh["robust_accuracy"])]
    ref_atk = {a["name"]: a["robust_accuracy"] for a in reference["attacks"]}
    metrics += [(f"robust accuracy after {a['name']}", ref_atk[a["name"]], a["robust_accuracy"])
                for a in fresh["attacks"] if a["name"] in ref_atk]
    for label, ref, new in metrics:
        if new < ref - tol:
            problems.append(f"{fresh['model']}: {label} dropped from {100 * ref:.1f}% to {100 * new:.1f}% "
                            f"(tolerance {tolerance_examples} of {n} examples)")
        elif new > ref + tol and not allow_improvement and label != "clean accuracy":
            problems.append(f"{fresh['model']}: {label} rose from {100 * ref:.1f}% to {100 * new:.1f}%: "
                            "check the attacks were not weakened, then rerun with --update")
    return problems


def cmd_check(args) -> int:
    from benchmark.cli import _check_device
    from benchmark.evaluate_entry import evaluate_entry
    from benchmark.protocol import load_protocol
    from benchmark.results import read_record, record_path, write_record
    from benchmark.training import is_trained, train_entry
    from benchmark.zoo import dependency_order, get_entry, load_entries

    device = _check_device(args.device)
    entries = load_entries()
    names = args.model or [n for n, e in entries.items() if args.suite in e.suites]
    if not names:
        raise BenchmarkError(f"no zoo entry is in suite {args.suite!r}: name models with --model")
    protocol = load_protocol(args.protocol)
    if args.train_missing:
        for name in dependency_order(names, entries):
            if not is_trained(entries[name], args.cache_dir):
                train_entry(entries[name], args.data_dir, args.cache_dir, device, show_progress=not args.quiet,
                            results_root=args.results_dir)
    problems, checked = [], 0
    for name in names:
        get_entry(name, entries)
        ref_path = record_path(name, protocol.name, args.reference_dir)
        fresh, _ = evaluate_entry(name, args.protocol, None, device, data_dir=args.data_dir, cache=args.cache_dir,
                                  show_progress=not args.quiet, write=False)
        if args.update:
            write_record(fresh, ref_path)
            print(f"{name}: reference updated ({ref_path})")
            continue
        if not ref_path.is_file():
            problems.append(f"{name}: no reference record at {ref_path}; create it with --update")
            continue
        found = compare(read_record(ref_path), fresh, protocol.tolerance_examples, args.allow_improvement)
        checked += 1
        status = "REGRESSION" if found else "ok"
        print(f"{name}: {status} (clean {100 * fresh['clean_accuracy']:.1f}%, robust {100 * fresh['robust_accuracy']:.1f}%)")
        problems += found
    for line in problems:
        print(line, file=sys.stderr)
    print(f"checked {checked} models against references: {len(problems)} regressions")
    return 1 if problems else 0


def add_parser(sub, common) -> None:
    p = sub.add_parser("check", help="fail when robustness regresses against committed reference records")
    p.add_argument("--suite", default="ci")
    p.add_argument("--model", nargs="+", default=None)
    p.add_argument("--protocol", default="fmnist-linf-quick")
    p.add_argument("--reference-dir", default=None, help="where the reference records are (default: results/)")
    p.add_argument("--train-missing", action=__import__("argparse").BooleanOptionalAction, default=True,
                   help="train entries whose weights are missing (default: on)")
    p.add_argument("--update", action="store_true", help="write fresh records as the new references")
    p.add_argument("--allow-improvement", action="store_true", help="do not fail when robust accuracy rises")
    common(p)
    p.set_defaults(func=cmd_check)
