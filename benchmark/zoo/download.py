"""Get a published weights file: from the entry's folder, or downloaded once from its URL
(https://, http:// or file://) into the cache, checked against the pinned sha256."""

from __future__ import annotations

import hashlib
import os
import re
import urllib.error
import urllib.request
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.io import atomic_write, sha256_file
from benchmark.paths import download_dir
from benchmark.zoo.entry import WeightsRef, ZooEntry


def _local(ref: WeightsRef, entry: ZooEntry) -> Path:
    path = Path(ref.file).expanduser()
    path = path if path.is_absolute() else entry.folder / path
    if not path.is_file():
        raise BenchmarkError(f"published weights {path} of {entry.name} seed {ref.seed} are missing: restore them "
                             f"(`git checkout -- {path}`), or place the file there")
    return path


def download_target(ref: WeightsRef) -> Path:
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(ref.url.split("?")[0]).name) or "weights"
    key = ref.sha256 or hashlib.sha256(ref.url.encode()).hexdigest()
    return download_dir() / key[:16] / name


def fetch(ref: WeightsRef, entry: ZooEntry, show_progress: bool = False) -> Path:
    """The local path of a weights ref, downloading it once if needed."""
    if ref.file:
        return _local(ref, entry)
    target = download_target(ref)
    pinned = target.with_name(target.name + ".sha256")
    if target.is_file():
        expected = ref.sha256 or (pinned.read_text().strip() if pinned.is_file() else None)
        if expected is None or sha256_file(target) == expected:
            return target
        target.unlink()  # a corrupt or changed copy: download again
    _download(ref.url, target, entry, show_progress)
    actual = sha256_file(target)
    if ref.sha256 and actual != ref.sha256:
        target.unlink()
        raise BenchmarkError(f"downloaded {ref.url} for {entry.name} has sha256 {actual[:12]}..., the entry pins "
                             f"{ref.sha256[:12]}...: the file changed upstream or the download is corrupt")
    if not ref.sha256:  # trust on first use: later loads must match this copy
        atomic_write(pinned, lambda p: p.write_text(actual + "\n"))
    return target


def _download(url: str, target: Path, entry: ZooEntry, show_progress: bool) -> None:
    from benchmark.progress import progress_bar

    def write(tmp: Path) -> None:
        try:
            with urllib.request.urlopen(url, timeout=60) as response, open(tmp, "wb") as out:
                total = int(response.headers.get("Content-Length") or 0) or None
                with progress_bar(total=total, unit="B", unit_scale=True, desc=f"downloading {entry.name}",
                          disable=not show_progress or os.environ.get("CI") == "true", leave=False) as bar:
                    for chunk in iter(lambda: response.read(1 << 20), b""):
                        out.write(chunk)
                        bar.update(len(chunk))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            raise BenchmarkError(f"cannot download {url} for {entry.name} ({reason}): check the connection, or "
                                 f"download it yourself and set `file:` in the entry's weights") from None

    atomic_write(target, write)
