"""The paper's claim tests, (a) to (e), on the records of one family (one architecture on one task pair):
each test a difference or level with per-seed numbers, a 95% interval (seeds and evaluation subset
together, see benchmark.stats) and a verdict: reproduced (the interval lies on the paper's side),
contradicted (it lies on the other side), or inconclusive (it contains the boundary). Which entries
play which role is data (each study's `claims` section); which records and seeds decide is
benchmark.reports.verdicts' job, the page's text benchmark.reports.claims'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmark.reports.frame import NOT_LEARNED_RULE, did_not_learn, per_seed_percent, seed_outcomes
from benchmark.stats import MIN_SEEDS, Estimate, accuracy_estimate, contrast_estimate, difference_estimate, p_value

NEAR_ZERO = 0.05  # "~0%": the whole interval at or below 5%


@dataclass
class Test:
    """One comparison inside a claim."""

    text: str
    estimate: Estimate | None
    direction: int            # +1: the paper says the quantity is > threshold; -1: < threshold
    threshold: float = 0.0
    per_seed: str = ""
    note: str = ""
    seeds: int | None = None   # seeds the estimate used, when fewer than fixed in advance (provisional)
    need: int | None = None
    exact: bool = False        # counted, not sampled (costs): no p-value, outside the multiple-comparison family
    decides: bool = True       # False: reported beside the verdict (another reading of the claim)
    drop_if_inconclusive: bool = False  # a step that is not significant either way does not decide the claim
    p_adjusted: float | None = None     # Holm-adjusted across the family's deciding tests (when the policy says)
    alpha: float = 0.05

    @property
    def p(self) -> float | None:
        return None if self.estimate is None or self.exact else p_value(self.estimate, self.threshold)

    @property
    def verdict(self) -> str:
        if self.estimate is None:
            return "missing"
        side = self.estimate.excludes(self.threshold)
        if self.p_adjusted is not None and self.p_adjusted >= self.alpha:
            side = 0
        if side == 0:
            return "inconclusive"
        return "reproduced" if side == self.direction else "contradicted"

    @property
    def provisional(self) -> bool:
        return self.estimate is not None and self.seeds is not None and self.need is not None and \
            self.seeds < self.need

    @property
    def label(self) -> str:
        v = f"{self.verdict} (provisional: {self.seeds} of {self.need} seeds)" if self.provisional else self.verdict
        if not self.decides:
            return f"{v} (reported, not the verdict's reading)"
        if self.drop_if_inconclusive and self.verdict == "inconclusive":
            return f"{v} (not significant either way: does not decide)"
        return v

    @property
    def p_text(self) -> str:
        if self.p is None:
            return "exact" if self.exact else "-"
        adj = f"; Holm {self.p_adjusted:.3g}" if self.p_adjusted is not None else ""
        return f"{self.p:.3g}{adj}"


@dataclass
class Claim:
    key: str
    statement: str
    tests: list[Test] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lwf: str | None = None          # (c): the LwF entry its tests use
    lwf_is_front: bool = False      # (c): that entry is the analysis' front, not the study's grid

    @property
    def deciding(self) -> list[Test]:
        return [t for t in self.tests if t.decides and not (t.drop_if_inconclusive and t.verdict == "inconclusive")]

    @property
    def final(self) -> str:
        """The verdict on the tests as they stand (provisional or not)."""
        verdicts = [t.verdict for t in self.deciding]
        if not verdicts or "missing" in verdicts:
            return "missing data"
        if "contradicted" in verdicts:
            return "contradicted"
        if all(v == "reproduced" for v in verdicts):
            return "reproduced"
        return "inconclusive"

    @property
    def verdict(self) -> str:
        """The verdict, marked provisional while any test has fewer seeds than fixed in advance."""
        v = self.final
        short = [t for t in self.deciding if t.provisional]
        if v == "missing data" or not short:
            return v
        return f"{v} (provisional: {min(t.seeds for t in short)} of {short[0].need} seeds)"


# the aggregated row's lists with one item per seed (benchmark.reports.frame.aggregate)
PER_SEED = ("seeds", "clean_outcomes", "robust_outcomes", "index", "final_loss", "guards_by_seed")


class Rows(dict):
    """Records by model, cut to a family's fixed seeds; `need`: how many seeds every test must have."""

    need: int | None = None


def _rows(agg, protocol: str, limit: int | None = None, seeds: range | list[int] | None = None) -> Rows:
    """Records by model, each cut to its seeds below `limit` (a family's fixed seed count), or to `seeds` (a half of
    a confirmatory design: its fixed seeds, wherever they start)."""
    g = agg[agg.protocol == protocol]
    rows = Rows()
    rows.need = len(seeds) if seeds is not None else limit
    wanted = set(seeds) if seeds is not None else None
    for _, r in g.iterrows():
        r = r.copy()
        if limit is not None or wanted is not None:
            keep = [i for i, s in enumerate(r["seeds"]) if (s in wanted if wanted is not None else s < limit)]
            # every per-seed list, in the order of `seeds` (a list left whole would pair seed 5 with seed 0's value)
            for key in PER_SEED:
                if isinstance(r.get(key), list):
                    r[key] = [r[key][i] for i in keep]
        if r["seeds"]:
            rows[r["model"]] = r
    return rows


def _common_seeds(*rows) -> list[int]:
    seeds = set(rows[0]["seeds"])
    for r in rows[1:]:
        seeds &= set(r["seeds"])
    return sorted(seeds)


def _enough(rows, seeds: list[int], *names: str) -> str | None:
    """Why a test cannot run (fewer than MIN_SEEDS seeds evaluated), else None. Between MIN_SEEDS and the count
    fixed in advance the test runs on seeds 0 .. k-1 and its verdict is marked provisional (see `Test.label`):
    the final verdict is the one on the fixed count, whatever the provisional one says."""
    need = getattr(rows, "need", None)
    if need is not None and len(seeds) < min(need, MIN_SEEDS):
        return f"only {len(seeds)} of the {need} fixed seeds evaluated ({', '.join(names)})"
    return None


def _count(rows, seeds: list[int]) -> dict:
    """The seed counts a Test carries (for its provisional mark)."""
    return {"seeds": len(seeds), "need": getattr(rows, "need", None)}


def level(rows, name: str, what: str = "robust") -> tuple[Estimate | None, str, dict]:
    """A model's accuracy: the estimate, its per-seed numbers, and the seed counts for a Test."""
    row = rows.get(name)
    if row is None:
        return None, f"{name}: no records", {}
    seeds = sorted(row["seeds"])
    short = _enough(rows, seeds, name)
    if short:
        return None, short, {}
    return accuracy_estimate(seed_outcomes(row, what, seeds)), per_seed_percent(row, what, seeds), _count(rows, seeds)


def diff(rows, a: str, b: str, what: str = "robust") -> tuple[Estimate | None, str, dict]:
    """a - b on their common seeds, paired by seed and example."""
    ra, rb = rows.get(a), rows.get(b)
    if ra is None or rb is None:
        return None, f"{a if ra is None else b}: no records", {}
    seeds = _common_seeds(ra, rb)
    short = _enough(rows, seeds, a, b)
    if short:
        return None, short, {}
    est = difference_estimate(seed_outcomes(ra, what, seeds), seed_outcomes(rb, what, seeds))
    return est, f"{a}: {per_seed_percent(ra, what, seeds)}; {b}: {per_seed_percent(rb, what, seeds)} (seeds {seeds})", \
        _count(rows, seeds)


def _mean(row, what: str) -> float:
    """A row's mean accuracy over the seeds it holds (each seed's share of its examples, averaged)."""
    per = [sum(o) / len(o) for o in row[f"{what}_outcomes"] if len(o)]
    return sum(per) / len(per) if per else float("nan")


def claim_a(rows, roles) -> Claim:
    c = Claim("a", "A linear head trained naturally on the frozen robust source keeps robustness; "
                   "on a naturally trained source it has ~0%.")
    est, seeds, cnt = diff(rows, roles["linear"], roles["linear_natural_source"])
    c.tests.append(Test(f"robust({roles['linear']}) - robust({roles['linear_natural_source']}) > 0", est, +1,
                        per_seed=seeds, **cnt))
    est, seeds, cnt = level(rows, roles["linear_natural_source"])
    c.tests.append(Test(f"robust({roles['linear_natural_source']}) <= {100 * NEAR_ZERO:.0f}%", est, -1, NEAR_ZERO,
                        per_seed=seeds, **cnt))
    lin, src = rows.get(roles["linear"]), rows.get(roles["source"])
    if lin is not None and src is not None:
        a, b = _mean(lin, "robust"), _mean(src, "robust")  # on the seeds these rows hold, not the entry's every seed
        if b > 0:
            c.notes.append(f"the linear head keeps {100 * a / b:.0f}% of the source's own robust accuracy ({100 * a:.1f}% "
                           f"of {100 * b:.1f}%, means over seeds; the source is measured on the source task)")
    return c


def slope(rows, names: list[str], what: str = "robust") -> tuple[Estimate | None, str, dict]:
    """The least-squares slope of accuracy over the arms in order (per step), on their common seeds, paired by
    seed and example."""
    got = [rows.get(n) for n in names]
    if any(r is None for r in got):
        return None, f"{next(n for n, r in zip(names, got) if r is None)}: no records", {}
    seeds = _common_seeds(*got)
    short = _enough(rows, seeds, *names)
    if short:
        return None, short, {}
    k = len(names)
    mid = (k - 1) / 2
    weights = [(i - mid) / sum((j - mid) ** 2 for j in range(k)) for i in range(k)]
    est = contrast_estimate([seed_outcomes(r, what, seeds) for r in got], weights)
    per = "; ".join(f"{n}: {per_seed_percent(r, what, seeds)}" for n, r in zip(names, got))
    return est, f"{per} (seeds {seeds})", _count(rows, seeds)


def claim_b(rows, roles, readings: tuple[str, ...] = ("steps",), verdict: str = "steps") -> Claim:
    c = Claim("b", "Robustness falls as more blocks are re-initialized and retrained naturally.")
    chain = [roles["linear"]] + list(roles["retrain"])
    steps = verdict == "steps"
    if "steps" in readings or steps:
        est, seeds, cnt = diff(rows, chain[0], chain[-1])
        c.tests.append(Test(f"robust({chain[0]}) - robust({chain[-1]}) > 0 (k=0 against k={len(chain) - 1})", est, +1,
                            per_seed=seeds, decides=steps, **cnt))
        for a, b in zip(chain, chain[1:]):
            est, seeds, cnt = diff(rows, a, b)
            if est is None:
                c.notes.append(f"{a} -> {b}: {seeds}")
            c.tests.append(Test(f"robust({a}) - robust({b}) >= 0 (one more block retrained)", est, +1,
                                per_seed=seeds, decides=steps, drop_if_inconclusive=True, **cnt))
    if "trend" in readings or not steps:
        est, seeds, cnt = slope(rows, chain)
        c.tests.append(Test(f"slope of robust over k = 0..{len(chain) - 1} retrained blocks < 0 (points per block; "
                            "the trend reading)", est, -1, per_seed=seeds, decides=not steps, **cnt))
    return c


def lwf_role(rows, roles) -> tuple[str, str | None, bool]:
    """The LwF entry claim (c) tests: the analysis' front (`lwf_front`) once it has the fixed seeds under these
    records' protocol, else the LwF selected from the study's own grid; a note saying which and why; and whether
    it is the front."""
    lwf, front = roles["lwf"], roles.get("lwf_front")
    if not front:
        return lwf, None, False
    need = getattr(rows, "need", None) or MIN_SEEDS
    row = rows.get(front)
    have = 0 if row is None else len(row["seeds"])
    if have >= need:
        setting = f"the {row['lwf_distance']} penalty at lambda {row['lwf_lambda']:g}" if row is not None and \
            row.get("lwf_lambda") == row.get("lwf_lambda") else "its selection"
        return front, (f"LwF here is `{front}`, the front's setting selected on validation as the analysis fixed in "
                       f"advance says ({setting}); `{lwf}`, selected from the study's grid, is in the tables below"), True
    return lwf, (f"LwF here is `{lwf}`, selected from the study's own grid: the analysis' front (`{front}`) has "
                 f"{have} of its {need} seeds evaluated under this protocol"), False


def claim_c(rows, roles, margin: float | None = None) -> Claim:
    """(c). With a margin, as the paper words it: LwF keeps the robustness of frozen-feature transfer (robust
    accuracy not below the linear head's by more than the margin) while its clean accuracy is higher; natural
    fine-tuning is reported beside it. Without one, the earlier reading: LwF beats natural fine-tuning in robust
    accuracy and the linear head in clean accuracy."""
    if margin is None:
        c = Claim("c", "LwF fine-tuning beats natural fine-tuning in robust accuracy and the linear head in clean "
                       "accuracy.")
    else:
        c = Claim("c", f"End-to-end fine-tuning with LwF keeps the robustness of frozen-feature transfer (robust "
                       f"accuracy at most {100 * margin:g} points below the linear head's) while its clean accuracy is "
                       "higher.")
    lwf, note, c.lwf_is_front = lwf_role(rows, roles)
    c.lwf = lwf
    if margin is not None:
        row = rows.get(lwf)
        c.lwf_is_front = True  # the analysis' front, selected on validation before any confirmatory seed
        if row is not None and row.get("lwf_lambda") == row.get("lwf_lambda"):
            note = (f"LwF here is `{lwf}`, the front's setting selected on validation by the rule fixed in advance "
                    f"({row['lwf_distance']} penalty at lambda {row['lwf_lambda']:g}; the front's table gives the rest)")
        est, seeds, cnt = diff(rows, lwf, roles["linear"])
        c.tests.append(Test(f"robust({lwf}) - robust({roles['linear']}) > -{100 * margin:g} (non-inferior)", est, +1,
                            -margin, per_seed=seeds, **cnt))
        est, seeds, cnt = diff(rows, lwf, roles["linear"], "clean")
        c.tests.append(Test(f"clean({lwf}) - clean({roles['linear']}) > 0", est, +1, per_seed=seeds, **cnt))
        est, seeds, cnt = diff(rows, lwf, roles["finetune"])
        c.tests.append(Test(f"robust({lwf}) - robust({roles['finetune']}) > 0 (natural fine-tuning, the reference)",
                            est, +1, per_seed=seeds, decides=False, **cnt))
    else:
        est, seeds, cnt = diff(rows, lwf, roles["finetune"])
        c.tests.append(Test(f"robust({lwf}) - robust({roles['finetune']}) > 0", est, +1, per_seed=seeds, **cnt))
        est, seeds, cnt = diff(rows, lwf, roles["linear"], "clean")
        c.tests.append(Test(f"clean({lwf}) - clean({roles['linear']}) > 0", est, +1, per_seed=seeds, **cnt))
    if note:
        c.notes.append(note)
    return c


def claim_e(rows, roles, margin: float) -> Claim:
    """(e): LwF fine-tuning of the robust source on its own task against the source itself: clean accuracy higher,
    robust accuracy not below the source's by more than the margin (both on the source task's test data)."""
    c = Claim("e", f"LwF fine-tuning of an adversarially trained model on its own task raises its clean accuracy while "
                   f"keeping its robustness (robust accuracy at most {100 * margin:g} points below its own).")
    own, src = roles["lwf_self"], roles["source"]
    c.lwf = own
    est, seeds, cnt = diff(rows, own, src, "clean")
    c.tests.append(Test(f"clean({own}) - clean({src}) > 0", est, +1, per_seed=seeds, **cnt))
    est, seeds, cnt = diff(rows, own, src)
    c.tests.append(Test(f"robust({own}) - robust({src}) > -{100 * margin:g} (non-inferior)", est, +1, -margin,
                        per_seed=seeds, **cnt))
    return c


def claim_d(rows, roles, max_cost_ratio: float = 0.2) -> Claim:
    c = Claim("d", f"With at most 100 examples per class, transfer (a linear head on the frozen robust source) "
                   f"beats adversarial training from scratch in robust accuracy at <= 1/{1 / max_cost_ratio:.0f} "
                   "of its training cost.")
    for n, pair in sorted(roles["low_data"].items()):
        est, seeds, cnt = diff(rows, pair["transfer"], pair["scratch"])
        c.tests.append(Test(f"n={n}: robust({pair['transfer']}) - robust({pair['scratch']}) > 0", est, +1,
                            per_seed=seeds, **cnt))
        t, s = rows.get(pair["transfer"]), rows.get(pair["scratch"])
        if t is not None and s is not None and t["cost"] and s["cost"]:
            ratio = t["cost"] / s["cost"]
            fixed = Estimate(ratio, ratio, ratio, 0.0, 1, 0.0, float("inf"))  # costs are counted, not sampled
            c.tests.append(Test(f"n={n}: cost({pair['transfer']}) / cost({pair['scratch']}) <= {max_cost_ratio:g}",
                                fixed, -1, max_cost_ratio, per_seed=f"{ratio:.4f} (passes are counted exactly)",
                                exact=True))
            src = rows.get(roles.get("source", ""))
            if src is not None and src["cost"] and src["cost"] == src["cost"]:
                # the claim is about a source one already has; a user who must train it pays for it too
                total = (t["cost"] + src["cost"]) / s["cost"]
                c.notes.append(f"n={n}: with the source's own training counted ({roles['source']}, "
                               f"{src['cost']:.3g} passes), the transfer costs {total:.3g} times adversarial "
                               f"training from scratch (the test above counts the transfer alone: the paper's "
                               "setting, a robust source already at hand)")
        for extra in pair.get("also", []):
            est, seeds, cnt = diff(rows, extra, pair["scratch"])
            if est is not None:
                c.notes.append(f"n={n}: {extra} - {pair['scratch']}: {est.pct()} points (reported, not part of the "
                               "verdict)")
    return c


def failure_notes(rows, claim: Claim) -> list[str]:
    """For each entry a claim's tests use: the seeds that did not learn, as a failure rate beside the mean."""
    names = []
    for t in claim.tests:
        for name in re.findall(r"(?:robust|clean|cost)\(([^)]+)\)", t.text):
            if name not in names:
                names.append(name)
    out = []
    for name in names:
        row = rows.get(name)
        if row is None:
            continue
        failed = did_not_learn(row, sorted(row["seeds"]))
        if failed:
            which = f"seed {failed[0]}" if len(failed) == 1 else f"seeds {', '.join(map(str, failed))}"
            out.append(f"`{name}`: {len(failed)} of {len(row['seeds'])} seeds did not learn ({which}: "
                       f"{NOT_LEARNED_RULE}); the mean and its interval count them")
    return out
