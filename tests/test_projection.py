"""Before a long job, say how long: projections, --dry-run, and the missing-weights message of a paper entry."""

from benchmark.cli import main


def test_missing_weights_of_the_paper_entry_name_the_whole_chain(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    assert main(["evaluate", "--model", "lwf_cifar100", "--no-guards"]) == 2
    err = capsys.readouterr().err
    first = err.index("train --model cifar100_wrn_free_source")
    assert first < err.index("train --model lwf_cifar100") < err.index("evaluate --model lwf_cifar100")
    assert "on an H100" in err and "not measured" in err


def test_dry_run_projects_and_trains_nothing(capsys, tmp_path, monkeypatch, fmnist_available):
    monkeypatch.setenv("RTB_CACHE", str(tmp_path / "cache"))
    assert main(["train", "--model", "fmnist_lwf_n100", "--seed", "0", "--dry-run", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "dry run: nothing is trained" in out and "train fmnist_lwf_n100" in out and "on this cpu" in out
    assert not (tmp_path / "cache" / "fmnist_lwf_n100").exists()
    assert main(["evaluate", "--model", "fmnist_lwf_n100", "--seed", "0", "--protocol", "fmnist-linf-quick",
                 "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "evaluate fmnist_lwf_n100 under fmnist-linf-quick (300 examples" in out and "an upper bound" in out


def test_a_plan_projects_an_entry_it_has_run_before_from_those_runs_recorded_times(tmp_path, monkeypatch):
    """`study plan` projects another seed of an entry from its own recorded trainings and evaluations (the median,
    on this kind of device), and only from the seeds it is told to use; otherwise from rates measured here."""
    import json

    from benchmark.evaluation import load_protocol
    from benchmark.studies.jobs import Projector
    from benchmark.zoo import load_entries

    entry = load_entries()["fmnist_linear"]
    results = tmp_path / "results"
    monkeypatch.setenv("RTB_RESULTS", str(results))
    protocol = load_protocol("fmnist-linf-quick")
    for seed, train, battery, guards in ((0, 10.0, 20.0, 5.0), (1, 30.0, 40.0, 5.0), (2, 20.0, 30.0, 5.0)):
        (results / "training" / entry.name).mkdir(parents=True, exist_ok=True)
        (results / "training" / entry.name / f"seed{seed}.json").write_text(json.dumps(
            {"seed": seed, "wall_seconds": train, "recipe": entry.parsed_recipe().to_dict(), "device": "cpu"}))
        (results / protocol.name / entry.name).mkdir(parents=True, exist_ok=True)
        (results / protocol.name / entry.name / f"seed{seed}.json").write_text(json.dumps(
            {"seed": seed, "seconds": battery, "guards": {"seconds": guards}, "n_examples": protocol.n_examples,
             "device": "cpu", "attacks": [{"name": a["name"]} for a in protocol.attacks]}))
    p = Projector("cpu", protocol)
    assert p.recorded_train_seconds(entry, entry.parsed_recipe()) == 20.0
    assert p.recorded_evaluate_seconds(entry) == 35.0
    assert Projector("cpu", protocol, seeds={0}).recorded_evaluate_seconds(entry) == 25.0
    assert Projector("cuda", protocol).recorded_train_seconds(entry, entry.parsed_recipe()) is None  # another device
    assert p.recorded_train_seconds(entry, entry.parsed_recipe().with_values(lr=0.123)) is None     # another recipe
