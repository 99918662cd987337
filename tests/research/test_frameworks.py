"""LLaMA-Factory and axolotl (issue 29), as far as CI can check without installing them: the committed results
of benchmarks/frameworks/frameworks.py keep the closed form and the refusal, and uba-run's early checks read the
YAML the script gives LLaMA-Factory (not axolotl's, which names the scheduler ``lr_scheduler``). The runs
themselves need each framework's own virtual environment: benchmarks/frameworks/frameworks_venv.sh, then
benchmarks/frameworks/frameworks.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, closed_form, load_benchmark_script

from uba_hf import UBAConfigError
from uba_hf.run import check_uba_arguments

frameworks = load_benchmark_script("frameworks/frameworks.py")
RESULTS = sorted((ROOT / "benchmarks" / "frameworks").glob("*.json"))
# The checks each framework's run records; those with an LR trace are held to the closed form.
CHECKS = {
    "axolotl": {"full", "other-budget", "same-budget", "module-form"},
    "llamafactory": {"full", "other-budget", "same-budget", "early-check"},
}
LR_CHECKS = {"full", "module-form"}


def test_results_exist_for_both_frameworks():
    assert [p.stem for p in RESULTS] == ["axolotl", "llamafactory"]


@pytest.mark.parametrize("path", RESULTS, ids=[p.stem for p in RESULTS])
def test_committed_results_hold_the_closed_form_and_the_refusal(path):
    result = json.loads(path.read_text())
    assert result["passed"] and all(c["passed"] for c in result["checks"])
    assert result["versions"]["transformers"].startswith("5.")
    checks = {c["name"]: c for c in result["checks"]}
    assert set(checks) == CHECKS[path.stem]  # every check the runner makes is here, and is checked below
    n, w, lr, phi, r = frameworks.N, frameworks.W, frameworks.LR, frameworks.PHI, frameworks.RATIO
    for name in sorted(LR_CHECKS & set(checks)):  # at least "full": CHECKS names it for every framework
        lrs = checks[name]["lrs"]
        assert [row["update"] for row in lrs] == list(range(1, n + 1))
        for row in lrs:  # update k runs at scheduler step k - 1 (docs/schedule.md)
            assert row["logged"] == pytest.approx(lr * closed_form(row["update"] - 1, w, n, phi, r), rel=1e-12)
        assert checks[name]["scheduler_state"] == {
            "num_training_steps": n,
            "num_warmup_steps": w,
            "phi": phi,
            "min_lr_ratio": r,
        }
    other = checks["other-budget"]
    assert other["returncode"] != 0
    assert f"num_training_steps: checkpoint {n} vs now {frameworks.OTHER_N}" in other["refusal"][0]
    same = checks["same-budget"]["lrs"]
    assert [row["update"] for row in same] == list(range(frameworks.SAVE + 1, n + 1))
    assert all(row["logged"] == row["uninterrupted"] for row in same)


def test_the_scripts_closed_form_is_the_specification():
    for s in range(12):
        assert frameworks.closed_form(s, 2, 8, 1.0, 0.1) == pytest.approx(closed_form(s, 2, 8, 1.0, 0.1), rel=1e-15)


def _yaml(tmp_path: Path, config: dict) -> str:
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_uba_run_reads_the_llamafactory_yaml(tmp_path):
    good = frameworks.llamafactory_config(tmp_path / "model", tmp_path / "data", tmp_path / "out")
    check_uba_arguments(["train", _yaml(tmp_path, good)])
    bad = {**good, "lr_scheduler_kwargs": {"phi": 1.0, "min_lr": 0.001}}
    with pytest.raises(UBAConfigError, match="min_lr"):
        check_uba_arguments(["train", _yaml(tmp_path, bad)])


def test_uba_run_reads_axolotls_lr_scheduler_key(tmp_path):
    """axolotl's YAML names the scheduler ``lr_scheduler``: uba-run's early checks read it as ``lr_scheduler_type``,
    so bad kwargs are refused before axolotl starts, in the YAML and as a command-line override."""
    good = frameworks.axolotl_config(tmp_path / "model", tmp_path / "data", tmp_path / "out")
    assert "lr_scheduler_type" not in good and good["lr_scheduler"] == "uba"
    check_uba_arguments(["train", _yaml(tmp_path, good)])
    bad = {**good, "lr_scheduler_kwargs": {"phi": 1.0, "min_lr": 0.001}}
    with pytest.raises(UBAConfigError, match="min_lr"):
        check_uba_arguments(["train", _yaml(tmp_path, bad)])
    check_uba_arguments(["train", _yaml(tmp_path, {**bad, "lr_scheduler": "cosine"})])  # not UBA: not checked
    with pytest.raises(UBAConfigError, match="min_lr"):
        check_uba_arguments(["train", _yaml(tmp_path, {**bad, "lr_scheduler": "cosine"}), "--lr_scheduler", "uba"])
