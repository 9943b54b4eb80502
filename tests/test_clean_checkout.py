"""A user's runs never change the checkout: the README's commands and the usage page's, run in a clean clone,
leave `git status` clean (everything they make goes into $RTB_HOME). Slow: it runs the main job and a training."""

import os
import re
import shlex
import subprocess
import sys
import time
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
    ("check --suite ci", "CI runs both gates in its clone and fails if they change it (.ci/run)"),
    ("train --model fmnist_lwf --seed 0", "the README's `train --model fmnist_lwf_n100` takes the same path (LwF from the "
                                          "published source, into the cache) on a tenth of the data, and runs here"),
)

# commands run at a smaller size through their own options, and why: the test asks whether a command works and
# where it writes, not what it measures (the gates check numbers); the README's main job runs as written
SHRINK = (
    ("evaluate --model", "--n 40", "40 examples (the guards' slice shrinks with them): the evaluation gate checks "
                                   "the records' numbers"),
    ("sweep --model", "--n 40", "40 examples per eps"),
)


def shrunk(cmd: str) -> str:
    """The command with the options SHRINK gives it."""
    return " ".join([cmd] + [extra for marker, extra, _ in SHRINK if marker in cmd])


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


def chains(cmds: list[str]) -> list[list[str]]:
    """The commands as independent chains: one that uses what an earlier one made (the PNG folder a transfer
    reads, the trained weights an evaluation reads) runs after it, in the same chain."""
    out: list[list[str]] = []
    for cmd in cmds:
        model = re.search(r"--model (\S+)", cmd)
        after = next((c for c in out if ("--data" in cmd and "fmnist_to_png" in c[-1]) or
                      ("--weights trained" in cmd and model and f"train --model {model.group(1)} " in c[-1] + " ")),
                     None)
        if after is not None:
            after.append(cmd)
        else:
            out.append([cmd])
    return out


@pytest.mark.slow
def test_the_readme_and_usage_commands_leave_a_clean_clone_clean(tmp_path, fmnist_available):
    from concurrent.futures import ThreadPoolExecutor

    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    # one thread per command and two chains at a time: the commands are independent, mostly start-up, data
    # loading and single-threaded work, so two lanes take little more than half the time of one
    env = {**os.environ, "RTB_HOME": str(tmp_path / "home"), "PYTHONPATH": str(clone), "OMP_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    for var in ("RTB_CACHE", "RTB_RESULTS", "RTB_USER_RESULTS", "RTB_ZOO_DIR", "RTB_USER_ZOO"):
        env.pop(var, None)
    cmds = [c.replace("/tmp/my_shoes", str(tmp_path / "my_shoes"))
            for c in dict.fromkeys(commands(clone / "README.md") + commands(clone / "docs" / "usage.md"))
            if not any(marker in c for marker, _ in SKIP) and c.startswith(("python", "bash"))]
    cmds = [shrunk(c) for c in cmds]

    def run_chain(chain: list[str]) -> list[tuple[str, float]]:
        took = []
        for cmd in chain:
            argv = [sys.executable if a == "python" else a for a in shlex.split(cmd)]
            t0 = time.time()
            done = subprocess.run(argv, cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
            assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            took.append((cmd, time.time() - t0))
        return took

    with ThreadPoolExecutor(2) as pool:
        ran = [t for chain in pool.map(run_chain, chains(cmds)) for t in chain]
    print("\n".join(f"{s:6.0f} s  {c}" for c, s in ran))  # where the test's minutes go (pytest -s, -rP)
    plan = [sys.executable, "-m", "benchmark", "study", "plan", "--data", str(tmp_path / "my_shoes"), "--source",
            "fmnist_src_robust", "--no-measure"]
    assert subprocess.run(plan, cwd=clone, env=env, capture_output=True, text=True, timeout=600).returncode == 0
    ran = [c for c, _ in ran]
    assert any("run --suite quick --report" in c for c in ran) and any("transfer" in c for c in ran), ran
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=clone,
                            capture_output=True, text=True, check=True).stdout
    assert status == "", f"the commands changed the checkout:\n{status}"
    assert (tmp_path / "home" / "reports" / "claims.md").is_file()   # the main job's report, in the user's folder


def test_shrinking_keeps_the_command_and_adds_only_size_options():
    assert shrunk("python -m benchmark run --suite quick --report") == "python -m benchmark run --suite quick --report"
    assert shrunk("python -m benchmark evaluate --model m --seed 0") == "python -m benchmark evaluate --model m --seed 0 --n 40"
    assert shrunk("python -m benchmark train --model m --seed 0") == "python -m benchmark train --model m --seed 0"


def test_commands_that_need_an_earlier_one_run_after_it():
    cmds = ["python -m benchmark run --suite quick --report", "python tools/fmnist_to_png.py /x/shoes",
            "python -m benchmark train --model m --seed 0", "python -m benchmark transfer --data /x/shoes",
            "python -m benchmark evaluate --model m --seed 0 --weights trained",
            "python -m benchmark evaluate --model mm --weights trained"]
    assert chains(cmds) == [[cmds[0]], [cmds[1], cmds[3]], [cmds[2], cmds[4]], [cmds[5]]]
