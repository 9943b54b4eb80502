"""Reports from the records: leaderboard markdown, plots with error bars, and claim verdicts."""

from __future__ import annotations

from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_text
from benchmark.paths import project_reports_dir


def build_report(results_roots=None, reports_root=None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import yaml

    from benchmark.reports import plots
    from benchmark.reports.claims import CLAIMS_FILE, claims_markdown, evaluate_claims
    from benchmark.reports.frame import aggregate, records_frame
    from benchmark.reports.leaderboard import leaderboard_markdown

    df = records_frame(results_roots)
    if df.empty:
        raise BenchmarkError("no evaluation records found: run `python -m benchmark evaluate --model NAME` first")
    agg = aggregate(df)
    sweeps = records_frame(results_roots, include_sweeps=True)
    agg_sweeps = aggregate(sweeps) if not sweeps.empty else agg
    out = Path(reports_root or project_reports_dir())
    plots_dir = out / "plots"
    plots_dir.mkdir(parents=True, exist_ok=True)
    made = []
    for proto in sorted(agg.protocol.unique()):
        for title, fn, data in (("Accuracy versus data size", plots.plot_data_size, agg),
                                ("Robustness versus blocks retrained", plots.plot_blocks, agg),
                                ("Robustness versus training cost", plots.plot_cost, agg),
                                ("Transfer versus source strength", plots.plot_source_strength, agg),
                                ("LwF: accuracy versus lambda", plots.plot_lwf_lambda, agg),
                                ("Robustness versus eps", plots.plot_eps, agg_sweeps)):
            path = fn(data, plots_dir, proto)
            if path:
                made.append((f"{title} ({proto})", f"plots/{path.name}"))
    config = yaml.safe_load(CLAIMS_FILE.read_text())
    claims_name = None
    if config["protocol"] in set(agg.protocol):
        claims_name = "claims.md"
        atomic_write_text(out / claims_name, claims_markdown(evaluate_claims(agg, config), config["protocol"]) + "\n")
    md = out / "leaderboard.md"
    atomic_write_text(md, leaderboard_markdown(agg, made, claims_name) + "\n")
    return md
