"""`python -m benchmark perf`: our attacks and training against the field's libraries, side by side.

Same model, data and device for every row; ratios are printed next to the seconds.
"""

from __future__ import annotations

import time

import torch

from benchmark.errors import BenchmarkError


def _timed(fn, device: str, repeats: int = 1):
    """Output and seconds of `fn`; with repeats, the fastest run (the least disturbed by other load)."""
    best = float("inf")
    for _ in range(repeats):
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return out, best


def fwd_bwd_seconds(model, x, y, device, repeats: int = 5) -> float:
    """One forward and one input-gradient backward pass over the batch (parameters frozen)."""
    import torch.nn.functional as F

    from benchmark.attacks import attack_mode

    def once():
        with attack_mode(model):
            xg = x.clone().requires_grad_(True)
            torch.autograd.grad(F.cross_entropy(model(xg), y, reduction="sum"), xg)

    once()
    _, t = _timed(lambda: [once() for _ in range(repeats)], device, 3)
    return t / repeats


def compare_pgd(model, x, y, eps, steps, device, repeats: int = 3) -> dict:
    """Our PGD against torchattacks' on one batch; times are the fastest of `repeats` runs."""
    import torchattacks

    from benchmark.attacks import PGD
    from benchmark.evaluation import accuracy
    from benchmark.models.layout import as_layout, channels_last

    alpha = 2.5 * eps / steps
    ours = PGD("pgd", "Linf", eps, steps=steps, step_size=alpha)
    ours_full = PGD("pgd", "Linf", eps, steps=steps, step_size=alpha, return_last=True)  # no early stopping
    theirs = torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=True)
    ours(model, x[:8], y[:8])
    theirs(x[:8], y[:8])
    xo, t_ours = _timed(lambda: ours(model, x, y), device, repeats)
    xf, t_full = _timed(lambda: ours_full(model, x, y), device, repeats)
    xt, t_theirs = _timed(lambda: theirs(x, y), device, repeats)
    fb = fwd_bwd_seconds(model, x, y, device)
    with channels_last(model) as nhwc:  # as the battery runs it
        xc = as_layout(x, nhwc)
        xcl, t_cl = _timed(lambda: ours_full(model, xc, y), device, repeats)
        fb_cl = fwd_bwd_seconds(model, xc, y, device)
    return {"ours_s": t_ours, "ours_no_early_stop_s": t_full, "torchattacks_s": t_theirs, "fwd_bwd_s": fb,
            "ours_channels_last_s": t_cl, "fwd_bwd_channels_last_s": fb_cl, "channels_last": nhwc,
            "ours_channels_last_acc": accuracy(model, xcl, y, device),
            "ours_acc": accuracy(model, xo, y, device), "ours_no_early_stop_acc": accuracy(model, xf, y, device),
            "torchattacks_acc": accuracy(model, xt, y, device), "steps": steps}


def compare_battery(model, protocol, x, y, device, batch_size, amp: bool = False, aa_seeds: int = 1) -> dict:
    """Our cascade vs torchattacks PGD, CW, DeepFool and the AutoAttack package, each on every example.

    Ours runs twice: as shipped (channels-last) and in the model's stored layout, so the
    cascade's share of the speed-up and the layout's share can be told apart.
    """
    import torchattacks

    from benchmark.attacks import AutoAttack, perturbation_norm, within_eps
    from benchmark.evaluation import accuracy, predict, run_battery

    eps, norm = protocol.eps, protocol.threat_model
    index = torch.arange(x.shape[0])
    ours = {}
    for layout in (True, False):
        ours[layout] = _timed(lambda: run_battery(model, protocol.build_attacks(), x, y, index, eps, norm, batch_size,
                                                  device, cascade=True, fast_layout=layout), device)
    correct = predict(model, x, device=device) == y.cpu()
    robust = correct.clone()
    per, t_all = {}, 0.0
    pgd_spec = next((a for a in protocol.attacks if a["type"] == "pgd"), {"steps": 20})
    steps = pgd_spec.get("steps", 20)
    one_by_one = {
        "torchattacks.PGD": lambda: torchattacks.PGD(model, eps=eps, alpha=pgd_spec.get("step_size", 2.5 * eps / steps),
                                                     steps=steps, random_start=True)(x, y),
        "torchattacks.CW": lambda: torchattacks.CW(model, c=10.0, steps=100, lr=0.05)(x, y),  # their CW: one c
        "torchattacks.DeepFool": lambda: torchattacks.DeepFool(model, steps=50, overshoot=0.02)(x, y),
        "autoattack (standard)": lambda: AutoAttack("aa", norm, eps, version="standard")(model, x, y),
    }
    if amp:
        ours["amp"] = _timed(lambda: run_battery(model, protocol.build_attacks(), x, y, index, eps, norm, batch_size,
                                                 device, cascade=True, amp=True), device)
    for name, run in one_by_one.items():
        model.eval()
        x_adv, t = _timed(run, device)
        t_all += t
        dist = perturbation_norm((x_adv - x).float(), norm).cpu()
        broken = (predict(model, x_adv, device=device) != y.cpu()) & within_eps(dist, eps)
        robust &= ~broken
        per[name] = {"seconds": t, "robust_acc": float((correct & ~broken).float().mean())}
    # AutoAttack's own run-to-run spread: how far apart two honest worst cases may be
    aa_spread = [per["autoattack (standard)"]["robust_acc"]]
    for seed in range(1, aa_seeds):
        x_adv = AutoAttack("aa", norm, eps, version="standard", seed=seed)(model, x, y)
        aa_spread.append(accuracy(model, x_adv, y, device))
    (fast, t_fast), (plain, t_plain) = ours[True], ours[False]
    same = fast["per_example"]["robust"] == plain["per_example"]["robust"]
    amp_row = None
    if amp:
        res, t = ours["amp"]
        amp_row = {"seconds": t, "worst": res["robust_accuracy"],
                   "agree": res["per_example"]["robust"] == fast["per_example"]["robust"]}
    return {"ours_s": t_fast, "ours_worst": fast["robust_accuracy"], "ours_attacks": fast["attacks"], "amp": amp_row,
            "aa_spread": aa_spread, "ours_nchw_s": t_plain, "ours_nchw_worst": plain["robust_accuracy"], "layouts_agree": same,
            "one_by_one_s": t_all, "one_by_one_worst": float(robust.float().mean()), "one_by_one": per}


def training_costs(names: list[str], protocol: str, device: str, data_dir=None, cache=None, results_root=None,
                   retrain: bool = True) -> list[dict]:
    """Cost of each training strategy on the target, and the robust accuracy it reached.

    With `retrain`, every entry is trained again here, one after the other (sources are
    taken from the cache, not retrained), into a scratch cache. Training is deterministic,
    so when the new weights' sha256 equals the one in the committed evaluation record,
    that record's accuracies belong to exactly these weights; otherwise the model is
    evaluated afresh under `protocol`.
    """
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from benchmark.evaluate_entry import evaluate_entry
    from benchmark.results import record_path, results_dir
    from benchmark.training.runner import train_entry
    from benchmark.zoo import get_entry, training_record_path, weights_path

    rows = []
    with tempfile.TemporaryDirectory(prefix="rtb-perf-") as tmp:
        scratch = Path(tmp)
        for name in names:
            entry = get_entry(name)
            eval_path = record_path(name, protocol, results_root)
            committed = json.loads(eval_path.read_text()) if eval_path.is_file() else None
            if retrain:
                if entry.source:
                    src = get_entry(entry.source)
                    for f in (weights_path(src, cache), training_record_path(src, cache)):
                        if not (scratch / f.name).exists():
                            if not f.is_file():
                                raise BenchmarkError(f"perf needs the source {src.name}: run `python -m benchmark "
                                                     f"train --model {src.name}`")
                            shutil.copy(f, scratch / f.name)
                t = train_entry(entry, data_dir, scratch, device, resume=False, show_progress=False,
                                results_root=scratch / "results")
            else:
                path = results_dir(results_root) / "training" / f"{name}.json"
                t = json.loads(path.read_text()) if path.is_file() else None
            if t is None or (committed is None and not retrain):
                rows.append({"model": name, "missing": True})
                continue
            same = committed is not None and committed.get("training", {}).get("sha256") == t["sha256"]
            if not same and retrain:
                committed, _ = evaluate_entry(name, protocol, device=device, data_dir=data_dir, cache=scratch,
                                              results_root=scratch / "results", show_progress=False, guards=False)
            rows.append({"model": name, "strategy": t["strategy"], "fb_passes": t["cost"]["fb_passes"],
                         "wall_s": t["wall_seconds"], "clean": committed["clean_accuracy"],
                         "robust": committed["robust_accuracy"], "record": "committed, same sha256" if same else "fresh"})
    return rows


def cmd_perf(args) -> int:
    from benchmark.cli import _check_device
    from benchmark.evaluate_entry import evaluation_data
    from benchmark.protocol import load_protocol
    from benchmark.zoo import get_entry, load_model

    device = _check_device(args.device)
    entry = get_entry(args.model)
    model = load_model(args.model, device, args.cache_dir)
    print(f"perf on {args.model}, device {device}, threads {torch.get_num_threads()}")

    pgd_proto = load_protocol(args.protocol)
    x, y, _ = evaluation_data(entry.task, pgd_proto, args.n_pgd, args.data_dir)
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
            bmodel = model if name == args.model else load_model(name, device, args.cache_dir)
            xb, yb, _ = evaluation_data(get_entry(name).task, proto, args.n_battery, args.data_dir)
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
                          args.results_dir, retrain=not args.no_retrain)
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


def add_parser(sub, common) -> None:
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
    common(p)
    p.set_defaults(func=cmd_perf)
