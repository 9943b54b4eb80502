"""Evaluation records under results/: written atomically, read with validation."""

from __future__ import annotations

import json
import os
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write_json, repo_root


def results_dir(override: str | Path | None = None) -> Path:
    return Path(override or os.environ.get("RTB_RESULTS", repo_root() / "results"))


def record_path(model: str, protocol: str, root: str | Path | None = None, eps: float | None = None) -> Path:
    base = results_dir(root) / protocol
    return base / (f"{model}.json" if eps is None else f"sweeps/{model}@eps={eps:g}.json")


def write_record(record: dict, path: Path) -> Path:
    if not record.get("complete"):
        raise BenchmarkError("refusing to write an incomplete record")
    return atomic_write_json(path, record)


def read_record(path: Path) -> dict:
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise BenchmarkError(f"record {path} cannot be read ({exc}): delete it and rerun the evaluation") from None
    if not isinstance(record, dict) or record.get("complete") is not True or "robust_accuracy" not in record:
        raise BenchmarkError(f"record {path} is incomplete: delete it and rerun the evaluation")
    return record


def load_records(root: str | Path | None = None, include_sweeps: bool = False) -> list[dict]:
    """Every complete record under results/ (training records and partial files are skipped)."""
    out = []
    for path in sorted(results_dir(root).glob("*/**/*.json" if include_sweeps else "*/*.json")):
        if path.parent.name == "training" or path.name.startswith("."):
            continue
        if "sweeps" in path.parts and not include_sweeps:
            continue
        try:
            out.append(read_record(path))
        except BenchmarkError:
            continue
    return out
