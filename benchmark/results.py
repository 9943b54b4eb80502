"""Records on disk: evaluation records per (protocol, model, seed), training records per (model, seed).

Layout under a results folder: `<protocol>/<model>/seed<k>.json`, sweep points under
`<protocol>/sweeps/<model>/seed<k>@eps=<e>.json`, training records under
`training/<model>/seed<k>.json`, tuning records under `tuning/<model>.json`.
The project's `results/` holds the committed records of its entries' published weights, changed only
by maintainers (`--update-records`); every run a user makes records into the user's results folder.
"""

from __future__ import annotations

import json
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_json
from benchmark.paths import project_results_dir, user_results_dir

SPECIAL_DIRS = ("training", "tuning", "corruptions", "trajectory")


def results_root(entry=None, weights_origin: str = "published", override=None) -> Path:
    """Where the records of `entry` with weights of `weights_origin` are kept: the project's committed records for a
    project entry's published weights, else the user's folder (what a run reads and compares against)."""
    if override:
        return Path(override)
    if entry is not None and (entry.origin == "user" or (weights_origin != "published" and entry.weights)):
        return user_results_dir()
    return project_results_dir()


def write_root(entry=None, weights_origin: str = "published", override=None, update_records: bool = False) -> Path:
    """Where a run writes what it records: the user's folder ($RTB_HOME), whatever it evaluated; the project's
    committed records only with `update_records` (maintainers: `--update-records`)."""
    if override:
        return Path(override)
    root = results_root(entry, weights_origin)
    if root == project_results_dir() and not update_records:
        return user_results_dir()
    return root


def record_path(root: Path, protocol: str, model: str, seed: int, eps: float | None = None) -> Path:
    if eps is None:
        return Path(root) / protocol / model / f"seed{seed}.json"
    return Path(root) / protocol / "sweeps" / model / f"seed{seed}@eps={eps:g}.json"


def training_record_file(root: Path, model: str, seed: int) -> Path:
    return Path(root) / "training" / model / f"seed{seed}.json"


def tuning_record_file(root: Path, model: str) -> Path:
    return Path(root) / "tuning" / f"{model}.json"


def write_record(record: dict, path: Path) -> Path:
    if not record.get("complete"):
        raise BenchmarkError("refusing to write an incomplete record")
    return atomic_write_json(path, record)


def read_record(path: Path, required: str = "robust_accuracy") -> dict:
    """A complete record (one with `required`: an attack protocol's robust accuracy by default)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchmarkError(f"record {path} cannot be read ({exc}): delete it and rerun the evaluation") from None
    if not isinstance(record, dict) or record.get("complete") is not True or required not in record:
        raise BenchmarkError(f"record {path} is incomplete: delete it and rerun the evaluation")
    return record


def load_folder_records(folder: str, required: str, roots=None) -> list[dict]:
    """Every complete record in one of the results folders beside the protocols' (`corruptions`, `trajectory`):
    <root>/<folder>/<protocol>/<model>/seed<k>.json."""
    roots = [project_results_dir()] if roots is None else [Path(r) for r in ([roots] if isinstance(roots, (str, Path))
                                                                             else roots)]
    out = []
    for root in roots:
        for path in sorted((root / folder).glob("*/*/seed*.json")):
            try:
                out.append(read_record(path, required))
            except BenchmarkError:
                continue
    return out


def load_records(roots=None, include_sweeps: bool = False) -> list[dict]:
    """Every complete evaluation record under the given results folders (default: the project's)."""
    roots = [project_results_dir()] if roots is None else [Path(r) for r in ([roots] if isinstance(roots, (str, Path))
                                                                             else roots)]
    out = []
    for root in roots:
        pattern = "*/sweeps/*/seed*.json" if include_sweeps else "*/*/seed*.json"
        paths = sorted(root.glob(pattern))
        if include_sweeps:
            paths = sorted(set(paths) | set(root.glob("*/*/seed*.json")))
        for path in paths:
            parts = path.relative_to(root).parts
            if parts[0] in SPECIAL_DIRS or path.name.startswith(".") or (not include_sweeps and "sweeps" in parts):
                continue
            try:
                out.append(read_record(path))
            except BenchmarkError:
                continue
    return out
