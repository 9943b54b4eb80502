import os
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml

from benchmark.cores import usable_cores


def _threads_per_process() -> int:
    """Two threads when the tests run in one process (as they always did); under pytest-xdist the cores are shared
    among the workers, one thread each on a 2-core machine (the tests' tiny models scale poorly past one thread,
    so two workers of one thread finish sooner than one of two)."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return max(1, min(2, usable_cores() // workers))


torch.set_num_threads(_threads_per_process())
if "PYTEST_XDIST_WORKER" in os.environ:
    # the benchmark's own subprocesses (the CLI, study lanes) take the worker's share too
    os.environ.setdefault("OMP_NUM_THREADS", str(_threads_per_process()))


def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): one worker per usable core (affinity and cgroup quota: a CI container may
    see more cores than it may use), at most 4 (the tests load Fashion-MNIST and torch once per
    worker, and a few start subprocesses of their own)."""
    return max(1, min(4, usable_cores()))

FMNIST = Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fmnist_available():
    """Where Fashion-MNIST is: Debian's package, else the copy the loader downloads once into the data root."""
    if (FMNIST / "train-images-idx3-ubyte.gz").exists():
        return FMNIST
    from benchmark.data import load_dataset
    from benchmark.data.datasets import default_data_root
    from benchmark.errors import BenchmarkError

    try:
        load_dataset("fashion-mnist", True)
        load_dataset("fashion-mnist", False)
    except BenchmarkError as exc:
        pytest.fail(f"Fashion-MNIST is missing: {exc}")
    return default_data_root() / "FashionMNIST" / "raw"


def fit(model, x, y, epochs=1, lr=0.01, batch_size=128, seed=0):
    torch.manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(x.shape[0])
        for i in range(0, x.shape[0], batch_size):
            b = perm[i:i + batch_size]
            loss = F.cross_entropy(model(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


@pytest.fixture(scope="session")
def target_data(fmnist_available):
    from benchmark.data import get_task, load_split

    task = get_task("fmnist-tgt")
    train, test = load_split(task, True), load_split(task, False)
    return (train.images[:8000].float() / 255, train.labels[:8000],
            test.images[:200].float() / 255, test.labels[:200])


def small_cnn(num_classes=5):
    from benchmark.models import create_model

    return create_model("small_cnn", num_classes, 1, (0.2860,), (0.3530,))


@pytest.fixture(scope="session")
def natural_model(target_data):
    """A naturally trained small CNN on the Fashion-MNIST target classes (about 90% clean)."""
    x, y, _, _ = target_data
    torch.manual_seed(0)
    return fit(small_cnn(), x, y, epochs=2)


def write_entry(zoo: Path, name: str, **fields):
    base = {"name": name, "task": "fmnist-tgt", "architecture": "small_cnn", "threat_model": "Linf", "eps": 0.1,
            "protocol": "fmnist-linf-quick", "strategy": "natural", "n_per_class": 40, "seeds": [0],
            "recipe": {"epochs": 2, "batch_size": 64, "lr": 0.02}, "suites": ["test"]}
    base.update(fields)
    (zoo / f"{name}.yaml").write_text(yaml.safe_dump(base))
    return base


@pytest.fixture()
def tiny_zoo(tmp_path, monkeypatch, fmnist_available):
    """An empty zoo, cache, results and user folder of the test's own, selected through the environment."""
    zoo, cache, results = tmp_path / "zoo", tmp_path / "cache", tmp_path / "results"
    zoo.mkdir()
    monkeypatch.setenv("RTB_ZOO_DIR", str(zoo))
    monkeypatch.setenv("RTB_CACHE", str(cache))
    monkeypatch.setenv("RTB_RESULTS", str(results))
    # the test's zoo is "the project" and the test plays its maintainer and its user at once: one results folder
    # for both (tests/test_clean_checkout.py keeps them apart)
    monkeypatch.setenv("RTB_USER_RESULTS", str(results))
    monkeypatch.setenv("RTB_HOME", str(tmp_path / "home"))
    return zoo, cache, results


def weights_file(cache: Path, name: str, seed: int = 0) -> Path:
    return cache / name / f"seed{seed}.safetensors"


def record_file(results: Path, protocol: str, name: str, seed: int = 0) -> Path:
    return results / protocol / name / f"seed{seed}.json"
