"""`evaluate --save-adversarial` and `verify`: a record's broken examples replayed without an attack."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmark.io import sha256_file
from tests.conftest import record_file, write_entry


@pytest.fixture(scope="module")
def audited(tmp_path_factory, fmnist_available):
    """A small model's record with its adversarial examples (evaluated once for the module)."""
    root = tmp_path_factory.mktemp("verify")
    zoo, cache, results = root / "zoo", root / "cache", root / "results"
    zoo.mkdir()
    env = {**os.environ, "RTB_ZOO_DIR": str(zoo), "RTB_CACHE": str(cache), "RTB_RESULTS": str(results),
           "RTB_HOME": str(root / "home"), "PYTHONPATH": os.getcwd()}
    write_entry(zoo, "m", n_per_class=100, recipe={"epochs": 10, "batch_size": 50, "lr": 0.05})
    run = [sys.executable, "-m", "benchmark"]
    subprocess.run(run + ["train", "--quiet", "--model", "m"], env=env, check=True, capture_output=True)
    subprocess.run(run + ["evaluate", "--quiet", "--model", "m", "--protocol", "fmnist-linf-quick", "--no-guards",
                          "--n", "100", "--save-adversarial", "--results-dir", str(results)], env=env, check=True,
                   capture_output=True)
    return env, record_file(results, "fmnist-linf-quick", "m")


def verify(env, record):
    return subprocess.run([sys.executable, "-m", "benchmark", "verify", str(record)], env=env, capture_output=True,
                          text=True)


def test_verify_confirms_every_broken_example(audited):
    env, record = audited
    rec = json.loads(record.read_text())
    broken = sum(c == 1 and r == 0 for c, r in zip(rec["per_example"]["clean_correct"], rec["per_example"]["robust"]))
    assert broken > 20 and rec["adversarial"]["n"] == broken  # 40 of the 100 examples
    out = verify(env, record)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"verified {broken} adversarial examples" in out.stdout


def test_a_tampered_file_fails(audited, tmp_path):
    env, record = audited
    copy = tmp_path / record.name
    copy.write_text(record.read_text())
    adv = record.with_name("seed0.adv.npz")
    data = dict(np.load(adv))
    data["x_adv"][0] = np.clip(data["x_adv"][0] + 0.01, 0, 1)
    np.savez_compressed(tmp_path / adv.name, **data)
    out = verify(env, copy)
    assert out.returncode == 2 and "changed after the record was written" in out.stderr


def test_a_forged_record_names_the_example(audited, tmp_path):
    """Inputs that do not fool the model, even with a matching sha256, fail the replay by name."""
    env, record = audited
    rec = json.loads(record.read_text())
    adv = record.with_name("seed0.adv.npz")
    data = dict(np.load(adv))
    first = int(data["index"][0])
    data["x_adv"][0] = np.clip(data["x_adv"][0] + 0.5, 0, 1)   # far outside the eps ball
    forged = tmp_path / adv.name
    np.savez_compressed(forged, **data)
    rec["adversarial"]["sha256"] = sha256_file(forged)
    (tmp_path / record.name).write_text(json.dumps(rec))
    out = verify(env, tmp_path / record.name)
    assert out.returncode == 1 and f"example {first}" in out.stdout and "outside the eps ball" in out.stdout
    # a broken example without its input fails too
    for key in ("index", "x_adv", "attack"):
        data[key] = data[key][1:]
    np.savez_compressed(forged, **data)
    rec["adversarial"]["sha256"] = sha256_file(forged)
    (tmp_path / record.name).write_text(json.dumps(rec))
    out = verify(env, tmp_path / record.name)
    assert out.returncode == 1 and f"example {first}: the record counts it broken" in out.stdout
