"""The phi-factor study changes one factor at a time: each regime differs from its v2 anchor in one thing (the batch
at the anchor's tokens, the corpus, or the model's shape), and the zero-config choice is judged where it was not
fitted (benchmarks/phi_factors/README.md)."""

from __future__ import annotations

import pytest
from uba_bench.phi_factors import REGIMES, SETUPS, regime_config
from uba_bench.v2 import SETUPS as V2_SETUPS

ANCHORS = {"sweep": (8, 325), "main-job": (16, 100)}  # v2's batch and budget of the regime each factor starts from


ONE_FACTOR = {"corpus": {"dataset_name"}, "shape": {"model_overrides"}}


@pytest.mark.parametrize("regime", [r for r in REGIMES if not r.anchor], ids=lambda r: r.name)
def test_a_regime_differs_from_its_v2_anchor_in_one_factor(regime):
    key = regime.config(["linear"]).setup_key()
    if regime.factor in ONE_FACTOR:  # the sweep model's regime at the same batch and budget, one other thing changed
        same = next(r for r in REGIMES if r.model == "sweep" and r.fitted and r.batch_size == regime.batch_size)
        other = same.config(["linear"]).setup_key()
        changed = {k for k in set(key) | set(other) if key.get(k) != other.get(k)}
        assert changed == ONE_FACTOR[regime.factor] and regime.budget == same.budget
        return
    anchor = regime.model
    batch, budget = ANCHORS[anchor]
    anchor_key = next(s.config().setup_key() for s in V2_SETUPS if s.group == anchor and budget in s.config().budgets)
    changed = {k for k in set(key) | set(anchor_key) if key.get(k) != anchor_key.get(k)}
    assert changed == {"batch_size"} and key["batch_size"] == regime.batch_size
    assert regime.batch_size in (batch // 4, batch * 4)
    assert regime.budget * regime.batch_size == pytest.approx(budget * batch, rel=0.01)  # the same tokens


def test_every_setup_runs_in_a_known_regime_and_the_report_sees_its_schedules():
    assert len({s.name for s in SETUPS}) == len(SETUPS)
    for s in SETUPS:
        assert set(s.schedules) <= set(regime_config(s.regime).schedules)


def test_the_zero_config_choice_is_judged_where_it_was_not_fitted_against_the_targets_baselines():
    unseen = [r for r in REGIMES if not r.fitted]
    assert {r.factor for r in unseen} >= {"corpus", "shape", "batch /4"}
    for r in unseen:
        judged = {n for s in SETUPS if s.regime == r for n in s.schedules}
        assert judged >= {"uba-zero", "uba-phi0.25-min10", "linear", "wsd-1sqrt", "cosine-min10", "schedule-free"}
        assert r.tune_on_first_seed  # the LR grid on seed 0, the other seeds at its best LR
