"""`perf --ceiling`'s counting: rows the model runs on and its multiply-accumulates per example."""

import torch
from torch import nn


class _Margin(nn.Module):
    """Class 0 wins by a margin no eps-0.1 perturbation can close: no example is ever fooled."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 5)
        with torch.no_grad():
            self.lin.weight.fill_(0.01)
            self.lin.bias.copy_(torch.tensor([100.0, 0.0, -1.0, -2.0, -3.0]))

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_an_example_never_fooled_gets_the_reference_budget_and_the_counter_sees_it():
    from benchmark.attacks import APGD
    from benchmark.perf.measure import PassCounter

    model, n = _Margin(), 7
    x, y = torch.rand(n, 1, 2, 2), torch.zeros(n, dtype=torch.long)
    counter = PassCounter(model)
    APGD("apgd-t", "Linf", 0.1, loss="dlr-targeted", steps=5, targets=2)(model, x, y)
    counter.close()
    # one start plus 5 steps for each of the 2 target classes; one clean forward, no success to confirm
    assert counter.grad_rows == n * 6 * 2
    assert counter.plain_rows == n
    model(x)  # the hook is gone
    assert counter.plain_rows == n


def test_conv_macs_counts_convolutions_and_linear_layers():
    from benchmark.perf.measure import conv_macs

    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 2, 3, stride=2, padding=1,
                                                                              groups=2), nn.Flatten(), nn.Linear(18, 3))
    # 5x5x4 outputs of 9 MACs; 3x3x2 outputs of 2*9 MACs (2 input channels per group); 18x3
    assert conv_macs(model, torch.rand(2, 1, 5, 5)) == 25 * 4 * 9 + 9 * 2 * 18 + 18 * 3
