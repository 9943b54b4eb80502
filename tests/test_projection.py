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
