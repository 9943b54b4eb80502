"""Re-quote the README's and docs' intervals after `python -m benchmark report` regenerated reports/.

Every `41.8 [33.4, 50.2]` in README.md and docs/ is quoted from a generated report (tests/test_docs.py). When the
records change, this finds where each quoted interval stood in the previous reports (a git revision: family heading,
section, table row, column and its place in the cell) and writes the interval now at that place. Intervals it cannot
place are listed, for a person to re-quote.

    python tools/requote_intervals.py [--before HEAD] [--dry-run]
"""

from __future__ import annotations

import argparse
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
INTERVAL = re.compile(r"-?\d+(?:\.\d+)?%?\s+\[-?\d+(?:\.\d+)?,\s+-?\d+(?:\.\d+)?\]")   # may wrap
REPORTS = ["reports/claims.md", "reports/leaderboard.md"]


def places(text: str, report: str) -> dict[str, list[tuple]]:
    """interval -> the places it stands in one report's tables: (report, family, section, table, row, column, index)."""
    found: dict[str, list[tuple]] = {}
    family = section = ""
    header: list[str] = []
    table = 0                     # tables in a section share headers and row labels: their order tells them apart
    for line in text.splitlines():
        if line.startswith("## "):
            family, section, header, table = line, "", [], 0
        elif line.startswith("### "):
            # the verdict word may change ("reproduced" -> "inconclusive"): the section is its label up to it
            m = re.match(r"### (\([a-z]\))", line)
            section, header, table = (m.group(1) if m else line), [], 0
        elif line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if set("".join(cells)) <= set("-: "):
                continue
            if not header:
                header, table = cells, table + 1
                continue
            # a row is named by its first cell, or by claim and test where both lead the row
            row = f"{cells[0]} | {cells[1]}" if header[:2] == ["claim", "test"] else cells[0]
            row = re.sub(r" \(screen: [a-z ]+\)|^\(([a-d])\) [a-z ]+ \|", lambda m: f"({m.group(1)}) |" if m.group(1) else "", row)
            for col, cell in enumerate(cells):
                for i, iv in enumerate(" ".join(x.split()) for x in INTERVAL.findall(cell)):
                    name = header[col] if col < len(header) else str(col)
                    found.setdefault(iv, []).append((report, family, section, table, row, name, i))
        else:
            header = []
    return found


def cell_at(text: str, report: str, place: tuple) -> str | None:
    for iv, where in places(text, report).items():
        if place in where:
            return iv
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default="HEAD", help="the git revision whose reports the pages quote")
    ap.add_argument("--dry-run", action="store_true")
    args = ap.parse_args()
    old: dict[str, list[tuple]] = {}
    new_text = {}
    for report in REPORTS:
        before = subprocess.run(["git", "show", f"{args.before}:{report}"], cwd=ROOT, capture_output=True, text=True,
                                check=True).stdout
        for iv, where in places(before, report).items():
            old.setdefault(iv, []).extend(where)
        new_text[report] = (ROOT / report).read_text()
    generated = " ".join(" ".join(t.split()) for t in [*new_text.values(), (ROOT / "reports" / "perf_cpu.txt").read_text()])
    unplaced = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text()

        def swap(m: re.Match) -> str:
            iv = " ".join(m.group(0).split())
            where = old.get(iv, [])
            if not where:
                if iv not in generated:
                    unplaced.append(f"{page.relative_to(ROOT)}: {iv} (not in the previous tables)")
                return m.group(0)
            now = {cell_at(new_text[w[0]], w[0], w) for w in where}
            if (len(now) != 1 or None in now) and iv in generated:
                return m.group(0)                 # its place is gone, but it is still quoted right
            if len(now) != 1 or None in now:
                unplaced.append(f"{page.relative_to(ROOT)}: {iv} (stands in {len(where)} places, now {sorted(map(str, now))})")
                return m.group(0)
            now_iv = now.pop()
            return m.group(0) if now_iv == iv else now_iv

        out = INTERVAL.sub(swap, text)
        if out != text:
            print(f"{page.relative_to(ROOT)}: re-quoted")
            if not args.dry_run:
                page.write_text(out)
    for line in unplaced:
        print("re-quote by hand:", line)
    return 1 if unplaced else 0


if __name__ == "__main__":
    raise SystemExit(main())
