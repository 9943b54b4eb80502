"""A study's report: its data-size plot, crossover table and claim verdicts (where it has claims), and its
page, from the records of its own entries (the project's and the user's results folders)."""

from __future__ import annotations

from pathlib import Path

from benchmark.studies.spec import Study


def report_study(study: Study, out: str | Path | None = None) -> Path:
    from benchmark.paths import project_results_dir, user_results_dir
    from benchmark.reports import build_report
    from benchmark.studies.catalog import expand
    from benchmark.studies.executors import study_home
    from benchmark.studies.families import report_config

    out = Path(out) if out else study_home(study) / "report"
    models = {p.name for p in expand(study)}
    roots = [r for r in (project_results_dir(), user_results_dir()) if Path(r).is_dir()]
    build_report(roots, out, report_config(study), models)
    return out
