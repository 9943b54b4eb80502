"""The project's published weights and committed records, checked as a user on another machine would.

- Evaluation gate: the published weights reproduce the committed record example for example,
  on this machine and on an emulated other one (other CPU kernels and thread count), without
  training anything.
- Training gate: retraining from the recipe lands in the committed seed band on an emulated
  other machine, and a deliberately broken training change (learning rate x100, LwF's penalty
  with the wrong sign) leaves it.
"""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[1]
PROTOCOL = "fmnist-linf-quick"
# "another machine": portable ATen kernels, oneDNN without AVX-512, one thread
EMULATED = {"ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "AVX2", "OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _need_data(fmnist_available, tmp_path, monkeypatch):
    # an empty cache: nothing trained may be used, published weights only
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home"))


def cli(args: list[str], env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "benchmark", *args], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=900)


def test_published_weights_reproduce_the_committed_record_without_training(tmp_path, capsys):
    assert main(["check", "--model", "fmnist_lwf_n100", "--seed", "0", "--protocol", PROTOCOL, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "identical on all 300 examples" in out, out
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))


def test_evaluation_gate_on_an_emulated_machine(tmp_path):
    proc = cli(["check", "--model", "fmnist_linear", "--seed", "1", "--protocol", PROTOCOL, "--quiet"], EMULATED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 published models compared" in proc.stdout


def test_training_gate_passes_a_retrained_copy_on_an_emulated_machine():
    proc = cli(["check", "--model", "fmnist_lwf_n100", "--train", "--seed", "0", "--protocol", PROTOCOL, "--quiet"],
               EMULATED)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 metrics outside their band" in proc.stdout


def test_training_gate_fails_a_learning_rate_off_by_100(monkeypatch, capsys):
    """A recipe whose learning rate is a hundredth of the published one fails the training gate (22.7% clean
    against the committed seeds' ~85%). Times 100 is no such test: LwF at lr 2.0 left the band in one process
    but landed at 87.0% clean and 1.7% robust, inside it, in a parallel test worker (floating point decides)."""
    import benchmark.zoo

    name = "fmnist_lwf_n100"
    entries = benchmark.zoo.load_entries()
    recipe = entries[name].recipe
    entries[name] = dataclasses.replace(entries[name], recipe={**recipe, "lr": recipe["lr"] / 100})
    monkeypatch.setattr(benchmark.zoo, "load_entries", lambda *a, **k: entries)
    assert main(["check", "--model", name, "--train", "--seed", "0", "--protocol", PROTOCOL, "--quiet"]) == 1
    assert "outside the band" in capsys.readouterr().err


@pytest.mark.slow  # two minutes: a whole-pool LwF retrained (CI's slow tier runs it)
def test_training_gate_fails_lwf_with_the_wrong_sign(monkeypatch, capsys):
    import benchmark.strategies.lwf as lwf

    distance = lwf.feature_distance
    monkeypatch.setattr(lwf, "feature_distance", lambda z, z0, kind: -distance(z, z0, kind))
    # lambda = 1: a penalty whose sign decides the robustness (28.0-50.7% over its 5 committed seeds; the wrong sign
    # gives ~0%). At the validation-selected lambda = 0.1 (fmnist_lwf_n100) LwF keeps only 1-9% over its
    # 10 seeds, so a wrong sign (0%) would sit inside that band and this test could not fail.
    assert main(["check", "--model", "fmnist_lwf_lambda1", "--train", "--seed", "0", "--protocol", PROTOCOL,
                 "--quiet"]) == 1
    assert "outside the band" in capsys.readouterr().err
