"""The phi-factor study changes one factor at a time: each regime differs from its v2 anchor in one thing (the batch
at the anchor's tokens, the corpus, or the model's shape), and the zero-config choice is judged where it was not
fitted (benchmarks/phi_factors/README.md)."""

from __future__ import annotations

import pytest
from phi_factors.plan import REGIME_BY_NAME, REGIMES, SETUPS, SHAPE_4X96, regime_config
from uba_bench.v2 import SETUPS as V2_SETUPS

from uba_hf.pretrain.models import preset_config

ANCHORS = {"sweep": (8, 325), "main-job": (16, 100)}  # v2's batch and budget of the regime each factor starts from


ONE_FACTOR = {"corpus": {"dataset_name"}, "shape": {"model_overrides"}}


# Regimes one batch step from another regime of this study (not from a v2 anchor): that regime's name.
BATCH_STEP_FROM = {
    "shape-b2": "shape-b8",
    "shape-b32-width128": "shape-b8-width128",
    "shape-b32-vocab8k": "shape-b8-vocab8k",
    "shape-b2-vocab8k": "shape-b8-vocab8k",
}


@pytest.mark.parametrize("name", BATCH_STEP_FROM)
def test_a_batch_step_from_a_regime_of_this_study_changes_the_batch_alone_at_equal_tokens(name):
    regime, base = REGIME_BY_NAME[name], REGIME_BY_NAME[BATCH_STEP_FROM[name]]
    key, other = regime.config(["linear"]).setup_key(), base.config(["linear"]).setup_key()
    assert {k for k in set(key) | set(other) if key.get(k) != other.get(k)} == {"batch_size"}
    assert regime.batch_size in (base.batch_size // 4, base.batch_size * 4)
    assert regime.budget * regime.batch_size == pytest.approx(base.budget * base.batch_size, rel=0.01)


# Regimes one step from another regime of this study in a setting of the model: that regime and the setting.
WIDTH_128 = {**SHAPE_4X96, "hidden_size": 128, "intermediate_size": 512}
MODEL_STEP_FROM = {"shape-b2-width128": ("shape-b2", {"model_overrides": WIDTH_128})}
# Regimes at another of v2's budgets than the sweep model's anchor (its 1,300 updates): one other thing changed.
V2_BUDGET = {"prose-u1300"}


@pytest.mark.parametrize("name", MODEL_STEP_FROM)
def test_a_model_step_from_a_regime_of_this_study_changes_that_setting_alone(name):
    regime, (base_name, change) = REGIME_BY_NAME[name], MODEL_STEP_FROM[name]
    base = REGIME_BY_NAME[base_name]
    key, other = regime.config(["linear"]).setup_key(), base.config(["linear"]).setup_key()
    assert {k: key[k] for k in set(key) | set(other) if key.get(k) != other.get(k)} == change
    assert (regime.batch_size, regime.budget) == (base.batch_size, base.budget)


@pytest.mark.parametrize("name", sorted(V2_BUDGET))
def test_a_regime_at_another_v2_budget_changes_one_factor_of_v2s_regime_there(name):
    regime = REGIME_BY_NAME[name]
    key = regime.config(["linear"]).setup_key()
    anchor = next(s.config() for s in V2_SETUPS if s.group == regime.model and regime.budget in s.config().budgets)
    anchor_key = anchor.setup_key()
    changed = {k for k in set(key) | set(anchor_key) if key.get(k) != anchor_key.get(k)}
    assert changed == ONE_FACTOR[regime.factor] and regime.batch_size == anchor.batch_size


@pytest.mark.parametrize(
    "regime",
    [r for r in REGIMES if not r.anchor and not r.bridge and r.name not in BATCH_STEP_FROM and r.name not in V2_BUDGET],
    ids=lambda r: r.name,
)
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


# What each bridge regime changes of shape-b8, toward the main job's model (the block at the same tokens per update).
BRIDGE_CHANGES = {
    "shape-b8-vocab8k": {"vocab_size": 8192},
    "shape-b4-block128": {"block_size": 128, "batch_size": 4},
    "shape-b8-width128": {"model_overrides": WIDTH_128},
}


@pytest.mark.parametrize("name", BRIDGE_CHANGES)
def test_a_bridge_regime_is_shape_b8_with_one_of_the_main_models_settings(name):
    bridge, shape = REGIME_BY_NAME[name], REGIME_BY_NAME["shape-b8"]
    key, other = bridge.config(["linear"]).setup_key(), shape.config(["linear"]).setup_key()
    changed = {k: key[k] for k in set(key) | set(other) if key.get(k) != other.get(k)}
    assert changed == BRIDGE_CHANGES[name] and bridge.budget == shape.budget
    assert key["batch_size"] * key["block_size"] == other["batch_size"] * other["block_size"]  # the same tokens
    main = REGIME_BY_NAME["main-b4"].config(["linear"]).setup_key()
    for field, value in BRIDGE_CHANGES[name].items():  # each change is the main job's model's setting
        if field == "model_overrides":
            assert {k: main_config_value(k) for k in ("hidden_size", "intermediate_size")} == {
                k: value[k] for k in ("hidden_size", "intermediate_size")
            }
        elif field != "batch_size":
            assert main[field] == value


def main_config_value(field: str):
    return getattr(preset_config("tiny"), field)


def test_every_setup_runs_in_a_known_regime_and_the_report_sees_its_schedules():
    assert len({s.name for s in SETUPS}) == len(SETUPS)
    for s in SETUPS:
        assert set(s.schedules) <= set(regime_config(s.regime).schedules)


def test_each_zero_config_rule_is_judged_where_it_was_not_fitted_against_the_targets_baselines():
    """Each rule has held-out regimes; each runs that rule through UBATrainer and the targets' baselines (the stock
    default and cosine-min10 included), its LR tuned on seed 0 like every schedule's."""
    from phi_factors.plan import AREA_RULE, AREA_TPP_RULE, CURRENT_RULE, RHO_RULE, UNSEEN_BY, ZERO_CONFIG_OF_RULE

    assert {r.held_out_for for r in REGIMES} == {None, RHO_RULE, AREA_RULE, AREA_TPP_RULE}
    assert {r.factor for r in REGIMES if r.held_out_for == RHO_RULE} >= {"corpus", "shape", "batch /4"}
    assert {r.factor for r in REGIMES if r.held_out_for == AREA_RULE} >= {"corpus", "block 128", "width 128"}
    assert {r.factor for r in REGIMES if r.held_out_for == AREA_TPP_RULE} >= {"corpus", "width 128"}
    for r in (r for r in REGIMES if r.held_out_for):
        judged = {n for s in SETUPS if s.regime == r for n in s.schedules}
        baselines = {"uba-phi0.25-min10", "linear", "wsd-1sqrt", "cosine-min10", "schedule-free"}
        assert judged >= {ZERO_CONFIG_OF_RULE[r.held_out_for], *baselines}
        assert r.tune_on_first_seed and r.fitted == (r.held_out_for not in UNSEEN_BY[CURRENT_RULE])


def test_the_studys_command_plans_every_setup_and_refuses_an_unknown_one(capsys):
    """benchmarks/phi_factors/run.py: ``plan`` prints every setup's CPU-hours (nothing runs), and a setup name it
    does not know is a one-line error with exit status 2."""
    from conftest import load_benchmark_script

    run = load_benchmark_script("phi_factors/run.py")
    assert run.main(["plan"]) == 0
    out = capsys.readouterr().out
    assert all(s.name in out for s in SETUPS) and "CPU-hours" in out
    assert run.main(["no-such-setup"]) == 2
    assert "run.py: error: setup 'no-such-setup'" in capsys.readouterr().err
