"""The clean-robust trade-off (issue 44): the Pareto frontier of a grid's validation points and the area under
it, and the section the leaderboard gives it."""

import json

import pytest

from benchmark.reports.tradeoff import area, frontier, tradeoff_rows, tradeoff_section


def test_the_frontier_keeps_only_points_no_other_point_beats_on_both():
    points = [(0.9, 0.1), (0.8, 0.3), (0.85, 0.2), (0.7, 0.25), (0.6, 0.5), (0.9, 0.05)]
    assert frontier(points) == [(0.6, 0.5), (0.8, 0.3), (0.85, 0.2), (0.9, 0.1)]


@pytest.mark.parametrize("points,expected", [
    ([(1.0, 0.5)], 0.5),
    ([(0.5, 1.0), (1.0, 0.5)], 0.75),                 # two rectangles overlapping on [0, 0.5] x [0, 0.5]
    ([(0.5, 1.0), (1.0, 0.5), (0.4, 0.4)], 0.75),     # a dominated point adds nothing
    ([(0.8, 0.0), (0.9, 0.0)], 0.0),
])
def test_the_area_is_the_union_of_the_points_rectangles(points, expected):
    assert area(points) == pytest.approx(expected)


def test_a_grid_with_more_reach_has_more_area_and_the_section_says_so(tmp_path):
    (tmp_path / "tuning").mkdir()
    for name, shift in (("wide", 0.1), ("narrow", 0.0)):
        configs = [{"values": {"lr": lr}, "clean": c, "robust": r,
                    "per_seed": [{"seed": s, "clean": c - 0.01 * s, "robust": r + shift} for s in (0, 1)]}
                   for lr, c, r in ((0.1, 0.9, 0.1), (0.01, 0.8, 0.3))]
        (tmp_path / "tuning" / f"{name}.json").write_text(json.dumps({"configs": configs,
                                                                      "selected": {"lr": 0.1}}))
    rows = {r["model"]: r for r in tradeoff_rows(tmp_path, ["wide", "narrow", "untuned"])}
    assert set(rows) == {"wide", "narrow"} and rows["wide"]["area"] < area([(0.9, 0.2), (0.8, 0.4)]) + 1e-9
    assert rows["wide"]["estimate"].mean > rows["narrow"]["estimate"].mean
    text = "\n".join(tradeoff_section(list(rows.values()), [("t", "plots/t.png")]))
    assert text.index("`wide`") < text.index("`narrow`") and "![t](plots/t.png)" in text
