"""The clean-robust trade-off of each tuned arm: the (clean, robust) pairs its tuning grid measured on
validation data, their Pareto frontier, and the area under it (the hypervolume over the origin: the area of
the union of the rectangles [0, clean] x [0, robust]), per tuning seed, with an interval over those seeds.
An arm whose grid reaches further up and right has the larger area, as in the ranking of "On the Robustness
Tradeoff in Fine-Tuning" (ICCV 2025)."""

from __future__ import annotations

import json
from pathlib import Path


def frontier(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The non-dominated (clean, robust) points, by clean accuracy ascending (robust then descending)."""
    best: list[tuple[float, float]] = []
    for c, r in sorted(set(points), key=lambda p: (-p[0], -p[1])):
        if not best or r > best[-1][1]:
            best.append((c, r))
    return best[::-1]


def area(points: list[tuple[float, float]]) -> float:
    """The area under the frontier of `points` from the origin."""
    total, prev_clean = 0.0, 0.0
    for c, r in frontier(points):  # clean ascending, robust descending: strips [prev_clean, c] x [0, r]
        total += (c - prev_clean) * r
        prev_clean = c
    return total


def tradeoff_rows(results_root, models) -> list[dict]:
    """One row per tuned model with a tuning record: its points (mean over tuning seeds), frontier, area and
    the area's interval over the tuning seeds."""
    from benchmark.stats import combine
    from benchmark.zoo import load_entries

    entries = load_entries()
    rows = []
    for model in models:
        path = Path(results_root) / "tuning" / f"{model}.json"
        if not path.is_file():
            continue
        rec = json.loads(path.read_text())
        configs = rec.get("configs") or []
        if len(configs) < 2:
            continue
        points = [(c["clean"], c["robust"]) for c in configs]
        seeds = sorted({s["seed"] for c in configs for s in c.get("per_seed", [])})
        per_seed = [area([(s["clean"], s["robust"]) for c in configs for s in c["per_seed"] if s["seed"] == seed])
                    for seed in seeds] or [area(points)]   # a record of one tuning seed keeps no per-seed rows
        est = combine(per_seed, 0.0) if len(per_seed) > 1 else None
        selected = rec.get("selected") or {}
        selected = selected.get("values", selected) if isinstance(selected, dict) else {}
        e = entries.get(model)
        rows.append({"model": model, "task": e.task if e else "?", "architecture": e.architecture if e else "?",
                     "n_per_class": e.n_per_class if e else "?", "points": points, "frontier": frontier(points), "area": area(points),
                     "per_seed": per_seed, "estimate": est, "selected": selected,
                     "grid": [c["values"] for c in configs]})
    return rows


def plot_tradeoff(rows: list[dict], path: Path, title: str) -> Path | None:
    import matplotlib.pyplot as plt

    from benchmark.reports.plots import styles

    if not rows:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    for row, style in zip(rows, styles(len(rows))):
        xs, ys = zip(*row["points"])
        ax.scatter([100 * x for x in xs], [100 * y for y in ys], color=style["color"], marker=style["marker"],
                   alpha=0.45, s=22)
        fx, fy = zip(*row["frontier"])
        ax.plot([100 * x for x in fx], [100 * y for y in fy], color=style["color"], marker=style["marker"],
                linestyle=style["linestyle"], label=f"{row['model']} (area {100 * row['area']:.1f})")
    ax.set_xlabel("clean accuracy on validation (%)")
    ax.set_ylabel("PGD robust accuracy on validation (%)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def tradeoff_section(rows: list[dict], plots: list[tuple[str, str]]) -> list[str]:
    if not rows:
        return []
    lines = ["## Clean-robust trade-off", "",
             "Each tuned arm's grid measured (clean, PGD robust) accuracy on validation data carved from the",
             "training split; *area*: the area under the Pareto frontier of those points from the origin (in %",
             "squared / 100, i.e. 100 = every point at 100% clean and 100% robust), mean over the tuning seeds with",
             "its 95% interval (t over seeds: few seeds give wide intervals).", "",
             "| model | task | arch | n/class | grid points | frontier points | tuning seeds | area | 95% interval | "
             "selected |", "|---|---|---|---|---|---|---|---|---|---|"]
    for row in sorted(rows, key=lambda r: (r["task"], r["architecture"], -r["area"])):
        est = row["estimate"]
        interval = "one seed: none" if est is None else \
            f"[{max(0.0, 100 * est.low):.1f}, {min(100.0, 100 * est.high):.1f}]"
        sel = ", ".join(f"{k}={v}" for k, v in (row["selected"] or {}).items())
        lines.append(f"| `{row['model']}` | {row['task']} | {row['architecture']} | {row['n_per_class']} | "
                     f"{len(row['points'])} | {len(row['frontier'])} | {len(row['per_seed'])} | "
                     f"**{100 * (est.mean if est else row['area']):.1f}** | {interval} | {sel} |")
    lines.append("")
    for title, rel in plots:
        lines += [f"### {title}", "", f"![{title}]({rel})", ""]
    return lines
