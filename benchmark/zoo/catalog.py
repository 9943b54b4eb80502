"""The zoo's entries: the project's (model_zoo/) and the user's own (their zoo folder)."""

from __future__ import annotations

import difflib
from pathlib import Path

from benchmark.errors import BenchmarkError
from benchmark.paths import project_zoo_dir, user_zoo_dir
from benchmark.sources import is_ref
from benchmark.zoo.entry import ZooEntry, load_entry_file


def load_entries(directory: Path | None = None, user_dir: Path | str | None = None) -> dict[str, ZooEntry]:
    """Every entry, by name. A user entry may not reuse a project entry's name."""
    entries: dict[str, ZooEntry] = {}
    folders = [(Path(directory) if directory else project_zoo_dir(), "project")]
    if directory is None:
        folders.append((user_zoo_dir(user_dir), "user"))
    for folder, origin in folders:
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            entry = load_entry_file(path, origin)
            if entry.name in entries:
                raise BenchmarkError(f"{path}: entry {entry.name!r} already exists in {entries[entry.name].path}: "
                                     "rename it (name and file)")
            entries[entry.name] = entry
    for entry in list(entries.values()):
        if entry.source and entry.source not in entries:
            if is_ref(entry.source):  # a provider's model named directly: an entry of its own, made here
                pins = {e.source_sha256 for e in entries.values() if e.source == entry.source and e.source_sha256}
                if len(pins) > 1:
                    raise BenchmarkError(f"{entry.path}: entries pin source {entry.source} to different sha256 "
                                         f"({', '.join(p[:12] for p in sorted(pins))}): make them agree")
                entries[entry.source] = provider_entry(entry.source, next(iter(pins), None))
                continue
            raise BenchmarkError(f"{entry.path}: field 'source' names unknown entry {entry.source!r}")
    return entries


def provider_entry(ref: str, pinned: str | None = None) -> ZooEntry:
    """A source provider's model as a zoo entry (not a file): what it takes, what it was made robust for, and its
    weights, loaded by the provider and pinned by `pinned` when an entry that uses it says so."""
    from benchmark.sources import info, split_ref
    from benchmark.zoo.entry import Normalization, WeightsRef

    split_ref(ref)
    source = info(ref)
    kind = "imagenet" if source.task["image_size"] >= 64 else "cifar"
    protocol = f"{kind}-{'l2' if source.threat_model == 'L2' else 'linf'}"
    task = source.task["name"] if source.task["name"] in ("cifar10", "cifar100", "imagenet") else "imagenet"
    return ZooEntry(name=ref, task=task, architecture=ref, threat_model=source.threat_model,
                    eps=source.eps or _protocol_eps(protocol), protocol=protocol, strategy="external", provider=ref,
                    seeds=[0], weights=[WeightsRef(seed=0, format="provider", sha256=pinned)],
                    normalization=Normalization(list(source.mean), list(source.std)),
                    description=source.description, suites=["provider"], origin="user")


def _protocol_eps(name: str) -> float:
    """A built-in protocol's eps, read from its file (the zoo comes before the evaluation package)."""
    from benchmark.spec import read_yaml

    return float(read_yaml(Path(__file__).resolve().parent.parent / "protocols" / f"{name}.yaml", "protocol")["eps"])


def get_entry(name: str, entries: dict[str, ZooEntry] | None = None) -> ZooEntry:
    entries = entries if entries is not None else load_entries()
    if name not in entries and is_ref(name):
        entries[name] = provider_entry(name)
    if name not in entries:
        close = difflib.get_close_matches(name, entries, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BenchmarkError(f"unknown model {name!r}{hint}: run `python -m benchmark zoo list` "
                             f"for the {len(entries)} entries")
    return entries[name]


def suite_entries(suite: str, entries: dict[str, ZooEntry] | None = None) -> list[str]:
    entries = entries if entries is not None else load_entries()
    names = [n for n, e in entries.items() if suite in e.suites]
    if not names:
        known = sorted({s for e in entries.values() for s in e.suites})
        raise BenchmarkError(f"no zoo entry is in suite {suite!r}: choose one of {', '.join(known)}")
    return names


def dependency_order(names: list[str], entries: dict[str, ZooEntry]) -> list[str]:
    """The entries and their sources, sources first."""
    order: list[str] = []

    def visit(n: str, stack: tuple[str, ...] = ()):
        if n in order:
            return
        if n in stack:
            raise BenchmarkError(f"zoo entry {n!r}: its sources form a cycle {' -> '.join(stack + (n,))}")
        src = get_entry(n, entries).source
        if src:
            visit(src, stack + (n,))
        order.append(n)

    for n in names:
        visit(n)
    return order


def check_seeds(entry: ZooEntry, seeds: list[int] | None) -> list[int]:
    """The seeds asked for (default: all of the entry's), each one the entry declares."""
    if not seeds:
        return list(entry.seeds)
    for s in seeds:
        if s not in entry.seeds:
            raise BenchmarkError(f"{entry.name} has no seed {s}: choose from {entry.seeds} "
                                 f"(or add it to the entry's 'seeds')")
    return list(seeds)
