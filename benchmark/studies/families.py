"""What a study's report needs, as plain data: per part (a "family": one architecture on one task
pair), which entries play which claim role, and which entry is each data-size curve's point.

The reports (benchmark/reports) read only this, so they know no dataset, prefix or entry name.
"""

from __future__ import annotations

from benchmark.errors import BenchmarkError
from benchmark.studies.catalog import expand, parts
from benchmark.studies.expand import Expander
from benchmark.studies.spec import Study

PROJECT_REPORT = "fmnist"   # the project's study whose claims `python -m benchmark report` writes


def _resolve(value, ex: Expander, names: set[str], where: str, suffix: str = ""):
    if isinstance(value, dict):
        return {k: _resolve(v, ex, names, f"{where}.{k}", suffix) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, ex, names, f"{where}[{i}]", suffix) for i, v in enumerate(value)]
    name = ex.relative(value)
    if name not in names:
        raise BenchmarkError(f"{ex.where}: field '{where}' names {value!r}, but the study makes no entry {name!r}")
    return name + suffix


def family(part: Study, names: set[str], suffix: str = "") -> dict:
    """One part as the reports' family: its labels, claim roles and data-size curves (entry names)."""
    ex = Expander(part, {}, 0, "")  # names only
    fam = {"name": part.heading, "pair": part.pair, "seeds": part.seeds, "default": part.default,
           "description": part.description, "study": part.name, "file": _shown(part)}
    if part.claims is not None:
        fam["seeds"] = part.claims.seeds or part.seeds
        fam["roles"] = _resolve(part.claims.roles, ex, names, "claims.roles", suffix)
        if part.claims.oracle:
            fam["oracle"] = _resolve(part.claims.oracle, ex, names, "claims.oracle", suffix)
        if part.claims.analysis is not None:
            from dataclasses import asdict

            fam["analysis"] = asdict(part.claims.analysis)
        if part.claims.confirmatory_seeds:  # a confirmatory replication: seeds N .. N+M-1 decide
            fam["exploratory_seeds"] = part.claims.seeds
            fam["confirmatory_seeds"] = fam["seeds"] = part.claims.confirmatory_seeds
            fam["exploratory_roles"] = _resolve(part.claims.exploratory_roles, ex, names,
                                                "claims.exploratory_roles", suffix)
            fam["analysis_commit"] = part.claims.analysis_commit
    if part.questions is not None:
        q = part.questions

        def full(ref: str, where: str) -> str:  # an entry of another part of the group, by its full name
            return ref + suffix if ref in names and ex.relative(ref) not in names else \
                _resolve(ref, ex, names, where, suffix)

        fam["questions"] = {"fixed": q.fixed, "protocol": q.protocol, "seeds": list(q.seeds), "margin": q.margin,
                            "margin_reason": q.margin_reason, "alpha": q.alpha,
                            "multiple_comparisons": q.multiple_comparisons, "described": list(q.described),
                            "analysis_commit": q.analysis_commit,
                            "tests": [{"id": t.id, "question": t.question, "source": t.source, "test": t.test,
                                       "what": t.what, "a": full(t.a, f"questions.tests[{i}].a"),
                                       "b": full(t.b, f"questions.tests[{i}].b")}
                                      for i, t in enumerate(q.tests)]}
    if part.comparisons:
        fam["comparisons"] = [{"label": c.label, "a": _resolve(c.a, ex, names, f"comparisons[{i}].a", suffix),
                               "b": _resolve(c.b, ex, names, f"comparisons[{i}].b", suffix) if c.b else None,
                               "what": c.what} for i, c in enumerate(part.comparisons)]
    ds = part.data_size
    if ds is not None:
        entries: dict[str, dict] = {}
        for arm in ds.arms:
            if arm not in part.arms:
                raise BenchmarkError(f"{part.path}: field 'data_size.arms' names {arm!r}, which is not an arm")
            entries[arm] = {s: ex.entry_name(arm, s) + suffix for s in part.arms[arm].sizes}
        for arm in ds.transfer + ([ds.baseline] if ds.baseline else []):
            if arm not in ds.arms:
                raise BenchmarkError(f"{part.path}: field 'data_size' compares {arm!r}, which is not in data_size.arms")
        if ds.baseline_all is not None and ds.baseline:
            entries[ds.baseline]["all"] = ds.baseline_all.entry + suffix
        inherited = {}
        for arm in ds.arms:  # which sizes take another size's selection (the first tuned arm says it for all)
            inherited = {s: ex.inherits_from(arm, s) for s in part.arms[arm].sizes}
            inherited = {s: t for s, t in inherited.items() if t is not None}
            if inherited:
                break
        fam["data_size"] = {"sizes": list(ds.sizes), "arms": dict(ds.arms), "transfer": list(ds.transfer),
                            "baseline": ds.baseline, "entries": entries, "inherited": inherited,
                            "baseline_all_caption": ds.baseline_all.caption if ds.baseline_all else "",
                            "baseline_all_label": ds.baseline_all.label if ds.baseline_all else ""}
    return fam


def protocol_name(ref: str, study: Study) -> str:
    """A protocol's name from its reference in a study (a name, or a file beside the study)."""
    from pathlib import Path

    import yaml

    path = Path(ref) if Path(ref).is_absolute() else study.folder / ref
    if ref.endswith((".yaml", ".yml")) and path.is_file():
        return str((yaml.safe_load(path.read_text()) or {}).get("name", path.stem))
    return ref


def _shown(study: Study) -> str:
    """The study file as a reader finds it: relative to the repository for the project's studies."""
    from pathlib import Path

    from benchmark.paths import repo_root

    try:
        return str(Path(study.path).resolve().relative_to(repo_root()))
    except ValueError:
        return str(study.path)


def report_config(study: Study, command: str | None = None, suffix: str = "", protocol: str | None = None) -> dict:
    """The study's report configuration: its protocol, its scope sentence, and one family per part (entry names
    with `suffix`: a rehearsal's derived entries are NAME@TAG)."""
    members = parts(study)
    names = {p.name for p in expand(study)}
    families = [family(p, names, suffix) for p in members]
    protocol = protocol_name(protocol or study.protocol or members[0].protocol, study)
    return {"study": study.name, "title": study.title, "scope": study.scope or study.description,
            "protocol": protocol, "families": families,
            "tuned": any(arm.tuning is not None for p in members for arm in p.arms.values()),
            "command": command or f"python -m benchmark study report {study.name}"}


def project_report_config() -> dict:
    from benchmark.studies.catalog import load_study

    return report_config(load_study(PROJECT_REPORT), "python -m benchmark report")
