"""2-process gloo jobs under torchrun on the CPU must match a single process."""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
import yaml

from benchmark.zoo.weights import read_safetensors
from tests.conftest import record_file, weights_file, write_entry


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(args, env, nproc=None):
    cmd = [sys.executable, "-m", "benchmark", *args]
    if nproc:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{_port()}", "-m", "benchmark", *args]
    out = subprocess.run(cmd, env={**env, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture()
def env(tiny_zoo):
    zoo, cache, results = tiny_zoo
    return {**os.environ, "PYTHONPATH": os.getcwd()}


def test_ddp_training_matches_single_process(tiny_zoo, env, tmp_path):
    zoo, _, _ = tiny_zoo
    recipe = {"epochs": 2, "batch_size": 40, "lr": 0.02}
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40, recipe=recipe, seeds=[1])
    write_entry(zoo, "lwf", strategy="lwf", source="src", n_per_class=20, seeds=[1],
                recipe={**recipe, "lwf_lambda": 1.0, "lwf_distance": "l1", "warm_start_epochs": 1})
    single, multi = tmp_path / "single", tmp_path / "multi"
    _run(["train", "--model", "lwf", "--quiet"], {**env, "RTB_CACHE": str(single)})
    out = _run(["train", "--model", "lwf", "--quiet"], {**env, "RTB_CACHE": str(multi)}, nproc=2)
    assert out.count("lwf seed 1: ") == 1  # rank 0 reports, once
    for name in ("src", "lwf"):
        a, b = (read_safetensors(weights_file(d, name, 1))[0] for d in (single, multi))
        for k in a:
            assert torch.allclose(a[k], b[k], atol=1e-5, rtol=1e-4), (name, k, (a[k] - b[k]).abs().max())
    ra = json.loads((single / "lwf" / "seed1.train.json").read_text())
    rb = json.loads((multi / "lwf" / "seed1.train.json").read_text())
    assert ra["cost"] == pytest.approx(rb["cost"]) and ra["n_train"] == rb["n_train"]


def test_sharded_evaluation_gives_the_same_record(tiny_zoo, env, tmp_path):
    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "m", n_per_class=60)
    proto = tmp_path / "p.yaml"
    proto.write_text(yaml.safe_dump({
        "name": "p", "version": 1, "threat_model": "Linf", "eps": 0.05, "n_examples": 61, "seed": 0,
        "attacks": [{"name": "pgd", "type": "pgd", "steps": 5, "restarts": 2},
                    {"name": "df", "type": "deepfool", "steps": 20}]}))
    _run(["train", "--model", "m", "--quiet"], env)
    a_dir, b_dir = tmp_path / "ra", tmp_path / "rb"
    args = ["evaluate", "--model", "m", "--protocol", str(proto), "--quiet"]
    _run(args, {**env, "RTB_RESULTS": str(a_dir), "RTB_USER_RESULTS": str(a_dir)})
    _run(args, {**env, "RTB_RESULTS": str(b_dir), "RTB_USER_RESULTS": str(b_dir)}, nproc=2)
    a = json.loads(record_file(a_dir, "p", "m").read_text())
    b = json.loads(record_file(b_dir, "p", "m").read_text())
    assert b["world_size"] == 2
    assert a["per_example"] == b["per_example"]
    for key in ("clean_accuracy", "robust_accuracy", "n_examples", "protocol"):
        assert a[key] == b[key]
    strip = lambda atks: [{k: v for k, v in x.items() if k != "seconds"} for x in atks]
    assert strip(a["attacks"]) == strip(b["attacks"])
    ga, gb = ({k: v for k, v in r["guards"].items() if k != "seconds"} for r in (a, b))
    assert ga == gb
