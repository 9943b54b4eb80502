"""`perf`: our attacks and training against the field's libraries, side by side, with ratios."""

from __future__ import annotations

import json
import os

import torch

from benchmark.cli.common import add_common
from benchmark.perf.measure import compare_battery, compare_pgd, training_costs


def cmd_paper(args) -> int:
    """Paper-scale throughput on synthetic tensors (see benchmark.perf.paper)."""
    from benchmark.cli.common import check_device
    from benchmark.perf.paper import PAPER_MODELS, TRAINING, PaperPerfOptions, run

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


def cmd_eval_paths(args) -> int:
    """Section 5 (and 6 with --main-job): today's quick-protocol evaluation against the new one."""
    from benchmark.cli.common import check_device
    from benchmark.perf.measure import compare_eval_paths, compare_main_job

    device = check_device(args.device)
    models = [(m, 0) for m in args.eval_models]
    print(f"perf --eval-paths, device {device}, threads {torch.get_num_threads()}, {os.cpu_count()} CPU cores")
    print("\n5. The quick protocol's evaluation of one published model (seed 0): today's path (reference "
          "AutoAttack, guards as before v3) against the new one (our APGD, v3), then the opt-in bf16 search")
    print(f"   {'model':<28}{'today':>8}{'new':>8}{'ratio':>7}{'bf16':>8}{'ratio':>7}   per-example comparison")
    tot_old = tot_new = tot_amp = 0.0
    for r in compare_eval_paths(models, device, args.data_dir, args.cache_dir, amp=not args.no_amp_path):
        tot_old, tot_new = tot_old + r["old_s"], tot_new + r["new_s"]
        amp = ""
        if "amp_s" in r:
            tot_amp += r["amp_s"]
            amp = f"{r['amp_s']:7.1f}s{r['old_s'] / r['amp_s']:6.2f}x"
        same = "identical worst case per example" if not (r["only_old"] or r["only_new"]) else \
            f"broken only by today's: {r['only_old']}, only by new: {r['only_new']}"
        print(f"   {r['model']:<28}{r['old_s']:7.1f}s{r['new_s']:7.1f}s{r['old_s'] / r['new_s']:6.2f}x{amp}   "
              f"robust {100 * r['old_robust']:.1f}% / {100 * r['new_robust']:.1f}%; AutoAttack broke "
              f"{r['aa_broken']}, our APGD {r['apgd_broken']}; {same}; guards {r['guards_old_s']:.1f}s / "
              f"{r['guards_new_s']:.1f}s, flags {'the same' if r['same_flags'] else 'DIFFER'}")
        if "amp_s" in r:
            print(f"   {'':<28}bf16 search: robust {100 * r['amp_robust']:.1f}%; broken only by today's: "
                  f"{r['amp_only_old']}, only by bf16: {r['amp_only_new']}; flags "
                  f"{'the same' if r['amp_same_flags'] else 'DIFFER'}")
    amp_total = f", bf16 search {tot_old / tot_amp:.2f}x" if tot_amp else ""
    print(f"   all {len(models)} models: today {tot_old:.0f}s, new {tot_new:.0f}s: {tot_old / tot_new:.2f}x{amp_total}")
    if args.main_job:
        from benchmark.zoo import load_entries, suite_entries

        entries = load_entries()
        jobs = [(n, s) for n in suite_entries(args.main_job, entries) for s in entries[n].seeds
                if entries[n].published(s) is not None and s < args.main_job_seeds]
        m = compare_main_job(jobs, device, args.data_dir, args.cache_dir)
        print(f"\n6. Evaluating the {args.main_job} suite's {m['models']} published models (seeds < {args.main_job_seeds}): "
              f"today's path one after the other {m['old_s'] / 60:.1f} min, the new one ({m['jobs']} side by side, "
              f"one thread each) {m['new_s'] / 60:.1f} min: {m['old_s'] / m['new_s']:.2f}x")
    return 0


def cmd_ceiling(args) -> int:
    """Section 7: how much faster the float32 evaluation could be with the reference's steps."""
    from benchmark.cli.common import check_device
    from benchmark.perf.measure import evaluation_ceiling

    device = check_device(args.device)
    models = [(m, 0) for m in args.eval_models]
    print(f"perf --ceiling, device {device}, threads {torch.get_num_threads()}, {os.cpu_count()} CPU cores")
    rows = evaluation_ceiling(models, device, args.data_dir, args.cache_dir)
    print(f"\n7. The float32 ceiling of the quick protocol's evaluation (seed 0; matrix-multiply rate here "
          f"{rows[0]['peak_gflops']:.0f} GFLOP/s)")
    print("   rows: examples the model ran on with an input gradient (fwd+bwd) and without (fwd); ms per row at the "
          "attacks' batch size, measured and at the matrix-multiply rate; ceiling: today / (new - its passes + "
          "the passes at that rate); bound: today / the passes at that rate alone")
    print(f"   {'model':<26}{'today':>7}{'new':>7}{'fwd+bwd':>9}{'fwd':>8}{'MMAC':>6}{'ms/row':>8}{'at rate':>8}"
          f"{'passes':>8}{'rest':>6}{'ceiling':>9}{'bound':>7}")
    for r in rows:
        print(f"   {r['model']:<26}{r['old_s']:6.1f}s{r['new_s']:6.1f}s{r['grad_rows']:9d}{r['plain_rows']:8d}"
              f"{r['mmacs']:6.1f}{r['fb_ms']:8.3f}{r['fb_floor_ms']:8.3f}{r['passes_s']:7.1f}s{r['rest_s']:5.1f}s"
              f"{r['ceiling']:8.2f}x{r['bound']:6.2f}x")
    old, rest, floor = (sum(r[k] for r in rows) for k in ("old_s", "rest_s", "floor_s"))
    print(f"   all {len(rows)} models: ceiling {old / (rest + floor):.2f}x, bound {old / floor:.2f}x (target 2x)")
    return 0


def _passes_table(rows: list[dict], old: str, new: str) -> dict:
    print(f"   {'model':<26}{old + ' units':>16}{new + ' units':>16}{'ratio':>7}{old:>8}{new:>8}{'speed-up':>9}"
          f"{'robust':>16}  missed  flags")
    tot = {k: 0.0 for k in ("old_units", "new_units", "old_seconds", "new_seconds")}
    missed = 0
    for r in rows:
        for k in tot:
            tot[k] += r[k]
        missed += len(r["missed"])
        same = r["old_flagged"] == r["new_flagged"]
        print(f"   {r['model']:<26}{r['old_units']:16d}{r['new_units']:16d}{r['new_units'] / r['old_units']:7.3f}"
              f"{r['old_seconds']:7.1f}s{r['new_seconds']:7.1f}s{r['old_seconds'] / r['new_seconds']:8.2f}x"
              f"{100 * r['old_robust']:7.1f}/{100 * r['new_robust']:.1f}%  {len(r['missed']):6d}  "
              f"{'same' if same else 'DIFFER'}{' (flagged)' if r['new_flagged'] else ''}")
    return {**tot, "missed": missed}


def cmd_passes(args) -> int:
    """Section 8: v3 against v4 of the quick protocol, and the standard AutoAttack against fmnist-linf v2, side
    by side: rows through the model and wall time; the full protocols' pass counts projected to 10 and 100
    classes."""
    from benchmark.cli.common import check_device
    from benchmark.evaluation import load_protocol
    from benchmark.perf.measure import _published_quick
    from benchmark.perf.passes import (FULL, FULL_REFERENCE, V3, V4, _outcome_sets, attack_units, compare_passes,
                                       projected_full_passes)
    from benchmark.zoo import load_entries, suite_entries

    device = check_device(args.device)
    entries = load_entries()
    models = [(m, 0) for m in (args.eval_models if args.passes_models == "eval" else
                               suite_entries(args.passes_models, entries))]
    print(f"perf --passes, device {device}, threads {torch.get_num_threads()}, {os.cpu_count()} CPU cores")
    print(f"\n8. The quick protocol's evaluation, v3 ({V3}) against v4 ({V4}), battery and guards, side by side "
          f"on {len(models)} published models (seed 0; v3 first, then v4, on the same examples)")
    print("   units: rows the model ran forward + rows an input gradient ran backward through it (a forward+backward "
          "row is 2 units); missed: examples v3 broke that v4 left robust")
    tot = _passes_table(compare_passes(models, device, args.data_dir, args.cache_dir), "v3", "v4")
    print(f"   all {len(models)} models: v4 runs {tot['new_units'] / tot['old_units']:.3f} of v3's units "
          f"(target <= 1/3); wall {tot['old_seconds']:.0f}s against {tot['new_seconds']:.0f}s: "
          f"{tot['old_seconds'] / tot['new_seconds']:.2f}x (target >= 2); missed {tot['missed']}")
    if args.full_models:
        full = [(m, 0) for m in args.full_models]
        print(f"\n   the full protocol: the standard AutoAttack ({FULL_REFERENCE}: the reference code on every "
              f"example) against {FULL} v2 (the fewer-passes APGD; FAB-T and Square on the guards' slice), on the "
              f"first {args.full_n} examples of {len(full)} published models")
        tot = _passes_table(compare_passes(full, device, args.data_dir, args.cache_dir, FULL_REFERENCE, FULL,
                                           n=args.full_n), "ref", "v2")
        print(f"   all {len(full)} models: {FULL} v2 runs {tot['new_units'] / tot['old_units']:.3f} of the standard "
              f"AutoAttack's units (target <= 1/3); wall {tot['old_seconds']:.0f}s against {tot['new_seconds']:.0f}s:"
              f" {tot['old_seconds'] / tot['new_seconds']:.2f}x; missed {tot['missed']}")
        name = args.full_models[0]
        protocol = load_protocol(FULL)
        for _, _, model, x, y, index in _published_quick([(name, 0)], device, args.data_dir, args.cache_dir,
                                                         protocol=protocol):
            from benchmark.evaluation import EvalOptions, evaluate_model

            result = evaluate_model(model, protocol, x[:args.full_n], y[:args.full_n], index[:args.full_n],
                                    EvalOptions(device=device, guards=False))
            _, robust = _outcome_sets(result.per_example)
            keep = [k for k, i in enumerate(index[:args.full_n].tolist()) if i in robust][:args.units_examples]
            per = attack_units(model, x[keep], y[keep], index[keep], device)
            with torch.no_grad():
                n_classes = model(x[:1].to(device)).shape[1]
        print(f"   per example that survives every attack ({len(keep)} of {name}'s, {n_classes} classes), units of "
              "each attack: " + ", ".join(f"{k} {v:.0f}" for k, v in per.items()))
        share = 100 / protocol.n_examples
        for c in (n_classes, 10, 100):
            f = projected_full_passes(per, n_classes, c, 1.0, share)
            print(f"   {c:>3} classes (guards' slice {100 * share:.0f}% of the examples): the standard AutoAttack "
                  f"{f['reference']:.0f} units per surviving example, the new battery {f['new']:.0f}: {f['ratio']:.3f}")
    return 0


def cmd_strength(args) -> int:
    """Section 9: v4's records against v3's, example by example, with v3 reseeded as the yardstick."""
    from pathlib import Path

    from benchmark.io import atomic_write_json
    from benchmark.paths import project_results_dir
    from benchmark.perf.passes import strength, strength_summary

    cache = Path(args.strength_cache)
    done = json.loads(cache.read_text()) if cache.is_file() else {}

    def keep(name, seed, missed):
        done[f"{name}:{seed}"] = missed
        atomic_write_json(cache, done)

    rows = strength(project_results_dir(), args.jobs or os.cpu_count() or 1, "cpu", done, keep)
    s = strength_summary(rows)
    print(f"\n9. Nothing weaker, example by example: v4's records against v3's over {s['models']} published models "
          "(every seed, both families, both task pairs); v3 reseeded (attack seed 1) on the examples v3 broke "
          f"({cache})")
    print(f"missed by new: {s['missed_by_new']}")
    print(f"missed by v3 reseeded: {s['missed_by_reseed']}")
    print(f"   broken by v4 but left robust by v3: {s['broken_only_by_new']}")
    print(f"   v3's reseed spread (the largest rise in robust accuracy reseeding caused on a model): "
          f"{100 * s['reseed_spread']:.2f} points; models whose v4 robust accuracy is above v3's by more: "
          f"{len(s['above_spread'])}" + (": " + ", ".join(f"{r['model']}:{r['seed']}" for r in s["above_spread"])
                                         if s["above_spread"] else ""))
    print(f"   the strictest reading, each model against its own reseed: {len(s['above_own_reseed'])} models above"
          + (": " + ", ".join(f"{r['model']}:{r['seed']} (+{len(r['missed_by_new']) - len(r['broken_only_by_new'])}"
                             f" against {len(r['missed_by_reseed'])})" for r in s["above_own_reseed"])
             if s["above_own_reseed"] else ""))
    print(f"   guards: {s['v3_flagged']} models flagged under v3, {s['v4_flagged']} under v4; flagged differently: "
          f"{len(s['flags_differ'])}" + (": " + ", ".join(f"{r['model']}:{r['seed']}" for r in s["flags_differ"])
                                         if s["flags_differ"] else ""))
    missed = [f"{r['model']}:{r['seed']} {r['missed_by_new']}" for r in rows if r["missed_by_new"]]
    print("   examples v4 misses (test-set indices): " + ("; ".join(missed) if missed else "none"))
    return 0


def cmd_projection(args) -> int:
    """`study plan`'s projection of a study's run against the times its jobs took (from their records)."""
    from benchmark.studies.jobs import projection_check

    seeds = list(range(args.projection_seeds[0], args.projection_seeds[1] + 1))
    rows = projection_check(args.projection, seeds, set(range(0, seeds[0])), args.projection_protocol)
    if not rows:
        print(f"study {args.projection}: no job of seeds {seeds[0]}-{seeds[-1]} has a record yet")
        return 0
    print(f"study {args.projection}, seeds {seeds[0]}-{seeds[-1]}, projected from seeds 0-{seeds[0] - 1}'s records "
          "(else from rates measured here) against the recorded time of each job:")
    for kind in ("train", "evaluate"):
        for source in ("records", "rates measured here"):
            part = [r for r in rows if r["kind"] == kind and r["from"] == source]
            if not part:
                continue
            projected, actual = sum(r["projected"] for r in part), sum(r["actual"] for r in part)
            within = sum(abs(r["projected"] / r["actual"] - 1) <= 0.25 for r in part if r["actual"])
            print(f"  {kind:<8} from {source:<19} {len(part):4d} jobs: projected {projected:9.0f} s, took "
                  f"{actual:9.0f} s, ratio {projected / actual:5.2f}; {within} of {len(part)} jobs within 25%")
    total_p, total_a = sum(r["projected"] for r in rows), sum(r["actual"] for r in rows)
    print(f"  all      {len(rows):4d} jobs: projected {total_p:.0f} s of compute, took {total_a:.0f} s: ratio "
          f"{total_p / total_a:.2f}")
    return 0


def cmd_projection_run(args) -> int:
    """A small study planned here, then run from nothing: each job's projection against the time it took."""
    from benchmark.studies.projection_run import projection_run, summary_lines

    rows = projection_run(args.projection_run, args.device, 1)
    print(f"study {args.projection_run}: planned with rates measured here, then run from nothing on one lane "
          f"({args.device}); each job's projected time against its process's wall time:")
    for line in summary_lines(rows):
        print(line)
    return 0


def cmd_perf(args) -> int:
    if args.projection_run:
        return cmd_projection_run(args)
    if args.projection:
        return cmd_projection(args)
    if args.paper:
        return cmd_paper(args)
    if args.passes:
        return cmd_passes(args)
    if args.strength:
        return cmd_strength(args)
    if args.ceiling:
        return cmd_ceiling(args)
    if args.eval_paths:
        return cmd_eval_paths(args)
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
    ev = p.add_argument_group("evaluation speed (--eval-paths): the quick protocol before v3 against v3")
    ev.add_argument("--eval-paths", action="store_true", help="compare today's and the new evaluation per model")
    ev.add_argument("--eval-models", nargs="+", default=["fmnist_src_robust", "fmnist_linear", "fmnist_retrain2",
                    "fmnist_lwf", "fmnist_adv_scratch_n100", "fmnist_cnn_src_robust", "fmnist_cnn_linear",
                    "fmnist_cnn_lwf"])
    ev.add_argument("--ceiling", action="store_true",
                    help="bound the float32 evaluation's speed-up: its passes at this CPU's matrix-multiply rate")
    ev.add_argument("--no-amp-path", action="store_true", help="skip the bf16-search column")
    ev.add_argument("--passes", action="store_true", help="v3 against v4 side by side: rows through the model, time")
    ev.add_argument("--passes-models", default="quick", metavar="SUITE",
                    help="the suite whose seed-0 models --passes measures ('eval': --eval-models)")
    ev.add_argument("--strength", action="store_true",
                    help="v4's records against v3's example by example, with v3 reseeded as the yardstick")
    ev.add_argument("--strength-cache", default="reports/perf_strength.json",
                    help="v3 reseeded's misses per model, kept between runs")
    ev.add_argument("--jobs", type=int, default=None, help="--strength: models side by side")
    ev.add_argument("--full-models", nargs="*", default=["fmnist_linear", "fmnist_lwf"],
                    help="--passes: the published models the full protocols are compared on (none: skip)")
    ev.add_argument("--full-n", type=int, default=200, help="--passes: examples of the full-protocol comparison")
    ev.add_argument("--units-examples", type=int, default=20,
                    help="--passes: surviving examples each attack's units are counted on")
    ev.add_argument("--main-job", default=None, metavar="SUITE", help="also time a suite's evaluation both ways")
    ev.add_argument("--main-job-seeds", type=int, default=3, help="seeds below this number (default 3)")
    proj = p.add_argument_group("projections (--projection STUDY): `study plan` against the time its jobs took")
    proj.add_argument("--projection", default=None, metavar="STUDY",
                      help="project a study's jobs of --projection-seeds from the earlier seeds' records, and compare "
                           "with their own recorded times")
    proj.add_argument("--projection-seeds", type=int, nargs=2, default=[10, 19], metavar=("FIRST", "LAST"))
    proj.add_argument("--projection-protocol", default="fmnist-linf")
    from benchmark.studies.projection_run import DEFAULT_STUDY

    proj.add_argument("--projection-run", nargs="?", const=str(DEFAULT_STUDY), default=None, metavar="STUDY",
                      help="plan a study no one has run (default: a small one of the first pair's arms), run it from "
                           "nothing in a temporary home on one lane, and print each job's projection against the "
                           "time it took")
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
