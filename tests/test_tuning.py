"""Every arm's hyperparameters are selected on validation data carved from the training split."""

import json
from dataclasses import replace

import yaml

from benchmark.cli import main
from benchmark.tuning import grid_configs, select
from benchmark.zoo import load_entries
from benchmark.zoo.entry import Tuning
from tests.conftest import write_entry


def test_grid_and_selection_rule():
    configs = grid_configs(Tuning(grid={"lr": [0.1, 0.2], "epochs": [1, 2]}))
    assert configs == [{"lr": 0.1, "epochs": 1}, {"lr": 0.1, "epochs": 2}, {"lr": 0.2, "epochs": 1},
                       {"lr": 0.2, "epochs": 2}]
    scores = [{"robust": 0.3, "clean": 0.8}, {"robust": 0.4, "clean": 0.7}, {"robust": 0.4, "clean": 0.9},
              {"robust": 0.1, "clean": 0.99}]
    assert select(scores, "robust") == 2  # ties on robust go to clean accuracy
    assert select(scores, "clean") == 3


def test_tune_selects_on_validation_and_writes_the_choice(tiny_zoo, capsys):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40)
    write_entry(zoo, "lin", strategy="linear", source="src", n_per_class=10,
                recipe={"epochs": 2, "batch_size": 25, "lr": 0.05},
                tuning={"grid": {"lr": [0.001, 0.1], "epochs": [1, 3]}})
    assert main(["train", "--model", "src", "--quiet"]) == 0
    assert main(["tune", "--model", "lin", "--quiet", "--update-records"]) == 0
    rec = json.loads((results / "tuning" / "lin.json").read_text())
    assert rec["budget"] == 4 and rec["validation"]["n_examples"] == 1000  # 200 per class, held out of training
    best = max(rec["configs"], key=lambda c: (c["robust"], c["clean"]))
    assert rec["selected"] == best["values"]
    entry = load_entries()["lin"]
    assert entry.tuning.selected == best["values"]
    assert {k: entry.recipe[k] for k in best["values"]} == best["values"]
    data = yaml.safe_load((zoo / "lin.yaml").read_text())
    assert data["tuning"]["selected"] == best["values"]
    assert "already tuned" in (main(["tune", "--model", "lin", "--update-records"]) == 0 and capsys.readouterr().out)


def test_a_clean_floor_limits_the_choice_to_settings_that_reach_it():
    scores = [{"robust": 0.5, "clean": 0.80}, {"robust": 0.3, "clean": 0.91}, {"robust": 0.2, "clean": 0.93}]
    assert select(scores, "robust") == 0
    assert select(scores, "robust", clean_floor=0.9) == 1      # the most robust of those at least as accurate
    assert select(scores, "robust", clean_floor=0.95) == 2     # none reaches it: the most accurate


def test_tuning_over_two_seeds_with_a_clean_floor(tiny_zoo, capsys):
    """Claim (c)'s rule fixed in advance: every setting trained on two seeds, scores averaged, and only settings at
    least as accurate on validation as the linear head's selection (tuned on the same seeds) are eligible."""
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40, seeds=[0, 1])
    write_entry(zoo, "lin", strategy="linear", source="src", n_per_class=10, seeds=[0, 1],
                recipe={"epochs": 2, "batch_size": 25, "lr": 0.05},
                tuning={"grid": {"lr": [0.001, 0.1]}, "seeds": 2})
    write_entry(zoo, "ft", strategy="finetune", source="src", n_per_class=10, seeds=[0, 1],
                recipe={"epochs": 1, "batch_size": 25, "lr": 0.01},
                tuning={"grid": {"lr": [0.001, 0.05]}, "seeds": 2, "clean_at_least": "lin"})
    assert main(["train", "--model", "src", "--seed", "0", "1", "--quiet"]) == 0
    assert main(["tune", "--model", "ft", "--quiet"]) == 2        # a project entry: only with --update-records
    assert "--update-records" in capsys.readouterr().err
    assert main(["tune", "--model", "ft", "--quiet", "--update-records"]) == 2   # the floor's tuning comes first
    assert "tune lin first" in capsys.readouterr().err
    assert main(["tune", "--model", "lin", "ft", "--quiet", "--update-records"]) == 0
    lin = json.loads((results / "tuning" / "lin.json").read_text())
    assert lin["tuning_seeds"] == [0, 1] and lin["budget"] == 4
    for c in lin["configs"]:
        assert [p["seed"] for p in c["per_seed"]] == [0, 1]
        assert c["robust"] == sum(p["robust"] for p in c["per_seed"]) / 2
    ft = json.loads((results / "tuning" / "ft.json").read_text())
    floor = next(c["clean"] for c in lin["configs"] if c["values"] == lin["selected"])
    assert ft["clean_floor"]["clean"] == floor and ft["clean_floor"]["entry"] == "lin"
    eligible = [c for c in ft["configs"] if c["clean"] >= floor]
    expect = max(eligible, key=lambda c: (c["robust"], c["clean"])) if eligible else \
        max(ft["configs"], key=lambda c: (c["clean"], c["robust"]))
    assert ft["selected"] == expect["values"] and ft["clean_floor"]["eligible"] == [c["values"] for c in eligible]
    data = yaml.safe_load((zoo / "ft.yaml").read_text())
    assert data["tuning"]["seeds"] == 2 and data["tuning"]["clean_at_least"] == "lin"


def test_a_new_selection_drops_weights_trained_with_the_old_recipe(tiny_zoo):
    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40)
    write_entry(zoo, "lin", strategy="linear", source="src", n_per_class=10,
                recipe={"epochs": 2, "batch_size": 25, "lr": 0.05}, tuning={"grid": {"lr": [0.05]}})
    assert main(["train", "--model", "src", "--quiet"]) == 0
    assert main(["train", "--model", "lin", "--publish", "--quiet"]) == 0
    assert load_entries()["lin"].weights
    assert main(["tune", "--model", "lin", "--quiet", "--update-records"]) == 0  # lr 0.05: the same recipe
    assert load_entries()["lin"].weights
    data = yaml.safe_load((zoo / "lin.yaml").read_text())
    data["tuning"] = {"grid": {"lr": [0.2]}}
    (zoo / "lin.yaml").write_text(yaml.safe_dump(data))
    assert main(["tune", "--model", "lin", "--quiet", "--update-records"]) == 0  # lr 0.2: weights were for 0.05
    entry = load_entries()["lin"]
    assert entry.recipe["lr"] == 0.2 and not entry.weights


def test_a_budget_of_listed_settings_trains_exactly_those_and_refuses_bad_ones(tiny_zoo):
    """`tuning.points` (a fractional design over several fields) trains the settings as listed, no more."""
    import pytest

    from benchmark.errors import BenchmarkError
    from benchmark.zoo.entry import parse_entry

    points = [{"lr": 0.1, "epochs": 1}, {"lr": 0.2, "epochs": 3}]
    assert grid_configs(Tuning(points=points)) == points
    zoo, _, _ = tiny_zoo
    base = write_entry(zoo, "nat", tuning={"points": points})
    assert load_entries()["nat"].tuning.points == points
    for tuning, message in [({"points": points, "grid": {"lr": [0.1]}}, "exactly one of 'grid'"),
                            ({}, "exactly one of 'grid'"),
                            ({"points": [{"lr": -1.0}]}, r"tuning.points\[0\]"),
                            ({"points": [points[0], points[0]]}, "lists a setting twice")]:
        with pytest.raises(BenchmarkError, match=message):
            parse_entry({**base, "tuning": tuning}, "test")


def test_a_floor_from_an_untuned_entry_is_its_validation_clean_accuracy_at_the_tuning_seeds(tiny_zoo):
    """Claim (e)'s rule: LwF on the source's own task must be at least as accurate as the source itself, measured
    on the same validation split from the source's weights at the tuning seeds; its head is the source's own."""
    import torch

    from benchmark.evaluation.battery import accuracy
    from benchmark.tuning import clean_floor, validation_data
    from benchmark.zoo.weights import load_model_and_weights

    zoo, cache, results = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=40, seeds=[0, 1])
    write_entry(zoo, "self", strategy="lwf", source="src", task="fmnist-src", n_per_class=10, seeds=[0, 1],
                recipe={"epochs": 1, "batch_size": 25, "lr": 0.001, "lwf_lambda": 1.0, "keep_head": True},
                tuning={"points": [{"lr": 0.001}, {"lr": 0.01}], "seeds": 2, "clean_at_least": "src"})
    assert main(["train", "--model", "src", "--seed", "0", "1", "--quiet"]) == 0
    entries = load_entries()
    floor, info = clean_floor(entries["self"], results, entries)
    x, y, _ = validation_data(entries["self"])
    expect = [accuracy(load_model_and_weights(entries["src"], s, "auto", "cpu", None, entries)[0], x, y) for s in (0, 1)]
    assert info["per_seed"] == expect and floor == sum(expect) / 2 and info["measured_on_seeds"] == [0, 1]
    assert main(["tune", "--model", "self", "--quiet", "--update-records"]) == 0
    rec = json.loads((results / "tuning" / "self.json").read_text())
    assert rec["clean_floor"]["clean"] == floor and rec["budget"] == 4 and rec.get("points")
    # the source's own head is where LwF on its own task starts; without keep_head a new one
    from benchmark.training.runner import TrainOptions, prepare_model

    src, _ = load_model_and_weights(entries["src"], 0, "auto", "cpu", None, entries)
    for keep in (True, False):
        entry = entries["self"]
        entry = replace(entry, recipe={**entry.recipe, "keep_head": keep})
        model, *_ = prepare_model(entry, entry.make_strategy(entry.parsed_recipe()), 0, TrainOptions(), entries)
        assert torch.equal(model.head.weight, src.head.weight) == keep
        assert torch.equal(next(model.blocks[0].parameters()), next(src.blocks[0].parameters()))
