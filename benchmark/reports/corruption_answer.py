"""The questions' corruption answer, as the study file words it (answered with numbers, no verdict): each
model's mean corruption accuracy minus its source's, paired by seed, and the rank correlation (Spearman)
between mean corruption accuracy and Linf robust accuracy across the models, per seed, each with a 95%
interval over the questions' seeds (Student's t over the per-seed values: the corruption records keep
per-severity means, so the evaluation subset's share of the error is not in these intervals)."""

from __future__ import annotations

import statistics

from benchmark.reports.corruptions import current_records
from benchmark.reports.frame import seed_outcomes
from benchmark.stats import MIN_SEEDS, Estimate, combine


def _names(value) -> set[str]:
    """Every entry name a family's roles, tests and curves mention (nested dicts and lists of names)."""
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(_names, value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*map(_names, value)) if value else set()
    return set()


def family_models(family: dict) -> set[str]:
    q = family.get("questions") or {}
    return (_names(family.get("roles")) | _names(family.get("exploratory_roles")) |
            _names([(t["a"], t["b"]) for t in q.get("tests", [])]))


def per_seed_corruption(records: list[dict]) -> dict[str, dict[int, float]]:
    """model -> seed -> mean corruption accuracy, of the records the leaderboard's corruption column reads."""
    return {m: {r["seed"]: r["corruption_accuracy"] for r in rs} for m, rs in current_records(records).items()}


def _paired(corr: dict[str, dict[int, float]], a: str, b: str, seeds: list[int], kind: str) -> dict:
    paired = [s for s in seeds if s in corr.get(a, {}) and s in corr.get(b, {})]
    per_seed = [corr[a][s] - corr[b][s] for s in paired]
    return {"model": a, "minus": b, "kind": kind, "seeds": paired,
            "estimate": combine(per_seed, 0.0) if len(paired) >= MIN_SEEDS else None}


def spearman(a: list[float], b: list[float]) -> float:
    from scipy import stats

    return float(stats.spearmanr(a, b).statistic)


def corruption_answer(agg, family: dict, records: list[dict]) -> dict:
    """{"differences": [{model, minus, kind, estimate, seeds}], "spearman": {estimate, per_seed, models}} over the
    questions' seeds; an estimate is None with fewer than MIN_SEEDS seeds."""
    q = family["questions"]
    seeds = list(q["seeds"])
    corr = per_seed_corruption(records)
    rows = {r["model"]: r for _, r in agg[agg.protocol == q["protocol"]].iterrows()}
    named = family_models(family)
    sources = {rows[m]["source"] for m in named if m in rows and isinstance(rows[m]["source"], str)}
    models = sorted(m for m in named | sources if m in corr)
    diffs = [_paired(corr, m, rows[m]["source"], seeds, "its source (on the source's task)") for m in models
             if m in rows and isinstance(rows[m]["source"], str) and rows[m]["source"] in corr]
    roles = family.get("roles") or {}
    if isinstance(roles.get("linear"), str) and isinstance(roles.get("linear_natural_source"), str):
        # the like-for-like reading: both heads on the target task, the robust source against the natural one
        diffs.append(_paired(corr, roles["linear"], roles["linear_natural_source"], seeds,
                             "the same head on the natural source (same task)"))
    per_seed_rho, used = [], set()
    for s in seeds:
        pairs = []
        for m in models:
            row = rows.get(m)
            if row is None or s not in corr[m] or s not in row["seeds"]:
                continue
            pairs.append((m, corr[m][s], statistics.fmean(seed_outcomes(row, "robust", [s])[0])))
        if len(pairs) >= 3:
            per_seed_rho.append(spearman([p[1] for p in pairs], [p[2] for p in pairs]))
            used |= {p[0] for p in pairs}
    rho: Estimate | None = combine(per_seed_rho, 0.0) if len(per_seed_rho) >= MIN_SEEDS else None
    return {"differences": diffs, "spearman": {"estimate": rho, "per_seed": per_seed_rho, "models": sorted(used)},
            "seeds": seeds, "protocol": q["protocol"]}


def corruption_answer_lines(answer: dict) -> list[str]:
    """The answer as the claims page shows it, under the question's own words."""
    diffs = [d for d in answer["differences"] if d["estimate"] is not None]
    rho = answer["spearman"]["estimate"]
    if not diffs and rho is None:
        return ["Corruptions: not answered yet (no model has corruption records at 3 or more of the questions' "
                "seeds).", ""]
    seeds = ", ".join(map(str, answer["seeds"]))
    lines = [f"Corruptions, the numbers (seeds {seeds}; 95% intervals over seeds):", "",
             "| model | minus | against | mean corruption accuracy, difference (points) | seeds |",
             "|---|---|---|---|---|"]
    for d in sorted(diffs, key=lambda d: (d["kind"], -d["estimate"].mean)):
        lines.append(f"| `{d['model']}` | `{d['minus']}` | {d['kind']} | {d['estimate'].pct()} | "
                     f"{len(d['seeds'])} |")
    lines.append("")
    if rho is not None:
        lines.append(f"Spearman rank correlation between mean corruption accuracy and robust accuracy under "
                     f"{answer['protocol']}, across the {len(answer['spearman']['models'])} models with both, mean of "
                     f"the per-seed correlations: {rho.mean:.2f} [{rho.low:.2f}, {rho.high:.2f}].")
        lines.append("")
    lines.append("A source is measured on its own task and a transfer on the target's, so a difference from the "
                 "source mixes the change of task with what the transfer kept; the last kind of row compares two "
                 "transfers on the same task.")
    return lines + [""]
