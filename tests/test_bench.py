"""The budget-sweep harness: --quick runs, writes JSONL + markdown, resumes without rerunning, and
sweeps the real Transformers / uba_hf schedules (LR values against closed forms)."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest
import uba_bench as bench

from uba_hf import DEFAULT_PHI

PEAK = 0.01


def closed_form(name: str, s: int, budget: int, warmup: int, phi: float | None = None) -> float:
    """LR / peak at update ``s``, written from the schedules' definitions (not from their code)."""
    if s < warmup:
        return s / max(1, warmup)
    t, T = s - warmup, budget - warmup
    cos_u = 0.5 * (1 + math.cos(math.pi * t / T))
    if name.startswith("uba") or name == "cosine":
        floor = 0.0
        if name.endswith("-min10"):
            name, floor = name[: -len("-min10")], 0.1
        if phi is None:
            phi = {"uba-default": DEFAULT_PHI, "cosine": 2.0}.get(name) or float(name[len("uba-phi") :])
        c = 2 * cos_u
        return floor + (1 - floor) * 2 * c / (2 * phi + (2 - phi) * c)  # docs/schedule.md
    if name == "cosine-min10":
        return 0.1 + 0.9 * cos_u
    if name == "linear":
        return (budget - s) / T
    if name == "constant":
        return 1.0
    if name == "wsd":
        decay = round(0.2 * budget)
        start = budget - decay
        if s < start:
            return 1.0
        return 0.5 * (1 + math.cos(math.pi * (s - start) / decay))
    raise AssertionError(name)


SCHEDULES = [n for n in bench.all_schedule_names() if n not in bench.AUTO_NAMES]


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("budget", [20, 100])
def test_sweep_schedules_are_the_real_ones(name, budget):
    warmup = bench.warmup_steps(budget, 0.1)
    lrs = bench.scheduler_lrs(name, budget, PEAK, 0.1)
    for s in [0, warmup // 2, warmup, warmup + 1, (warmup + budget) // 2, budget - budget // 5, budget - 1]:
        assert lrs[s] == pytest.approx(PEAK * closed_form(name, s, budget, warmup), rel=1e-9, abs=1e-12), (name, s)


@pytest.mark.parametrize("name", bench.AUTO_NAMES)
def test_auto_uses_the_probed_phi(name):
    lrs = bench.scheduler_lrs(name, 50, PEAK, 0.1, phi=0.7)
    for s in (5, 30, 49):
        assert lrs[s] == pytest.approx(PEAK * closed_form(name, s, 50, 5, phi=0.7), rel=1e-12)
    with pytest.raises(ValueError, match="needs the probed phi"):
        bench.schedule_spec(name, 50)


def test_uba_phi2_is_cosine_so_the_sweep_shares_their_runs():
    for budget in (20, 100, 400):
        assert bench.scheduler_lrs("uba-phi2", budget, PEAK, 0.1) == bench.scheduler_lrs("cosine", budget, PEAK, 0.1)
        floored = bench.scheduler_lrs("uba-phi2-min10", budget, PEAK, 0.1)
        assert floored == pytest.approx(bench.scheduler_lrs("cosine-min10", budget, PEAK, 0.1), rel=1e-12, abs=0)
    assert bench.spec_key("uba-phi2", 100) == bench.spec_key("cosine", 100)
    assert bench.spec_key("uba-phi2-min10", 100) == bench.spec_key("cosine-min10", 100)
    assert bench.schedule_spec("uba-phi0.5-min10", 100) == ("uba", {"phi": 0.5, "min_lr_ratio": 0.1})


def test_default_sweep_size_and_dedup():
    cfg = bench.SweepConfig()
    assert len(cfg.budgets) >= 3 and max(cfg.budgets) >= 4 * min(cfg.budgets)
    assert len(cfg.lrs) >= 3 and len(cfg.seeds) >= 2
    cells = bench.planned_cells(cfg)
    names = {c[0] for c in cells}
    # uba-default shares uba-phi1 (DEFAULT_PHI == 1) and uba-phi2 shares cosine: 12 distinct schedules.
    distinct = {bench.spec_key(n, 100) for n in cfg.schedules}
    assert len(distinct) == len(cfg.schedules) - 2 == 12 and "uba-phi1-min10" in cfg.schedules
    assert len(cells) == len(distinct) * len(cfg.budgets) * len(cfg.lrs) * len(cfg.seeds)
    assert "uba-phi2" not in names and "cosine" in names and bench.AUTO in names
    assert cells[0][3] == cfg.seeds[0] and cells[-1][3] == cfg.seeds[-1]  # seeds outermost


@pytest.fixture(scope="module")
def quick_sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    old = os.environ.get("UBA_HF_CACHE")
    os.environ["UBA_HF_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        assert bench.main(["--quick", "--out-dir", str(out)]) == 0
        first = (out / "budget_sweep.jsonl").read_text()
        assert bench.main(["--quick", "--out-dir", str(out)]) == 0
    finally:
        if old is None:
            os.environ.pop("UBA_HF_CACHE", None)
        else:
            os.environ["UBA_HF_CACHE"] = old
    return out, first


@pytest.mark.slow
def test_quick_writes_valid_jsonl_and_tables(quick_sweep):
    out, _ = quick_sweep
    records = [json.loads(line) for line in (out / "budget_sweep.jsonl").read_text().splitlines()]
    assert records[0]["kind"] == "setup" and "transformers" in records[0]["environment"]
    runs = [r for r in records if r["kind"] == "run"]
    cfg = bench.quick_config()
    assert len(runs) == len(bench.planned_cells(cfg))
    for r in runs:
        assert math.isfinite(r["eval_loss"]) and r["global_step"] == r["budget"]
    probes = [r for r in records if r["kind"] == "probe"]
    assert len(probes) == len(cfg.seeds)
    assert all(r["phi"] == probes[0]["phi"] and r["kappa"] > 1 for r in runs if r["schedule"] == bench.AUTO)
    md = (out / "budget_sweep.md").read_text()
    for budget in cfg.budgets:
        assert f"## Budget {budget} updates" in md
    assert "| rank | schedule | best LR |" in md and "UBA-default (phi=1)" in md and "uba-auto" in md
    assert "Command:" in md and "Versions:" in md
    for png in ("budget_sweep.png", "lr_curves.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_trainer_used_the_closed_form_lrs(quick_sweep):
    out, _ = quick_sweep
    runs = [r for r in bench.read_results(out / "budget_sweep.jsonl") if r.get("kind") == "run"]
    checked = 0
    for r in runs:
        for s, lr in r["lr_samples"].items():
            want = r["lr"] * closed_form(r["schedule"], int(s), r["budget"], r["warmup_steps"], phi=r["phi"])
            assert lr == pytest.approx(want, rel=1e-9, abs=1e-12), (r["schedule"], s)
            checked += 1
    assert checked >= 3 * len(runs)


@pytest.mark.slow
def test_rerun_skips_finished_cells(quick_sweep, capsys):
    out, first = quick_sweep
    assert (out / "budget_sweep.jsonl").read_text() == first  # the second run appended nothing
    # And a third, observed: nothing to run.
    assert bench.run_sweep(bench.quick_config(), out / "budget_sweep.jsonl") == {
        "ran": 0,
        "skipped": len(bench.planned_cells(bench.quick_config())),
        "total": len(bench.planned_cells(bench.quick_config())),
    }


def test_a_results_file_of_another_setup_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"kind": "setup", "setup": {"block_size": 1}}) + "\n")
    with pytest.raises(ValueError, match="another setup"):
        bench.run_sweep(bench.quick_config(), path)


def test_truncated_last_line_is_ignored(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text('{"kind": "setup"}\n{"kind": "run", "eval_')
    assert bench.read_results(path) == [{"kind": "setup"}]


def _run_record(name: str, budget: int, lr: float, seed: int, loss: float) -> dict:
    """A finished-run line of the results file, as run_sweep writes it (fields the report reads)."""
    return {
        "kind": "run",
        "schedule": name,
        "spec": bench.spec_key(name, budget),
        "budget": budget,
        "lr": lr,
        "seed": seed,
        "eval_loss": loss,
        "train_seconds": 1.0,
        "seconds_per_update": 0.01,
        "phi": None,
    }


def test_report_marks_partial_sweeps():
    cfg = bench.SweepConfig(budgets=[100, 200, 400], lrs=[0.01, 0.03], seeds=[0, 1])
    recs = [_run_record(n, 100, 0.01, 0, loss) for n, loss in [("uba-default", 5.0), ("cosine", 5.1)]]
    md = bench.render_markdown(cfg, recs)
    assert "Finished runs: **2 /" in md and "(partial)" in md
    assert "UBA-default (phi=1) beats the best baseline** (`cosine`" in md


def test_main_job_setup_matches_the_main_job_recipe():
    import yaml

    recipe = yaml.safe_load((Path(__file__).parent.parent / "recipes" / "pretrain" / "tiny.yaml").read_text())
    cfg = bench.main_job_config()
    assert cfg.model_preset == recipe["model_preset"] and cfg.model_overrides == {}
    assert (cfg.block_size, cfg.batch_size, cfg.vocab_size) == (
        recipe["block_size"],
        recipe["per_device_train_batch_size"],
        recipe["vocab_size"],
    )
    assert cfg.budgets == [recipe["max_steps"]]
    assert cfg.warmup_fraction == recipe["warmup_steps"]  # the recipe states warmup as a fraction of the budget
    assert (cfg.weight_decay, cfg.adam_beta2, cfg.max_grad_norm) == (
        recipe["weight_decay"],
        recipe["adam_beta2"],
        recipe["max_grad_norm"],
    )
    assert recipe["learning_rate"] in cfg.lrs and cfg.train_docs is None


def test_report_compares_floored_uba_with_cosine_min10_without_a_default_row():
    cfg = bench.SweepConfig(schedules=["cosine-min10", "uba-phi1-min10"], budgets=[400], lrs=[0.01], seeds=[0, 1])
    recs = [
        _run_record(n, 400, 0.01, seed, loss)
        for n, losses in [("cosine-min10", (5.0, 5.2)), ("uba-phi1-min10", (4.9, 5.0))]
        for seed, loss in zip((0, 1), losses, strict=True)
    ]
    md = bench.render_markdown(cfg, recs)
    # means 5.1 and 4.95: gap -0.15; spread hypot(0.1414, 0.0707) = 0.1581; paired gaps -0.1, -0.2
    want = "-0.1500 nats (within the seed spread, 0.1581; per-seed gaps -0.1000, -0.2000)"
    best = "best `uba-phi1-min10` (4.9500 ± 0.0707, LR 0.01)"
    assert f"- Same 10% floor as `cosine-min10`: {best} minus `cosine-min10`: {want}." in md
    assert f"best floored UBA minus `cosine-min10`, per budget: 400: `uba-phi1-min10` {want}." in md
    assert "Lowest loss of all schedules per budget: 400: `uba-phi1-min10`" in md
