"""The report a user reads first: robustness versus target data size, for every strategy, per task
pair and architecture family, with training cost beside it, and where transfer and adversarial
training from scratch cross.

Which entry makes each point is data: the study's `data_size` section names the arms, and the
study's expansion names each arm's entry at each size (benchmark.studies.families); the baseline
at 'all' may be another entry (in the embedded suite, the other task pair's robust source,
adversarially trained on all of this pair's target classes; free AT, not PGD-7).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

from benchmark.reports.frame import did_not_learn, seed_outcomes
from benchmark.stats import MIN_SEEDS, Estimate, accuracy_estimate, difference_estimate


@dataclass
class Point:
    arm: str
    size: int | str               # examples per class, or "all"
    model: str
    n: float                      # examples per class as a number (all: the training pool per class)
    robust: Estimate
    clean: Estimate
    cost: float | None            # forward+backward passes per training run (mean over seeds)
    seeds: list[int]
    note: str = ""
    failed: int = 0               # seeds that did not learn (clean accuracy near chance)


@dataclass
class Crossover:
    arm: str
    rows: list[tuple[int | str, Estimate]] = field(default_factory=list)   # (size, transfer - scratch)
    text: str = ""


def _seeds(row, limit: int | None) -> list[int]:
    seeds = sorted(row["seeds"])
    return [s for s in seeds if limit is None or s < limit]


def _size_value(row, size) -> float:
    if size != "all":
        return float(size)
    n_train, n_classes = row.get("n_train"), row.get("n_classes")
    return float(n_train) / float(n_classes) if n_train and n_classes else float("nan")


def entry_at(ds: dict, arm: str, size) -> str | None:
    """The entry of `arm` at `size` in a family's data-size config, if the study makes one."""
    return ds["entries"].get(arm, {}).get(size)


def curves(rows: dict, family: dict, seed_limit: int | None = None,
           too_few: list[str] | None = None) -> dict[str, list[Point]]:
    """Every arm's points (sizes with records from at least MIN_SEEDS seeds), for one family; the names
    left out for fewer seeds are appended to `too_few` as "name (k seeds)"."""
    ds = family.get("data_size")
    if not ds:
        return {}
    out: dict[str, list[Point]] = {}
    for arm in ds["arms"]:
        points = []
        for size in ds["sizes"]:
            name = entry_at(ds, arm, size)
            note = ds.get("baseline_all_label", "") if arm == ds["baseline"] and size == "all" else ""
            row = rows.get(name) if name else None
            if row is None:
                continue
            seeds = _seeds(row, seed_limit)
            if len(seeds) < MIN_SEEDS:
                if seeds and too_few is not None:
                    too_few.append(f"{name} ({len(seeds)} seed{'s' if len(seeds) > 1 else ''})")
                continue
            cost = row.get("cost")
            points.append(Point(arm, size, name, _size_value(row, size), accuracy_estimate(seed_outcomes(row, "robust", seeds)),
                                accuracy_estimate(seed_outcomes(row, "clean", seeds)),
                                None if cost is None or cost != cost else float(cost), seeds, note,
                                len(did_not_learn(row, seeds))))
        if points:
            out[arm] = points
    return out


def crossover(rows: dict, family: dict, arm: str, seed_limit: int | None = None) -> Crossover:
    """Transfer arm minus the baseline (adversarial training from scratch) at each size where both share at
    least MIN_SEEDS seeds, and where the sign flips."""
    ds = family["data_size"]
    c = Crossover(arm)
    for size in ds["sizes"]:
        a, b = rows.get(entry_at(ds, arm, size) or ""), rows.get(entry_at(ds, ds["baseline"], size) or "")
        if a is None or b is None:
            continue
        seeds = sorted(set(_seeds(a, seed_limit)) & set(_seeds(b, seed_limit)))
        if len(seeds) >= MIN_SEEDS:
            c.rows.append((size, difference_estimate(seed_outcomes(a, "robust", seeds), seed_outcomes(b, "robust", seeds))))
    c.text = _crossover_text(c.rows, ds["arms"][arm])
    return c


def _crossover_text(rows: list[tuple[int | str, Estimate]], label: str) -> str:
    if len(rows) < 2:
        return f"{label}: too few sizes measured against adversarial training from scratch"
    sides = [e.excludes(0.0) for _, e in rows]
    means = [e.mean for _, e in rows]
    sizes = [s for s, _ in rows]
    flips = [i for i in range(len(rows) - 1) if (means[i] > 0) != (means[i + 1] > 0)]
    if not flips:
        lead = "transfer" if means[0] > 0 else "adversarial training from scratch"
        ahead = [str(s) for s, side in zip(sizes, sides) if side != 0]
        level = [str(s) for s, side in zip(sizes, sides) if side == 0]
        span = f"between {sizes[0]} and {sizes[-1]} examples per class"
        if not level:
            return (f"{label}: no crossover {span}: {lead} is ahead at every size ({len(rows)} of {len(rows)} "
                    "differences significant)")
        # "ahead" only where the interval excludes 0; the rest are level within 95%, whatever the mean's sign
        where = f"ahead at {', '.join(ahead)} (significant)" if ahead else "significantly ahead at no size"
        return (f"{label}: the means do not cross {span}: {lead} is {where}, level at {', '.join(level)} "
                "(interval includes 0)")
    i = flips[0]
    # a crossover is claimed only where each side is significantly ahead somewhere; where the means cross
    # but one side never leads significantly, the curves are level there, not crossing
    leads = {side for side in sides if side != 0}
    if leads != {1, -1}:
        behind = "transfer" if 1 not in leads else "adversarial training from scratch"  # never significantly ahead
        other = "adversarial training from scratch" if behind == "transfer" else "transfer"
        ahead = [str(s) for s, side in zip(sizes, sides) if side != 0]
        level = [str(s) for s, side in zip(sizes, sides) if side == 0]
        where = f"ahead at {', '.join(ahead)} (significant)" if ahead else "significantly ahead at no size"
        return (f"{label}: the means cross between {sizes[i]} and {sizes[i + 1]} examples per class, but "
                f"{behind} is significantly ahead at no size: no crossover is claimed; {other} is {where}, level "
                f"at {', '.join(level)} (interval includes 0)")
    lo_size, hi_size = sizes[i], sizes[i + 1]
    if isinstance(lo_size, int) and isinstance(hi_size, int):  # where the means cross, on a log scale
        t = means[i] / (means[i] - means[i + 1])
        point = math.exp(math.log(lo_size) + t * (math.log(hi_size) - math.log(lo_size)))
        where = f"about {point:.0f} examples per class"
    else:
        where = f"between {lo_size} and {hi_size} examples per class"
    # the interval: from the largest size below with a significant lead for one side to the smallest above
    # with a significant lead for the other (where the crossing can lie at 95%)
    before = [sizes[j] for j in range(i + 1) if sides[j] == (1 if means[i] > 0 else -1)]
    after = [sizes[j] for j in range(i + 1, len(rows)) if sides[j] == (1 if means[i + 1] > 0 else -1)]
    bounds = f"[{before[-1] if before else sizes[0] if sides[0] else '<' + str(sizes[0])}, " \
             f"{after[0] if after else '>' + str(sizes[-1])}]"
    first = "transfer" if means[i] > 0 else "adversarial training from scratch"
    return (f"{label}: the curves cross at {where} (interval {bounds} examples per class): {first} is ahead "
            "below it")


def crossover_table(c: Crossover) -> list[str]:
    lines = ["| examples per class | transfer - scratch, robust (points) [95% interval] |", "|---|---|"]
    lines += [f"| {size} | {est.pct()} |" for size, est in c.rows]
    return lines


def plot(curves_by_arm: dict[str, list[Point]], labels: dict[str, str], title: str, path: Path) -> Path | None:
    """Three panels against examples per class: robust and clean accuracy (95% intervals) and training cost."""
    import matplotlib.pyplot as plt

    from benchmark.reports.plots import finish_panels, styles

    if not curves_by_arm:
        return None
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for style, (arm, points) in zip(styles(len(curves_by_arm)), curves_by_arm.items()):
        pts = sorted(points, key=lambda p: p.n)
        for ax, what in zip(axes[:2], ("robust", "clean")):
            ests = [getattr(p, what) for p in pts]
            # the 95% interval, inside 0-100% (an accuracy cannot leave it, whatever the t interval says)
            ax.errorbar([p.n for p in pts], [100 * e.mean for e in ests],
                        yerr=[[100 * (e.mean - max(e.low, 0.0)) for e in ests],
                              [100 * (min(e.high, 1.0) - e.mean) for e in ests]],
                        capsize=3, label=labels[arm], **style)
            for p in pts:
                if p.note:
                    ax.annotate(p.note, (p.n, 100 * getattr(p, what).mean), fontsize=7, xytext=(4, -10),
                                textcoords="offset points")
        costed = [p for p in pts if p.cost]
        if costed:
            axes[2].plot([p.n for p in costed], [p.cost for p in costed], label=labels[arm], **style)
    axes[2].set_yscale("log")
    return finish_panels(fig, axes, ("robust accuracy, worst case (%)", "clean accuracy (%)",
                                     "training cost (forward+backward passes)"),
                         "training examples per class (log scale; rightmost = all)",
                         f"{title} (mean and 95% interval over seeds)", path, log_x=True, dpi=100)


def pairwise(rows: dict, family: dict, seed_limit: int | None = None) -> list[tuple[int | str, str, str, Estimate]]:
    """Every pair of arms at every size where both have at least MIN_SEEDS common seeds: (size, arm a, arm b,
    robust(a) - robust(b)), paired by seed and example."""
    ds = family["data_size"]
    arms = list(ds["arms"])
    out = []
    for size in ds["sizes"]:
        for i, a in enumerate(arms):
            for b in arms[i + 1:]:
                ra, rb = rows.get(entry_at(ds, a, size) or ""), rows.get(entry_at(ds, b, size) or "")
                if ra is None or rb is None:
                    continue
                seeds = sorted(set(_seeds(ra, seed_limit)) & set(_seeds(rb, seed_limit)))
                if len(seeds) >= MIN_SEEDS:
                    out.append((size, a, b, difference_estimate(seed_outcomes(ra, "robust", seeds),
                                                                seed_outcomes(rb, "robust", seeds))))
    return out
