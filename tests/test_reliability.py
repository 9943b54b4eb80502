"""Gradient-masking guards and faults: SIGKILL during training and evaluation."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml
from torch import nn

from benchmark.evaluation import load_protocol
from benchmark.evaluation.guards import GuardOptions, run_guards
from benchmark.zoo.weights import read_safetensors
from tests.conftest import record_file, weights_file, write_entry


class InputQuantization(nn.Module):
    """A classic false defense: rounding the input kills the gradient, not the adversarial examples."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(torch.round(x * 4) / 4)


@pytest.fixture(scope="module")
def guard_data(target_data):
    _, _, x, y = target_data
    return x[:60], y[:60], torch.arange(60), load_protocol("fmnist-linf-quick")


def test_gradient_masked_model_is_flagged(natural_model, guard_data):
    """With the quick protocol's own guard budgets (v4: Square 200 queries, a 30-step long run)."""
    from dataclasses import replace

    from benchmark.evaluation.guards import guard_options

    x, y, idx, protocol = guard_data
    masked = InputQuantization(natural_model).eval()
    opts = replace(guard_options(protocol, "cpu"), n=60)
    assert opts.square_queries == 200 and opts.long_steps == 30
    g = run_guards(masked, x, y, idx, torch.ones(60), opts)
    assert g["flagged"]
    reasons = " ".join(g["flags"])
    assert "gradients are zero" in reasons and "Square broke" in reasons


def test_normal_model_is_not_flagged(natural_model, guard_data):
    x, y, idx, protocol = guard_data
    g = run_guards(natural_model, x, y, idx, torch.zeros(60), GuardOptions("Linf", 0.1, n=60, square_queries=300))
    assert not g["flagged"], g["flags"]
    assert g["pgd_large_eps"] <= 0.05 and g["gradients_ok"] > 0.9


def _env(tiny_zoo):
    zoo, cache, results = tiny_zoo
    return {**os.environ, "RTB_ZOO_DIR": str(zoo), "RTB_CACHE": str(cache), "RTB_RESULTS": str(results),
            "PYTHONPATH": os.getcwd()}


def _kill_when(proc, condition, timeout=240):
    start = time.time()
    while not condition():
        assert proc.poll() is None, "the run finished before it could be killed"
        assert time.time() - start < timeout
        time.sleep(0.05)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_sigkill_mid_training_then_resume_gives_identical_weights(tiny_zoo):
    zoo, cache, _ = tiny_zoo
    recipe = {"epochs": 4, "batch_size": 32, "lr": 0.02}
    write_entry(zoo, "ref", n_per_class=400, recipe=recipe, seeds=[5])
    write_entry(zoo, "victim", n_per_class=400, recipe=recipe, seeds=[5])
    cmd = [sys.executable, "-m", "benchmark", "train", "--quiet", "--model"]
    env = _env(tiny_zoo)
    subprocess.run(cmd + ["ref"], env=env, check=True, capture_output=True)
    proc = subprocess.Popen(cmd + ["victim"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = cache / "checkpoints" / "victim" / "seed5.pt"
    _kill_when(proc, ckpt.exists)  # killed during the second epoch, right after the first checkpoint
    assert not weights_file(cache, "victim", 5).exists()
    out = subprocess.run(cmd + ["victim"], env=env, check=True, capture_output=True, text=True)
    assert "resuming victim seed 5 from epoch" in out.stdout
    a, b = (read_safetensors(weights_file(cache, n, 5))[0] for n in ("ref", "victim"))
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_sigkill_mid_evaluation_never_leaves_a_complete_looking_record(tiny_zoo, tmp_path):
    zoo, _, results = tiny_zoo
    write_entry(zoo, "m", n_per_class=100, recipe={"epochs": 10, "batch_size": 50, "lr": 0.05})
    env = _env(tiny_zoo)
    subprocess.run([sys.executable, "-m", "benchmark", "train", "--quiet", "--model", "m"], env=env, check=True)
    # a tiny eps breaks almost nothing, so PGD runs every step: an evaluation that takes a while
    proto = tmp_path / "slow.yaml"
    proto.write_text(yaml.safe_dump({"name": "slow", "version": 1, "threat_model": "Linf", "eps": 0.0005,
                                     "n_examples": 300, "seed": 0,
                                     "attacks": [{"name": "pgd", "type": "pgd", "steps": 300}]}))
    record = record_file(results, "slow", "m")
    cmd = [sys.executable, "-m", "benchmark", "evaluate", "--quiet", "--model", "m", "--protocol", str(proto)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.time()
    _kill_when(proc, lambda: time.time() - start > 5)
    from benchmark.results import load_records

    assert not record.exists() and load_records([results]) == []
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    rec = json.loads(record.read_text())
    assert rec["complete"] and rec["n_examples"] == 300 and "guards" in rec
    assert not [p for p in record.parent.iterdir() if p.name.startswith(".")]


def _state(folder):
    """The saved progress of an evaluation (None while there is none or it is being replaced)."""
    try:
        return torch.load(folder / "state.pt", weights_only=False)
    except Exception:
        return None


@pytest.mark.slow  # two minutes: three evaluations with guards (CI's slow tier runs it)
def test_sigkill_mid_autoattack_then_resume_gives_the_uninterrupted_record(tiny_zoo, tmp_path):
    """Kill an evaluation inside the reference AutoAttack (after some of its batches); the same command
    continues from the saved batch and writes the record an uninterrupted run writes."""
    zoo, _, results = tiny_zoo
    write_entry(zoo, "m", n_per_class=100, recipe={"epochs": 10, "batch_size": 50, "lr": 0.05})
    env = _env(tiny_zoo)
    subprocess.run([sys.executable, "-m", "benchmark", "train", "--quiet", "--model", "m"], env=env, check=True)
    proto = tmp_path / "aa.yaml"  # a small eps leaves examples for AutoAttack after a short PGD
    proto.write_text(yaml.safe_dump({"name": "aa", "version": 1, "threat_model": "Linf", "eps": 0.015,
                                     "n_examples": 72, "seed": 0, "attacks": [
                                         {"name": "pgd", "type": "pgd", "steps": 2},
                                         {"name": "autoattack", "type": "autoattack", "version": "custom",
                                          "attacks": ["apgd-ce", "apgd-t"]}]}))
    record = record_file(results, "aa", "m")
    cmd = [sys.executable, "-m", "benchmark", "evaluate", "--quiet", "--model", "m", "--protocol", str(proto),
           "--batch-size", "8", "--save-adversarial"]
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    uninterrupted = json.loads(record.read_text())
    record.unlink()
    progress = record.with_name(record.name + ".partial")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # killed once AutoAttack (the second attack) has finished at least one of its batches
    _kill_when(proc, lambda: (s := _state(progress)) is not None and s["attack"] == 1 and s["next"] > 0)
    killed_at = _state(progress)
    assert not record.exists() and killed_at["attack"] == 1
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    resumed = json.loads(record.read_text())
    assert resumed["per_example"] == uninterrupted["per_example"]
    assert resumed["guards"]["flags"] == uninterrupted["guards"]["flags"]
    assert uninterrupted["attacks"][1]["n_attacked"] > 8  # AutoAttack had more than one batch to do
    assert not progress.exists(), out.stdout
    # the audit file of the resumed record holds every example it counts as broken
    verified = subprocess.run([sys.executable, "-m", "benchmark", "verify", str(record)], env=env,
                              capture_output=True, text=True)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_the_fab_t_guard_breaks_what_a_battery_pretended_it_could_not(natural_model, guard_data):
    """The full protocols' FAB-T on the guards' slice: on a natural model it breaks the examples a (pretend)
    battery left robust, and the evaluation is flagged saying so."""
    x, y, idx, protocol = guard_data
    g = run_guards(natural_model, x[:20], y[:20], idx[:20], torch.ones(20),
                   GuardOptions("Linf", 0.1, n=20, square_queries=10, fab_targets=9))
    assert g["fab_t_broken"] >= 10 and any("FAB-T broke" in f for f in g["flags"]), g


@pytest.mark.parametrize("robust, flagged", [(5, False), (6, True)])
def test_the_large_eps_guard_counts_examples_not_float32_means(robust, flagged):
    """5 of 100 robust at eps 0.5 is at the limit, not above it: as a float32 mean it reads 0.0500000007."""

    class Constant(torch.nn.Module):  # predicts class 0 whatever the input: no attack moves it
        def forward(self, x):
            return torch.tensor([5.0, 0.0]).expand(x.shape[0], 2) + 0 * x.flatten(1).sum(1, keepdim=True)

    y = torch.ones(100, dtype=torch.long)
    y[:robust] = 0
    x = torch.rand(100, 1, 4, 4, generator=torch.Generator().manual_seed(0))
    g = run_guards(Constant().eval(), x, y, torch.arange(100), torch.zeros(100),
                   GuardOptions("Linf", 0.1, n=100, square_queries=10))
    assert g["pgd_large_eps"] == pytest.approx(robust / 100)
    assert any("at eps=0.5" in f for f in g["flags"]) is flagged, g["flags"]
