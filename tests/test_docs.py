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
