"""Every arm's hyperparameters are selected on validation data carved from the training split."""

import json

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
    assert main(["tune", "--model", "lin", "--quiet"]) == 0
    rec = json.loads((results / "tuning" / "lin.json").read_text())
    assert rec["budget"] == 4 and rec["validation"]["n_examples"] == 1000  # 200 per class, held out of training
    best = max(rec["configs"], key=lambda c: (c["robust"], c["clean"]))
    assert rec["selected"] == best["values"]
    entry = load_entries()["lin"]
    assert entry.tuning.selected == best["values"]
    assert {k: entry.recipe[k] for k in best["values"]} == best["values"]
    data = yaml.safe_load((zoo / "lin.yaml").read_text())
    assert data["tuning"]["selected"] == best["values"]
    assert "already tuned" in (main(["tune", "--model", "lin"]) == 0 and capsys.readouterr().out)
