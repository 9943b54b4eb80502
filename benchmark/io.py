"""Atomic file writes, checksums and provenance (versions, git commit)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from benchmark.paths import repo_root


def safetensors_bytes(state: dict, metadata: dict | None = None) -> bytes:
    """A safetensors file whose bytes depend only on its tensors and metadata.

    The safetensors library writes the header's metadata in the order of a Rust hash map, which changes
    from process to process: the same weights published twice got two sha256 sums. The header is
    rewritten here with its keys sorted (the tensors' offsets are relative to the header's end, so they
    stay valid) and padded to 8 bytes as the format asks.
    """
    import json

    from safetensors.torch import save

    raw = save(state, metadata=metadata)
    n = int.from_bytes(raw[:8], "little")
    header = json.dumps(json.loads(raw[8:8 + n]), sort_keys=True, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    return len(header).to_bytes(8, "little") + header + raw[8 + n:]


def atomic_write(path: Path | str, write: Callable[[Path], None]) -> Path:
    """Write via `write(tmp_path)` to a temporary file in the same folder, fsync, then rename.

    A crash at any point leaves either the old file or the new one, never a half-written one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; results and weights are meant to be shared
        with open(tmp_path, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


@contextlib.contextmanager
def file_lock(path: Path | str) -> Iterator[None]:
    """An exclusive advisory lock on `path` (created if missing), held for the block.

    Guards read-modify-write of shared files (zoo entries) between processes that run side by
    side; on systems without fcntl it is a no-op.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def atomic_write_text(path: Path | str, text: str) -> Path:
    return atomic_write(path, lambda p: p.write_text(text))


def atomic_write_json(path: Path | str, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=1, sort_keys=False) + "\n")


def atomic_torch_save(path: Path | str, obj: Any) -> Path:
    import torch

    return atomic_write(path, lambda p: torch.save(obj, p))


def sha256_file(path: Path | str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=repo_root(), capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() if out.returncode == 0 else None
        if commit:
            dirty = subprocess.run(
                ["git", "status", "--porcelain", "--untracked-files=no"],
                cwd=repo_root(), capture_output=True, text=True, timeout=10,
            ).stdout.strip()
            return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return None


def package_versions(dists) -> dict[str, str]:
    """Each installed distribution's version ("not installed" where it is missing)."""
    import importlib.metadata as md

    versions = {}
    for dist in dists:
        try:
            versions[dist] = md.version(dist)
        except md.PackageNotFoundError:
            versions[dist] = "not installed"
    return versions


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(),
                **package_versions(("torch", "torchvision", "torchattacks", "pyautoattack", "numpy", "pandas"))}
    from benchmark._version import __version__

    versions["robust-transfer-bench"] = __version__
    return versions


def cpu_identity() -> dict:
    """The CPU's model name and a short hash of its feature flags (Linux), so that two CPUs that
    report the same ATen capability but dispatch other kernels are not taken for one kind."""
    model, flags = platform.processor() or "unknown", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and model in ("unknown", "", platform.machine()):
                model = value.strip()
            elif key.strip() in ("flags", "Features") and not flags:
                flags = " ".join(sorted(value.split()))
    except OSError:
        pass
    return {"cpu_model": model, "cpu_flags": hashlib.sha256(flags.encode()).hexdigest()[:12] if flags else "unknown"}


def machine() -> dict:
    """What decides float results on this machine: CPU (model, features, ATen/oneDNN ISA), threads, GPU."""
    import torch

    info = {"platform": platform.machine(), "threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "dnnl_max_cpu_isa": os.environ.get("DNNL_MAX_CPU_ISA", "native"), **cpu_identity()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def provenance() -> dict:
    """Git commit, library versions and machine, for every record."""
    return {"git_commit": git_commit(), "versions": library_versions(), "machine": machine()}
