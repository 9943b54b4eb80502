"""The questions a study asks beyond the paper (`questions` in its file): each a paired test on the seeds and
the protocol fixed before its arms were trained, Holm over the study's tests, and a verdict read from the
interval: supported, contradicted, inconclusive, or missing data."""

from __future__ import annotations

from benchmark.stats import Estimate


def threshold(test: str, margin: float) -> float:
    return -margin if test == "non_inferior" else 0.0


def verdict(est: Estimate | None, test: str, margin: float, p_adjusted: float | None, alpha: float) -> str:
    """`non_inferior`: a - b above -margin; `superior`: above 0; `inferior`: below 0. Supported when the
    (Holm-adjusted) test rejects on the claimed side; contradicted when the interval lies wholly on the other
    side; else inconclusive."""
    if est is None:
        return "missing data"
    t = threshold(test, margin)
    claimed_side = est.mean < t if test == "inferior" else est.mean > t
    if p_adjusted is not None and p_adjusted < alpha and claimed_side:
        return "supported"
    opposite = est.low > t if test == "inferior" else est.high < t
    return "contradicted" if opposite else "inconclusive"


def question_results(agg, family: dict) -> list[dict]:
    from benchmark.reports.claim_tests import _rows, diff
    from benchmark.stats import holm, p_value

    q = family["questions"]
    rows = _rows(agg, q["protocol"], seeds=q["seeds"])
    out = []
    for t in q["tests"]:
        est, detail, count = diff(rows, t["a"], t["b"], t["what"])
        p = None if est is None else p_value(est, threshold(t["test"], q["margin"]))
        out.append({**t, "estimate": est, "detail": detail, "p": p, "seeds": count.get("seeds")})
    present = [i for i, r in enumerate(out) if r["p"] is not None]
    adjusted = holm([out[i]["p"] for i in present]) if q["multiple_comparisons"] == "holm" else \
        [out[i]["p"] for i in present]
    for i, p_adj in zip(present, adjusted):
        out[i]["p_adjusted"] = p_adj
    for r in out:
        r["verdict"] = verdict(r["estimate"], r["test"], q["margin"], r.get("p_adjusted"), q["alpha"])
    return out


def questions_section(agg, family: dict, results_root=None) -> list[str]:
    if not family.get("questions"):
        return []
    from benchmark.reports.claims import para

    q = family["questions"]
    results = question_results(agg, family)
    sign = {"non_inferior": f"> -{100 * q['margin']:g}", "superior": "> 0", "inferior": "< 0"}
    lines = [f"### Beyond the paper: the field's later questions ({family['name']})", ""]
    commit = f", commit {q['analysis_commit']}" if q.get("analysis_commit") else ""
    lines += para(f"Fixed {q['fixed']} (in `{family.get('file', '')}`{commit}). Protocol `{q['protocol']}`, seeds "
                  f"{', '.join(map(str, q['seeds']))}; each test a paired difference over those seeds and the "
                  f"protocol's examples with its 95% interval; margin {100 * q['margin']:g} points ({q['margin_reason']}); "
                  f"{'Holm over the tests below' if q['multiple_comparisons'] == 'holm' else 'no correction'} "
                  f"at alpha {q['alpha']:g}.")
    lines += ["| question | test | estimate (points) [95% interval] | Holm p | seeds | verdict |",
              "|---|---|---|---|---|---|"]
    for r in results:
        est = "missing" if r["estimate"] is None else r["estimate"].pct()
        p = "" if r.get("p_adjusted") is None else f"{r['p_adjusted']:.3g}"
        lines.append(f"| {r['question']} | {r['what']}(`{r['a']}`) - {r['what']}(`{r['b']}`) {sign[r['test']]} | "
                     f"{est} | {p} | {r['seeds'] or '-'} | **{r['verdict']}** |")
    lines.append("")
    if q["described"]:
        lines += ["Answered with numbers rather than a test (their readings fixed with the tests):", ""]
        lines += [f"- {d}" for d in q["described"]] + [""]
    if any("corruption" in d for d in q["described"]):
        from benchmark.evaluation.corruptions import load_corruption_records
        from benchmark.reports.corruption_answer import corruption_answer, corruption_answer_lines

        lines += corruption_answer_lines(corruption_answer(agg, family, load_corruption_records(results_root)))
    return lines
