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


def test_a_plan_measures_rates_with_the_threads_each_job_gets(monkeypatch):
    """Jobs run with one thread each (one per lane): a rate measured at this process's threads would project a
    one-thread job too fast. Both measurements (training steps, evaluation passes) run at the job's threads, and
    the process's own thread count comes back afterwards."""
    import torch

    import benchmark.perf.measure as measure
    import benchmark.perf.paper as paper
    from benchmark.evaluation import load_protocol
    from benchmark.studies.jobs import Projector
    from benchmark.zoo import load_entries

    seen = []
    monkeypatch.setattr(paper, "ours_rate", lambda *a, **k: seen.append(torch.get_num_threads()) or 100.0)
    monkeypatch.setattr(measure, "fwd_bwd_seconds", lambda *a, **k: seen.append(torch.get_num_threads()) or 1.0)
    monkeypatch.setattr(Projector, "_rates", {})  # nothing measured before in this process
    monkeypatch.setattr(Projector, "_fb", {})
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        entry = load_entries()["fmnist_cnn_adv_scratch_n10"]
        p = Projector("cpu", load_protocol("fmnist-linf-quick"), threads=1)
        p.rate(entry, entry.parsed_recipe())
        p.fb_seconds(entry)
        assert seen == [1, 1] and torch.get_num_threads() == 2
        p.rate(entry, entry.parsed_recipe())  # measured once per process
        Projector("cpu", load_protocol("fmnist-linf-quick"), threads=1).fb_seconds(entry)
        assert seen == [1, 1]
    finally:
        torch.set_num_threads(before)  # the rest of this test process keeps its share of the cores


def test_the_projection_run_reports_each_job_and_the_share_within_the_tolerance():
    from benchmark.studies.projection_run import DEFAULT_STUDY, summary_lines
    from benchmark.studies.spec import load_study_file

    assert load_study_file(DEFAULT_STUDY).name == "projection_check"  # the benchmark's study parses
    rows = [{"kind": "train", "job": "train:a:0", "projected": 12.0, "actual": 10.0},
            {"kind": "train", "job": "train:b:0", "projected": 20.0, "actual": 10.0},
            {"kind": "evaluate", "job": "evaluate:a:0", "projected": 9.0, "actual": 10.0}]
    lines = summary_lines(rows)
    assert any("train      2 jobs: projected      32 s, took      20 s, ratio  1.60; 1 of 2 jobs within 25%" in x
               for x in lines), lines
    assert any("all        3 jobs: projected      41 s, took      30 s, ratio  1.37; 2 of 3 jobs within 25%" in x
               for x in lines), lines
