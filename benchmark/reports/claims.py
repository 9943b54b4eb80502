"""The paper's four claims on the embedded tasks, per task pair and architecture family, each with
per-seed numbers, a 95% interval (seeds and evaluation subset together, see benchmark.stats) and
a verdict computed from the records: reproduced (the interval lies on the paper's side),
contradicted (it lies on the other side), or inconclusive (it contains the boundary). Which
entries play which role, and how many seeds each test uses (fixed in advance), is data: each
study's `claims` section (studies/*.yaml), read through benchmark.studies.families.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from benchmark.reports.frame import NOT_LEARNED_RULE, did_not_learn, per_seed_percent, seed_outcomes
from benchmark.stats import MIN_SEEDS, Estimate, accuracy_estimate, contrast_estimate, difference_estimate, holm, \
    p_value

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


class Rows(dict):
    """Records by model, cut to a family's fixed seeds; `need`: how many seeds every test must have."""

    need: int | None = None


def _rows(agg, protocol: str, limit: int | None = None) -> Rows:
    """Records by model, each cut to its seeds below `limit` (a family's fixed seed count)."""
    g = agg[agg.protocol == protocol]
    rows = Rows()
    rows.need = limit
    for _, r in g.iterrows():
        r = r.copy()
        if limit is not None:
            keep = [i for i, s in enumerate(r["seeds"]) if s < limit]
            for key in ("seeds", "clean_outcomes", "robust_outcomes"):
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
    if lin is not None and src is not None and src["robust"] > 0:
        c.notes.append(f"the linear head keeps {100 * lin['robust'] / src['robust']:.0f}% of the source's own robust "
                       f"accuracy ({100 * lin['robust']:.1f}% of {100 * src['robust']:.1f}%, means over seeds; the "
                       "source is measured on the source task)")
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


def claim_c(rows, roles) -> Claim:
    c = Claim("c", "LwF fine-tuning beats natural fine-tuning in robust accuracy and the linear head in clean "
                   "accuracy.")
    lwf, note, c.lwf_is_front = lwf_role(rows, roles)
    c.lwf = lwf
    est, seeds, cnt = diff(rows, lwf, roles["finetune"])
    c.tests.append(Test(f"robust({lwf}) - robust({roles['finetune']}) > 0", est, +1, per_seed=seeds, **cnt))
    est, seeds, cnt = diff(rows, lwf, roles["linear"], "clean")
    c.tests.append(Test(f"clean({lwf}) - clean({roles['linear']}) > 0", est, +1, per_seed=seeds, **cnt))
    if note:
        c.notes.append(note)
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
            out.append(f"`{name}`: {len(failed)} of {len(row['seeds'])} seeds did not learn (seeds "
                       f"{', '.join(map(str, failed))}: {NOT_LEARNED_RULE}); the mean and its interval count them")
    return out


def _role_names(roles: dict) -> list[str]:
    """The entries a family's claim tests use: every role, and the low-data pairs (their `also` aside)."""
    names = [n for v in roles.values() for n in (v if isinstance(v, list) else [v]) if isinstance(n, str)]
    return names + [n for pair in roles.get("low_data", {}).values() for k, n in pair.items() if k != "also"]


def _tested_roles(roles: dict, lwf: str | None) -> dict:
    """A family's roles as its claim tests use them: (c)'s LwF is `lwf` (the one tested), the other one left out."""
    out = dict(roles)
    if lwf:
        out["lwf"] = lwf
    out.pop("lwf_front", None)
    return out


def _tested_lwf(claims: list[Claim]) -> str | None:
    """The LwF entry claim (c) tested among these claims."""
    return next((c.lwf for c in claims if c.key == "c" and c.lwf), None)


def _estimate_text(t: Test) -> str:
    """A test's estimate as the tables show it: the interval, or the exact cost ratio."""
    if t.estimate is None:
        return "missing"
    return t.estimate.pct() if "cost" not in t.text else f"{t.estimate.mean:.4f}"


def verdict_protocol(agg, family: dict, screen: str) -> str:
    """The protocol the family's verdicts come from: the analysis' (the full protocol) once every role its claim
    tests use has its records at the fixed seeds, else the study's own (the screen). The roles are the ones the
    tests would use there: (c)'s LwF is the front where the front has them all (`lwf_role`), and the LwF the
    tests leave aside is not waited for."""
    wanted = (family.get("analysis") or {}).get("protocol")
    if not wanted or wanted == screen:
        return screen
    rows = _rows(agg, wanted, family.get("seeds"))
    names = _role_names(_tested_roles(family["roles"], lwf_role(rows, family["roles"])[0]))
    need = family.get("seeds") or MIN_SEEDS
    return wanted if all(n in rows and len(rows[n]["seeds"]) >= need for n in names) else screen


def _family_claims(rows, family: dict, roles: dict) -> list[Claim]:
    """Claims (a)-(d) on one protocol's rows, read as the family's analysis says (readings of (b), Holm)."""
    analysis = family.get("analysis") or {}
    claims = [claim_a(rows, roles),
              claim_b(rows, roles, tuple(analysis.get("b_readings", ["steps"])), analysis.get("b_verdict", "steps")),
              claim_c(rows, roles), claim_d(rows, roles)]
    for claim in claims:
        claim.notes += failure_notes(rows, claim)
    if analysis.get("multiple_comparisons") == "holm":
        tests = [t for c in claims for t in c.tests if t.decides and t.p is not None]
        for t, adj in zip(tests, holm([t.p for t in tests])):
            t.p_adjusted, t.alpha = adj, analysis.get("alpha", 0.05)
    return claims


def provisional_full(agg, family: dict, claims: list[Claim]) -> dict | None:
    """The same claims under the analysis' protocol on the seeds it has so far, while the verdicts still come from
    the screen: every role the screen's tests used needs at least MIN_SEEDS seeds there (the LwF the screen tested,
    not the other). Reported beside the verdicts, never instead of them: the switch waits for the fixed seeds."""
    full = (family.get("analysis") or {}).get("protocol")
    if not full or full == family.get("verdict_protocol"):
        return None
    rows = _rows(agg, full, family.get("seeds"))
    roles = _tested_roles(family["roles"], _tested_lwf(claims))
    have = {n: len(rows[n]["seeds"]) if n in rows else 0 for n in _role_names(roles)}
    k = min(have.values()) if have else 0
    out = {"protocol": full, "seeds": k, "need": family.get("seeds"), "have": have,
           "short": sorted(n for n, c in have.items() if c < MIN_SEEDS)}
    if k >= MIN_SEEDS:
        out["claims"] = _family_claims(rows, family, roles)
        # the screen on the same seeds: what the protocol changes, apart from what the seed count changes
        screen = _rows(agg, family["verdict_protocol"], k)
        out["screen_claims"] = _family_claims(screen, family, roles)
        out["screen"] = family["verdict_protocol"]
    return out


def screen_beside(agg, family: dict, claims: list[Claim], screen: str) -> list[Claim] | None:
    """Once a family's verdicts come from the analysis' protocol: the same tests under the screen on the same fixed
    seeds and roles (the LwF the verdict tested), so the page says what the protocol changed. None before."""
    if family.get("verdict_protocol") in (None, screen):
        return None
    roles = _tested_roles(family["roles"], _tested_lwf(claims))
    return _family_claims(_rows(agg, screen, family.get("seeds")), family, roles)


def evaluate_claims(agg, config: dict) -> list[tuple[dict, list[Claim]]]:
    """Each family's claims on exactly its fixed number of seeds (0 .. seeds-1 of every role), read as its
    analysis (fixed in advance) says: the verdicts' protocol, the readings of (b), the multiple-comparison
    policy."""
    out = []
    for family in config["families"]:
        if "roles" not in family:
            continue
        protocol = verdict_protocol(agg, family, config["protocol"])
        family["verdict_protocol"] = protocol
        claims = _family_claims(_rows(agg, protocol, family.get("seeds")), family, family["roles"])
        family["provisional_full"] = provisional_full(agg, family, claims)
        family["screen_beside"] = screen_beside(agg, family, claims, config["protocol"])
        out.append((family, claims))
    return out


def claims_markdown(results: list[tuple[dict, list[Claim]]], protocol: str, agg, config: dict,
                    plots: dict[str, str] | None = None) -> str:
    from benchmark.reports import analysis

    import textwrap

    def para(text: str) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), 104, break_on_hyphens=False) + [""]

    files = ", ".join(f"`{f['file']}`" for f in config["families"] if f.get("file"))
    lines = [f"# {config['title'] or 'Study ' + config['study']}", ""]
    lines += para(f"Generated by `{config.get('command', 'python -m benchmark report')}` from the records of the study's "
                  f"entries (protocol `{protocol}`): Shafahi et al., *Adversarially Robust Transfer Learning*, ICLR 2020, "
                  f"{config['scope']}.")
    tuning = ("Hyperparameters of every arm were selected with the same budget on a validation split carved from the "
              "target's training data (`results/tuning/`), never on the test subset." if config.get("tuned", True) else
              "No arm was tuned (the study gives none a tuning budget): each trained its recipe as written.")
    lines += para("Every number is a mean over seeds (a transfer's seed s starts from its source's seed s) with its 95% "
                  "interval, in accuracy points, counting both the spread over seeds and the sampling error of the fixed "
                  f"evaluation subset (paired by seed and example for differences; `benchmark/stats.py`). {tuning}")
    if results:
        lines += para(f"Each family's seed count is fixed in advance in its study file ({files}: `claims.seeds`, seeds "
                      "0 .. N-1 of every role), never raised to make an interval clear its boundary. Until every fixed "
                      "seed is evaluated, a test runs on the seeds evaluated so far (0 .. k-1, at least "
                      f"{MIN_SEEDS}; fewer is *missing data*) and its verdict is marked *provisional: k of N seeds*; the "
                      "final verdict is the one on all N, whatever the provisional one says. A test is **reproduced** "
                      "when its whole interval lies on the paper's side, **contradicted** when it lies on the other "
                      "side, and **inconclusive** otherwise. A claim is contradicted if any of its tests is, reproduced "
                      "if all are, inconclusive otherwise.")
        lines += _analysis_text(results)
    if results:
        summary = ["| claim | " + " | ".join(f"{f['name']} ({f.get('pair', '')}; {f.get('seeds', '?')} seeds; "
                                             f"`{f.get('verdict_protocol', protocol)}`)" for f, _ in results) + " |",
                   "|---|" + "---|" * len(results)]
        for i, claim in enumerate(results[0][1]):
            cells = [f"**{c[i].verdict}**{depends_on(c[i])}" for _, c in results]
            summary.append(f"| ({claim.key}) {claim.statement} | " + " | ".join(cells) + " |")
        lines += summary + [""]
        for f, _ in results:
            prov = f.get("provisional_full")
            if prov and prov.get("claims"):
                said = "; ".join(f"({c.key}) {c.final}" for c in prov["claims"])
                same = "; ".join(f"({c.key}) {c.final}" for c in prov["screen_claims"])
                lines += para(f"{f['name']} under `{prov['protocol']}` so far, provisional on seeds 0-{prov['seeds'] - 1} "
                              f"of the {prov['need']} fixed in advance (the verdicts above stay the screen's until every "
                              f"role has them all): {said}. The screen on the same seeds: {same}.")
            if f.get("screen_beside"):
                same = "; ".join(f"({c.key}) {c.final}" for c in f["screen_beside"])
                lines += para(f"{f['name']}: the screen (`{protocol}`) on the same {f.get('seeds')} seeds, before the "
                              f"verdicts moved to `{f['verdict_protocol']}` as the analysis says: {same}.")
    by_family = {id(f): c for f, c in results}
    for family in config["families"]:  # every part: its claims where it has some, its data-size curves
        claims = by_family.get(id(family), [])
        lines += [f"## {family['name']}: {family.get('pair', '')}", "", family.get("description", ""), "",
                  f"Seeds fixed in advance: {family.get('seeds', 'all')} per role."
                  + (f" Verdicts from the records of `{family['verdict_protocol']}`." if claims else "")
                  + (f" The sections after the claims (data size, why a claim fails, beyond the claims) use the "
                     f"records of `{protocol}`, which every entry of the study has." if claims and agg is not None
                     and family.get("verdict_protocol") not in (None, protocol) else ""), ""]
        for claim in claims:
            lines += [f"### ({claim.key}) {claim.verdict}", "", claim.statement, "",
                      "| test | estimate (points) [95% interval] | p | per seed (%) | verdict |", "|---|---|---|---|---|"]
            for t in claim.tests:
                lines.append(f"| {t.text} | {_estimate_text(t)} | {t.p_text} | {t.per_seed} | {t.label} |")
            lines.append("")
            lines += [f"- {n}" for n in claim.notes]
            if claim.notes:
                lines.append("")
        lines += provisional_section(family)
        lines += screen_beside_section(family, claims, protocol)
        if agg is not None:
            full = (family.get("analysis") or {}).get("protocol")
            if claims:
                lines += analysis.front_section(family, config.get("results_root") or _project_results())
            if claims and full and full != protocol:
                lines += analysis.screen_section(agg, family, protocol, full)
            lines += analysis.family_sections(agg, family, claims, config, protocol, (plots or {}).get(family["name"]))
            lines += comparisons_section(agg, family, protocol)
    return "\n".join(lines)


def provisional_section(family: dict) -> list[str]:
    """The claims' tests under the full protocol on the seeds it has so far (see `provisional_full`)."""
    prov = family.get("provisional_full")
    if not prov:
        return []
    head = [f"### The claims under `{prov['protocol']}` so far ({family['name']})", ""]
    if not prov.get("claims"):
        if prov["seeds"] == 0 and len(prov["short"]) == len(prov["have"]) and not any(prov["have"].values()):
            return head + [f"No claim role has records under `{prov['protocol']}` yet.", ""]
        short = ", ".join(f"`{n}` ({prov['have'][n]})" for n in prov["short"])
        return head + [f"Not yet: fewer than {MIN_SEEDS} seeds under `{prov['protocol']}` of {short}.", ""]
    lines = head + [f"Every claim role on seeds 0-{prov['seeds'] - 1} of the {prov['need']} fixed in advance, read as "
                    "the analysis says (Holm, both readings of (b)): provisional. The verdicts above come from the "
                    f"screen until every role has all {prov['need']} seeds under `{prov['protocol']}`.", "",
                    f"| claim | test | estimate (points) [95% interval] | p | verdict | `{prov['screen']}` on the same "
                    "seeds | its verdict |", "|---|---|---|---|---|---|---|"]
    for claim, same in zip(prov["claims"], prov["screen_claims"]):
        for t, u in zip(claim.tests, same.tests):
            lines.append(f"| ({claim.key}) {claim.final} (screen: {same.final}) | {t.text} | {_estimate_text(t)} | "
                         f"{t.p_text} | {t.label} | {_estimate_text(u)} | {u.label} |")
    return lines + [""]


def screen_beside_section(family: dict, claims: list[Claim], screen: str) -> list[str]:
    """Each claim test under the verdicts' protocol and under the screen, side by side (see `screen_beside`)."""
    same = family.get("screen_beside")
    if not same:
        return []
    full = family["verdict_protocol"]
    lines = [f"### The claims under the screen, `{screen}`, on the same seeds ({family['name']})", "",
             f"The tests above on the same {family.get('seeds')} seeds and roles under the screen, read the same way: "
             f"what moving the verdicts to `{full}` changed.", "",
             f"| claim | test | `{full}` (the verdict) | its verdict | `{screen}` | its verdict |",
             "|---|---|---|---|---|---|"]
    for claim, other in zip(claims, same):
        for t, u in zip(claim.tests, other.tests):
            lines.append(f"| ({claim.key}) {claim.final} (screen: {other.final}) | {t.text} | {_estimate_text(t)} | "
                         f"{t.label} | {_estimate_text(u)} | {u.label} |")
    return lines + [""]


def depends_on(claim: Claim) -> str:
    """What a verdict turns on, for the summary table: (b) the other reading's verdict, (c) which LwF it tested."""
    if claim.key == "b":
        other = [t for t in claim.tests if not t.decides and t.estimate is not None]
        if other:
            return f" (step by step; as a trend: {other[0].verdict})"
    if claim.key == "c":
        if claim.lwf:
            return f" (LwF: {'the front' if claim.lwf_is_front else 'the grid'}'s `{claim.lwf}`)"
    return ""


def _project_results():
    from benchmark.paths import project_results_dir

    return project_results_dir()


def _analysis_text(results) -> list[str]:
    """The analysis the families fixed in advance, quoted once per distinct one, and where their verdicts come
    from."""
    import textwrap

    groups: list[tuple[dict | None, list[dict]]] = []
    for family, _ in results:
        a = family.get("analysis")
        for known, members in groups:
            if known == a:
                members.append(family)
                break
        else:
            groups.append((a, [family]))
    out = []
    for a, members in groups:
        who = "Every family" if len(members) == len(results) and len(results) > 1 else \
            ", ".join(f["name"] for f in members)
        if not a:
            out += textwrap.wrap(f"{who}: no analysis was fixed in advance; tests are not corrected for multiple "
                                 "comparisons.", 104) + [""]
            continue
        now = sorted({f.get("verdict_protocol") for f in members})
        holm_text = (f"Holm's step-down across each family's claim tests (the exact cost tests aside), alpha "
                     f"{a.get('alpha', 0.05):g}: a test counts only where its adjusted p is below it"
                     if a.get("multiple_comparisons") == "holm" else "none (tests are not corrected)")
        text = (f"**The analysis, fixed in advance** ({who.lower() if who == 'Every family' else who}; written "
                f"{a.get('fixed') or 'in advance'}; `claims.analysis` in the study files). Verdicts come from the "
                f"records of `{a.get('protocol') or 'the study protocol'}` once every role its claim tests use has "
                f"them at the fixed seeds, until then from the screen's (they come now from "
                f"{' and '.join(f'`{p}`' for p in now)}). Multiple "
                f"comparisons: {holm_text}. (b) is read {' and '.join(a.get('b_readings', ['steps']))}; the "
                f"verdict uses the {a.get('b_verdict', 'steps')} reading, the other is reported beside it.")
        front = a.get("lwf_front")
        if front:
            text += (f" (c) is LwF's clean-robust front over the {' and '.join(front['distances'])} penalties at "
                     f"lambda {', '.join(format(v, 'g') for v in front['lambdas'])}, one setting selected by "
                     f"{' '.join(front['rule'].split())} ({front['tuning_seeds']} tuning seeds); until that front "
                     "is trained, (c) tests the LwF entry selected from the study's own grid.")
        out += textwrap.wrap(text, 104, break_on_hyphens=False) + [""]
    return out


def comparisons_section(agg, family: dict, protocol: str) -> list[str]:
    """The numbers a study states beyond its claims (`comparisons` in its file): levels, and paired differences
    on the two entries' common seeds, each with its 95% interval."""
    if not family.get("comparisons"):
        return []
    rows = _rows(agg, protocol)
    lines = [f"### Beyond the claims ({family['name']})", "",
             "| comparison | entries | estimate (points or %) [95% interval] | seeds |", "|---|---|---|---|"]
    for c in family["comparisons"]:
        if c["b"]:
            est, _, cnt = diff(rows, c["a"], c["b"], c["what"])
            who = f"{c['what']}(`{c['a']}`) - {c['what']}(`{c['b']}`)"
        else:
            est, _, cnt = level(rows, c["a"], c["what"])
            who = f"{c['what']}(`{c['a']}`)"
        lines.append(f"| {c['label']} | {who} | {'missing' if est is None else est.pct()} | "
                     f"{cnt.get('seeds', '-')} |")
    return lines + [""]
