"""A user's runs never change the checkout: the README's commands and the usage page's, run in a clean clone,
leave `git status` clean (everything they make goes into $RTB_HOME). Slow: it runs the main job and a training."""

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# commands of the README and docs/usage.md that are not run here, and why
SKIP = (
    ("scripts/install.sh", "the install (done)"),
    ("pytest", "the tests themselves"),
    ("--device cuda", "needs a GPU"),
    ("--executor slurm", "needs a cluster (tests/test_studies.py runs one)"),
    ("perf", "minutes of measurements (docs/performance.md)"),
    ("RECORD", "a placeholder"),
    ("--train", "retrains the ci suite (CI runs it)"),
    ("check --study my_study.yaml", "a placeholder"),
    ("my_method.py", "a placeholder"),
    ("study --data", "hours at the default sizes; `study plan --data` runs instead"),
    ("--update-records", "maintainers only"),
    ("--seed 0 1 2", "CI runs the gate"),
)


def commands(path: Path) -> list[str]:
    """The shell commands of a page's ```bash blocks, comments and placeholders' [options] removed."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            line = re.sub(r"\s\[[^\]]*\]", "", line)
            if line and not line.startswith("#"):
                out += [c.strip() for c in line.split("&&")]
    return out


@pytest.mark.slow
def test_the_readme_and_usage_commands_leave_a_clean_clone_clean(tmp_path, fmnist_available):
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "RTB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(clone)}
    for var in ("RTB_CACHE", "RTB_RESULTS", "RTB_USER_RESULTS", "RTB_ZOO_DIR", "RTB_USER_ZOO"):
        env.pop(var, None)
    ran = []
    for cmd in dict.fromkeys(commands(clone / "README.md") + commands(clone / "docs" / "usage.md")):
        if any(marker in cmd for marker, _ in SKIP) or not cmd.startswith(("python", "bash")):
            continue
        if "--data /tmp/my_shoes" in cmd or "/tmp/my_shoes" in cmd:
            cmd = cmd.replace("/tmp/my_shoes", str(tmp_path / "my_shoes"))
        argv = [sys.executable if a == "python" else a for a in shlex.split(cmd)]
        done = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
        assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        ran.append(cmd)
    plan = [sys.executable, "-m", "benchmark", "study", "plan", "--data", str(tmp_path / "my_shoes"), "--source",
            "fmnist_src_robust", "--no-measure"]
    assert subprocess.run(plan, cwd=clone, env=env, capture_output=True, text=True, timeout=600).returncode == 0
    assert any("run --suite quick --report" in c for c in ran) and any("transfer" in c for c in ran), ran
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the commands changed the checkout:\n{status}"
    assert (tmp_path / "home" / "reports" / "claims.md").is_file()   # the main job's report, in the user's folder
