"""v4's fewer passes: online discarding, MALT's targets (an option), the row counter, and the protocols' class
limits."""

import pytest
import torch
from torch import nn

from tests.test_perf_ceiling import _Margin


class _Linear(nn.Module):
    def __init__(self, weight: torch.Tensor, bias: torch.Tensor):
        super().__init__()
        self.lin = nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.lin.weight.copy_(weight)
            self.lin.bias.copy_(bias)

    def forward(self, x):
        return self.lin(x.flatten(1))


def test_malt_orders_targets_by_the_first_order_distance_to_their_boundary():
    """Class 1 is the more likely wrong class, but its boundary is far in Linf (a small gradient); class 2's is
    near: MALT targets class 2 first, the logits would target class 1."""
    from benchmark.attacks import APGD
    from benchmark.attacks.apgd import _Search

    w = torch.zeros(4, 4)
    w[1, 0] = 0.1          # z1 - z0 changes slowly with the input
    w[2, :] = 5.0          # z2 - z0 changes fast
    model = _Linear(w, torch.tensor([3.0, 2.0, 0.0, -5.0])).eval()
    x, y = torch.full((1, 1, 2, 2), 0.1), torch.zeros(1, dtype=torch.long)
    att = APGD("t", "Linf", 0.1, loss="dlr-targeted", steps=5, targets=2, target_order="malt")
    assert att._malt_order(_Search(model, "float32"), x, y, 2)[0].tolist() == [2, 1]
    assert model(x).sort(1, descending=True)[1][0, 1].item() == 1


def test_discarding_stops_hopeless_rows_early_and_never_costs_more_than_the_full_budget():
    from benchmark.attacks import APGD
    from benchmark.perf.passes import RowCounter

    model, n = _Margin(), 7
    x, y = torch.rand(n, 1, 2, 2), torch.zeros(n, dtype=torch.long)
    full, cut = RowCounter(model), None
    APGD("a", "Linf", 0.1, loss="ce", steps=20)(model, x, y)
    full.close()
    cut = RowCounter(model)
    APGD("a", "Linf", 0.1, loss="ce", steps=20, discard=[[5, 0.5], [10, 0.7]])(model, x, y)
    cut.close()
    # a margin of 100 logits cannot close: every row stops at the first checkpoint, after 5 of its 20 steps
    assert full.forward == n * 21 + n and cut.forward == n * 6 + n
    assert cut.backward == n * 6 and full.backward == n * 21


def test_an_example_that_closes_its_gap_is_not_discarded():
    """A row near the boundary makes progress: it is kept after the discard point and broken."""
    from benchmark.attacks import APGD

    w = torch.zeros(2, 4)
    w[1, :] = 1.0
    model = _Linear(w, torch.tensor([0.3, 0.0])).eval()      # fooled once the pixels rise by 0.075
    x, y = torch.full((1, 1, 2, 2), 0.0), torch.zeros(1, dtype=torch.long)
    att = APGD("a", "Linf", 0.1, loss="ce", steps=20, discard=[[1, 0.5], [2, 0.9]])
    x_adv = att(model, x, y)
    assert model(x_adv).argmax(1).item() == 1


@pytest.mark.parametrize("classes,expect", [(2, {"loss": "margin-targeted", "targets": 1, "classes": 2}),
                                            (3, {"loss": "margin-targeted", "targets": 2, "classes": 3}),
                                            (5, None)])
def test_apgd_t_serves_any_number_of_classes_and_records_what_it_ran(classes, expect):
    from benchmark.attacks import APGD

    torch.manual_seed(0)
    model = _Linear(torch.randn(classes, 4), torch.zeros(classes)).eval()
    x = torch.rand(6, 1, 2, 2)
    y = model(x).argmax(1)
    att = APGD("apgd-t", "Linf", 0.05, loss="dlr-targeted", steps=5, targets=9 if expect else 4)
    att(model, x, y)
    assert att.describe().get("ran") == expect


def test_the_reference_autoattack_protocols_need_four_classes_ours_two():
    from benchmark.evaluation import load_protocol

    for name in ("fmnist-linf-quick", "fmnist-linf", "cifar-linf"):
        assert load_protocol(name).min_classes == 2, name
    for name in ("fmnist-linf-reference", "cifar-linf-reference", "fmnist-linf-quick-reference"):
        assert load_protocol(name).min_classes == 4, name


def test_v4_keeps_v3_under_its_own_name_and_records_its_guard_budgets():
    from benchmark.evaluation import load_protocol

    v3, v4 = load_protocol("fmnist-linf-quick-v3"), load_protocol("fmnist-linf-quick")
    assert (v3.name, v3.version, v4.version) == ("fmnist-linf-quick-v3", 3, 5)   # v5: v4 with every attack counted
    assert "guards" not in v3.to_dict() and v4.guards_count and not v3.guards_count
    assert v4.to_dict()["guards"] == {"square_queries": 200, "long_steps": 30, "long_restarts": 1}
    assert [a["name"] for a in v3.attacks] == [a["name"] for a in v4.attacks]
    # the same attacks with the same steps; v4 adds discarding, and APGD-T keeps all its target classes
    assert [{k: v for k, v in a.items() if k != "discard"} for a in v4.attacks] == v3.attacks


def test_a_discard_schedule_is_checked_where_it_is_written():
    from benchmark.attacks import APGD
    from benchmark.errors import BenchmarkError

    for bad, match in (([[10, 1.5]], "a fraction in"), ([[25, 0.5], [10, 0.5]], "its steps must increase"),
                       ([10, 0.5], "list of"), ([[0, 0.5]], "a positive step")):
        with pytest.raises(BenchmarkError, match=match):
            APGD("a", "Linf", 0.1, loss="ce", discard=bad)
    assert "discard" not in APGD("a", "Linf", 0.1, loss="ce").describe()  # v3's records describe it as they did


def test_discarding_never_drops_a_row_that_is_fooled_at_the_checkpoint():
    """A row fooled at the very step of a checkpoint is a success, not a discard."""
    from benchmark.attacks import APGD

    w = torch.zeros(2, 4)
    w[1, :] = 1.0
    model = _Linear(w, torch.tensor([0.2, 0.0])).eval()       # fooled once the pixels rise by 0.05
    x, y = torch.zeros(3, 1, 2, 2), torch.zeros(3, dtype=torch.long)
    x_adv = APGD("a", "Linf", 0.1, loss="ce", steps=10, discard=[[1, 0.99]])(model, x, y)
    assert (model(x_adv).argmax(1) == 1).all()


def test_the_full_protocols_keep_the_reference_autoattack_as_an_option():
    """fmnist-linf v2 and cifar-linf v3 run the fewer-passes APGD with FAB-T and Square on the guards' slice; the
    standard AutoAttack on every example is one flag away (--protocol fmnist-linf-reference)."""
    from benchmark.evaluation import load_protocol

    for new, ref in (("fmnist-linf", "fmnist-linf-reference"), ("cifar-linf", "cifar-linf-reference")):
        p, r = load_protocol(new), load_protocol(ref)
        assert [a["type"] for a in p.attacks][-2:] == ["apgd", "apgd"]
        assert r.attacks[-1] == {"name": "autoattack", "type": "autoattack", "version": "standard"}
        assert p.guards == {"square_queries": 5000, "fab_targets": 9}
        assert (p.eps, p.n_examples, p.threat_model) == (r.eps, r.n_examples, r.threat_model)


def test_the_strength_summary_counts_what_each_battery_missed():
    from benchmark.perf.passes import strength_summary

    rows = [{"model": "a", "seed": 0, "n": 300, "v3": 0.50, "v4": 0.50 + 2 / 300, "missed_by_new": [1, 2],
             "broken_only_by_new": [], "missed_by_reseed": [5], "v3_flagged": False, "v4_flagged": False},
            {"model": "b", "seed": 0, "n": 300, "v3": 0.20, "v4": 0.20, "missed_by_new": [],
             "broken_only_by_new": [], "missed_by_reseed": [7, 8, 9], "v3_flagged": True, "v4_flagged": True}]
    s = strength_summary(rows)
    assert (s["missed_by_new"], s["missed_by_reseed"]) == (2, 4)
    assert s["reseed_spread"] == pytest.approx(3 / 300)
    assert s["above_spread"] == []                      # +2/300 is within the largest reseed rise, 3/300
    assert [r["model"] for r in s["above_own_reseed"]] == ["a"]   # but above model a's own (1 of 300)
    assert s["flags_differ"] == [] and (s["v3_flagged"], s["v4_flagged"]) == (1, 1)


def test_the_full_protocols_projection_scales_the_targeted_attacks_with_the_classes():
    from benchmark.perf.passes import projected_full_passes

    per = {"reference apgd-ce": 200, "reference apgd-t": 800, "reference fab-t": 1200, "reference square": 5000,
           "new apgd-ce": 60, "new apgd-t": 240}
    five = projected_full_passes(per, 5, 5, 1.0, 0.1)
    ten = projected_full_passes(per, 5, 10, 1.0, 0.1)
    assert five["reference"] == 7200 and five["new"] == pytest.approx(60 + 240 + 0.1 * 6200)
    assert ten["reference"] == 200 + 1800 + 2700 + 5000      # 9 targets instead of 4
    assert projected_full_passes(per, 5, 100, 1.0, 0.1)["ratio"] == ten["ratio"]   # at most 9 targets either way
