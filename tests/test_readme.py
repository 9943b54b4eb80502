"""The README quotes the generated claims instead of restating them, and starts with the two commands."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    block = re.search(r"```bash\n(.*?)```", readme(), re.S).group(1)
    commands = [line.split("#")[0].strip() for line in block.splitlines() if line.split("#")[0].strip()]
    assert commands == ["bash scripts/install.sh && python -m benchmark run --suite quick --report",
                        "python -m pytest -q"]


def test_readme_quotes_the_claim_verdicts_of_reports_claims_md():
    claims = (ROOT / "reports" / "claims.md").read_text()
    table = re.search(r"(\| claim \|.*?)\n\n", claims, re.S).group(1)
    assert table in readme(), "the README's claims table differs from reports/claims.md: copy it over"


def test_readme_has_no_unfilled_placeholders():
    left = re.findall(r"\b[A-Z]{3,}_[A-Z]{3,}(?:_[A-Z]+)*\b", readme())
    allowed = {"ATEN_CPU_CAPABILITY", "DNNL_MAX_CPU_ISA", "OMP_NUM_THREADS", "RTB_CACHE", "RTB_HOME", "RTB_PLUGINS"}
    assert set(left) <= allowed, sorted(set(left) - allowed)


def test_the_readme_is_short_and_names_every_common_task_on_its_first_screen():
    text = readme()
    assert len(text) <= 12_000, len(text)
    for task in ("Evaluate a zoo model", "Evaluate your own model from Python", "Transfer to your own folder",
                 "Run the paper's experiments on GPUs or a Slurm cluster", "Add a strategy, attack, architecture",
                 "Reproduce and check a record"):
        assert task in text, task
