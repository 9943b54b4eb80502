import pytest
import torch

from benchmark.errors import BenchmarkError
from benchmark.models import MODELS, create_model


@pytest.mark.parametrize("arch,channels,size", [("small_cnn", 1, 28), ("wrn_10_1", 1, 28), ("preact_resnet18", 3, 32),
                                                ("wrn_28_10", 3, 32), ("resnet50", 3, 64), ("resnet18", 3, 40)])
def test_interface(arch, channels, size):
    model = create_model(arch, 7, channels).eval()
    x = torch.rand(2, channels, size, size)
    z = model.features(x)
    assert z.shape == (2, model.feature_dim)
    assert torch.allclose(model.head(z), model(x), atol=1e-5)
    k = model.num_blocks - 1
    assert torch.allclose(model.suffix(model.prefix(x, k), k), model(x), atol=1e-5)


def test_wrn_blocks_follow_the_papers_split():
    """stem, one block per residual unit, then the final BN+ReLU (pooled): 'the last k blocks' counts these."""
    model = create_model("wrn_10_1", 5, 1)
    assert model.num_blocks == 5 and model.feature_dim == 64
    assert type(model.blocks[-1]).__name__ == "FinalPool"
    assert sum(type(b).__name__ == "PreActBlock" for b in model.blocks) == 3
    assert create_model("wrn_28_10", 10, 3).num_blocks == 1 + 12 + 1


def test_normalization_is_inside_the_model():
    model = create_model("small_cnn", 5, 1, (0.2860,), (0.3530,))
    assert model.mean.item() == pytest.approx(0.2860) and model.std.item() == pytest.approx(0.3530)
    assert "mean" in model.state_dict()


def test_unknown_architecture_lists_the_registry():
    with pytest.raises(BenchmarkError, match="unknown architecture 'vgg'.*choose one of"):
        create_model("vgg", 5, 1)
    assert {"small_cnn", "wrn_10_1", "resnet50"} <= set(MODELS.names())
