"""A study's report: its data-size plot, crossover table and claim verdicts (where it has claims), and its
page, from the records of its own entries (the project's and the user's results folders)."""

from __future__ import annotations

from pathlib import Path

from benchmark.studies.spec import Study


def report_study(study: Study, out: str | Path | None = None, override: list[str] | None = None,
                 protocol: str | None = None) -> Path:
    """Write the study's report (from its rehearsal's derived entries NAME@TAG with `override`)."""
    from benchmark.paths import project_results_dir, user_results_dir
    from benchmark.reports import build_report
    from benchmark.studies.catalog import expand
    from benchmark.studies.executors import study_home
    from benchmark.studies.families import report_config
    from benchmark.zoo.entry import parse_override

    parsed = parse_override(override)
    suffix = f"@{parsed.tag}" if parsed else ""
    out = Path(out) if out else study_home(study) / ("rehearsal" if parsed else "report")
    models = {p.name + suffix for p in expand(study)}
    roots = [r for r in (project_results_dir(), user_results_dir()) if Path(r).is_dir()]
    build_report(roots, out, report_config(study, suffix=suffix, protocol=protocol), models)
    return out
