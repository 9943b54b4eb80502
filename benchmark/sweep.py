"""`python -m benchmark sweep`: robust accuracy at several eps, for the robustness-versus-eps plot."""

from __future__ import annotations


def cmd_sweep(args) -> int:
    from benchmark.cli import _check_device
    from benchmark.evaluate_entry import evaluate_entry

    device = _check_device(args.device)
    for name in args.model:
        for eps in sorted(args.eps):
            record, path = evaluate_entry(name, protocol_name=args.protocol, n=args.n, device=device,
                                          batch_size=args.batch_size, data_dir=args.data_dir, cache=args.cache_dir,
                                          results_root=args.results_dir, show_progress=not args.quiet, eps=eps,
                                          sweep=True)
            print(f"{name} eps={eps:g}: clean {100 * record['clean_accuracy']:.1f}%, "
                  f"robust {100 * record['robust_accuracy']:.1f}%  ({path})")
    return 0


def add_parser(sub, common) -> None:
    p = sub.add_parser("sweep", help="evaluate zoo entries at several eps")
    p.add_argument("--model", nargs="+", required=True)
    p.add_argument("--eps", type=float, nargs="+", required=True)
    p.add_argument("--protocol", default=None)
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--batch-size", type=int, default=500)
    common(p)
    p.set_defaults(func=cmd_sweep)
