"""The zero-config choice (``uba_hf.zero_config``): phi and the floor from a run's updates per non-embedding parameter,
pinned at its documented points (docs/phi.md, "The zero-config choice"), and the main job's recipe that relies on it."""

from __future__ import annotations

import math

import pytest
from conftest import ROOT, TINY_NON_EMBEDDING, TINY_RECIPE, tiny_olmo2

from uba_hf import UBAConfigError, zero_config_schedule
from uba_hf.zero_config import (
    EARLY_DECAY_UPDATES_PER_PARAM,
    FLOOR_UNTIL_UPDATES_PER_PARAM,
    LATE_DECAY_UPDATES_PER_PARAM,
    count_parameters,
)

N = 1_000_000


def pick(updates_per_param: float) -> tuple[float, float]:
    z = zero_config_schedule(round(updates_per_param * N), N)
    return z["phi"], z["min_lr_ratio"]


def test_pinned_points_late_early_the_log_middle_and_the_floor():
    assert pick(1e-5) == pick(LATE_DECAY_UPDATES_PER_PARAM) == (0.01, 0.1)  # a late decay, to the 10% floor
    assert pick(EARLY_DECAY_UPDATES_PER_PARAM) == pick(1e-2) == (1.0, 0.1)
    middle = math.sqrt(LATE_DECAY_UPDATES_PER_PARAM * EARLY_DECAY_UPDATES_PER_PARAM)
    assert pick(middle)[0] == pytest.approx(0.1, rel=2e-3)  # log-linear: phi 0.1 halfway in log
    assert pick(FLOOR_UNTIL_UPDATES_PER_PARAM * 0.99) == (1.0, 0.1) and pick(FLOOR_UNTIL_UPDATES_PER_PARAM) == (
        1.0,
        0.0,
    )
    phis = [pick(10 ** (e / 20))[0] for e in range(-100, -20)]
    assert phis == sorted(phis)  # more updates per parameter, never a later decay


def test_the_reason_names_the_numbers_it_came_from():
    z = zero_config_schedule(400, 1_050_752)
    assert z["reason"] == (
        "400 updates / 1,050,752 non-embedding parameters = 0.000381 updates per parameter (<= 0.00065: late decay; "
        "floor 0.1 below 0.02)"
    )
    assert z["updates_per_param"] == 400 / 1_050_752


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None, "100"])
def test_bad_input_names_the_argument(bad):
    with pytest.raises(UBAConfigError, match="`num_training_steps` must be an integer >= 1"):
        zero_config_schedule(bad, N)
    with pytest.raises(UBAConfigError, match="`non_embedding_parameters` must be an integer >= 1"):
        zero_config_schedule(100, bad)


def test_count_parameters_takes_a_tied_embedding_once_and_an_untied_head_as_embedding():
    untied = tiny_olmo2()
    counts = count_parameters(untied)
    vocab, width = untied.get_input_embeddings().weight.shape
    assert counts["embedding"] == 2 * vocab * width and counts["total"] == sum(p.numel() for p in untied.parameters())
    tied = tiny_olmo2(tie_word_embeddings=True)
    assert tied.get_output_embeddings().weight is tied.get_input_embeddings().weight
    assert count_parameters(tied) == {**counts, "total": counts["total"] - vocab * width, "embedding": vocab * width}


def test_main_job_recipe_leaves_phi_to_the_zero_config_choice_within_0_01_of_the_best_measured():
    """tiny.yaml gives no phi or floor, so the job picks them (uba_hf.zero_config). At its budget and model that pick
    is one benchmark v2 measured (every seed, each setting at its own best LR): within 0.01 nats of the best fixed
    phi there, and the recipe's peak LR is the pick's best LR."""
    from uba_bench.config import uba_name
    from uba_bench.summary import phi_of, summarize
    from uba_bench.v2 import group_config, group_records

    assert "phi" not in TINY_RECIPE and "min_lr_ratio" not in TINY_RECIPE
    cfg = group_config("main-job")
    row = summarize(cfg, group_records("main-job", ROOT / "benchmarks" / "v2"))[TINY_RECIPE["max_steps"]]
    measured = [b for name, b in row.items() if phi_of(name) and b.n == len(cfg.seeds)]
    best = min(measured, key=lambda b: b.mean)
    assert len(measured) >= 8 and not best.edge  # a grid of phis and floors, its best LR inside its LR grid
    z = zero_config_schedule(TINY_RECIPE["max_steps"], TINY_NON_EMBEDDING)
    chosen = row[uba_name(z["phi"], z["min_lr_ratio"])]
    assert chosen.n == len(cfg.seeds) and chosen.mean - best.mean <= 0.01, (chosen.name, best.name)
    assert TINY_RECIPE["learning_rate"] == chosen.lr
