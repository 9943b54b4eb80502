"""Robustness along fine-tuning: each model's trajectory records (benchmark.trajectory) as robust
and clean accuracy against the fraction of training, mean over seeds with its interval, and what early
stopping on validation keeps."""

from __future__ import annotations

from pathlib import Path


def trajectory_rows(records: list[dict], models: set[str] | None = None) -> list[dict]:
    """One row per (protocol, model): per fraction the accuracy estimates over seeds, and the early stops."""
    from benchmark.stats import accuracy_estimate, combine

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        if models is None or r["model"] in models:
            groups.setdefault((r["protocol"]["name"], r["model"]), []).append(r)
    rows = []
    for (proto, model), recs in sorted(groups.items()):
        fractions = sorted(set.intersection(*({p["fraction"] for p in r["points"]} for r in recs)))
        points = []
        for f in fractions:
            at = [next(p for p in r["points"] if p["fraction"] == f) for r in recs]
            points.append({"fraction": f, "robust": accuracy_estimate([p["robust"] for p in at]),
                           "clean": combine([p["clean_accuracy"] for p in at], 0.0)})
        stops = [r["early_stop"] for r in recs]
        rows.append({"protocol": proto, "model": model, "seeds": sorted(r["seed"] for r in recs), "points": points,
                     "early_stop_fractions": [s["fraction"] for s in stops],
                     "early_stop_robust": combine([s["robust_accuracy"] for s in stops], 0.0)})
    return rows


def plot_trajectories(rows: list[dict], path: Path, title: str) -> Path | None:
    import matplotlib.pyplot as plt

    from benchmark.reports.plots import styles

    if not rows:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    for row, style in zip(rows, styles(len(rows))):
        xs = [p["fraction"] for p in row["points"]]
        for ax, key in zip(axes, ("robust", "clean")):
            est = [p[key] for p in row["points"]]
            ax.plot(xs, [100 * e.mean for e in est], color=style["color"], marker=style["marker"],
                    linestyle=style["linestyle"], label=f"{row['model']} ({len(row['seeds'])} seeds)")
            ax.fill_between(xs, [100 * e.low for e in est], [100 * e.high for e in est], color=style["color"],
                            alpha=0.15)
    for ax, label in zip(axes, ("robust accuracy (%)", "clean accuracy (%)")):
        ax.set_xlabel("fraction of the fine-tuning run's steps")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def trajectory_section(rows: list[dict], plot_rel: str | None) -> list[str]:
    if not rows:
        return []
    fractions = sorted({p["fraction"] for r in rows for p in r["points"]})
    lines = ["## Robustness along fine-tuning", "",
             "Each fine-tuning arm trained again from its recipe with snapshots at fixed fractions of its steps",
             "(`python -m benchmark trajectory`), each snapshot evaluated under the protocol: robust accuracy",
             "(worst case) with its 95% interval over seeds and examples, and where early stopping on validation",
             "clean accuracy would have stopped (the fractions it picked, and the robust accuracy it keeps).", "",
             "| protocol | model | seeds | " + " | ".join(f"robust at {f:g}" for f in fractions) +
             " | early stop at | its robust |", "|" + "---|" * (len(fractions) + 5)]
    for row in rows:
        by = {p["fraction"]: p["robust"] for p in row["points"]}
        cells = [by[f].pct() if f in by else "" for f in fractions]
        stop = row["early_stop_robust"]
        lines.append(f"| {row['protocol']} | `{row['model']}` | {len(row['seeds'])} | " + " | ".join(cells) +
                     f" | {', '.join(f'{f:g}' for f in row['early_stop_fractions'])} | {100 * stop.mean:.1f} |")
    lines.append("")
    if plot_rel:
        lines += [f"![Robustness along fine-tuning]({plot_rel})", ""]
    return lines
