"""`zoo list`: the registry, with what has weights."""

from __future__ import annotations

from benchmark.cli.common import add_common


def cmd_list(args) -> int:
    import pandas as pd

    from benchmark.zoo import has_weights, load_entries

    import fnmatch

    entries = load_entries()
    rows = []
    pattern = args.match if args.match and any(c in args.match for c in "*?[") else f"*{args.match}*"
    for e in entries.values():
        if args.suite and args.suite not in e.suites:
            continue
        if args.match and not fnmatch.fnmatch(e.name, pattern):
            continue
        published = sum(e.published(s) is not None for s in e.seeds)
        trained = sum(has_weights(e, s, "trained", args.cache_dir) for s in e.seeds)
        rows.append({"name": e.name, "task": e.task, "arch": e.architecture, "threat": f"{e.threat_model} {e.eps:g}",
                     "source": e.source or "-", "strategy": e.family, "n/class": e.n_per_class,
                     "seeds": len(e.seeds), "published": published, "trained": trained,
                     "suites": ",".join(e.suites), "from": e.origin})
    with pd.option_context("display.max_rows", None, "display.width", 250, "display.max_colwidth", 40):
        print(pd.DataFrame(rows).to_string(index=False) if rows else
              f"no entries{f' match {args.match!r}' if args.match else ''}{f' in suite {args.suite}' if args.suite else ''}")
    return 0


def cmd_sources(args) -> int:
    """What each source provider offers (RobustBench: its model zoo's names per dataset and threat model)."""
    import benchmark.sources.providers  # noqa: F401  (registers the providers)
    from benchmark.sources import PROVIDERS

    names = [args.provider] if args.provider else list(PROVIDERS)
    for name in names:
        provider = PROVIDERS.get(name)
        found = provider.list(pattern=args.match)
        if args.match and name != "timm":
            import fnmatch

            found = [f for f in found if fnmatch.fnmatch(f, f"*{args.match}*")]
        print(f"{name}: {len(found)} models" + ("" if found else f" listed; name any as {provider.form}"))
        for ref in found:
            print(f"  {ref}")
    return 0


def cmd_zoo(args) -> int:
    return cmd_sources(args) if args.action == "sources" else cmd_list(args)


def add_parsers(sub) -> None:
    p = sub.add_parser("zoo", help="the model zoo, and the sources providers offer")
    p.add_argument("action", choices=["list", "sources"])
    p.add_argument("--suite", default=None)
    p.add_argument("--provider", default=None, help="sources: robustbench, timm, hf, torchvision or file")
    p.add_argument("--match", default=None,
                   help="only names containing this, or matching it where it has * ? [ (timm's sources: its pattern)")
    add_common(p, data=False)
    p.set_defaults(func=cmd_zoo)
