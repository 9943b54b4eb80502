"""Finding studies and expanding them into zoo entries.

A study is named by path (`my_study.yaml`) or by name: the user's (`$RTB_HOME/studies/`) first,
then the project's (`studies/`). A group's parts are looked up beside it. The project's
studies write the project's entries (`model_zoo/`); a user's write the user's zoo folder.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import project_studies_dir, project_zoo_dir, user_studies_dir, user_zoo_dir
from benchmark.studies.expand import Expander, Planned, read_existing
from benchmark.studies.spec import Study, load_study_file


def study_files() -> dict[str, Path]:
    """Every study by name: the project's, then the user's (which may not reuse a project name)."""
    out: dict[str, Path] = {}
    for folder in (project_studies_dir(), user_studies_dir()):
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            out.setdefault(path.stem, path)
    return out


def find_study(ref: str | Path) -> tuple[Path, str]:
    """The file of a study given by path or name, and its origin."""
    path = Path(ref).expanduser()
    if path.suffix in (".yaml", ".yml") or path.is_file():
        if not path.is_file():
            raise BenchmarkError(f"study file {path} does not exist")
        return path.resolve(), _origin(path)
    files = study_files()
    if str(ref) in files:
        return files[str(ref)], _origin(files[str(ref)])
    close = difflib.get_close_matches(str(ref), files, n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    raise BenchmarkError(f"unknown study {ref!r}{hint}: name one of {', '.join(sorted(files)) or 'none'}, or give a "
                         "study file's path")


def _origin(path: Path) -> str:
    try:
        Path(path).resolve().relative_to(project_studies_dir().resolve())
        return "project"
    except ValueError:
        return "user"


def load_study(ref: str | Path) -> Study:
    path, origin = find_study(ref)
    return load_study_file(path, origin)


def parts(study: Study) -> list[Study]:
    """The studies a group is made of (each from the group's folder), or the study itself."""
    if not study.parts:
        return [study]
    out = []
    for name in study.parts:
        path = study.folder / f"{name}.yaml"
        if not path.is_file():
            raise BenchmarkError(f"{study.path}: field 'parts' names {name!r}, but {path} does not exist")
        part = load_study_file(path, study.origin)
        if part.parts:
            raise BenchmarkError(f"{study.path}: part {name!r} is itself a group: list its parts instead")
        out.append(part)
    return out


def zoo_dir_of(study: Study) -> Path:
    return project_zoo_dir() if study.origin == "project" else user_zoo_dir()


@dataclass(frozen=True)
class PartTask:
    """The target task of one study part: what its entries name, and how many classes it has."""

    ref: str
    n_classes: int


def part_task(study: Study) -> PartTask:
    from benchmark.data import get_task

    if study.data is not None:
        from benchmark.studies.folder import folder_task_file

        ref = folder_task_file(study)
    else:
        ref = study.task
    try:
        task = get_task(ref, relative_to=study.folder)
    except BenchmarkError as exc:
        raise BenchmarkError(f"{study.path}: field '{'data' if study.data else 'task'}': {exc}") from None
    return PartTask(ref, task.n_classes)


def expand(study: Study, existing: dict[str, dict] | None = None) -> list[Planned]:
    """Every entry the study (or each part of a group) makes, against the entry files as they are now."""
    from benchmark.zoo import load_entries

    folder = zoo_dir_of(study)
    existing = read_existing(folder) if existing is None else existing
    members = parts(study)
    tasks = {p.name: part_task(p) for p in members}
    known = set(load_entries()) | set(existing)
    for p in members:  # a part may name another part's entries (e.g. a source trained on the target classes)
        ex = Expander(p, {}, tasks[p.name].n_classes, tasks[p.name].ref)
        known |= {ex.entry_name(k, s) for k in ex.all_keys() for s in p.arm(k).sizes}
    out: list[Planned] = []
    for p in members:
        out += Expander(p, existing, tasks[p.name].n_classes, tasks[p.name].ref, known).entries()
    names = [e.name for e in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise BenchmarkError(f"{study.path}: two parts make the entry {dup!r}")
    return out


def entry_text(planned: Planned) -> str:
    import yaml

    return yaml.safe_dump(planned.data, sort_keys=False, width=110)


def validate(study: Study, planned: list[Planned]) -> None:
    """Every entry as the zoo would parse it: a one-line error naming the study's arm, before any job."""
    from benchmark.zoo.entry import parse_entry

    folder = zoo_dir_of(study)
    for p in planned:
        try:
            parse_entry(p.data, str(folder / f"{p.name}.yaml"))
        except BenchmarkError as exc:
            field = "sources" if p.is_source else "arms"
            detail = str(exc).split(": ", 1)[-1]
            raise BenchmarkError(f"{study.path}: {field}.{p.key} (entry {p.name}): {detail}") from None


def write_entries(study: Study, planned: list[Planned] | None = None) -> list[str]:
    """Write the study's entry files where they differ (under the zoo's lock); the names written."""
    from benchmark.io import atomic_write_text, file_lock
    from benchmark.zoo.entry import entry_lock_file

    folder = zoo_dir_of(study)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with file_lock(entry_lock_file(folder / "x.yaml")):  # tune and publish write entries side by side
        planned = expand(study) if planned is None else planned
        validate(study, planned)
        for p in planned:
            path = folder / f"{p.name}.yaml"
            text = entry_text(p)
            if not path.is_file() or path.read_text() != text:
                atomic_write_text(path, text)
                written.append(p.name)
    return written
