"""An ImageNet-style folder trains and evaluates through the same pipeline (tiny, generated)."""

import json

import torch
import yaml
from PIL import Image

from benchmark.cli import main
from tests.conftest import record_file, weights_file, write_entry


def make_folder(root, per_class=3):
    g = torch.Generator().manual_seed(0)
    for split in ("train", "val"):
        for c, name in enumerate(("cat", "dog")):
            d = root / split / name
            d.mkdir(parents=True)
            for i in range(per_class):
                pixels = (torch.rand(40, 48, 3, generator=g) * 100 + 120 * c).clamp(0, 255).to(torch.uint8)
                Image.fromarray(pixels.numpy()).save(d / f"{i}.png")


def test_folder_train_and_evaluate(tiny_zoo, tmp_path, capsys):
    zoo, cache, results = tiny_zoo
    make_folder(tmp_path / "imgs")
    write_entry(zoo, "tiny_imagenet", task="imagenet", architecture="resnet50", n_per_class=3,
                protocol="imagenet-linf", recipe={"epochs": 1, "batch_size": 6, "lr": 0.01})
    proto = tmp_path / "p.yaml"
    proto.write_text(yaml.safe_dump({"name": "p", "version": 1, "threat_model": "Linf", "eps": 0.01,
                                     "n_examples": 4, "seed": 0, "applies_to": {"image_size": 224},
                                     "attacks": [{"name": "pgd", "type": "pgd", "steps": 2}]}))
    data = ["--data-dir", str(tmp_path / "imgs"), "--quiet"]
    assert main(["train", "--model", "tiny_imagenet", *data]) == 0
    assert weights_file(cache, "tiny_imagenet").is_file()
    assert main(["evaluate", "--model", "tiny_imagenet", "--protocol", str(proto), "--no-guards", *data]) == 0
    rec = json.loads(record_file(results, "p", "tiny_imagenet").read_text())
    assert rec["n_examples"] == 4 and set(rec["per_example"]["label"]) <= {0, 1}
