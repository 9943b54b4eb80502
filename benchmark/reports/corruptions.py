"""Common-corruption accuracy per model (mean over seeds), for the leaderboard's column and its own table."""

from __future__ import annotations

import statistics


def current_records(records: list[dict]) -> dict[str, list[dict]]:
    """model -> its records that count, by seed: one corruption protocol per model (the first by name), at the
    newest version present."""
    chosen: dict[str, tuple[str, int]] = {}
    for r in sorted(records, key=lambda r: (r["protocol"]["name"], -r["protocol"]["version"])):
        chosen.setdefault(r["model"], (r["protocol"]["name"], r["protocol"]["version"]))
    out: dict[str, list[dict]] = {}
    for r in sorted(records, key=lambda r: r["seed"]):
        if (r["protocol"]["name"], r["protocol"]["version"]) == chosen[r["model"]]:
            out.setdefault(r["model"], []).append(r)
    return out


def corruption_summary(results_roots=None, models: set[str] | None = None) -> dict[str, dict]:
    """model -> {protocol, n_seeds, clean, mean, sd, per_severity, per_corruption, worst} over its seeds'
    records (one corruption protocol per model: the newest version of the first protocol found)."""
    from benchmark.evaluation.corruptions import load_corruption_records

    found = [r for r in load_corruption_records(results_roots) if models is None or r["model"] in models]
    out: dict[str, dict] = {}
    for model, records in sorted(current_records(found).items()):
        proto, version = records[0]["protocol"]["name"], records[0]["protocol"]["version"]
        means = [r["corruption_accuracy"] for r in records]
        corruptions = records[0]["protocol"]["corruptions"]
        per_corruption = {c: statistics.fmean(statistics.fmean(r["per_corruption"][c]) for r in records)
                          for c in corruptions}
        out[model] = {
            "protocol": proto, "version": version, "n_seeds": len(records), "seeds": [r["seed"] for r in records],
            "n_examples": records[0]["n_examples"],
            "clean": statistics.fmean(r["clean_accuracy"] for r in records),
            "mean": statistics.fmean(means), "sd": statistics.stdev(means) if len(means) > 1 else 0.0,
            "per_severity": [statistics.fmean(r["per_severity"][k] for r in records)
                             for k in range(len(records[0]["per_severity"]))],
            "per_corruption": per_corruption, "worst": min(per_corruption, key=per_corruption.get),
        }
    return out


def corruption_cell(summary: dict[str, dict], model: str) -> str:
    s = summary.get(model)
    return "" if s is None else f"{100 * s['mean']:.1f} ± {100 * s['sd']:.1f}"


def corruption_section(summary: dict[str, dict]) -> list[str]:
    """The leaderboard's section: one table per corruption protocol, models by mean corruption accuracy."""
    if not summary:
        return []
    lines = ["## Common corruptions", "",
             "Accuracy under the 15 ImageNet-C corruptions (the `imagecorruptions` package) at severities 1-5 on",
             "the protocol's fixed subset, as RobustBench's corruptions leaderboard: *mean* over every corruption",
             "and severity (± standard deviation over seeds), then the mean at each severity and the corruption",
             "the model does worst on. Protocols in `benchmark/protocols/corruptions/` say which corruptions are",
             "left out and why.", ""]
    protocols = sorted({s["protocol"] for s in summary.values()})
    for proto in protocols:
        rows = sorted(((m, s) for m, s in summary.items() if s["protocol"] == proto), key=lambda kv: -kv[1]["mean"])
        first = rows[0][1]
        sev = [f"sev {k + 1}" for k in range(len(first["per_severity"]))]
        header = ["model", "seeds", "clean", "mean"] + sev + ["worst corruption"]
        lines += [f"### {proto} (v{first['version']}, n={first['n_examples']})", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for model, s in rows:
            worst = f"{s['worst']} ({100 * s['per_corruption'][s['worst']]:.1f})"
            cells = [f"`{model}`", str(s["n_seeds"]), f"{100 * s['clean']:.1f}",
                     f"**{100 * s['mean']:.1f} ± {100 * s['sd']:.1f}**"]
            cells += [f"{100 * v:.1f}" for v in s["per_severity"]] + [worst]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines
