"""`python -m benchmark perf`: our attacks and training against the field's libraries, side by side.

Same model, data and device for every row; ratios are printed next to the seconds.
"""

from __future__ import annotations

import time

import torch


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

    return _seconds_per_call(once, device, repeats)


def fwd_seconds(model, x, device, repeats: int = 5) -> float:
    """One forward pass over the batch, without gradients (as the attacks' success checks and Square run)."""
    from benchmark.attacks import attack_mode

    def once():
        with attack_mode(model), torch.no_grad():
            model(x)

    return _seconds_per_call(once, device, repeats)


def _seconds_per_call(once, device: str, repeats: int) -> float:
    """Seconds of one call of `once`, after a warm-up: the fastest of 3 runs of `repeats` calls."""
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
    from benchmark.evaluation import BatteryOptions, accuracy, predict, run_battery

    eps, norm = protocol.eps, protocol.threat_model
    index = torch.arange(x.shape[0])
    ours = {}
    for layout in (True, False):
        opts = BatteryOptions(eps, norm, batch_size, device, cascade=True, channels_last=layout)
        ours[layout] = _timed(lambda: run_battery(model, protocol.build_attacks(), x, y, index, opts), device)
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
        opts = BatteryOptions(eps, norm, batch_size, device, cascade=True, amp=True)
        ours["amp"] = _timed(lambda: run_battery(model, protocol.build_attacks(), x, y, index, opts), device)
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


def training_costs(names: list[str], protocol: str, device: str, data_dir=None, cache=None,
                   retrain: bool = True, seed: int = 0) -> list[dict]:
    """Cost of each training strategy on the target, and the robust accuracy it reached (one seed).

    With `retrain`, every entry is trained again here, one after the other, into a scratch
    cache (sources: their published weights). When the new weights' sha256 equals the
    committed training record's, the committed evaluation record belongs to exactly these
    weights; otherwise the model is evaluated afresh under `protocol`.
    """
    import json
    import tempfile

    from benchmark.evaluation import EvalOptions, Locations, evaluate_entry
    from benchmark.paths import project_results_dir
    from benchmark.results import record_path, training_record_file
    from benchmark.training import TrainOptions, train_entry
    from benchmark.zoo import get_entry

    rows = []
    with tempfile.TemporaryDirectory(prefix="rtb-perf-") as scratch:
        for name in names:
            entry = get_entry(name)
            eval_path = record_path(project_results_dir(), protocol, name, seed)
            committed = json.loads(eval_path.read_text()) if eval_path.is_file() else None
            if retrain:
                t = train_entry(entry, seed, TrainOptions(device=device, data_dir=data_dir, cache=scratch,
                                                          resume=False, show_progress=False))
            else:
                path = training_record_file(project_results_dir(), name, seed)
                t = json.loads(path.read_text()) if path.is_file() else None
            if t is None or (committed is None and not retrain):
                rows.append({"model": name, "missing": True})
                continue
            same = committed is not None and (committed.get("training") or {}).get("sha256") == t["sha256"]
            if not same and retrain:
                committed, _ = evaluate_entry(entry, seed, protocol, EvalOptions(device=device, guards=False),
                                              Locations("trained", scratch, data_dir, write=False))
            rows.append({"model": name, "strategy": t["strategy"], "fb_passes": t["cost"]["fb_passes"],
                         "wall_s": t["wall_seconds"], "clean": committed["clean_accuracy"],
                         "robust": committed["robust_accuracy"], "record": "committed, same sha256" if same else "fresh"})
    return rows


def _broken(result, names: list[str]) -> set[int]:
    pe = result["per_example"] if isinstance(result, dict) else result.per_example
    return {i for n in names for i, v in zip(pe["index"], pe[n]) if v == 1}


def _robust_set(result) -> set[int]:
    pe = result["per_example"] if isinstance(result, dict) else result.per_example
    return {i for i, v in zip(pe["index"], pe["robust"]) if v == 1}


def todays_evaluation(model, x, y, index, device: str):
    """The quick protocol's evaluation as it was before v3: the reference AutoAttack and the guards'
    second PGD-10 run at 1x eps (the yardstick of `perf --eval-paths`)."""
    from benchmark.evaluation import EvalOptions, evaluate_model, load_protocol
    from benchmark.evaluation.guards import GuardOptions, run_guards
    from benchmark.models.layout import as_layout, channels_last

    ref = load_protocol("fmnist-linf-quick-reference")
    result = evaluate_model(model, ref, x, y, index, EvalOptions(device=device, guards=False))
    robust = torch.tensor(result.per_example["robust"])
    with channels_last(model) as nhwc:
        result.guards = run_guards(model, as_layout(x, nhwc), y, index, robust,
                                   GuardOptions(ref.threat_model, ref.eps, ref.seed, device, reuse_short=False))
    return result


def _published_quick(models: list[tuple[str, int]], device: str, data_dir=None, cache=None, protocol=None):
    """Each published model with a protocol's evaluation data (default: the quick protocol's): (name, seed,
    model, x, y, index)."""
    from benchmark.data import get_task
    from benchmark.evaluation import evaluation_data, load_protocol
    from benchmark.zoo import get_entry, load_model

    protocol = protocol or load_protocol("fmnist-linf-quick")
    for name, seed in models:
        entry = get_entry(name)
        model = load_model(entry, seed, "published", device, cache)
        x, y, index = evaluation_data(get_task(entry.task, relative_to=entry.folder), protocol, None, data_dir)
        yield name, seed, model, x, y, index


def compare_eval_paths(models: list[tuple[str, int]], device: str, data_dir=None, cache=None,
                       amp: bool = True) -> list[dict]:
    """Today's quick-protocol evaluation (reference AutoAttack) against the new one (our APGD) and
    the opt-in bf16 search, one published model at a time: seconds (battery and guards) and which
    examples each path breaks."""
    from benchmark.evaluation import EvalOptions, evaluate_model, load_protocol

    new = load_protocol("fmnist-linf-quick")
    rows = []
    for name, seed, model, x, y, index in _published_quick(models, device, data_dir, cache):
        old, t_old = _timed(lambda: todays_evaluation(model, x, y, index, device), device)
        ours, t_new = _timed(lambda: evaluate_model(model, new, x, y, index, EvalOptions(device=device)), device)
        row = {"model": name, "seed": seed, "old_s": t_old, "new_s": t_new, "old_robust": old.robust_accuracy,
               "new_robust": ours.robust_accuracy, "aa_broken": len(_broken(old, ["autoattack"])),
               "apgd_broken": len(_broken(ours, ["apgd-ce", "apgd-t"])),
               "only_old": sorted(_robust_set(ours) - _robust_set(old)),
               "only_new": sorted(_robust_set(old) - _robust_set(ours)),
               "same_flags": old.guards["flags"] == ours.guards["flags"], "flags": ours.guards["flags"],
               "guards_old_s": old.guards["seconds"], "guards_new_s": ours.guards["seconds"]}
        if amp:
            low, t_amp = _timed(lambda: evaluate_model(model, new, x, y, index, EvalOptions(device=device, amp=True)),
                                device)
            row.update(amp_s=t_amp, amp_robust=low.robust_accuracy,
                       amp_only_old=sorted(_robust_set(low) - _robust_set(old)),
                       amp_only_new=sorted(_robust_set(old) - _robust_set(low)),
                       amp_same_flags=old.guards["flags"] == low.guards["flags"])
        rows.append(row)
    return rows


def compare_main_job(models: list[tuple[str, int]], device: str, data_dir=None, cache=None) -> dict:
    """The main job's evaluations both ways, from one run: today's path (one model after the other,
    every thread) and the new one (our APGD, models side by side, one thread each)."""
    from benchmark.evaluation import EvalOptions, Locations, load_protocol
    from benchmark.evaluation.pool import Job, default_jobs, evaluate_jobs

    new = load_protocol("fmnist-linf-quick")

    def today():
        for _, _, model, x, y, index in _published_quick(models, device, data_dir, cache):
            todays_evaluation(model, x, y, index, device)

    jobs = [Job(name, seed, new) for name, seed in models]
    n_jobs = default_jobs(len(jobs), device)
    where = Locations("published", cache, data_dir, write=False)
    _, t_old = _timed(today, device)
    _, t_new = _timed(lambda: list(evaluate_jobs(jobs, EvalOptions(device=device), where, n_jobs)), device)
    return {"models": len(models), "old_s": t_old, "new_s": t_new, "jobs": n_jobs}


class PassCounter:
    """Rows a model is run on, split into runs that take an input gradient (forward+backward) and
    forward-only runs: what an evaluation's time is made of, independent of how it is batched."""

    def __init__(self, model: torch.nn.Module):
        self.grad_rows = self.plain_rows = 0
        self._hook = model.register_forward_pre_hook(self._count)

    def _count(self, module, args) -> None:
        x = args[0]
        if torch.is_grad_enabled() and x.requires_grad:
            self.grad_rows += x.shape[0]
        else:
            self.plain_rows += x.shape[0]

    def close(self) -> None:
        self._hook.remove()


def conv_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    """Multiply-accumulates of the model's convolutions and linear layers for one example."""
    total = 0

    def hook(module, args, out):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            k = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            total += out[0].numel() * k
        else:
            total += module.in_features * module.out_features

    layers = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    hooks = [m.register_forward_hook(hook) for m in layers]
    try:
        with torch.no_grad():
            model(x[:1])
    finally:
        for h in hooks:
            h.remove()
    return total


def sgemm_gflops(device: str, n: int = 1024) -> float:
    """This device's float32 matrix-multiply rate (best of 5): the most any convolution can reach."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    _timed(lambda: a @ b, device, 2)
    _, t = _timed(lambda: a @ b, device, 5)
    return 2 * n ** 3 / t / 1e9


def evaluation_ceiling(models: list[tuple[str, int]], device: str, data_dir=None, cache=None) -> list[dict]:
    """How fast the quick protocol's float32 evaluation could be with the reference's steps.

    Runs today's path and the new one (v3) once each, counts the rows each runs the model on
    (with and without an input gradient), measures a forward+backward and a forward pass per
    row at the attacks' batch size, and bounds the new path from below by running every pass at
    this CPU's matrix-multiply rate with batch norm, ReLU and the attacks' own arithmetic free.
    """
    from benchmark.attacks.apgd import CHUNK_ROWS
    from benchmark.evaluation import EvalOptions, evaluate_model, load_protocol
    from benchmark.models.layout import as_layout, channels_last

    new = load_protocol("fmnist-linf-quick")
    peak = sgemm_gflops(device)
    rows = []
    for name, seed, model, x, y, index in _published_quick(models, device, data_dir, cache):
        _, t_old = _timed(lambda: todays_evaluation(model, x, y, index, device), device)
        counter = PassCounter(model)
        try:
            _, t_new = _timed(lambda: evaluate_model(model, new, x, y, index, EvalOptions(device=device)), device)
        finally:
            counter.close()
        macs = conv_macs(model, x.to(device))
        xb, yb = x[:CHUNK_ROWS].to(device), y[:CHUNK_ROWS].to(device)
        with channels_last(model) as nhwc:
            xb = as_layout(xb, nhwc)
            t_fb = fwd_bwd_seconds(model, xb, yb, device) / xb.shape[0]
            t_f = fwd_seconds(model, xb, device) / xb.shape[0]
        passes_s = counter.grad_rows * t_fb + counter.plain_rows * t_f
        # a forward row is 2 flops per multiply-accumulate; its input-gradient backward pass repeats them
        fb_floor_s = 4 * macs / (peak * 1e9)
        floor_s = (counter.grad_rows + counter.plain_rows / 2) * fb_floor_s
        rest_s = max(t_new - passes_s, 0.0)
        rows.append({"model": name, "seed": seed, "old_s": t_old, "new_s": t_new, "grad_rows": counter.grad_rows,
                     "plain_rows": counter.plain_rows, "mmacs": macs / 1e6, "fb_ms": t_fb * 1e3, "f_ms": t_f * 1e3,
                     "fb_floor_ms": fb_floor_s * 1e3, "passes_s": passes_s, "floor_s": floor_s,
                     "rest_s": rest_s, "ceiling": t_old / (rest_s + floor_s), "bound": t_old / floor_s,
                     "peak_gflops": peak})
    return rows
