"""CUDA paths, run where a GPU is present (skipped on CPU-only machines, e.g. CI)."""

import pytest
import torch

from benchmark.errors import BenchmarkError
from tests.conftest import small_cnn, write_entry

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@cuda
def test_training_steps_on_cuda_agree_with_cpu(tiny_zoo):
    """A few natural training steps (float32, same layout) agree with the CPU within a float tolerance."""
    from benchmark.training import TrainOptions, train_entry
    from benchmark.zoo import load_entries
    from benchmark.zoo.weights import read_safetensors

    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "m", n_per_class=20, recipe={"epochs": 1, "batch_size": 50, "lr": 0.01, "amp": False})
    entry = load_entries()["m"]
    train_entry(entry, 0, TrainOptions(device="cpu", cache=cache / "cpu", show_progress=False))
    train_entry(entry, 0, TrainOptions(device="cuda", cache=cache / "gpu", show_progress=False))
    a = read_safetensors(cache / "cpu" / "m" / "seed0.safetensors")[0]
    b = read_safetensors(cache / "gpu" / "m" / "seed0.safetensors")[0]
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-4, rtol=1e-3), (k, (a[k] - b[k]).abs().max())


@cuda
def test_evaluation_on_cuda_agrees_with_cpu(natural_model, target_data):
    from benchmark.evaluation import BatteryOptions, load_protocol, run_battery

    _, _, x, y = target_data
    x, y, idx = x[:200], y[:200], torch.arange(200)
    attacks = [a for a in load_protocol("fmnist-linf-quick").build_attacks(0.03) if a.name != "autoattack"]
    cpu = run_battery(natural_model.cpu(), attacks, x, y, idx, BatteryOptions(0.03, "Linf", device="cpu"))
    gpu = run_battery(natural_model.cuda(), attacks, x, y, idx, BatteryOptions(0.03, "Linf", device="cuda"))
    natural_model.cpu()
    flips = sum(a != b for a, b in zip(cpu["per_example"]["robust"], gpu["per_example"]["robust"]))
    assert cpu["clean_accuracy"] == gpu["clean_accuracy"] and flips <= 2  # float rounding only


@cuda
def test_bf16_search_finds_no_fewer_breaks_than_float32(target_data):
    """On a PGD-trained model (so the attacks must work for their breaks), bf16 search loses nothing."""
    from benchmark.evaluation import BatteryOptions, load_protocol, run_battery
    from benchmark.strategies import STRATEGIES, Batch, Recipe
    from benchmark.training.runner import TrainingRun

    x, y, xt, yt = target_data
    torch.manual_seed(0)
    model = small_cnn().cuda()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
    run = TrainingRun(model, model, None, 0, 0, [0.25] * 4, opt, sched, torch.amp.GradScaler("cuda", enabled=False))
    strat = STRATEGIES.get("pgd_at")(Recipe(epochs=1, batch_size=128, lr=0.05, attack_steps=5), 0.1, "Linf")
    for i in range(0, 4096, 128):
        strat.train_batch(run, Batch(x[i:i + 128].cuda(), y[i:i + 128].cuda(), torch.arange(i, i + 128)))
    model.eval()
    attacks = [a for a in load_protocol("fmnist-linf-quick").build_attacks() if a.name != "autoattack"]
    idx = torch.arange(200)
    fp32 = run_battery(model, attacks, xt, yt, idx, BatteryOptions(0.1, "Linf", device="cuda"))
    bf16 = run_battery(model, attacks, xt, yt, idx, BatteryOptions(0.1, "Linf", device="cuda", amp=True))
    assert 0 < fp32["robust_accuracy"] < fp32["clean_accuracy"]
    assert bf16["robust_accuracy"] <= fp32["robust_accuracy"] + 2 / 200


@cuda
def test_nothing_falls_back_to_the_cpu(tiny_zoo, monkeypatch):
    """Every training forward runs on the GPU when --device cuda is asked for."""
    from benchmark.models.base import TransferModel
    from benchmark.training import TrainOptions, train_entry
    from benchmark.zoo import load_entries

    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "m", n_per_class=20, strategy="free_at", recipe={"epochs": 2, "batch_size": 50, "lr": 0.01})
    devices = set()
    original = TransferModel.forward

    def spy(self, x):
        devices.add(x.device.type)
        return original(self, x)

    monkeypatch.setattr(TransferModel, "forward", spy)
    rec = train_entry(load_entries()["m"], 0, TrainOptions(device="cuda", show_progress=False))
    assert devices == {"cuda"} and rec["device"].startswith("cuda")


@cuda
def test_free_at_perturbation_stays_finite_under_the_loss_scaler(tiny_zoo):
    from benchmark.training import TrainOptions, train_entry
    from benchmark.zoo import load_entries

    zoo, cache, _ = tiny_zoo
    write_entry(zoo, "free", n_per_class=40, strategy="free_at",
                recipe={"epochs": 4, "batch_size": 50, "lr": 0.05, "replays": 4, "amp": True})
    rec = train_entry(load_entries()["free"], 0, TrainOptions(device="cuda", show_progress=False))
    assert all(h["loss"] == h["loss"] for h in rec["history"])


def test_cuda_is_refused_cleanly_without_a_gpu(monkeypatch):
    from benchmark.cli.common import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(BenchmarkError, match="no CUDA GPU is available"):
        check_device("cuda")
