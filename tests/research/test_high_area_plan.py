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
    ] + ["zero-config", "lrs", "seeds", "fixed", "seeds", "zero-config"]
    for r in study.REGIMES:
        order = [s.what for s in steps if s.regime == r.name and not s.names and not s.seeds]
        if r.name not in ("u20800", "u5200"):  # u20800's grid runs by name; u5200's order is pinned above
            assert order[-3:] == ["extend", "seeds", "zero-config"] and set(order[:-3]) == {"lrs"}, r.name
        ran = {lr for s in steps if s.regime == r.name and s.what == "lrs" for lr in s.lrs}
        assert set(r.lrs) <= ran, r.name
    # Whether more updates reach higher areas at the best LR comes before the factors; the factor regimes follow
    # their anchors, the low-area one first.
    u20800 = [i for i, s in enumerate(steps) if s.regime == "u20800" and s.names != study.U20800_ONLY[-1:]]
    ten = [i for i, s in enumerate(steps) if s.seeds == study.SEEDS_5_TO_9]
    factor = [
        i
        for i, s in enumerate(steps)
        if study.REGIME_BY_NAME[s.regime].anchor and s.regime != "b8-u325-wd0" and i not in ten
    ]
    assert ten == list(range(len(steps) - len(ten), len(steps)))  # seeds 5-9 after every other step
    assert max(u20800) < min(factor)
    # More u5200 seeds and the rule's pick at u20800 after the low-area anchor's factors, before the mid-area one's.
    extra = [i for i, s in enumerate(steps) if (s.seeds and s.regime == "u5200") or s.names == study.U20800_ONLY[-1:]]
    b8 = [i for i in factor if steps[i].regime.startswith("b8-")]
    b2 = [i for i in factor if steps[i].regime.startswith("b2-")]
    assert max(b8) < min(extra) and max(extra) < min(b2)
    # Weight decay 0.3 at the mid-area anchor last, after weight decay 0 at the high-area one.
    last = [i for i in factor if steps[i].regime == study.LAST_FACTOR]
    assert study.LAST_FACTOR == "b2-u1300-wd0.3" and last == factor[-len(last) :] and len(last) == 4
    assert max(i for i in factor if steps[i].regime == "u5200-wd0") < min(last)
    # u5200-wd0's seeds 3-4 (its 3-seed gaps were wider than +-0.01) right after its own steps, before the last.
    more = [i for i, s in enumerate(steps) if s.regime == "u5200-wd0" and s.seeds and i not in ten]
    assert [steps[i].what for i in more] == ["seeds", "zero-config"] and steps[more[0]].seeds == (3, 4)
    assert max(i for i, s in enumerate(steps) if s.regime == "u5200-wd0" and not s.seeds) < min(more)
    assert max(more) < min(last)
    anchors = [study.REGIME_BY_NAME[steps[i].regime].anchor for i in factor if i not in last]
    assert anchors == sorted(anchors, key=("b8-u325", "b2-u1300", "u5200", "prose-b8", "prose-b2").index)
    assert study.FACTOR_ANCHORS == ("b8-u325", "b2-u1300", "u5200", "prose-b8", "prose-b2")


def test_the_factor_regimes_run_five_seeds_and_u20800_asks_only_where_the_best_lr_sits():
    for r in study.REGIMES:
        five = r.anchor in ("b8-u325", "b2-u1300", "prose-b8", "prose-b2")
        assert r.seeds == (study.FIVE_SEEDS if five else (0,) if r.name == "u20800" else study.SEEDS)
        assert r.config().seeds == list(r.seeds)
    u20800 = study.REGIME_BY_NAME["u20800"]
    assert set(u20800.schedules) == set(study.U20800_ONLY) and "linear" in u20800.schedules
    assert [s.cells() for s in study.STEPS if s.regime == "u20800" and s.what == "seeds"] == [[]]
    pick = [c for s in study.STEPS if s.regime == "u20800" and s.names == study.U20800_ONLY[-1:] for c in s.cells()]
    assert pick == [("uba-phi1-min10", 20800, 0.001875, 0)] and report.rule_pick(20800, 0.001875) == pick[0][0]
    assert study.extension(u20800, {0.001875: 4.0, 0.00375: 4.1, 0.0075: 4.2}) == []  # a low-edge best answers it


def test_the_grid_extends_outward_at_an_edge_and_stops_after_three_points():
    r = study.REGIME_BY_NAME["u5200"]
    assert study.extension(r, {0.015: 5.0, 0.03: 5.1, 0.06: 5.2, 0.12: 5.3}) == [0.0075]
    assert study.extension(r, {0.015: 5.3, 0.03: 5.2, 0.06: 5.1, 0.12: 5.0}) == [0.24]
    assert study.extension(r, {0.015: 5.3, 0.03: 5.0, 0.06: 5.1, 0.12: 5.2}) == []
    assert study.extension(r, {0.0075: 5.0, 0.00375: 4.9, 0.015: 5.1, 0.03: 5.2}) == [0.001875]
    assert study.extension(r, {0.0075: 5.0, 0.00375: 4.9, 0.001875: 4.8, 0.015: 5.1}) == []  # three added already
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


def test_the_re_keyed_rule_is_the_area_rule_at_weight_decay_01_and_scales_the_area_by_the_weight_decay():
    for budget, lr in [(325, 0.03), (325, 0.12), (1300, 0.03), (5200, 0.0075)]:
        assert report.timescale_pick(0.1)(budget, lr) == report.rule_pick(budget, lr)
    assert report.rule_pick(325, 0.12) == "uba-phi1-min10"  # area 39
    assert report.timescale_pick(0.0)(325, 0.12) == "uba-phi0.01-min10"  # no weight decay: no timescales at all
    assert report.timescale_pick(0.01)(325, 0.12) == "uba-phi0.01-min10"  # 3.9 "areas"
    assert report.timescale_pick(0.3)(325, 0.12) == "uba-phi1"  # 117: past the floor's end


def test_each_regime_is_labelled_by_whether_the_rule_saw_it():
    assert report.seen_by_rule("high_area/b8-u325-wd0") == "new"
    assert report.seen_by_rule("v2 sweep 325") == "fitted"
    assert report.seen_by_rule("sweep-b2") == "fitted"
    assert report.seen_by_rule("shape-b2-width128") == "held out"


def test_each_schedule_is_judged_against_the_best_of_everything_in_each_regime_where_it_ran():
    a, b = report.Best("linear", 0.1, {0: 5.0, 1: 5.2}), report.Best("uba-phi1", 0.1, {0: 5.1, 1: 5.1})
    rows = [
        dict(label="r1", table={"linear": a, "uba-phi1": b}, best=a, zero_config=None),
        dict(label="r2", table={"uba-phi1": b}, best=b, zero_config=report.Best("zero-config (x)", 0.1, b.losses)),
    ]
    gaps = report.schedule_gaps(rows)
    assert gaps["linear"] == {"r1": 0.0}
    assert gaps["uba-phi1"] == {"r1": pytest.approx(0.0), "r2": 0.0}  # +0.1 and -0.1 on the two seeds
    assert gaps["zero-config"] == {"r2": 0.0}


def test_the_late_decay_runs_only_below_an_area_of_78_and_below_u5200s_grid():
    for step in study.STEPS:
        for name, budget, lr, _ in step.cells() if step.what == "lrs" else []:
            assert name != study.LATE_DECAY or lr * budget < study.LATE_DECAY_UNTIL_AREA
    late = [s for s in study.STEPS if s.regime == "u5200" and s.names == (study.LATE_DECAY,)]
    assert [s.what for s in late] == ["lrs", "seeds"] and late[0].lrs == (0.00375, 0.0075)
    assert [c[2] for c in late[0].cells()] == [0.00375, 0.0075]  # areas 19.5 and 39: where the rule picks it
    assert report.rule_pick(5200, 0.00375) == study.LATE_DECAY


def test_the_overshoot_check_runs_the_other_seeds_at_one_lr_above_the_best():
    (fixed,) = [s for s in study.STEPS if s.what == "fixed"]
    assert sorted(fixed.cells()) == sorted(
        (n, 5200, 0.06, seed) for n in ("linear", "uba-phi1", "uba-phi8") for seed in (1, 2)
    )
    assert report.rule_pick(5200, 0.06) == "uba-phi1"  # area 312


def test_u5200s_seeds_3_and_4_run_every_schedule_at_its_first_seeds_best_lr():
    (more,) = [s for s in study.STEPS if s.regime == "u5200" and s.what == "seeds" and s.seeds]
    first = study.first_seed_losses(study.REGIME_BY_NAME["u5200"])
    cells = more.cells()
    assert {c[3] for c in cells} == {3, 4}
    assert {(c[0], c[2]) for c in cells} == {(n, study.best_lr(v)) for n, v in first.items() if v}


def test_the_zero_config_choice_gets_its_seeds_at_the_lr_where_the_rules_pick_did_best_on_seed_0():
    r = study.REGIME_BY_NAME["b8-u325-warmup0"]
    first = study.first_seed_losses(r)
    lr = study.zero_config_lr(r)  # the committed results: phi 1 with the floor at 0.12 (area 39) on seed 0
    assert lr is not None
    picks = {x: first[study.rule_pick(r.budget, x)][x] for x in r.lrs if x in first[study.rule_pick(r.budget, x)]}
    assert lr == min(picks, key=picks.get)
    step, more = [s for s in study.STEPS if s.regime == r.name and s.what == "zero-config"]
    assert step.cells() == [(study.rule_pick(r.budget, lr), r.budget, lr, s) for s in (1, 2, 3, 4)]
    assert more.cells() == [(study.rule_pick(r.budget, lr), r.budget, lr, s) for s in study.SEEDS_5_TO_9]


def test_the_weight_decay_0_reading_is_judged_on_the_prose_regimes_it_was_not_read_on():
    wd0 = [r.name for r in study.REGIMES if dict(r.changes).get("weight_decay") == 0.0]
    held = set(wd0) - set(report.WD0_READ_ON)
    assert set(report.WD0_READ_ON) < set(wd0) and held == {"prose-b8-wd0", "prose-b2-wd0"}
    assert all(study.REGIME_BY_NAME[n].corpus == study.PROSE_CORPUS for n in held)
    assert all(study.REGIME_BY_NAME[n].corpus is None for n in report.WD0_READ_ON)
    rows = [line.split(" | ") for line in report.weight_decay_0_section() if line.startswith("| ")][1:]
    assert [row[0][2:] for row in rows] == wd0
    assert [row[1] for row in rows] == ["held out" if n in held else "read on" for n in wd0]
    # b2-u1300-wd0 (committed results, 5 seeds) is where the reading came from: phi 0.25 with the floor the best UBA.
    b2 = rows[wd0.index("b2-u1300-wd0")]
    assert b2[2] == f"`{report.WD0_CHOICE}` at 0.03" and b2[5].startswith("-0.0") and b2[5].endswith("(n=5) |")


def _first_five_seeds(r: study.Regime) -> tuple[dict[str, report.Best], report.Best | None]:
    records = [x for x in r.records() if x.get("kind") != "run" or x["seed"] in study.FIVE_SEEDS]
    return report.regime_table(report.as_fixed_runs(records), r.budget, study.SCHEDULES), report.zero_config_of(
        records, r.budget
    )


def test_seeds_5_to_9_go_where_the_zero_config_gap_was_not_called_on_5_seeds_to_the_schedules_near_the_best():
    """MORE_SEEDS is the rule in its comment applied to the committed results of seeds 0-4, not a hand-picked list."""
    not_called = {}
    for r in study.REGIMES:
        table, zc = _first_five_seeds(r)
        best = report.best_uba(table)
        if best is None or zc is None or len(best.losses) < 5:
            continue
        g = report.gap(zc, best)
        if g.mean > 0.01 and g.mean - g.se < 0.01:
            everything = min(table.values(), key=report.ranking)
            near = {n for n, b in table.items() if b.mean - everything.mean <= 0.02}
            near |= {n for n, b in table.items() if report.phi_of(n) and b.mean - best.mean <= 0.02}
            near |= {"linear", study.rule_pick(r.budget, zc.lr)}
            if dict(r.changes).get("weight_decay") == 0.0:
                near.add(report.WD0_CHOICE)
            not_called[r.name] = near
    assert list(study.MORE_SEEDS) == list(not_called)  # every such regime, in the order they run (cheapest first)
    assert {k: set(v) for k, v in study.MORE_SEEDS.items()} == not_called
    steps = [s for s in study.STEPS if s.seeds == study.SEEDS_5_TO_9]
    assert [(s.regime, s.what) for s in steps] == [(n, w) for n in study.MORE_SEEDS for w in ("seeds", "zero-config")]
