"""benchmarks/gpu_check.py --dry-run: the GPU check's every step, on CPU with the tiny preset, so that the script
is known to work before a GPU is available (issue 30). Its speed target (< 2 min) lives in the script's report."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
from conftest import ROOT, launcher_env


@pytest.mark.slow
def test_gpu_check_dry_run_writes_its_report_with_exact_lrs(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "gpu_check.py"), "--dry-run", "--output_dir", str(tmp_path)],
        cwd=ROOT,
        env={**launcher_env(), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / "cpu-dry-run.json").read_text())
    assert result["dry_run"] and result["device"] == "cpu-dry-run"

    # Throughput: the tiny preset with compilation off and on, each with its numbers.
    rows = result["throughput"]
    assert [(r["preset"], r["compile"]) for r in rows] == [("tiny", False), ("tiny", True)]
    for r in rows:
        assert r["steady_tokens_per_second"] > 0 and r["warmup_seconds"] >= 0 and r["logged_lrs_exact"]
        assert r["model_states_estimate_gib"] == pytest.approx(16 * r["parameters"] / 2**30)
        assert r["mfu"] is None and r["peak_memory_gib"] is None  # no peak FLOP/s or GPU memory on a CPU

    # A real kill mid-run, then a resume; every update's LR equal to the closed form.
    resume = result["resume"]
    # Killed as soon as checkpoint-2 was complete: the resume starts from it (or a later one saved meanwhile).
    assert resume["killed"] and 2 <= int(resume["resumed_from"].rsplit("-", 1)[1]) < resume["updates"]
    assert resume["all_updates_logged"] and resume["updates_checked"] == resume["updates"] == 10
    assert resume["lr_exact"] and resume["max_abs_lr_error"] <= 1e-12

    # Three schedules at one budget and one LR, each learning from its initial loss.
    compare = result["compare"]
    assert [c["schedule"] for c in compare] == ["uba-choice", "linear", "wsd-1sqrt"]
    assert compare[0]["lr_scheduler_type"] == "uba" and compare[2]["kwargs"]["decay_type"] == "1-sqrt"
    for c in compare:
        initial = c["eval_curve"][0][1]
        assert math.isfinite(c["eval_loss"]) and c["eval_loss"] < initial
    assert (tmp_path / result["plot"]).stat().st_size > 10_000

    scheduler = result["scheduler"]
    assert (
        0 < scheduler["share"] == pytest.approx(scheduler["scheduler_step_ns"] * 1e-9 / scheduler["seconds_per_update"])
    )
    report = (tmp_path / "cpu-dry-run.md").read_text()
    assert "Dry run on CPU" in report and "exact" in report and result["plot"] in report
