"""Reports from the records: leaderboard markdown, plots with error bars, and claim verdicts."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_text
from benchmark.paths import project_reports_dir


def _slug(text: str) -> str:
    import re

    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def project_report_config() -> dict:
    from benchmark.studies.families import project_report_config as config

    return config()


def build_report(results_roots=None, reports_root=None, config: dict | None = None,
                 models: set[str] | None = None) -> Path:
    """Write the leaderboard, plots, claims (the study's claims and data-size curves) and the page.

    `config`: a study's report configuration (default: the project's, benchmark.studies.families);
    `models`: only these models' records (a study's report), else every record found.
    """
    import matplotlib

    matplotlib.use("Agg")
    from benchmark.reports import datasize, plots
    from benchmark.reports.claims import claims_markdown
    from benchmark.reports.verdicts import evaluate_claims
    from benchmark.reports.frame import aggregate, records_frame, stale_records
    from benchmark.reports.html import index_html
    from benchmark.reports.leaderboard import leaderboard_markdown

    df = records_frame(results_roots)
    if models is not None and not df.empty:
        df = df[df.model.isin(models)]
    if df.empty:
        raise BenchmarkError("no evaluation records found: run `python -m benchmark evaluate --model NAME` first")
    agg = aggregate(df)
    sweeps = records_frame(results_roots, include_sweeps=True)
    if models is not None and not sweeps.empty:
        sweeps = sweeps[sweeps.model.isin(models)]
    agg_sweeps = aggregate(sweeps) if not sweeps.empty else agg
    out = Path(reports_root or project_reports_dir())
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    config = config or project_report_config()
    if results_roots is not None:  # where the tuning records are (the front's, on the claims page)
        roots = [results_roots] if isinstance(results_roots, (str, Path)) else list(results_roots)
        config = {**config, "results_root": roots[0]}
    made = []
    family_plots = {}
    claims_rows = {r["model"]: r for _, r in agg[agg.protocol == config["protocol"]].iterrows()}
    for family in config["families"]:  # the data-size report, one plot per task pair and family
        title = f"Accuracy and cost versus data size: {family['name']}, {family.get('pair', '')}"
        if not family.get("data_size"):
            continue
        ds = family["data_size"]
        path = datasize.plot(datasize.curves(claims_rows, family), ds["arms"], title,
                             plots_dir / f"data_size_{_slug(family['name'])}.png")
        if path:
            family_plots[family["name"]] = f"plots/{path.name}"
            made.append((f"{title} ({config['protocol']})", f"plots/{path.name}"))
    for proto in sorted(agg.protocol.unique()):
        if not family_plots:  # a zoo without the embedded suite's data-size config: a plot per target task
            made += [(f"Accuracy versus data size ({proto}, {p.stem.split('_')[-1]})", f"plots/{p.name}")
                     for p in plots.plot_data_size(agg, plots_dir, proto)]
        for title, fn, data in (("Robustness versus blocks retrained", plots.plot_blocks, agg),
                                ("Robustness versus training cost", plots.plot_cost, agg),
                                ("Transfer versus source strength", plots.plot_source_strength, agg),
                                ("LwF: accuracy versus lambda", plots.plot_lwf_lambda, agg),
                                ("Robustness versus eps", plots.plot_eps, agg_sweeps)):
            path = fn(data, plots_dir, proto)
            if path:
                made.append((f"{title} ({proto})", f"plots/{path.name}"))
    stale = stale_records(results_roots)
    if models is not None:
        stale = {p: s for p, s in stale.items() if set(s["models"]) & set(models)}
    claims_name, claims = None, None
    if config["protocol"] in set(agg.protocol):
        claims_name = "claims.md"
        claims = evaluate_claims(agg, config)
        text = claims_markdown(claims, config["protocol"], agg, config, family_plots, stale)
        atomic_write_text(out / claims_name, text + "\n")
    md = out / "leaderboard.md"
    from benchmark.reports.corruptions import corruption_summary

    corruptions = corruption_summary(results_roots, models)
    extra = beyond_the_paper(results_roots, models, set(agg.model), plots_dir)
    atomic_write_text(md, leaderboard_markdown(agg, made, claims_name, stale, corruptions, extra) + "\n")
    atomic_write_text(out / "index.html", index_html(agg, made, claims, stale, corruptions))
    return md


def beyond_the_paper(results_roots, models, evaluated: set[str], plots_dir: Path) -> list[str]:
    """The leaderboard's sections on the field's later questions: the clean-robust trade-off of every tuned arm
    and robustness along fine-tuning, each with its plot."""
    from benchmark.trajectory import load_trajectory_records
    from benchmark.paths import project_results_dir
    from benchmark.reports import tradeoff, trajectory

    roots = [project_results_dir()] if results_roots is None else (
        [results_roots] if isinstance(results_roots, (str, Path)) else list(results_roots))
    rows = []
    for root in roots:
        rows += tradeoff.tradeoff_rows(root, sorted(models if models is not None else evaluated))
    lines = []
    if rows:
        plots = []  # one plot per task and architecture, of the arms trained on all the data (few series each)
        for task, arch in sorted({(r["task"], r["architecture"]) for r in rows}):
            group = [r for r in rows if (r["task"], r["architecture"]) == (task, arch) and r["n_per_class"] == "all"]
            title = f"Clean-robust trade-off: {arch} on {task}, all the data"
            path = tradeoff.plot_tradeoff(group, plots_dir / f"tradeoff_{_slug(arch)}_{_slug(task)}.png", title)
            if path:
                plots.append((title, f"plots/{path.name}"))
        lines += tradeoff.tradeoff_section(rows, plots)
    traj = trajectory.trajectory_rows(load_trajectory_records(roots), models)
    if traj:
        path = trajectory.plot_trajectories(traj, plots_dir / "trajectory.png", "Robustness along fine-tuning")
        lines += trajectory.trajectory_section(traj, f"plots/{path.name}" if path else None)
    return lines

