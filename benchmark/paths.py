"""Where things live: the project's own tree, and the user's folders outside it.

Project (in the repository): zoo entries (`model_zoo/`), published weights
(`model_zoo/weights/`), the studies that make them (`studies/`), records of those weights
(`results/`), reports (`reports/`).
User (default `~/.cache/robust-transfer-bench`, or `$RTB_HOME`): the weights cache
(`zoo/`), the user's own zoo entries (`entries/`), studies and study logs (`studies/`), their
records (`results/`) and reports (`reports/`), and downloads. Each folder can be moved by its own variable.
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent


def user_home() -> Path:
    if os.environ.get("RTB_HOME"):
        return Path(os.environ["RTB_HOME"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "robust-transfer-bench"


def _pick(override, env: str, default: Path) -> Path:
    if override:
        return Path(override)
    if os.environ.get(env):
        return Path(os.environ[env])
    return default


def cache_dir(override: str | Path | None = None) -> Path:
    """Trained weights, training records and checkpoints."""
    return _pick(override, "RTB_CACHE", user_home() / "zoo")


def download_dir() -> Path:
    return cache_dir() / "downloads"


def project_zoo_dir() -> Path:
    return _pick(None, "RTB_ZOO_DIR", repo_root() / "model_zoo")


def user_zoo_dir(override: str | Path | None = None) -> Path:
    return _pick(override, "RTB_USER_ZOO", user_home() / "entries")


def project_results_dir(override: str | Path | None = None) -> Path:
    return _pick(override, "RTB_RESULTS", repo_root() / "results")


def user_results_dir(override: str | Path | None = None) -> Path:
    return _pick(override, "RTB_USER_RESULTS", user_home() / "results")


def project_studies_dir() -> Path:
    return _pick(None, "RTB_STUDIES_DIR", repo_root() / "studies")


def user_studies_dir() -> Path:
    """The user's studies (`study --data` writes its default study here) and every study's logs."""
    return user_home() / "studies"


def project_reports_dir() -> Path:
    return repo_root() / "reports"


def user_reports_dir() -> Path:
    return user_home() / "reports"
