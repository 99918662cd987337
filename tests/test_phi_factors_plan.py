"""The phi-factor study changes one factor at a time: each regime differs from its v2 anchor in the batch alone,
and spends the anchor's tokens (benchmarks/phi_factors/README.md)."""

from __future__ import annotations

import pytest
from uba_bench.phi_factors import REGIMES, SETUPS, regime_config
from uba_bench.v2 import SETUPS as V2_SETUPS

ANCHORS = {"sweep": (8, 325), "main-job": (16, 100)}  # v2's batch and budget of the regime each factor starts from


@pytest.mark.parametrize("regime", [r for r in REGIMES if not r.anchor], ids=lambda r: r.name)
def test_a_regime_differs_from_its_v2_anchor_in_the_batch_alone_at_equal_tokens(regime):
    batch, budget = ANCHORS[regime.model]
    anchor_key = next(
        s.config().setup_key() for s in V2_SETUPS if s.group == regime.model and budget in s.config().budgets
    )
    key = regime.config(["linear"]).setup_key()
    assert {k for k in key if key[k] != anchor_key[k]} == {"batch_size"} and key["batch_size"] == regime.batch_size
    assert regime.batch_size in (batch // 4, batch * 4)
    assert regime.budget * regime.batch_size == pytest.approx(budget * batch, rel=0.01)  # the same tokens


def test_every_setup_runs_in_a_known_regime_and_the_report_sees_its_schedules():
    assert len({s.name for s in SETUPS}) == len(SETUPS)
    for s in SETUPS:
        assert set(s.schedules) <= set(regime_config(s.regime).schedules)
