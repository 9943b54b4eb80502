"""Every relative link of the README and of docs/ resolves to a file in the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_relative_links_resolve():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+://|#|mailto:", target):
                continue
            path = (page.parent / target.split("#")[0]).resolve()
            if not path.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, broken


def test_every_interval_in_the_readme_and_docs_comes_from_a_generated_report():
    """A number with its interval, `41.8 [33.4, 50.2]`, is quoted from a file `report` (or `perf`) writes, never
    retyped: each one in the README and docs/ appears in reports/."""
    # whitespace runs count as one space: an interval wrapped across two lines is checked too
    generated = " ".join(" ".join(p.read_text().split()) for p in sorted((ROOT / "reports").glob("*.md"))
                         + [ROOT / "reports" / "perf_cpu.txt"])
    pattern = re.compile(r"-?\d+(?:\.\d+)?%? \[-?\d+(?:\.\d+)?, -?\d+(?:\.\d+)?\]")
    missing = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for found in pattern.findall(" ".join(page.read_text().split())):
            if found not in generated:
                missing.append(f"{page.relative_to(ROOT)}: {found}")
    assert not missing, missing


# words that mark a count as one of its time (a measurement then), not a claim about the repository now
OF_ITS_TIME = ("then", "of the time", "at the time", "when ", "was made", "2026-")


def _current_counts() -> dict[str, int]:
    """What the docs may count, as the repository holds it now."""
    import yaml

    weights = list((ROOT / "model_zoo" / "weights").glob("*/seed*.safetensors"))
    entries = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "model_zoo").glob("*.yaml"))]
    out = {"published weight files": len(weights),
           "published models": sum(len(e.get("weights") or []) for e in entries),
           "entries": len(entries)}
    for proto in ("fmnist-linf", "fmnist-linf-quick"):
        out[f"records under `{proto}`"] = len(list((ROOT / "results" / proto).glob("*/seed*.json")))
    for suite in ("ci", "quick"):
        out[f"{suite} suite entries"] = sum(suite in (e.get("suites") or []) for e in entries)
    return out


def test_counts_in_the_readme_and_docs_are_the_repository_s():
    """A count of published weights, records or suite entries quoted in the docs is what the repository holds
    now, unless its sentence says it was a count of its time ("then", a date)."""
    counts = _current_counts()
    patterns = {
        "published weight files": r"(\d[\d,]*) published weight files",
        "published models": r"(\d[\d,]*) published models",
        "records under `fmnist-linf`": r"(\d[\d,]*) records under `fmnist-linf`",
        "records under `fmnist-linf-quick`": r"(\d[\d,]*) records under `fmnist-linf-quick`",
        "ci suite entries": r"ci suite'?s? (\d+) entries|(\d+) entries in the ci suite",
        "quick suite entries": r"quick suite'?s? (\d+) entries|(\d+) entries in the quick suite",
    }
    wrong = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = " ".join(page.read_text().split())
        for sentence in re.split(r"(?<=[.;:])\s", text):
            for what, pattern in patterns.items():
                for match in re.finditer(pattern, sentence):
                    n = int(next(g for g in match.groups() if g).replace(",", ""))
                    if n != counts[what] and not any(w in sentence for w in OF_ITS_TIME):
                        wrong.append(f"{page.relative_to(ROOT)}: '{match.group(0)}' but the repository has "
                                     f"{counts[what]} {what}")
    assert not wrong, wrong
