"""`sweep`: robust accuracy at several eps, for the robustness-versus-eps plot."""

from __future__ import annotations

from benchmark.cli.common import add_common, add_models, eval_options, selected_models


def cmd_sweep(args) -> int:
    from benchmark.cli.evaluate import available_seeds
    from benchmark.distributed import setup
    from benchmark.evaluation import Locations, evaluate_entry
    from benchmark.zoo import load_entries

    base = eval_options(args, n=args.n)
    setup(base.device)
    entries = load_entries()
    where = Locations(args.weights, args.cache_dir, args.data_dir, args.results_dir, sweep=True)
    for name in selected_models(args, entries):
        entry = entries[name]
        for seed in available_seeds(entry, args.seed, args.weights, args.cache_dir):
            for eps in sorted(args.eps):
                opts = eval_options(args, n=args.n, eps=eps)
                record, path = evaluate_entry(entry, seed, args.protocol, opts, where)
                print(f"{name} seed {seed} eps={eps:g}: clean {100 * record['clean_accuracy']:.1f}%, "
                      f"robust {100 * record['robust_accuracy']:.1f}%  ({path})")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("sweep", help="evaluate zoo entries at several eps")
    add_models(p, required=True)
    p.add_argument("--eps", type=float, nargs="+", required=True)
    p.add_argument("--protocol", default=None)
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--weights", default="auto")
    add_common(p)
    p.set_defaults(func=cmd_sweep)
