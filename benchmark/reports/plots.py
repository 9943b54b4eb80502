"""Plots with error bars over seeds; every series has its own colour and marker."""

from __future__ import annotations

import re
from pathlib import Path

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p", "d", "8"]
LINESTYLES = ["-", "--", "-.", ":"]


def styles(n: int) -> list[dict]:
    """n distinct (colour, marker) styles: unique colours, and unique markers up to 14 series."""
    import matplotlib

    if n <= 10:
        colours = [matplotlib.colormaps["tab10"](i) for i in range(n)]
    elif n <= 20:
        colours = [matplotlib.colormaps["tab20"](i) for i in range(n)]
    else:
        colours = [matplotlib.colormaps["turbo"](i / max(n - 1, 1)) for i in range(n)]
    return [{"color": colours[i], "marker": MARKERS[i % len(MARKERS)],
             "linestyle": LINESTYLES[(i // len(MARKERS)) % len(LINESTYLES)]} for i in range(n)]


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str, legend_size: int = 8) -> Path:
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=legend_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label_sizes(ax) -> None:
    """A log-scale axis of data sizes, labelled with the sizes plotted (10, 25, 100, ...), not 2x10^1."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    xs = sorted({float(x) for line in ax.get_lines() for x in line.get_xdata() if x == x and x > 0})
    if not xs:
        return
    ax.xaxis.set_major_locator(FixedLocator(xs))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0f}" if v >= 1 else f"{v:g}"))


def finish_panels(fig, axes, ylabels, xlabel: str, suptitle: str, path: Path, log_x: bool = False,
                  dpi: int = 110) -> Path:
    """Label, grid and save a row of panels, then close the figure. One legend for the row sits below
    the panels (the first panel's series), where it hides no point and no error bar."""
    import matplotlib.pyplot as plt

    for ax, what in zip(axes, ylabels):
        if log_x:
            ax.set_xscale("log")
            _label_sizes(ax)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(what)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    rows = -(-len(labels) // 3) if labels else 0
    if labels:
        fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 3), fontsize=8, frameon=False)
    fig.suptitle(suptitle)
    fig.tight_layout(rect=(0, 0.035 + 0.045 * rows, 1, 1))
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def _robust_and_clean(frame, series: list[str], x: str, xlabel: str, title: str, path: Path,
                      log_x: bool = False) -> Path:
    """Two panels, robust and clean accuracy against `x`, one errorbar series per name in `series`."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharex=True)
    for style, name in zip(styles(len(series)), series):
        s = frame[frame.series == name].sort_values(x)
        for ax, col in zip(axes, ("robust", "clean")):
            ax.errorbar(s[x], 100 * s[col], yerr=100 * s[f"{col}_sd"], capsize=3, label=name, **style)
    return finish_panels(fig, axes, ("robust accuracy, worst case over the battery (%)", "clean accuracy (%)"),
                         xlabel, f"{title} (mean ± sd over seeds)", path, log_x=log_x)


def per_class_size(row) -> float:
    """Examples per class; 'all' is the training pool's size per class (from the training record)."""
    if row["n_per_class"] not in ("all", None):
        return float(row["n_per_class"])
    if row.get("n_train") and row.get("n_classes"):
        return float(row["n_train"]) / float(row["n_classes"])
    return float("nan")


def _series_label(row, main_source: str) -> str:
    """A strategy's curve across data sizes: its label without the recipe details that vary with size
    (LwF's warm start), but telling training from scratch and fine-tuning apart."""
    label = row["family"]
    if " (" in label and not any(k in label for k in ("from scratch", "fine-tune", "source")):
        label = label.split(" (")[0]
    if row["source"] not in (main_source, "-"):
        label += f" on {row['source']}"
    return f"{label} [{row['architecture']}]"


def _file_part(text: str) -> str:
    """A name as part of a file name: anything but letters, digits, '.', '_' and '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)


def plot_data_size(agg, out: Path, protocol: str) -> list[Path]:
    """Any zoo's data-size plot, one per target task: every strategy with two or more data sizes
    (the embedded suite's own report, with intervals and cost, is benchmark.reports.datasize)."""
    made = []
    transfers = agg[(agg.protocol == protocol) & (agg.source != "-")]
    for task in sorted(set(transfers.task.astype(str))):
        g = agg[(agg.protocol == protocol) & (agg.task.astype(str) == task)].copy()
        # a folder study's task is a file (tasks/study-NAME.yaml): the plot is named by its stem, never by a path
        name = Path(task).stem if task.endswith((".yaml", ".yml")) else task
        g["n"] = [per_class_size(r) for _, r in g.iterrows()]
        g = g[g.n == g.n]
        main_source = g.source[g.source != "-"].mode().iloc[0] if (g.source != "-").any() else "-"
        g["series"] = [_series_label(r, main_source) for _, r in g.iterrows()]
        series = sorted(s for s, part in g.groupby("series") if part["n"].nunique() >= 2)
        if series:
            made.append(_robust_and_clean(g.groupby(["series", "n"], as_index=False).first(), series, "n",
                                          "training examples per class (log scale; rightmost = all)",
                                          f"Accuracy versus target data size on {name} ({protocol})",
                                          out / f"data_size_{_file_part(protocol)}_{_file_part(name)}.png",
                                          log_x=True))
    return made


def plot_blocks(agg, out: Path, protocol: str) -> Path | None:
    import matplotlib.pyplot as plt

    g = agg[(agg.protocol == protocol) & (agg.n_per_class.astype(str) == "all")]
    ret = g[g.strategy == "retrain_last_k"]
    if ret.empty:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    archs = sorted(ret.architecture.unique())
    for style, (arch, what) in zip(styles(2 * len(archs)), [(a, w) for a in archs for w in ("robust", "clean")]):
        r = ret[ret.architecture == arch]
        lin = g[(g.strategy == "linear") & (g.architecture == arch) & (g.source.isin(set(r.source)))]
        pts = [(0, lin.iloc[0][what], lin.iloc[0][f"{what}_sd"])] if not lin.empty else []
        pts += [(int(row.k), row[what], row[f"{what}_sd"]) for _, row in r.iterrows()]
        pts.sort()
        ax.errorbar([p[0] for p in pts], [100 * p[1] for p in pts], yerr=[100 * p[2] for p in pts], capsize=3,
                    label=f"{what} [{arch}]", **style)
    ax.set_xticks(sorted({0, *[int(k) for k in ret.k]}))
    return _finish(fig, ax, out / f"blocks_{protocol}.png",
                   "last blocks re-initialized and retrained naturally (0 = linear head only)", "accuracy (%)",
                   f"Accuracy versus blocks retrained ({protocol}; mean ± sd over seeds)", 8)


def plot_cost(agg, out: Path, protocol: str) -> Path | None:
    import matplotlib.pyplot as plt

    g = agg[(agg.protocol == protocol) & agg.cost.notna() & agg.task.astype(str).str.endswith("tgt")]
    if g.empty:
        return None
    g = g.assign(series=[f"{f} [{a}]" for f, a in zip(g.family, g.architecture)])
    series = sorted(g.series.unique())
    fig, ax = plt.subplots(figsize=(9, 5.5))
    for style, name in zip(styles(len(series)), series):
        s = g[g.series == name]
        ax.errorbar(s["cost"], 100 * s["robust"], yerr=100 * s["robust_sd"], fmt=style["marker"],
                    color=style["color"], capsize=3, label=name)
    ax.set_xscale("log")
    return _finish(fig, ax, out / f"cost_{protocol}.png",
                   "training cost (forward+backward passes per example, summed; log scale)",
                   "robust accuracy, worst case (%)", f"Robust accuracy versus training cost ({protocol})", 6)


def plot_eps(agg_sweeps, out: Path, protocol: str) -> Path | None:
    import matplotlib.pyplot as plt

    g = agg_sweeps[agg_sweeps.protocol == protocol]
    if g.empty or g.eps.nunique() < 2:
        return None
    models = sorted(m for m, s in g.groupby("model") if s.eps.nunique() >= 2)
    if not models:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for style, model in zip(styles(len(models)), models):
        s = g[g.model == model].sort_values("eps")
        ax.errorbar(s["eps"], 100 * s["robust"], yerr=100 * s["robust_sd"], capsize=3, label=model, **style)
    return _finish(fig, ax, out / f"eps_{protocol}.png", f"eps ({g.threat.iloc[0]} radius, pixels in [0, 1])",
                   "robust accuracy, worst case (%)", f"Robust accuracy versus eps ({protocol})", 7)


def source_strength_table(agg, protocol: str):
    """Transfers on sources of several strengths: rows with `source_eps` and a `series` that varies the source alone."""
    g = agg[agg.protocol == protocol]
    sources = g[g.task.astype(str).str.endswith("src")].set_index("model")
    t = g[g.source.isin(sources.index) & (g.n_per_class.astype(str) == "all")].copy()
    if t.empty:
        return t, []
    t["source_eps"] = [0.0 if sources.loc[s, "strategy"] == "natural" else float(sources.loc[s, "train_eps"])
                       for s in t.source]
    # the family label carries the recipe's key settings (LwF's lambda, k), so a series
    # varies the source alone and the LwF lambda sweep does not pile up at one eps
    t["series"] = [f"{f} [{a}]" for f, a in zip(t.family, t.architecture)]
    # two entries of one recipe on one source (LwF's front selecting the grid's own setting) are one point
    t = t.sort_values("model").drop_duplicates(["series", "source"])
    series = sorted(s for s, part in t.groupby("series")
                    if part.source_eps.nunique() >= 3 and not part.source_eps.duplicated().any())
    return t, series


def plot_source_strength(agg, out: Path, protocol: str) -> Path | None:
    """Target robust accuracy of each transfer strategy against the source's training eps."""
    t, series = source_strength_table(agg, protocol)
    if not series:
        return None
    return _robust_and_clean(t, series, "source_eps", "source's adversarial-training eps (0 = natural source)",
                             f"Transfer versus source strength ({protocol})", out / f"source_eps_{protocol}.png")


def plot_lwf_lambda(agg, out: Path, protocol: str) -> Path | None:
    """LwF's accuracy against its weight, one pair of series per (architecture, source, distance) swept."""
    import matplotlib.pyplot as plt

    g = agg[(agg.protocol == protocol) & (agg.strategy == "lwf") & agg.lwf_lambda.notna()]
    g = g[g.n_per_class.astype(str) == "all"]
    keys = ["architecture", "source", "lwf_distance"]
    sweeps = sorted(k for k, s in g.groupby(keys) if s.lwf_lambda.nunique() >= 3)
    if not sweeps:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.5))
    combos = [(k, w) for k in sweeps for w in ("robust", "clean")]
    for style, ((arch, source, dist), what) in zip(styles(len(combos)), combos):
        s = g[(g.architecture == arch) & (g.source == source) & (g.lwf_distance == dist)]
        s = s.groupby("lwf_lambda", as_index=False).first().sort_values("lwf_lambda")
        ax.errorbar(s["lwf_lambda"], 100 * s[what], yerr=100 * s[f"{what}_sd"], capsize=3,
                    label=f"{what} [{arch}, {dist} on {source}]", **style)
    ax.set_xscale("log")
    return _finish(fig, ax, out / f"lwf_lambda_{protocol}.png", "LwF weight lambda (log scale)", "accuracy (%)",
                   f"LwF: accuracy versus the feature-distance weight ({protocol}; mean ± sd over seeds)", 8)
