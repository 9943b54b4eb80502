"""Robustness along fine-tuning (issue 44): snapshots at fractions of a run, each evaluated, early stopping read
on validation; the run's last snapshot is the entry's trained model, and nothing the user has is touched."""

import json

import pytest
import torch

from benchmark.cli import main
from benchmark.training import TrainOptions, train_entry
from benchmark.zoo import load_entries
from benchmark.zoo.weights import read_safetensors
from tests.conftest import weights_file, write_entry

QUIET = TrainOptions(show_progress=False)


@pytest.mark.parametrize("strategy,extra", [("finetune", {}),
                                            pytest.param("lora", {"lora_rank": 2}, marks=pytest.mark.slow)])
def test_a_trajectory_snapshots_the_run_and_evaluates_each_point(tiny_zoo, strategy, extra):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=20)
    write_entry(zoo, "t", strategy=strategy, source="src", n_per_class=10,
                recipe={"epochs": 2, "batch_size": 16, "lr": 0.05, **extra})
    entries = load_entries()
    train_entry(entries["src"], 0, QUIET)
    args = ["trajectory", "--model", "t", "--fractions", "0", "0.5", "1", "--n", "20", "--no-guards", "--quiet"]
    assert main(args) == 0
    assert not weights_file(cache, "t").exists()  # the user's own trained copy is not made or touched
    record = json.loads((results / "trajectory" / "fmnist-linf-quick" / "t" / "seed0.json").read_text())
    points = record["points"]
    assert [p["fraction"] for p in points] == [0, 0.5, 1] and [p["batches"] for p in points] == [0, 4, 8]
    assert all(len(p["robust"]) == 20 and p["robust_accuracy"] == pytest.approx(sum(p["robust"]) / 20) for p in points)
    assert record["early_stop"]["fraction"] in (0, 0.5, 1)
    from benchmark.reports.trajectory import trajectory_rows, trajectory_section

    rows = trajectory_rows([record])
    assert [p["fraction"] for p in rows[0]["points"]] == [0, 0.5, 1]
    assert rows[0]["points"][-1]["robust"].mean == pytest.approx(points[-1]["robust_accuracy"])
    text = "\n".join(trajectory_section(rows, "plots/trajectory.png"))
    assert "| fmnist-linf-quick | `t` | 1 |" in text and "robust at 0.5" in text
    # the first snapshot is the source's body under a new head, the last one the model the recipe trains
    runs = cache / "trajectory-runs"
    first = read_safetensors(runs / "snapshots" / "t" / "seed0" / "batch0.safetensors")[0]
    src = read_safetensors(weights_file(cache, "src"))[0]
    assert all(torch.equal(first[k], src[k]) for k in src if k.startswith("blocks."))
    last = read_safetensors(runs / "snapshots" / "t" / "seed0" / "batch8.safetensors")[0]
    train_entry(entries["t"], 0, QUIET, entries=entries)
    trained = read_safetensors(weights_file(cache, "t"))[0]
    assert set(last) == set(trained) and all(torch.equal(last[k], trained[k]) for k in trained)
    # a second run evaluates the snapshots it has, without training again
    stamp = (runs / "snapshots" / "t" / "seed0" / "batch4.safetensors").stat().st_mtime_ns
    assert main(args) == 0
    assert (runs / "snapshots" / "t" / "seed0" / "batch4.safetensors").stat().st_mtime_ns == stamp


def test_a_trajectory_needs_a_fine_tuning(tiny_zoo, capsys):
    zoo, _, _ = tiny_zoo
    write_entry(zoo, "scratch", n_per_class=10)
    assert main(["trajectory", "--model", "scratch", "--quiet"]) == 2
    assert "trains from scratch: a trajectory follows a fine-tuning" in capsys.readouterr().err


def test_fractions_that_fall_on_one_batch_share_its_snapshot():
    from benchmark.training.runner import snapshot_marks

    assert snapshot_marks([0, 0.125, 0.25, 1], 8) == {0: [0.0], 1: [0.125], 2: [0.25], 8: [1.0]}
    assert snapshot_marks([0, 0.125, 0.25, 1], 2) == {0: [0.0, 0.125, 0.25], 2: [1.0]}
