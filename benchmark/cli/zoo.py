"""`zoo list`: the registry, with what has weights."""

from __future__ import annotations

from benchmark.cli.common import add_common


def cmd_list(args) -> int:
    import pandas as pd

    from benchmark.zoo import has_weights, load_entries

    entries = load_entries()
    rows = []
    for e in entries.values():
        if args.suite and args.suite not in e.suites:
            continue
        published = sum(e.published(s) is not None for s in e.seeds)
        trained = sum(has_weights(e, s, "trained", args.cache_dir) for s in e.seeds)
        rows.append({"name": e.name, "task": e.task, "arch": e.architecture, "threat": f"{e.threat_model} {e.eps:g}",
                     "source": e.source or "-", "strategy": e.family, "n/class": e.n_per_class,
                     "seeds": len(e.seeds), "published": published, "trained": trained,
                     "suites": ",".join(e.suites), "from": e.origin})
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 40):
        print(pd.DataFrame(rows).to_string(index=False) if rows else "no entries")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("zoo", help="the model zoo")
    p.add_argument("action", choices=["list"])
    p.add_argument("--suite", default=None)
    add_common(p, data=False)
    p.set_defaults(func=cmd_list)
