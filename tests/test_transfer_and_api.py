"""The user's story: own model, own data, one-command transfer, all through the public API and CLI."""

import json

import pytest
import torch
import yaml
from PIL import Image

import benchmark as rtb
from benchmark.cli import main
from benchmark.errors import BenchmarkError
from tests.conftest import fit, small_cnn, write_entry


def write_png_folder(root, target_data, per_class_train=20, per_class_val=10):
    """Fashion-MNIST target images saved as PNG files in an ImageNet-style folder (5 named classes)."""
    x, y, xt, yt = target_data
    names = ["sandal", "shirt", "sneaker", "bag", "boot"]
    for split, (xs, ys, k) in {"train": (x, y, per_class_train), "val": (xt, yt, per_class_val)}.items():
        for c, name in enumerate(names):
            d = root / split / name
            d.mkdir(parents=True)
            for i, img in enumerate(xs[ys == c][:k]):
                Image.fromarray((img[0] * 255).round().to(torch.uint8).numpy(), mode="L").save(d / f"{i}.png")
    return root


def test_evaluate_your_own_module_in_three_lines(natural_model, target_data):
    _, _, x, y = target_data
    result = rtb.evaluate(natural_model, "fmnist-linf-quick", x=x[:40], y=y[:40], guards=False)
    assert 0 <= result.robust_accuracy <= result.clean_accuracy <= 1
    assert set(result.per_attack) == {"pgd-ce", "pgd-cw", "deepfool", "apgd-ce", "apgd-t"}
    assert len(result.per_example["robust"]) == 40
    assert "worst case" in str(result)


def test_normalized_helper_and_result_as_record(natural_model, target_data, tmp_path):
    _, _, x, y = target_data

    class ExpectsNormalized(torch.nn.Module):  # the same network, but wanting normalized inputs
        def forward(self, z):
            return natural_model(z * 0.3530 + 0.2860)

    wrapped = rtb.Normalized(ExpectsNormalized(), (0.2860,), (0.3530,))
    a = rtb.evaluate(natural_model, "fmnist-linf-quick", x=x[:30], y=y[:30], guards=False)
    b = rtb.evaluate(wrapped, "fmnist-linf-quick", x=x[:30], y=y[:30], guards=False)
    assert a.clean_accuracy == b.clean_accuracy and abs(a.robust_accuracy - b.robust_accuracy) <= 0.07
    path = b.write(tmp_path / "mine.json", model="my_model")
    rec = json.loads(path.read_text())
    assert rec["complete"] and rec["model"] == "my_model" and rec["per_example"]["robust"] == b.per_example["robust"]


def test_library_calls_print_nothing(natural_model, target_data, capsys):
    _, _, x, y = target_data
    rtb.evaluate(natural_model, "fmnist-linf-quick", x=x[:10], y=y[:10])
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert not torch.distributed.is_initialized()


def test_api_errors_are_one_line(natural_model, target_data):
    _, _, x, y = target_data
    with pytest.raises(BenchmarkError, match="protocol cifar-linf is for 3-channel images"):
        rtb.evaluate(natural_model, "cifar-linf", x=x[:4], y=y[:4])
    with pytest.raises(BenchmarkError, match="pixels must lie in"):
        rtb.evaluate(natural_model, "fmnist-linf-quick", x=x[:4] * 255, y=y[:4])
    with pytest.raises(BenchmarkError, match="name a task"):
        rtb.evaluate(natural_model, "fmnist-linf-quick")


def test_zoo_api_lists_loads_and_trains(tiny_zoo):
    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "api_src", task="fmnist-src", n_per_class=30, suites=["mine"])
    write_entry(zoo, "api_lin", strategy="linear", source="api_src", n_per_class=10, suites=["mine"])
    assert rtb.list_models("mine") == ["api_lin", "api_src"]
    rec = rtb.train("api_lin")  # trains the source first
    assert rec["model"] == "api_lin" and (cache / "api_src" / "seed0.safetensors").is_file()
    model = rtb.load_model("api_lin")
    assert not model.training and model(torch.rand(2, 1, 28, 28)).shape == (2, 5)


def test_a_folder_of_images_becomes_a_task_with_one_file(tiny_zoo, tmp_path, target_data, monkeypatch):
    from benchmark.data import get_task, load_split

    folder = write_png_folder(tmp_path / "shoes", target_data)
    task_file = tmp_path / "shoes.yaml"
    task_file.write_text(yaml.safe_dump({"name": "shoes", "dataset": "imagefolder", "root": str(folder),
                                         "image_size": 28, "channels": 1, "classes": ["bag", "boot", "sandal"]}))
    task = get_task(str(task_file))
    train = load_split(task, True)
    assert task.n_classes == 3 and train.images.shape == (60, 1, 28, 28) and train.class_names == ["bag", "boot",
                                                                                                    "sandal"]
    assert set(train.labels.tolist()) == {0, 1, 2}
    task_file.write_text(yaml.safe_dump({"name": "shoes", "dataset": "imagefolder", "root": str(folder),
                                         "image_size": 28, "channels": 1, "colour": "red"}))
    with pytest.raises(BenchmarkError, match=r"unknown field 'colour'"):
        get_task(str(task_file))


def test_one_command_transfer_to_a_png_folder(tiny_zoo, tmp_path, target_data, capsys, monkeypatch):
    zoo, cache, results = tiny_zoo
    monkeypatch.delenv("RTB_USER_RESULTS")  # the user's results in their own folder, apart from the project's
    write_entry(zoo, "src", task="fmnist-src", n_per_class=60, seeds=[0, 1])
    assert main(["train", "--model", "src", "--quiet"]) == 0
    folder = write_png_folder(tmp_path / "my_shoes", target_data)
    capsys.readouterr()
    code = main(["transfer", "--source", "src", "--data", str(folder), "--strategy", "lwf", "--n-per-class", "10",
                 "--seed", "0", "1", "--epochs", "2", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0 and "over 2 seeds" in out and "worst case" in out
    home = tmp_path / "home"
    entry = yaml.safe_load((home / "entries" / "src_lwf_my_shoes_n10.yaml").read_text())
    assert entry["strategy"] == "lwf" and entry["source"] == "src" and entry["protocol"] == "fmnist-linf-quick"
    rec = json.loads((home / "results" / "fmnist-linf-quick" / "src_lwf_my_shoes_n10" / "seed1.json").read_text())
    assert rec["n_examples"] == 50 and rec["weights"]["origin"] == "published"  # into the user's own folder
    assert (home / "entries" / "weights" / "src_lwf_my_shoes_n10" / "seed1.safetensors").is_file()
    assert not (results / "fmnist-linf-quick").exists()  # nothing in the project's results
    # the user's rows join the leaderboard on request, in the user's reports folder
    assert main(["report", "--with-user"]) == 0
    assert "src_lwf_my_shoes_n10" in (home / "reports" / "leaderboard.md").read_text()


@pytest.mark.parametrize("problem,match", [
    ("unreadable", r"cannot read image .*broken.png"),
    ("too_few", r"class folder 'bag' has 20 training images, fewer than --n-per-class 25"),
    ("no_source_weights", r"source src has no weights for seed 0"),
    ("no_val", r"has no val/ or test/ folder"),
])
def test_transfer_bad_inputs_are_one_line_errors(tiny_zoo, tmp_path, target_data, capsys, problem, match):
    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "src", task="fmnist-src", n_per_class=30)
    if problem != "no_source_weights":
        assert main(["train", "--model", "src", "--quiet"]) == 0
    folder = write_png_folder(tmp_path / "imgs", target_data)
    if problem == "unreadable":
        (folder / "train" / "bag" / "broken.png").write_bytes(b"not a png at all")
    if problem == "no_val":
        import shutil

        shutil.rmtree(folder / "val")
    capsys.readouterr()
    n = "25" if problem == "too_few" else "5"
    code = main(["transfer", "--source", "src", "--data", str(folder), "--strategy", "linear", "--n-per-class", n,
                 "--epochs", "1", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert __import__("re").search(match, err), err
