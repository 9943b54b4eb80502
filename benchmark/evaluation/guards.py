"""False-robustness guards, run with every evaluation on a fixed slice of the evaluation subset.

A model is flagged (with the reason) when:
- robust accuracy rises with more PGD steps and restarts, or with a larger eps;
- robust accuracy does not fall to about 0% at a very large eps;
- the black-box Square attack (or, where the protocol asks, the minimal-norm FAB-T) breaks examples that
  every attack of the battery failed on;
- input gradients are zero or non-finite for many examples.
Each of these is a symptom of gradient masking (Athalye et al., 2018), not of robustness.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from benchmark.attacks import PGD, attack_mode, perturbation_norm, within_eps
from benchmark.evaluation.battery import accuracy, predict

LARGE_EPS = {"Linf": 0.5, "L2": 20.0}
SLACK = 0.02  # 2 of 100 examples: room for the attacks' own randomness


def _robust(model, attack, x, y, index, device) -> float:
    return accuracy(model, attack(model, x.to(device), y.to(device), index), y, device)


def _broken(model, x_adv: torch.Tensor, x: torch.Tensor, y: torch.Tensor, norm: str, eps: float, device) -> torch.Tensor:
    """Which adversarial inputs break their example within the threat model: misclassified, inside the eps ball,
    pixels in [0, 1] (the battery's own test of a success)."""
    x_adv = x_adv.cpu().float()
    dist = perturbation_norm(x_adv - x, norm)
    in_range = (x_adv.flatten(1).amin(1) >= -1e-6) & (x_adv.flatten(1).amax(1) <= 1 + 1e-6)
    return (predict(model, x_adv, device=device) != y) & in_range & torch.isfinite(dist) & within_eps(dist, eps)


def input_gradients_ok(model, x, y, device) -> float:
    """Fraction of examples whose loss gradient w.r.t. the input is finite and non-zero."""
    with attack_mode(model):
        xg = x.to(device).clone().requires_grad_(True)
        loss = F.cross_entropy(model(xg), y.to(device), reduction="sum")
        (g,) = torch.autograd.grad(loss, xg)
    flat = g.flatten(1)
    ok = torch.isfinite(flat).all(1) & (flat.abs().amax(1) > 0)
    return float(ok.float().mean())


def square_attack(model, x, y, norm: str, eps: float, queries: int, seed: int, device) -> torch.Tensor:
    """The Square attack's (AutoAttack's black-box attack) adversarial inputs for (x, y)."""
    from pyautoattack.square import SquareAttack

    with attack_mode(model):
        sq = SquareAttack(model, p_init=0.8, n_queries=queries, eps=eps, norm=norm, n_restarts=1, seed=seed,
                          verbose=False, device=device, resc_schedule=False)
        return sq.perturb(x.to(device), y.to(device)).cpu()


def fab_attack(model, x, y, norm: str, eps: float, targets: int, seed: int, device) -> torch.Tensor:
    """The reference FAB-T's (AutoAttack's minimal-norm attack, standard settings: 100 iterations, 1 restart,
    min(targets, classes - 1) target classes) adversarial inputs for (x, y)."""
    from pyautoattack.fab_pt import FABAttack_PT

    with attack_mode(model):
        with torch.no_grad():
            n_classes = model(x[:1].to(device)).shape[1]
        fab = FABAttack_PT(model, norm=norm, n_restarts=1, n_iter=100, eps=eps, seed=seed, targeted=True,
                           device=device, n_target_classes=min(targets, n_classes - 1))
        with torch.enable_grad():
            return fab.perturb(x.to(device), y.to(device)).cpu()


def square_breaks(model, x, y, norm: str, eps: float, queries: int, seed: int, device) -> int:
    """How many of (x, y) the Square attack misclassifies within eps."""
    if x.shape[0] == 0:
        return 0
    return int(_broken(model, square_attack(model, x, y, norm, eps, queries, seed, device), x, y, norm, eps,
                       device).sum())


def fab_breaks(model, x, y, norm: str, eps: float, targets: int, seed: int, device) -> int:
    """How many of (x, y) the reference FAB-T misclassifies within eps."""
    if x.shape[0] == 0:
        return 0
    return int(_broken(model, fab_attack(model, x, y, norm, eps, targets, seed, device), x, y, norm, eps,
                       device).sum())


@dataclass(frozen=True)
class GuardOptions:
    norm: str
    eps: float
    seed: int = 0
    device: str = "cpu"
    n: int = 100                 # the first n examples of the evaluation subset
    square_queries: int = 1000
    reuse_short: bool = True     # the eps curve's 1x point is the short PGD run itself (False: run it again)
    long_steps: int = 50         # the "more steps and restarts" run: steps x restarts
    long_restarts: int = 3
    fab_targets: int = 0         # > 0: also the reference FAB-T with this many target classes on the survivors
    # keep each guard attack's outcome per example (the protocol counts them: `guards_count`), and, with
    # `keep_adversarial`, the inputs that broke examples the battery left robust
    outcomes: bool = False
    keep_adversarial: bool = False


# the guards' attacks that stay inside the threat model (eps or less): where the protocol counts every attack it runs,
# an example one of them breaks is not robust. The 2x and large-eps runs test the attacks, not the model.
COUNTED = ("pgd-10", "pgd-long", "pgd-0.5x", "square", "fab-t")


GUARD_KEYS = ("n", "square_queries", "long_steps", "long_restarts", "fab_targets")  # what a protocol's `guards` may set


def guard_options(protocol, device: str, where: str = "protocol") -> GuardOptions:
    """The guards a protocol asks for: its `guards` budgets over the defaults."""
    from benchmark.errors import BenchmarkError
    from benchmark.spec import unknown_key

    budgets = dict(protocol.guards or {})
    for key, value in budgets.items():
        if key not in GUARD_KEYS:
            raise unknown_key(key, GUARD_KEYS, where, "guards.")
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise BenchmarkError(f"{where}: field 'guards.{key}' must be a positive integer, got {value!r}")
    return GuardOptions(protocol.threat_model, protocol.eps, protocol.seed, device, **budgets)


def run_guards(model, x, y, index, robust_mask: torch.Tensor, opts: GuardOptions) -> dict:
    """Run the guards on the first `opts.n` examples; `robust_mask` says which survived the battery.

    With `opts.outcomes`, the result's "outcomes" has, for each attack of COUNTED, its outcome on each of those
    examples (-1 not attacked, 0 failed, 1 broke it within eps), and "adversarial" (with `keep_adversarial`)
    the inputs that broke the ones the battery left robust."""
    t0 = time.perf_counter()
    n, device, eps, norm = opts.n, opts.device, opts.eps, opts.norm
    x, y, index, robust_mask = x[:n], y[:n], index[:n], robust_mask[:n].bool()
    m = int(x.shape[0])
    square_queries = opts.square_queries
    base = dict(norm=norm, seed=opts.seed + 101)
    step = 2.5 / 10
    outcomes: dict[str, torch.Tensor] = {}
    adversarial: list[dict] = []
    left = robust_mask.clone()  # robust so far: one adversarial input kept per example the guards break

    def run(name: str | None, attack, at_eps: float) -> float:
        """The attack's accuracy on the slice (what the flags compare); the outcomes of one that counts."""
        x_adv = attack(model, x.to(device), y.to(device), index).cpu()
        acc = float((predict(model, x_adv, device=device) == y).float().mean())
        if opts.outcomes and name is not None:
            keep(name, torch.arange(m), x_adv, _broken(model, x_adv, x, y, norm, at_eps, device))
        return acc

    def keep(name: str, rows: torch.Tensor, x_adv: torch.Tensor, success: torch.Tensor) -> None:
        out = torch.full((m,), -1, dtype=torch.int8)
        out[rows] = success.to(torch.int8)
        outcomes[name] = out
        new = success & left[rows]  # what the battery and the guards' earlier attacks left robust, broken here
        left[rows] &= ~new
        if opts.keep_adversarial and new.any():
            adversarial.append({"index": index[rows][new], "x_adv": x_adv[new].float().contiguous(),
                                "attack": f"guard:{name}"})

    acc_short = run("pgd-10", PGD("guard", eps=eps, steps=10, step_size=step * eps, **base), eps)
    # the long run travels 3.125 eps in all (eps/16 per step at 50 steps), whatever its step count
    acc_long = run("pgd-long", PGD("guard", eps=eps, steps=opts.long_steps, step_size=eps * (50 / opts.long_steps) / 16,
                                   restarts=opts.long_restarts, **base), eps)
    # at 1x eps the curve's attack is the short one itself (same steps, step size and seed): reuse it
    acc_by_eps = {}
    for mult in (0.5, 1.0, 2.0):
        if mult == 1.0 and opts.reuse_short:
            acc_by_eps["1x"] = acc_short
            continue
        name = "pgd-0.5x" if mult == 0.5 else None  # 2x eps is outside the threat model: it does not count
        acc_by_eps[f"{mult:g}x"] = run(name, PGD("guard", eps=mult * eps, steps=10, step_size=step * mult * eps,
                                                 **base), mult * eps)
    acc_large = _robust(model, PGD("guard", eps=LARGE_EPS[norm], steps=20, step_size=LARGE_EPS[norm] / 8, **base),
                        x, y, index, device)
    grad_ok = input_gradients_ok(model, x, y, device)
    survivors = torch.nonzero(robust_mask).flatten()
    square = fab = None
    if survivors.numel():
        xs, ys = x[survivors], y[survivors]
        x_sq = square_attack(model, xs, ys, norm, eps, square_queries, opts.seed, device)
        hit = _broken(model, x_sq, xs, ys, norm, eps, device)
        square = int(hit.sum())
        if opts.outcomes:
            keep("square", survivors, x_sq, hit)
        if opts.fab_targets:
            x_fab = fab_attack(model, xs, ys, norm, eps, opts.fab_targets, opts.seed, device)
            hit = _broken(model, x_fab, xs, ys, norm, eps, device)
            fab = int(hit.sum())
            if opts.outcomes:
                keep("fab-t", survivors, x_fab, hit)
    else:
        square, fab = 0, 0 if opts.fab_targets else None

    # decided on example counts: a float32 mean sits a hair off k/n (5 of 100 reads 0.0500000007 > 0.05)
    def count(acc: float) -> int:
        return round(acc * m)

    def rises(a: float, b: float) -> bool:
        return count(b) - count(a) > SLACK * m + 1e-9

    flags = []
    if rises(acc_short, acc_long):
        flags.append(f"more PGD steps/restarts raised robust accuracy ({100 * acc_short:.0f}% -> {100 * acc_long:.0f}%)")
    eps_curve = list(acc_by_eps.values())
    if any(rises(a, b) for a, b in zip(eps_curve, eps_curve[1:])):
        flags.append(f"robust accuracy rose with eps ({', '.join(f'{100 * v:.0f}%' for v in eps_curve)} at 0.5/1/2 eps)")
    if count(acc_large) > 0.05 * m + 1e-9:
        flags.append(f"robust accuracy stays {100 * acc_large:.0f}% at eps={LARGE_EPS[norm]:g} (should be ~0%)")
    if survivors.numel() and square > max(1, SLACK * n):
        flags.append(f"black-box Square broke {square} of {survivors.numel()} examples the white-box attacks could not")
    if fab is not None and survivors.numel() and fab > max(1, SLACK * n):
        flags.append(f"FAB-T broke {fab} of {survivors.numel()} examples the battery could not")
    if grad_ok < 0.9:
        flags.append(f"input gradients are zero or non-finite for {100 * (1 - grad_ok):.0f}% of examples")
    out = {
        "flagged": bool(flags), "flags": flags, "n_examples": m,
        "pgd10": acc_short, "pgd50x3": acc_long, "pgd_by_eps": acc_by_eps, "large_eps": LARGE_EPS[norm],
        "pgd_large_eps": acc_large, "square_queries": square_queries, "square_attacked": int(survivors.numel()),
        "square_broken": square, **({"fab_t_broken": fab} if fab is not None else {}), "gradients_ok": grad_ok,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    if opts.outcomes:
        out["outcomes"] = {k: v.tolist() for k, v in outcomes.items()}
        if opts.keep_adversarial:
            out["adversarial"] = adversarial
    return out
