"""`perf`: our attacks and training against the field's libraries, side by side, with ratios."""

from __future__ import annotations

import torch

from benchmark.cli.common import add_common
from benchmark.perf import compare_battery, compare_pgd, training_costs


def cmd_paper(args) -> int:
    """Paper-scale throughput on synthetic tensors (see benchmark.perf_paper)."""
    from benchmark.cli.common import check_device
    from benchmark.perf_paper import PAPER_MODELS, TRAINING, PaperPerfOptions, run

    opts = PaperPerfOptions(device=check_device(args.device), batch=args.paper_batch, steps=args.paper_steps,
                            amp=not args.no_amp, channels_last=not args.no_channels_last, compile=args.compile)
    lines = []

    def log(line: str) -> None:
        print(line, flush=True)
        lines.append(line)

    run(args.archs or list(PAPER_MODELS), args.strategies or list(TRAINING), opts, log)
    if args.out:
        from benchmark.io import atomic_write_text

        atomic_write_text(args.out, "\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    return 0


def cmd_perf(args) -> int:
    if args.paper:
        return cmd_paper(args)
    from benchmark.cli.common import check_device
    from benchmark.data import get_task
    from benchmark.evaluation import evaluation_data, load_protocol
    from benchmark.zoo import get_entry, load_model

    device = check_device(args.device)
    entry = get_entry(args.model)
    model = load_model(entry, 0, "auto", device, args.cache_dir)
    print(f"perf on {args.model} (seed 0), device {device}, threads {torch.get_num_threads()}")

    def task_of(e):
        return get_task(e.task, relative_to=e.folder)

    pgd_proto = load_protocol(args.protocol)
    x, y, _ = evaluation_data(task_of(entry), pgd_proto, args.n_pgd, args.data_dir)
    x, y = x.to(device), y.to(device)
    r = compare_pgd(model, x, y, pgd_proto.eps, args.steps, device)
    per_full, per_theirs = r["ours_no_early_stop_s"] / r["steps"], r["torchattacks_s"] / r["steps"]
    print(f"\n1. PGD-{r['steps']} Linf eps={pgd_proto.eps:g} on {x.shape[0]} examples (one batch; fastest of 3 runs)")
    print(f"   ours (early stop)   {r['ours_s']:.2f}s  robust acc {100 * r['ours_acc']:.1f}%")
    print(f"   ours (every step)   {r['ours_no_early_stop_s']:.2f}s  robust acc {100 * r['ours_no_early_stop_acc']:.1f}%"
          f"  {per_full * 1e3:.1f} ms/step")
    print(f"   torchattacks        {r['torchattacks_s']:.2f}s  robust acc {100 * r['torchattacks_acc']:.1f}%"
          f"  {per_theirs * 1e3:.1f} ms/step")
    if r["channels_last"]:
        per_cl = r["ours_channels_last_s"] / r["steps"]
        print(f"   ours (channels-last) {r['ours_channels_last_s']:.2f}s  robust acc "
              f"{100 * r['ours_channels_last_acc']:.1f}%  {per_cl * 1e3:.1f} ms/step (every step, as the battery runs it)")
    print(f"   ratio torchattacks/ours: {r['torchattacks_s'] / r['ours_s']:.2f}x (early stop), "
          f"{per_theirs / per_full:.2f}x per step (same layout)")
    print(f"\n3. PGD step / (forward+backward): {per_full / r['fwd_bwd_s']:.2f} "
          f"(fwd+bwd {r['fwd_bwd_s'] * 1e3:.1f} ms; target <= 1.2)")
    if r["channels_last"]:
        print(f"   channels-last: {per_cl / r['fwd_bwd_channels_last_s']:.2f} "
              f"(fwd+bwd {r['fwd_bwd_channels_last_s'] * 1e3:.1f} ms)")

    if not args.skip_battery:
        proto = load_protocol(args.battery_protocol)
        for name in args.battery_models:
            bentry = get_entry(name)
            bmodel = model if name == args.model else load_model(bentry, 0, "auto", device, args.cache_dir)
            xb, yb, _ = evaluation_data(task_of(bentry), proto, args.n_battery, args.data_dir)
            xb, yb = xb.to(device), yb.to(device)
            b = compare_battery(bmodel, proto, xb, yb, device, args.batch_size, args.amp or device.startswith("cuda"),
                                args.aa_seeds)
            print(f"\n2. Battery on {name}, {xb.shape[0]} examples ({proto.name})")
            for a in b["ours_attacks"]:
                print(f"   ours {a['name']:<22} {a['seconds']:7.2f}s  after it {100 * a['robust_accuracy']:.1f}%")
            for aname, v in b["one_by_one"].items():
                print(f"   {aname:<27} {v['seconds']:7.2f}s  alone {100 * v['robust_acc']:.1f}%")
            print(f"   ours (cascade, channels-last) {b['ours_s']:6.1f}s  worst case {100 * b['ours_worst']:.1f}%")
            print(f"   ours (cascade, NCHW)          {b['ours_nchw_s']:6.1f}s  worst case {100 * b['ours_nchw_worst']:.1f}%"
                  f"  (per-example outcomes {'identical' if b['layouts_agree'] else 'DIFFER'})")
            if b["amp"]:
                a = b["amp"]
                print(f"   ours (cascade, bf16 search)   {a['seconds']:6.1f}s  worst case {100 * a['worst']:.1f}%"
                      f"  (per-example outcomes {'identical' if a['agree'] else 'DIFFER'} vs float32)")
            print(f"   one by one                    {b['one_by_one_s']:6.1f}s  worst case {100 * b['one_by_one_worst']:.1f}%")
            if len(b["aa_spread"]) > 1:
                print(f"   AutoAttack alone, seeds 0-{len(b['aa_spread']) - 1}: robust "
                      f"{100 * min(b['aa_spread']):.1f}-{100 * max(b['aa_spread']):.1f}% (its own randomness)")
            print(f"   speed-up {b['one_by_one_s'] / b['ours_s']:.2f}x (target >= 2); the cascade alone "
                  f"{b['one_by_one_s'] / b['ours_nchw_s']:.2f}x, channels-last {b['ours_nchw_s'] / b['ours_s']:.2f}x")

    rows = training_costs(args.train_models, args.train_protocol, device, args.data_dir, args.cache_dir,
                          retrain=not args.no_retrain)
    how = "trained here one after the other" if not args.no_retrain else "from results/training"
    print(f"\n4. Training cost on the target ({how}; accuracy under {args.train_protocol})")
    base = next((r for r in rows if r.get("strategy") == "pgd_at" and not r.get("missing")), None)
    for r in rows:
        if r.get("missing"):
            print(f"   {r['model']:<28} not trained/evaluated: python -m benchmark train --model {r['model']}")
            continue
        ratio = f"  PGD-AT/this {base['fb_passes'] / r['fb_passes']:.1f}x passes, {base['wall_s'] / r['wall_s']:.1f}x wall" if base else ""
        print(f"   {r['model']:<28} {r['fb_passes']:.3g} passes  {r['wall_s']:7.1f}s  clean {100 * r['clean']:.1f}%"
              f"  robust {100 * r['robust']:.1f}%{ratio}  [{r.get('record', 'committed')}]")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("perf", help="benchmark our attacks and training against torchattacks and AutoAttack")
    p.add_argument("--model", default="fmnist_src_robust")
    p.add_argument("--protocol", default="fmnist-linf-quick", help="eps and data for the PGD comparison")
    p.add_argument("--battery-protocol", default="fmnist-linf", help="battery for the cascade comparison")
    p.add_argument("--n-pgd", type=int, default=500)
    p.add_argument("--n-battery", type=int, default=200)
    p.add_argument("--battery-models", nargs="+", default=["fmnist_src_robust", "fmnist_lwf"],
                   help="models for the cascade comparison (a robust source and a transferred model)")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--skip-battery", action="store_true")
    p.add_argument("--aa-seeds", type=int, default=3,
                   help="AutoAttack seeds for its run-to-run spread, against which worst cases are compared")
    p.add_argument("--amp", action="store_true", help="also time the cascade with bf16 attack search (always on CUDA)")
    p.add_argument("--train-models", nargs="+", default=["fmnist_linear_n100", "fmnist_lwf_n100",
                   "fmnist_free_scratch_n100", "fmnist_fast_scratch_n100", "fmnist_adv_scratch_n100"])
    p.add_argument("--train-protocol", default="fmnist-linf-quick")
    p.add_argument("--no-retrain", action="store_true", help="read training costs from results/training instead")
    paper = p.add_argument_group("paper scale (--paper): synthetic CIFAR/ImageNet-shaped tensors, no dataset needed")
    paper.add_argument("--paper", action="store_true", help="measure the paper's architectures and project its runs")
    paper.add_argument("--archs", nargs="+", default=None, help="default: wrn_28_10 wrn_32_10 preact_resnet18 resnet50")
    paper.add_argument("--strategies", nargs="+", default=None, help="default: natural pgd_at free_at fast_at")
    paper.add_argument("--paper-batch", type=int, default=128)
    paper.add_argument("--paper-steps", type=int, default=10, help="timed optimizer steps per measurement")
    paper.add_argument("--no-amp", action="store_true")
    paper.add_argument("--no-channels-last", action="store_true")
    paper.add_argument("--compile", action="store_true", help="torch.compile the models first")
    paper.add_argument("--out", default=None, help="also write the output to this file (e.g. reports/perf_cuda.txt)")
    add_common(p)
    p.set_defaults(func=cmd_perf)
