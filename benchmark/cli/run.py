"""`run`: the main job. Evaluate a suite's published weights (training only what has no
weights), say whether each committed record was reproduced, and optionally write the reports."""

from __future__ import annotations

import time

from benchmark.cli.common import add_common, add_eval_options, add_update_records, eval_options, train_options

# Suites evaluated on a CPU use the cheaper protocol variant.
SUITE_PROTOCOLS = {"quick": "fmnist-linf-quick", "ci": "fmnist-linf-quick", "cnn": "fmnist-linf-quick"}


def cmd_run(args) -> int:
    from benchmark.cli.evaluate import evaluate_all
    from benchmark.cli.train import ensure_sources, report
    from benchmark.distributed import setup
    from benchmark.evaluation import Locations, load_protocol
    from benchmark.training import train_entry
    from benchmark.zoo import has_weights, load_entries, suite_entries

    opts = eval_options(args)
    setup(opts.device)
    entries = load_entries()
    names = suite_entries(args.suite, entries)
    protocol = load_protocol(args.protocol or SUITE_PROTOCOLS.get(args.suite) or entries[names[0]].protocol)
    t0 = time.perf_counter()
    topts = train_options(args)
    trained = 0
    seeds = {name: (entries[name].seeds if args.all_seeds else
                    [s for s in (args.seed or entries[name].seeds[:1]) if s in entries[name].seeds])
             for name in names}
    for name in names:  # only what has no weights at all is trained (published weights come with the project)
        for seed in seeds[name]:
            if not has_weights(entries[name], seed, "auto", topts.cache):
                ensure_sources(name, seed, entries, topts)
                report(train_entry(entries[name], seed, topts, entries=entries))
                trained += 1
    t_train = time.perf_counter() - t0
    where = Locations("auto", args.cache_dir, args.data_dir, args.results_dir, update_records=args.update_records)
    reproduction = []  # published weights against their committed records, example by example
    done = evaluate_all(names, None, protocol, opts, where, entries, reproduction, n_parallel=args.jobs,
                        seeds_by_entry=seeds)
    differ = [f for f in reproduction if f.problem or f.examples]
    same = len(reproduction) - len(differ)
    n_models = sum(len(r) for r in done.values())
    print(f"\nsuite {args.suite}: {len(names)} entries, {n_models} models (entry x seed) under {protocol.name}; "
          f"trained {trained} in {t_train:.0f}s; total {time.perf_counter() - t0:.0f}s")
    if reproduction:
        print(f"reproduction: {same} of {len(reproduction)} committed records reproduced example for example")
        for flips in differ:
            print(f"  {flips.describe()}")
    if args.report:
        from benchmark.paths import project_reports_dir, user_reports_dir
        from benchmark.reports import build_report

        # from the committed records; into your folder, the project's reports/ only for maintainers
        out = project_reports_dir() if args.update_records else user_reports_dir()
        print(f"report: {build_report(reports_root=out)}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("run", help="the main job: evaluate a whole suite (published weights; trains what has none)")
    p.add_argument("--suite", default="quick")
    p.add_argument("--protocol", default=None, help="default: fmnist-linf-quick for the CPU suites")
    p.add_argument("--report", action="store_true",
                   help="also write the leaderboard, plots, claims and page from every committed record (into "
                        "$RTB_HOME/reports; reports/ with --update-records)")
    p.add_argument("--seed", type=int, nargs="+", default=None,
                   help="seeds to evaluate (default: each entry's first seed; the reports use every committed seed)")
    p.add_argument("--all-seeds", action="store_true", help="evaluate every seed of every entry")
    p.add_argument("--no-resume", action="store_true")
    add_update_records(p)
    add_eval_options(p)
    add_common(p)
    p.set_defaults(func=cmd_run)
