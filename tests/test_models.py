import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.models import build_model


@pytest.mark.parametrize("arch,dataset,size", [("small_cnn", "fashion-mnist", 28), ("preact_resnet18", "cifar10", 32),
                                               ("wrn_28_10", "cifar100", 32), ("resnet50", "imagefolder", 64)])
def test_interface(arch, dataset, size):
    model = build_model(arch, 7, dataset).eval()
    c = 1 if dataset == "fashion-mnist" else 3
    x = torch.rand(2, c, size, size)
    z = model.features(x)
    assert z.shape == (2, model.feature_dim)
    assert torch.allclose(model.head(z), model(x), atol=1e-5)
    k = model.num_blocks - 1
    assert torch.allclose(model.suffix(model.prefix(x, k), k), model(x), atol=1e-5)


def test_normalization_is_inside_the_model():
    model = build_model("small_cnn", 5, "fashion-mnist")
    assert model.mean.item() == pytest.approx(0.2860) and model.std.item() == pytest.approx(0.3530)
    assert "mean" in model.state_dict()


def test_unknown_architecture():
    with pytest.raises(BenchmarkError, match="unknown architecture"):
        build_model("vgg", 5, "fashion-mnist")
