"""The zero-config choice (``uba_hf.zero_config``): phi and the floor from a run's LR area (peak LR x updates), pinned
at its documented points (docs/phi.md, "The zero-config choice"), and the main job's recipe that relies on it."""

from __future__ import annotations

import math

import pytest
from conftest import ROOT, TINY_RECIPE, tiny_olmo2

from uba_hf import UBAConfigError, zero_config_schedule
from uba_hf.zero_config import EARLY_DECAY_LR_AREA, FLOOR_UNTIL_LR_AREA, LATE_DECAY_LR_AREA, count_parameters

N = 1_000


def pick(area: float) -> tuple[float, float]:
    z = zero_config_schedule(N, area / N)
    return z["phi"], z["min_lr_ratio"]


def test_pinned_points_late_early_the_log_middle_and_the_floor():
    assert pick(0.01) == pick(LATE_DECAY_LR_AREA) == (0.01, 0.1)  # a late decay, to the 10% floor
    assert pick(EARLY_DECAY_LR_AREA) == pick(50.0) == (1.0, 0.1)
    middle = math.sqrt(LATE_DECAY_LR_AREA * EARLY_DECAY_LR_AREA)
    assert pick(middle)[0] == pytest.approx(0.1, rel=2e-3)  # log-linear: phi 0.1 halfway in log
    assert pick(FLOOR_UNTIL_LR_AREA * 0.99) == (1.0, 0.1) and pick(FLOOR_UNTIL_LR_AREA) == (1.0, 0.0)
    phis = [pick(10 ** (e / 20))[0] for e in range(-40, 60)]
    assert phis == sorted(phis)  # a larger LR area, never a later decay


def test_only_the_product_of_peak_lr_and_updates_counts():
    picks = [zero_config_schedule(n, lr) for n, lr in ((400, 0.06), (4_000, 0.006), (240, 0.1))]  # area 24 each
    log_middle = 0.01 * 100 ** (math.log(24 / LATE_DECAY_LR_AREA) / math.log(EARLY_DECAY_LR_AREA / LATE_DECAY_LR_AREA))
    assert {(z["phi"], z["min_lr_ratio"]) for z in picks} == {(float(f"{log_middle:.3g}"), 0.1)}
    assert all(z["lr_area"] == pytest.approx(24.0, rel=1e-12) for z in picks)


def test_the_reason_names_the_numbers_it_came_from():
    z = zero_config_schedule(400, 3e-3)
    assert z["reason"] == "peak LR 0.003 x 400 updates = LR area 1.2 (<= 20: late decay; floor 0.1 below 60)"
    assert z["lr_area"] == pytest.approx(1.2, rel=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, None, "100"])
def test_bad_budget_names_the_argument(bad):
    with pytest.raises(UBAConfigError, match="`num_training_steps` must be an integer >= 1"):
        zero_config_schedule(bad, 1e-3)


@pytest.mark.parametrize("bad", [0, 0.0, -1e-3, True, None, "1e-3", float("nan")])
def test_bad_learning_rate_names_the_argument(bad):
    with pytest.raises(UBAConfigError, match="`learning_rate` must be a number > 0"):
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
    """tiny.yaml gives no phi or floor, so the job picks them (uba_hf.zero_config). At its budget and peak LR that pick
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
    z = zero_config_schedule(TINY_RECIPE["max_steps"], TINY_RECIPE["learning_rate"])
    chosen = row[uba_name(z["phi"], z["min_lr_ratio"])]
    assert chosen.n == len(cfg.seeds) and chosen.mean - best.mean <= 0.01, (chosen.name, best.name)
    assert TINY_RECIPE["learning_rate"] == chosen.lr
