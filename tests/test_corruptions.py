"""Common corruptions as a threat model (issue 44): deterministic per example, records that reproduce, refused
where they do not apply, and a column and a section in the leaderboard."""

import json

import pytest
import torch

from benchmark.cli import main
from benchmark.data import eval_subset, get_task, load_split
from benchmark.errors import BenchmarkError
from benchmark.evaluation.corruptions import (available_corruption_protocols, corrupt_images, corruption_names,
                                              is_corruption_protocol, load_corruption_protocol)
from benchmark.training import TrainOptions, train_entry
from benchmark.zoo import load_entries
from tests.conftest import write_entry



def _images(n=6):
    test = load_split(get_task("fmnist-tgt"), False)
    index = eval_subset(len(test), n, 0)
    return test.pixels(index).mul(255).round().to(torch.uint8), index


def test_protocols_list_every_corruption_they_run_or_leave_out(fmnist_available):
    assert {"fmnist-corruptions", "cifar-corruptions"} <= set(available_corruption_protocols())
    for name in ("fmnist-corruptions", "cifar-corruptions"):
        p = load_corruption_protocol(name)
        assert is_corruption_protocol(name) and len(p.corruptions) == 15 and p.severities == [1, 2, 3, 4, 5]
        assert set(p.corruptions) | set(p.left_out) == set(corruption_names())  # every one run or said why not
        assert not set(p.corruptions) & set(p.left_out)
    assert not is_corruption_protocol("fmnist-linf-quick")


def test_an_unknown_corruption_is_one_line_naming_the_choices(tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("name: mine\nversion: 1\nkind: corruptions\nn_examples: 10\nseed: 0\n"
                   "corruptions: [gaussian_noise, fogg]\nseverities: [1]\n")
    with pytest.raises(BenchmarkError, match=r"corruptions\[1\]' is 'fogg': choose one of .*fog"):
        load_corruption_protocol(str(bad))


def test_each_example_is_corrupted_the_same_alone_or_in_a_batch(fmnist_available):
    p = load_corruption_protocol("fmnist-corruptions")
    images, index = _images()
    for corruption in p.corruptions:
        batch = corrupt_images(images, index, corruption, 3, p)
        alone = corrupt_images(images[2:4], index[2:4], corruption, 3, p)
        assert torch.equal(batch[2:4], alone), corruption
        assert batch.shape == images.shape and batch.dtype == torch.uint8
        assert not torch.equal(batch, images), f"{corruption} changed nothing"
    # a stronger severity moves the images further (on average over the corruptions)
    mild = sum((corrupt_images(images, index, c, 1, p).float() - images.float()).abs().mean() for c in p.corruptions)
    harsh = sum((corrupt_images(images, index, c, 5, p).float() - images.float()).abs().mean() for c in p.corruptions)
    assert harsh > 1.5 * mild


def test_corruption_records_reproduce_and_reach_the_leaderboard(tiny_zoo, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "m", n_per_class=20, recipe={"epochs": 1, "batch_size": 32, "lr": 0.02})
    train_entry(load_entries()["m"], 0, TrainOptions(show_progress=False))
    args = ["evaluate", "--model", "m", "--protocol", "fmnist-corruptions", "--n", "30", "--quiet"]
    assert main(args) == 0
    path = results / "corruptions" / "fmnist-corruptions" / "m" / "seed0.json"
    record = json.loads(path.read_text())
    outcomes = record["per_example"]
    assert len(outcomes["clean"]) == 30 and set(outcomes) >= {"index", "clean", "fog", "frost"}
    fog = outcomes["fog"]
    assert len(fog) == 5 and record["per_corruption"]["fog"] == [s.count("1") / 30 for s in fog]
    mean = sum(sum(v) for v in record["per_corruption"].values()) / 75
    assert record["corruption_accuracy"] == pytest.approx(mean)
    assert main(args) == 0  # the same again, from the cached corrupted images
    assert json.loads(path.read_text())["per_example"] == outcomes
    # an attack protocol's records and the leaderboard: the column, and the section with the severities
    assert main(["evaluate", "--model", "m", "--n", "20", "--no-guards", "--quiet"]) == 0
    assert main(["report"]) == 0
    text = next((tiny_zoo[0].parent / "home").rglob("leaderboard.md")).read_text()
    assert "| corruptions |" in text and "## Common corruptions" in text and "### fmnist-corruptions" in text
    assert f"{100 * record['corruption_accuracy']:.1f} ±" in text
    page = next((tiny_zoo[0].parent / "home").rglob("index.html")).read_text()
    assert "<th>corruptions</th>" in page and f"{100 * record['corruption_accuracy']:.1f} ±" in page


def test_a_corruption_protocol_for_other_images_is_refused(tiny_zoo, capsys):
    zoo, _, _ = tiny_zoo
    write_entry(zoo, "m", n_per_class=10, recipe={"epochs": 1, "batch_size": 32, "lr": 0.02})
    assert main(["evaluate", "--model", "m", "--protocol", "cifar-corruptions", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "protocol cifar-corruptions is for 1" not in err and "choose one of fmnist-corruptions" in err
