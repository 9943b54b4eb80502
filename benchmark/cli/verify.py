"""`verify`: replay a record's saved adversarial examples (see benchmark.evaluation.verify)."""

from __future__ import annotations

from benchmark.cli.common import add_common


def cmd_verify(args) -> int:
    from benchmark.evaluation.verify import verify_record

    status = 0
    for path in args.record:
        v = verify_record(path, args.data_dir, args.cache_dir)
        if v.ok:
            print(f"{path}: verified {v.n_replayed} adversarial examples in {v.seconds:.1f}s: each inside the eps "
                  f"ball, in [0, 1] and misclassified; the record's {v.n_broken} broken examples are confirmed "
                  "(its robust accuracy is an upper bound)")
            continue
        status = 1
        print(f"{path}: FAILED, {len(v.failures)} problem(s):")
        for line in v.failures[:args.limit]:
            print(f"  {line}")
        if len(v.failures) > args.limit:
            print(f"  ... and {len(v.failures) - args.limit} more")
    return status


def add_parsers(sub) -> None:
    p = sub.add_parser("verify", help="replay a record's saved adversarial examples (evaluate --save-adversarial)")
    p.add_argument("record", nargs="+", help="record files (results/<protocol>/<model>/seed<k>.json)")
    p.add_argument("--limit", type=int, default=20, help="problems listed per record")
    add_common(p)
    p.set_defaults(func=cmd_verify)
