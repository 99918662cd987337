"""The high-area study (benchmarks/high_area, issue 41): each factor regime is its anchor with one setting changed,
the steps run in the promised order, the LR grid extends at an edge, and the zero-config pick is read off the
fixed-phi grid at the schedule the rule really picks."""

from __future__ import annotations

import pytest
from high_area import report, study
from uba_bench.config import RETIRED_SETUP_FIELDS
from uba_bench.runner import read_results

from uba_hf.zero_config import zero_config_schedule


@pytest.mark.parametrize("regime", [r for r in study.REGIMES if r.anchor in study.ANCHOR_RESULTS], ids=lambda r: r.name)
def test_a_factor_regime_is_its_anchor_with_the_named_settings_changed(regime):
    """The anchor's runs stand for the reference level, so everything that shapes a run but the changed settings
    must be the anchor's (the retired probe's settings never reached a run of these schedules)."""
    anchor = read_results(study.ANCHOR_RESULTS[regime.anchor][0])
    header = next(r["setup"] for r in anchor if r.get("kind") == "setup")
    mine = regime.config().setup_key()
    differ = {k for k in set(header) | set(mine) if header.get(k) != mine.get(k)} - set(RETIRED_SETUP_FIELDS)
    assert differ == {k for k, _ in regime.changes}
    assert {k: mine[k] for k in differ} == dict(regime.changes)
    budgets = {r["budget"] for r in anchor if r.get("kind") == "run"}
    assert regime.budget in budgets


def test_the_high_area_question_runs_first_and_each_regime_tunes_before_its_seeds():
    steps = study.STEPS
    assert (steps[0].regime, steps[0].what, steps[0].lrs) == ("u5200", "lrs", (0.03, 0.06))
    assert {"linear", "uba-phi1"} <= set(steps[0].names) < set(study.SCHEDULES)  # the question's schedules first
    assert [s.what for s in steps if s.regime == "u5200"] == ["lrs"] * 2 + ["extend", "seeds"] + ["lrs"] * 2 + [
        "extend",
        "seeds",
    ]
    for r in study.REGIMES:
        order = [s.what for s in steps if s.regime == r.name and not s.names]
        assert order[-2:] == ["extend", "seeds"] and set(order[:-2]) == {"lrs"}, r.name
        ran = sorted({lr for s in steps if s.regime == r.name and s.what == "lrs" for lr in s.lrs})
        assert ran == sorted(r.lrs), r.name
    assert steps[-1].regime == "u20800"


def test_the_grid_extends_outward_at_an_edge_and_stops_after_two_points():
    r = study.REGIME_BY_NAME["u5200"]
    assert study.extension(r, {0.015: 5.0, 0.03: 5.1, 0.06: 5.2, 0.12: 5.3}) == [0.0075]
    assert study.extension(r, {0.015: 5.3, 0.03: 5.2, 0.06: 5.1, 0.12: 5.0}) == [0.24]
    assert study.extension(r, {0.015: 5.3, 0.03: 5.0, 0.06: 5.1, 0.12: 5.2}) == []
    assert study.extension(r, {0.0075: 5.0, 0.00375: 4.9, 0.015: 5.1, 0.03: 5.2}) == []  # two added already
    assert study.extension(r, {}) == []


def test_the_zero_config_pick_is_the_fixed_schedule_the_rule_runs():
    for budget, lr in [(325, 0.03), (325, 0.06), (325, 0.12), (325, 0.24), (5200, 0.015), (5200, 0.12)]:
        choice = zero_config_schedule(budget, lr)
        name = report.rule_pick(budget, lr)
        assert study.uba_name(choice["phi"], choice["min_lr_ratio"]) == name
        assert name in study.REGIME_BY_NAME["b8-u325-wd0"].schedules
    assert report.rule_pick(325, 0.06) == "uba-phi0.01-min10"  # area 19.5: the late decay
    assert report.rule_pick(325, 0.12) == "uba-phi1-min10"  # area 39
    assert report.rule_pick(5200, 0.015) == "uba-phi1"  # area 78: phi 1 to zero


def test_paired_gaps_give_the_mean_and_its_standard_error():
    a = report.Best("a", 0.1, {0: 5.00, 1: 5.10, 2: 5.30})
    b = report.Best("b", 0.1, {0: 5.02, 1: 5.10, 2: 5.26, 3: 9.0})
    g = report.gap(a, b)
    assert g.per_seed == pytest.approx([-0.02, 0.0, 0.04])
    assert g.mean == pytest.approx(0.02 / 3)
    assert g.se == pytest.approx(0.030550504633038933 / 3**0.5)
    assert report.gap(report.Best("a", 0.1, {0: 1.0}), b).se is None


def test_the_best_lr_prefers_the_lr_with_the_most_seeds():
    cells = {0.03: {0: 5.0}, 0.06: {0: 5.2, 1: 5.3, 2: 5.1}}
    best = report.best_of(cells, "x")
    assert (best.lr, best.mean) == (0.06, pytest.approx(5.2))
