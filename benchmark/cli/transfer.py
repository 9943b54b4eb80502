"""`transfer`: a zoo source + your folder of images -> your own entry, trained and evaluated."""

from __future__ import annotations

from benchmark.cli.common import check_device


def cmd_transfer(args) -> int:
    from benchmark.cli.evaluate import print_seed_summary
    from benchmark.evaluation import summary_rows
    from benchmark.paths import user_results_dir
    from benchmark.transfer import TransferRequest, run_transfer

    req = TransferRequest(source=args.source, data=args.data, task=args.task, strategy=args.strategy,
                          n_per_class=args.n_per_class, name=args.name, seeds=args.seed, protocol=args.protocol,
                          lr=args.lr, epochs=args.epochs, k=args.k, head=args.head, device=check_device(args.device),
                          show_progress=not args.quiet, guards=not args.no_guards)
    entry, records, timings = run_transfer(req)
    for rec in records:
        print(f"\n{entry.name} seed {rec['seed']} under {rec['protocol']['name']} v{rec['protocol']['version']} "
              f"({rec['protocol']['threat_model']} eps={rec['eps']:g}, n={rec['n_examples']})")
        for label, value in summary_rows(rec):
            print(f"  {label:<12} {value}")
    print_seed_summary(entry.name, records)
    print(f"\nentry: {entry.path}\nrecords: {user_results_dir() / records[0]['protocol']['name'] / entry.name}\n"
          f"time: training {timings['train']:.0f}s, evaluation {timings['evaluate']:.0f}s\n"
          f"leaderboard with your entries: python -m benchmark report --with-user")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("transfer", help="transfer a zoo source to your own folder of images: entry, training, "
                                        "evaluation")
    p.add_argument("--source", required=True, help="a zoo entry to transfer from (e.g. fmnist_src_robust)")
    p.add_argument("--data", default=None, help="folder with train/<class>/* and val/<class>/* (or test/) images")
    p.add_argument("--task", default=None, help="instead of --data: a task name or task file")
    p.add_argument("--strategy", default="lwf", help="linear, mlp, retrain_last_k, finetune, lwf, pgd_at, ...")
    p.add_argument("--n-per-class", type=int, default=None, help="training images per class (default: all)")
    p.add_argument("--name", default=None, help="the new entry's name (default: source_strategy_data)")
    p.add_argument("--seed", type=int, nargs="+", default=[0], help="seeds to train (default: 0)")
    p.add_argument("--protocol", default=None, help="default: the one made for the images' size and channels")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--k", type=int, default=1, help="retrain_last_k: blocks to retrain")
    p.add_argument("--head", choices=["linear", "mlp"], default="linear")
    p.add_argument("--no-guards", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=cmd_transfer)
