import gzip
import struct

import pytest
import torch

from benchmark.data import eval_subset, get_task, hash_order, load_split, split_validation, stratified_subset
from benchmark.data import training_subset
from benchmark.data.datasets import load_dataset
from benchmark.data.loaders.fashion_mnist import read_idx
from benchmark.errors import BenchmarkError


def test_hash_order_is_a_fixed_permutation():
    order = hash_order(1000, seed=0)
    assert sorted(order.tolist()) == list(range(1000))
    assert torch.equal(order, hash_order(1000, seed=0))
    assert not torch.equal(order, hash_order(1000, seed=1))
    # pinned: the same examples on every machine and library version
    assert order[:5].tolist() == [592, 617, 594, 84, 264]
    assert eval_subset(5000, 500, 0)[:5].tolist() == [6, 15, 16, 19, 32]


def test_stratified_subset_is_balanced_and_nested_free():
    labels = torch.arange(10).repeat_interleave(100)
    for n in (10, 25, 50, 100):
        idx = stratified_subset(labels, n, seed=0)
        assert torch.equal(torch.bincount(labels[idx]), torch.full((10,), n))
        assert torch.equal(idx, stratified_subset(labels, n, seed=0))
        assert idx.unique().numel() == idx.numel()
    assert not torch.equal(stratified_subset(labels, 10, 0), stratified_subset(labels, 10, 1))
    assert stratified_subset(labels, None, 0).numel() == 1000
    with pytest.raises(BenchmarkError, match="fewer than n_per_class"):
        stratified_subset(labels, 101, 0)


def test_fmnist_transfer_split(fmnist_available):
    src, tgt = load_split(get_task("fmnist-src"), True), load_split(get_task("fmnist-tgt"), True)
    assert len(src) == len(tgt) == 30000
    assert set(src.labels.unique().tolist()) == set(tgt.labels.unique().tolist()) == {0, 1, 2, 3, 4}
    full = load_dataset("fashion-mnist", True)
    # target label 0 is Fashion-MNIST class 5 (sandal): same images
    assert torch.equal(tgt.images[tgt.labels == 0][:3], full.images[full.labels == 5][:3])
    assert load_split(get_task("fmnist-tgt"), False).images.shape == (5000, 1, 28, 28)


def test_validation_split_is_never_trained_on():
    labels = torch.arange(5).repeat_interleave(300)
    pool, val = split_validation(labels, 50, seed=0)
    assert val.numel() == 250 and torch.equal(torch.bincount(labels[val]), torch.full((5,), 50))
    assert set(pool.tolist()).isdisjoint(val.tolist()) and pool.numel() + val.numel() == labels.numel()
    for n in (10, 100, None):
        for seed in (0, 1, 2):
            idx = training_subset(labels, n, seed, validation_per_class=50)
            assert set(idx.tolist()).isdisjoint(val.tolist())
    # seeds draw different low-data subsets, the validation split stays fixed
    assert not torch.equal(training_subset(labels, 10, 0, 50), training_subset(labels, 10, 1, 50))
    assert torch.equal(split_validation(labels, 50, 0)[1], val)


def test_idx_reader_and_corrupt_file(tmp_path):
    data = torch.arange(2 * 3 * 4, dtype=torch.uint8).reshape(2, 3, 4)
    raw = struct.pack(">HBB", 0, 8, 3) + struct.pack(">III", 2, 3, 4) + bytes(data.flatten().tolist())
    (tmp_path / "x.gz").write_bytes(gzip.compress(raw))
    assert torch.equal(read_idx(tmp_path / "x.gz"), data)
    (tmp_path / "bad").write_bytes(raw[:-3])
    with pytest.raises(BenchmarkError, match="corrupt IDX"):
        read_idx(tmp_path / "bad")


def _mirror(folder, corrupt: str | None = None):
    """A local mirror of the four IDX files (Debian's copies), with their md5s; one file truncated if asked."""
    import hashlib
    import shutil

    from tests.conftest import FMNIST

    folder.mkdir(parents=True, exist_ok=True)
    resources = []
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                 "t10k-labels-idx1-ubyte.gz"):
        shutil.copy(FMNIST / name, folder / name)
        resources.append((name, hashlib.md5((folder / name).read_bytes()).hexdigest()))
        if name == corrupt:
            data = (folder / name).read_bytes()
            (folder / name).write_bytes(data[: len(data) // 2])
    return resources


def test_fashion_mnist_downloads_once_verified_from_a_mirror_where_debians_package_is_missing(tmp_path, monkeypatch,
                                                                                           capsys, fmnist_available):
    """No apt: the loader fetches the IDX files once into the data root (md5-checked), then reads them there."""
    from benchmark.data.loaders import fashion_mnist as fm

    resources = _mirror(tmp_path / "mirror")
    monkeypatch.setattr(fm, "_resources", lambda: ([(tmp_path / "mirror").as_uri()], resources))
    monkeypatch.setenv("RTB_FMNIST_SYSTEM_DIR", str(tmp_path / "no-debian"))
    monkeypatch.setenv("RTB_DATA_DIR", str(tmp_path / "data"))
    test = load_dataset("fashion-mnist", False)
    assert len(test) == 10000 and (tmp_path / "data" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte.gz").is_file()
    assert "downloading t10k-images-idx3-ubyte.gz" in capsys.readouterr().err       # a line per file in a log
    (tmp_path / "mirror" / "train-images-idx3-ubyte.gz").unlink()                   # the mirror gone: not needed now
    assert len(load_dataset("fashion-mnist", False)) == 10000
    assert not list((tmp_path / "data").rglob("*.part"))


def test_a_corrupt_download_is_removed_and_no_download_says_both_ways(tmp_path, monkeypatch, fmnist_available):
    from benchmark.data.loaders import fashion_mnist as fm

    monkeypatch.setenv("RTB_FMNIST_SYSTEM_DIR", str(tmp_path / "no-debian"))
    monkeypatch.setenv("RTB_DATA_DIR", str(tmp_path / "data"))
    good = _mirror(tmp_path / "good")
    _mirror(tmp_path / "bad", corrupt="t10k-images-idx3-ubyte.gz")
    monkeypatch.setattr(fm, "_resources", lambda: ([(tmp_path / "bad").as_uri()], good))
    with pytest.raises(BenchmarkError) as err:
        load_dataset("fashion-mnist", False)
    msg = str(err.value)
    assert "\n" not in msg and "t10k-images-idx3-ubyte.gz does not match its md5" in msg and "removed" in msg
    raw = tmp_path / "data" / "FashionMNIST" / "raw"
    assert not (raw / "t10k-images-idx3-ubyte.gz").exists() and not list(raw.glob("*.part"))
    monkeypatch.setattr(fm, "_resources", lambda: ([(tmp_path / "nowhere").as_uri()], good))
    with pytest.raises(BenchmarkError) as err:
        load_dataset("fashion-mnist", False)
    msg = str(err.value)
    assert "\n" not in msg and "could not be downloaded" in msg and "nowhere" in msg
    assert "apt-get install dataset-fashion-mnist" in msg and str(raw) in msg            # both ways, and where


def test_missing_dataset_names_the_fix(tmp_path):
    with pytest.raises(BenchmarkError, match="apt-get install dataset-fashion-mnist"):
        load_dataset("fashion-mnist", True, data_dir=tmp_path, download=False)
    with pytest.raises(BenchmarkError, match="CIFAR-10 not found"):
        load_dataset("cifar10", True, data_dir=tmp_path, download=False)
    with pytest.raises(BenchmarkError, match="unknown dataset 'mnist-ish'.*choose one of"):
        load_dataset("mnist-ish", True)


def test_a_pool_part_is_disjoint_from_the_others_and_from_validation():
    """The disjoint oracle: its source trains on one part of the training pool, its transfer draws from another."""
    from benchmark.data.subsets import pool_part

    labels = torch.arange(5).repeat_interleave(301)
    pool, val = split_validation(labels, 50, seed=0)
    a, b = pool_part(labels, pool, 2, 0), pool_part(labels, pool, 2, 1)
    assert set(a.tolist()).isdisjoint(b.tolist()) and sorted(a.tolist() + b.tolist()) == sorted(pool.tolist())
    assert torch.equal(torch.bincount(labels[a]), torch.full((5,), 125))      # 251 per class: 125 and 126
    assert torch.equal(torch.bincount(labels[b]), torch.full((5,), 126))
    for n, seed in ((10, 0), (10, 3), (100, 1), (None, 0)):
        idx = training_subset(labels, n, seed, validation_per_class=50, pool=type("P", (), {"parts": 2, "part": 1,
                                                                                             "seed": 0})())
        assert set(idx.tolist()) <= set(b.tolist())
    assert torch.equal(pool_part(labels, pool, 2, 0), a)  # fixed: the same split on every run


def test_the_oracle_halves_are_tasks_and_a_bad_part_is_one_line(tmp_path):
    from benchmark.data.tasks import load_task_file

    a, b = get_task("fmnist-tgt-half-a"), get_task("fmnist-tgt-half-b")
    assert (a.pool.part, b.pool.part, a.pool.parts) == (0, 1, 2) and a.classes == b.classes == get_task("fmnist-tgt").classes
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\ndataset: fashion-mnist\nclasses: [5, 6]\nimage_size: 28\nchannels: 1\n"
                   "pool: {parts: 2, part: 2}\n")
    with pytest.raises(BenchmarkError, match=r"field 'pool.part' must be below pool.parts \(2\), got 2"):
        load_task_file(bad)
