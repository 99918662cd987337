"""The benchmark harness: a quick sweep writes JSONL and a model page, resumes without rerunning, and sweeps
the real Transformers / uba_hf schedules (LR values against closed forms); the v2 report; the v1 archive."""

from __future__ import annotations

import json
import math
import os

import pytest
import torch
import uba_bench as bench
from conftest import ROOT, TINY_RECIPE, load_benchmark_script
from uba_bench.config import V2_DEFAULT_PHI

from uba_hf import zero_config_schedule

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
            phi = {"uba-default": V2_DEFAULT_PHI, "cosine": 2.0}.get(name) or float(name[len("uba-phi") :])
        c = 2 * cos_u
        return floor + (1 - floor) * 2 * c / (2 * phi + (2 - phi) * c)  # docs/schedule.md
    if name == "cosine-min10":
        return 0.1 + 0.9 * cos_u
    if name == "linear":
        return (budget - s) / T
    if name == "constant":
        return 1.0
    if name.startswith("wsd"):
        decay = round(0.2 * budget)
        start = budget - decay
        if s < start:
            return 1.0
        progress = (s - start) / decay
        shape = {"wsd": 0.5 * (1 + math.cos(math.pi * progress)), "wsd-1sqrt": 1 - math.sqrt(progress)}
        return shape.get(name, 1 - progress)  # wsd-linear
    raise AssertionError(name)


def schedule_free_lr(s: int, warmup: int) -> float:
    """LR / peak of update ``s`` of AdamWScheduleFree (Defazio et al. 2024): linear warmup (s+1)/W, then flat."""
    return min(1.0, (s + 1) / warmup) if warmup else 1.0


def lr_of(name: str, s: int, budget: int, warmup: int, phi: float | None = None) -> float:
    if name == bench.SCHEDULE_FREE:
        return schedule_free_lr(s, warmup)
    return closed_form(name, s, budget, warmup, phi)


SCHEDULES = [n for n in dict.fromkeys(bench.all_schedule_names() + bench.v2_schedule_names()) if "auto" not in n]


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("budget", [20, 100])
def test_sweep_schedules_are_the_real_ones(name, budget):
    warmup = bench.warmup_steps(budget, 0.1)
    lrs = bench.scheduler_lrs(name, budget, PEAK, 0.1)
    steps = [0, warmup // 2, warmup, warmup + 1, (warmup + budget) // 2, budget - budget // 5]
    steps += [budget - budget // 10, budget - 1]
    for s in steps:
        assert lrs[s] == pytest.approx(PEAK * lr_of(name, s, budget, warmup), rel=1e-9, abs=1e-12), (name, s)


@pytest.mark.parametrize("name", bench.AUTO_NAMES)
def test_a_retired_auto_run_reads_as_the_phi_it_ran_and_runs_no_more(name):
    lrs = bench.scheduler_lrs(name, 50, PEAK, 0.1, phi=0.7)
    for s in (5, 30, 49):
        assert lrs[s] == pytest.approx(PEAK * closed_form(name, s, 50, 5, phi=0.7), rel=1e-12)
    with pytest.raises(ValueError, match="retired"):
        bench.schedule_spec(name, 50)
    with pytest.raises(ValueError, match="retired"):
        bench.training_arguments(bench.quick_config(), name, 50, PEAK, 0, "/tmp/unused")


def test_the_readme_figure_draws_each_schedule_as_transformers_builds_it(tmp_path, monkeypatch):
    """benchmarks/shapes/plot_schedules.py: UBA at several phis beside linear, cosine and WSD, each curve the LRs
    that ``transformers.get_scheduler`` gives (closed forms at a few updates)."""
    plot_schedules = load_benchmark_script("shapes/plot_schedules.py")

    budget, warmup = 1000, bench.warmup_steps(1000, 0.01)
    assert {"linear", "cosine", "wsd-1sqrt"} < set(plot_schedules.SCHEDULES)
    assert sum(n.startswith("uba-phi") for n in plot_schedules.SCHEDULES) >= 4
    for name in plot_schedules.SCHEDULES:
        lrs = bench.scheduler_lrs(name, budget, 1.0, 0.01)
        for s in (0, warmup, 500, 900, budget - 1):
            assert lrs[s] == pytest.approx(closed_form(name, s, budget, warmup), rel=1e-9, abs=1e-12), (name, s)
    monkeypatch.setattr("sys.argv", ["plot_schedules.py", "--out", str(tmp_path / "s.png")])
    assert plot_schedules.main() == 0
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


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
    # uba-default shares uba-phi1 (V2_DEFAULT_PHI == 1) and uba-phi2 shares cosine: 12 distinct schedules.
    distinct = {bench.spec_key(n, 100) for n in cfg.schedules}
    assert len(distinct) == len(cfg.schedules) - 2 == 12 and "uba-phi1-min10" in cfg.schedules
    assert len(cells) == len(distinct) * len(cfg.budgets) * len(cfg.lrs) * len(cfg.seeds)
    assert "uba-phi2" not in names and "cosine" in names and bench.AUTO in names
    assert cells[0][3] == cfg.seeds[0] and cells[-1][3] == cfg.seeds[-1]  # seeds outermost


@pytest.fixture(scope="module")
def quick_sweep(tmp_path_factory):
    """The harness's core on a handful of tiny cells, run twice into one results file, then its model page."""
    out = tmp_path_factory.mktemp("bench")
    old = os.environ.get("UBA_HF_CACHE")
    os.environ["UBA_HF_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    cfg, results = bench.quick_config(), out / "results.jsonl"
    try:
        bench.run_sweep(cfg, results)
        first = results.read_text()
        bench.run_sweep(cfg, results)
    finally:
        if old is None:
            os.environ.pop("UBA_HF_CACHE", None)
        else:
            os.environ["UBA_HF_CACHE"] = old
    records = bench.read_results(results)
    (out / "page.md").write_text(bench.render_model_page(cfg, records, command="`test`"))
    bench.plot_budget_sweep(cfg, records, out / "page.png")
    return out, first


@pytest.mark.slow
def test_quick_writes_valid_jsonl_and_tables(quick_sweep):
    out, _ = quick_sweep
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert records[0]["kind"] == "setup" and "transformers" in records[0]["environment"]
    runs = [r for r in records if r["kind"] == "run"]
    cfg = bench.quick_config()
    assert len(runs) == len(bench.planned_cells(cfg))
    for r in runs:
        assert math.isfinite(r["eval_loss"]) and r["global_step"] == r["budget"]
    assert {r["kind"] for r in records} == {"setup", "stats", "run"}
    md = (out / "page.md").read_text()
    for budget in cfg.budgets:
        assert f"## Budget {budget} updates" in md
    assert "| rank | schedule | best LR |" in md and "UBA-default (phi=1)" in md
    assert "Command:" in md and "Versions:" in md
    assert (out / "page.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_the_trainer_used_the_closed_form_lrs(quick_sweep):
    out, _ = quick_sweep
    runs = [r for r in bench.read_results(out / "results.jsonl") if r.get("kind") == "run"]
    checked = 0
    for r in runs:
        for s, lr in r["lr_samples"].items():
            want = r["lr"] * lr_of(r["schedule"], int(s), r["budget"], r["warmup_steps"], phi=r["phi"])
            assert lr == pytest.approx(want, rel=1e-9, abs=1e-12), (r["schedule"], s)
            checked += 1
    assert checked >= 3 * len(runs)


@pytest.mark.slow
def test_rerun_skips_finished_cells(quick_sweep, capsys):
    out, first = quick_sweep
    assert (out / "results.jsonl").read_text() == first  # the second run appended nothing
    # And a third, observed: nothing to run.
    assert bench.run_sweep(bench.quick_config(), out / "results.jsonl") == {
        "ran": 0,
        "skipped": len(bench.planned_cells(bench.quick_config())),
        "total": len(bench.planned_cells(bench.quick_config())),
    }


def test_the_sweep_command_runs_benchmark_v2_only(capsys):
    """v1's command-line paths are gone (its results are an archive under benchmarks/v1/), and the phi-factor
    study has its own command (benchmarks/phi_factors/run.py)."""
    for argv in ([], ["--quick"], ["--main-job"], ["--report-only"], ["--factors", "all"]):
        with pytest.raises(SystemExit) as exit_:
            bench.main(argv)
        assert exit_.value.code == 2, argv
    assert "the following arguments are required: --v2" in capsys.readouterr().err


def test_v1_archive_keeps_its_numbers():
    """benchmarks/v1/ holds v1's results and tables as data: the tables still state what the results files hold."""
    v1 = ROOT / "benchmarks" / "v1"
    for sub, cfg in (("", bench.SweepConfig()), ("main_job", bench.main_job_config())):
        records = bench.read_results(v1 / sub / "budget_sweep.jsonl")
        md = (v1 / sub / "budget_sweep.md").read_text()
        table = bench.summarize(cfg, records)
        for budget, row in table.items():
            best = min(row.values(), key=lambda b: b.mean)
            assert best.n == len(cfg.seeds) and f"{best.mean:.4f} ± {best.std:.4f}" in md, (sub, budget, best.name)


def test_a_results_file_of_another_setup_is_refused(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"kind": "setup", "setup": {"block_size": 1}}) + "\n")
    with pytest.raises(ValueError, match="another setup"):
        bench.run_sweep(bench.quick_config(), path)


def test_a_results_file_written_with_the_retired_probe_settings_resumes(tmp_path):
    """Files written while the uba-auto arms ran hold their probe settings in the setup line: the same sweep
    resumes them (nothing to rerun), while a file of another model is still refused."""
    cfg = bench.quick_config(schedules=["linear"], budgets=[10], lrs=[1e-3], seeds=[0])
    old = {**cfg.setup_key(), "auto_with_uba_trainer": True, "probe_batches": 1, "probe_lanczos_steps": 10}
    run = _run_record("linear", 10, 1e-3, 0, 5.0)
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [{"kind": "setup", "setup": old}, run]) + "\n")
    assert bench.run_sweep(cfg, path, log=lambda *_: None) == {"ran": 0, "skipped": 1, "total": 1}
    path.write_text(json.dumps({"kind": "setup", "setup": {**old, "block_size": 7}}) + "\n")
    with pytest.raises(ValueError, match="another setup"):
        bench.run_sweep(cfg, path, log=lambda *_: None)


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
    md = bench.render_model_page(cfg, recs)
    assert "Finished runs: **2 /" in md and "(partial)" in md
    assert "UBA-default (phi=1) beats the best baseline** (`cosine`" in md


def test_main_job_setup_matches_the_main_job_recipe():
    recipe = TINY_RECIPE
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
    md = bench.render_model_page(cfg, recs)
    # means 5.1 and 4.95: gap -0.15; spread hypot(0.1414, 0.0707) = 0.1581; paired gaps -0.1, -0.2
    want = "-0.1500 nats (within the seed spread, 0.1581; per-seed gaps -0.1000, -0.2000)"
    best = "best `uba-phi1-min10` (4.9500 ± 0.0707, LR 0.01)"
    assert f"- Same 10% floor as `cosine-min10`: {best} minus `cosine-min10`: {want}." in md
    assert f"best floored UBA minus `cosine-min10`, per budget: 400: `uba-phi1-min10` {want}." in md
    assert "Lowest loss of all schedules per budget: 400: `uba-phi1-min10`" in md


def test_report_best_fixed_phi_counts_uba_default_and_cosine():
    """v2 runs phi 1 and phi 2 only as UBA-default and cosine: the best fixed phi must weigh them too."""
    names = ["uba-default", "cosine", "uba-phi0.5", "uba-phi4", "linear"]
    cfg = bench.SweepConfig(schedules=names, budgets=[400], lrs=[0.01], seeds=[0])
    for best, losses in [("uba-default", (3.68, 3.70, 3.69, 3.69, 3.67)), ("cosine", (3.70, 3.60, 3.69, 3.69, 3.5))]:
        recs = [_run_record(n, 400, 0.01, 0, loss) for n, loss in zip(names, losses, strict=True)]
        md = bench.render_model_page(cfg, recs)
        assert f"- Best fixed phi: `{best}` ({min(losses[:4]):.4f}" in md, best


# --------------------------------------------------------------------------------------------------
# Benchmark v2 (issue 15)
# --------------------------------------------------------------------------------------------------


def test_v2_baselines_are_what_users_select():
    """Each v2 baseline is a stock Transformers schedule / optimizer, selected by name and kwargs."""
    assert bench.schedule_spec("linear", 100) == ("linear", {})
    assert bench.schedule_spec("wsd-1sqrt", 100) == (
        "warmup_stable_decay",
        {"num_decay_steps": 20, "decay_type": "1-sqrt", "min_lr_ratio": 0.0},
    )
    assert bench.schedule_spec("wsd-linear", 100)[1]["decay_type"] == "linear"
    assert bench.schedule_spec("cosine-min10", 100) == ("cosine_with_min_lr", {"min_lr_rate": 0.1})
    args = bench.training_arguments(bench.quick_config(), bench.SCHEDULE_FREE, 20, 1e-3, 0, "/tmp/unused")
    assert (args.optim, args.lr_scheduler_type, args.warmup_steps) == ("schedule_free_adamw", "constant", 2)
    assert set(bench.BASELINES_V2) == {"linear", "wsd-1sqrt", "wsd-linear", "cosine-min10", "cosine", "schedule-free"}
    # The phi x floor grid; phi 2 (with and without the floor) *is* cosine(-min10): one run, two names.
    names = bench.v2_schedule_names()
    for phi in (0.1, 0.25, 0.5, 1, 2):
        assert f"uba-phi{phi:g}" in names and f"uba-phi{phi:g}-min10" in names
    assert bench.spec_key("uba-phi2", 100) == bench.spec_key("cosine", 100)
    assert bench.spec_key(bench.SCHEDULE_FREE, 100) != bench.spec_key("constant", 100)
    # The phi grid can be extended downward by name; malformed names are refused.
    assert bench.SweepConfig(schedules=["uba-phi0.05", "uba-phi0.05-min10"]).schedules
    assert bench.schedule_spec("uba-phi0.05-min10", 100) == ("uba", {"phi": 0.05, "min_lr_ratio": 0.1})
    for bad in ("uba-phix", "uba-phi-1", "uba-phi0.50"):
        with pytest.raises(ValueError, match="Unknown schedule"):
            bench.SweepConfig(schedules=[bad])


def test_schedule_free_is_evaluated_at_its_averaged_weights(tmp_path):
    """Trainer.evaluate switches AdamWScheduleFree to eval mode: the reported loss is the loss at the averaged
    point x = (y - (1 - beta1) z) / beta1 (Defazio et al. 2024), not at the gradient point y it trains at."""
    from conftest import TokenDataset, tiny_olmo2
    from transformers import Trainer

    cfg = bench.quick_config(batch_size=8, adam_beta2=0.95)
    args = bench.training_arguments(cfg, bench.SCHEDULE_FREE, 12, 3e-2, 0, str(tmp_path))
    model = tiny_olmo2()
    evalset = TokenDataset(n=32, seed=1)
    trainer = Trainer(model=model, args=args, train_dataset=TokenDataset(n=64), eval_dataset=evalset)
    trainer.train()
    opt = trainer.optimizer
    beta1 = opt.param_groups[0]["betas"][0]
    opt.train()  # make sure the parameters hold y
    y = {n: p.detach().clone() for n, p in model.named_parameters()}
    z = {n: opt.state[p]["z"].detach().clone() for n, p in model.named_parameters()}
    reported = trainer.evaluate()["eval_loss"]
    assert not opt.param_groups[0]["train_mode"]

    def loss_at(weights):
        clone = tiny_olmo2()
        assert not clone.load_state_dict(weights, strict=False).unexpected_keys
        clone.eval()
        batch = torch.stack([evalset[i]["input_ids"] for i in range(len(evalset))])
        with torch.no_grad():
            return clone(input_ids=batch, labels=batch).loss.item()

    x = {n: (y[n] - (1 - beta1) * z[n]) / beta1 for n in y}
    assert reported == pytest.approx(loss_at(x), abs=1e-4)
    assert abs(reported - loss_at(y)) > 1e-3  # the two points differ: the check can fail


def _records(cells, stats=True):
    """Synthetic results: ``{(name, budget, lr): [loss per seed]}`` -> run lines (+ a stats line)."""
    recs = [
        _run_record(n, b, lr, seed, loss) for (n, b, lr), losses in cells.items() for seed, loss in enumerate(losses)
    ]
    if stats:
        recs.append({"kind": "stats", "non_embedding_params": 1000, "tokens_per_update": 100, "train_tokens": 20000})
    return recs


def test_grid_extends_only_at_an_edge_of_a_complete_grid():
    cfg = bench.SweepConfig(
        schedules=["linear", "cosine"], budgets=[100], lrs=[0.01, 0.02, 0.04, 0.08], seeds=[0, 1], extend_grid=True
    )
    # linear: best at the top edge (0.08) -> 0.16; cosine: best inside -> nothing.
    cells = {("linear", 100, lr): [5 - lr, 5 - lr] for lr in cfg.lrs}
    cells |= {("cosine", 100, lr): [5 + abs(lr - 0.02)] * 2 for lr in cfg.lrs}
    recs = _records(cells)
    assert bench.grid_extensions(cfg, recs) == [("linear", 100, 0.16, 0), ("linear", 100, 0.16, 1)]
    assert bench.edge_of(cfg, "linear", 100, recs) == "high" and bench.edge_of(cfg, "cosine", 100, recs) is None
    # Not decided on an incomplete grid (a seed missing at one LR).
    assert bench.grid_extensions(cfg, recs[1:]) == []
    # After the extension the grid includes 0.16; a best at the low edge extends downward; the cap holds.
    recs += [_run_record("linear", 100, 0.16, s, 6.0) for s in (0, 1)]
    assert bench.lr_grid(cfg, "linear", 100, recs) == [0.01, 0.02, 0.04, 0.08, 0.16]
    assert bench.grid_extensions(cfg, recs) == []
    low = _records({("cosine", 100, lr): [5 + lr] * 2 for lr in cfg.lrs})
    assert {c[2] for c in bench.grid_extensions(cfg, low)} == {0.005}
    capped = bench.SweepConfig(**{**cfg.__dict__, "max_grid_extensions": 0})
    assert bench.grid_extensions(capped, recs[:8]) == []


def test_v2_report_compares_the_default_with_the_three_strongest_baselines(tmp_path):
    cfg = bench.SweepConfig(
        schedules=["uba-default", "linear", "wsd-1sqrt", "cosine-min10", "schedule-free"],
        budgets=[100, 400],
        lrs=[0.01, 0.02],
        seeds=[0, 1],
    )
    losses = {"uba-default": (4.9, 5.0), "linear": (5.0, 5.2), "wsd-1sqrt": (4.95, 5.05), "cosine-min10": (5.3, 5.3)}
    losses["schedule-free"] = (5.4, 5.6)
    cells = {(n, 100, 0.02): list(v) for n, v in losses.items()}
    cells |= {(n, 100, 0.01): [x + 1 for x in v] for n, v in losses.items()}
    md = bench.render_v2({"sweep": ("toy", cfg, _records(cells))})
    # Budget 100: 10 tokens/param (100 x 100 / 1000), 0.5 epochs; uba 4.95 ± 0.0707 at LR 0.02 (top edge).
    uba = "4.9500 ± 0.0707 (n=2, LR 0.02, **grid edge**)"
    assert (
        f"| 100 | 10.00 | 0.500 | 20/20 | {uba} | `wsd-1sqrt` | 5.0000 ± 0.0707 (n=2, LR 0.02, **grid edge**) "
        "| -0.0500 | 0.1000 | 0: -0.0500, 1: -0.0500 |" in md
    )
    assert (
        "| `linear` | 5.1000 ± 0.1414 (n=2, LR 0.02, **grid edge**) | -0.1500 | 0.1581 | 0: -0.1000, 1: -0.2000 |" in md
    )
    table = md.split("### UBA-default")[1].split("Best LR still at a grid edge")[0]
    assert "`cosine-min10`" in table and "`schedule-free`" not in table  # the 3 strongest only
    assert "Best LR still at a grid edge (provisional; the sweep extends these): `uba-default` at 100 (LR 0.02)" in md
    assert "## toy (**partial: 20 / 40 cells finished**)" in md
    assert "| 400 | 40.00 | 2.000 | 0/20 (partial) | no runs yet |" in md
    # The verdict table: vs each of the four strongest, mean and per-seed paired gaps.
    verdict = "| UBA-default | 100 | 10.0 | -0.150 (-0.100, -0.200) | -0.350 (-0.400, -0.300) | -0.050 (-0.050, -0.050)"
    assert verdict in md
    # The rule's table names its pick per budget (10 and 40 tokens/param: phi 4 to zero, not run in this toy).
    rule = md.split("### UBA by the budget rule")[1].split("### UBA-default")[0]
    assert "| 100 | 10.00 | 0.500 | 20/20 | `uba-phi4`: no runs yet | n/a |" in rule
    cells[("uba-phi4", 100, 0.02)] = [4.8, 4.85]
    cells[("uba-phi4", 100, 0.01)] = [5.8, 5.85]
    with_phi4 = bench.SweepConfig(**{**cfg.__dict__, "schedules": [*cfg.schedules, "uba-phi4"]})
    rule = bench.render_v2({"sweep": ("toy", with_phi4, _records(cells))}).split("### UBA by the budget rule")[1]
    assert "| `uba-phi4`: 4.8250 ± 0.0354 (n=2, LR 0.02, **grid edge**) | `wsd-1sqrt` |" in rule
    assert "| -0.1750 | 0.0791 | 0: -0.1500, 1: -0.2000 |" in rule  # vs wsd-1sqrt (4.95, 5.05)
    bench.plot_gap_vs_tokens({"sweep": ("toy", cfg, _records(cells))}, tmp_path / "g.png")
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Mid-sweep a baseline may have fewer seeds than UBA: the plot still draws (bars around the paired mean).
    cells[("linear", 100, 0.02)], cells[("linear", 100, 0.01)] = [4.0], [6.0]
    bench.plot_gap_vs_tokens({"sweep": ("toy", with_phi4, _records(cells))}, tmp_path / "uneven.png")
    assert (tmp_path / "uneven.png").stat().st_size > 0


@pytest.mark.slow
def test_v2_quick_runs_end_to_end(tmp_path):
    """``--v2 quick``: v2 baselines incl. schedule-free with the closed-form LRs they used, grid extension
    at an edge, and the report."""
    assert bench.main(["--v2", "quick", "--out-dir", str(tmp_path)]) == 0
    from uba_bench.v2 import quick_v2_config

    cfg = quick_v2_config()
    runs = [r for r in bench.read_results(tmp_path / "results.jsonl") if r.get("kind") == "run"]
    assert len(runs) >= len(bench.planned_cells(cfg))
    assert {r["lr"] for r in runs} > set(cfg.lrs)  # the best sat at an edge: the grid was extended
    for r in runs:
        name = r["schedule"]
        if name == "uba-zero-area":  # UBATrainer's own pick, from the run's peak LR and budget, recorded
            z = r["zero_config"]
            assert z["learning_rate"] == r["lr"] and z["num_training_steps"] == r["budget"]
            pick = zero_config_schedule(r["budget"], r["lr"])
            assert (z["phi"], z["min_lr_ratio"], z["reason"]) == (pick["phi"], pick["min_lr_ratio"], pick["reason"])
            name = "uba-phi0" + ("-min10" if z["min_lr_ratio"] == 0.1 else "")  # phi is passed below
        for s, lr in r["lr_samples"].items():
            want = r["lr"] * lr_of(name, int(s), r["budget"], r["warmup_steps"], phi=r["phi"])
            assert lr == pytest.approx(want, rel=1e-9), (r["schedule"], s)
    md = (tmp_path / "report.md").read_text()
    assert "| 10 |" in md and "| 20 |" in md and "paired gaps" in md


def test_v2_report_flags_a_best_phi_at_an_edge_of_the_phi_grid():
    from uba_bench.report import phi_lines

    names = ["uba-default", "cosine", "uba-phi0.1", "uba-phi0.5", "uba-auto", "cosine-min10", "uba-phi0.1-min10"]
    cfg = bench.SweepConfig(schedules=names, budgets=[100], lrs=[0.01], seeds=[0])
    loss = {"uba-default": 5.0, "cosine": 5.2, "uba-phi0.1": 4.8, "uba-phi0.5": 4.9, "uba-auto": 4.95}
    loss |= {"cosine-min10": 4.7, "uba-phi0.1-min10": 4.75}
    lines = phi_lines(cfg, _records({(n, 100, 0.01): [v] for n, v in loss.items()}))
    assert lines == [
        "- 100 updates, floor 0: 0.1: 4.8000 (n=1), 0.5: 4.9000 (n=1), 1: 5.0000 (n=1), 2: 5.2000 (n=1); best phi "
        "**0.1** (**low edge of the phi grid: extend it downward**); minus the best baseline `cosine-min10`: "
        "+0.1000 (paired: +0.1000); `uba-auto` 4.9500 (+0.1500 vs the best fixed phi).",
        "- 100 updates, floor 0.1: 0.1: 4.7500 (n=1), 2: 4.7000 (n=1); best phi **2** (**high edge of the phi "
        "grid: extend it upward**).",
    ]


def test_v2_report_ranks_every_schedule_by_its_worst_gap_across_both_models():
    """The across-models table: each regime's best among schedules with every seed; paired gaps to it; the
    worst over the regimes a schedule has every seed in; the budget rule as a row of its picks."""
    from uba_bench.report import across_regimes, across_regimes_table

    cfg = bench.SweepConfig(schedules=["linear", "uba-phi0.1", "uba-phi4"], budgets=[100], lrs=[0.01], seeds=[0, 1])
    a = {"linear": [5.0, 5.2], "uba-phi0.1": [5.1, 5.3], "uba-phi4": [4.9, 5.1]}
    b = {"linear": [4.0, 4.2], "uba-phi0.1": [3.8, 3.9], "uba-phi4": [3.5]}  # phi 4: one seed, not b's best
    groups = {
        g: (g, cfg, _records({(n, 100, 0.01): v for n, v in losses.items()})) for g, losses in {"a": a, "b": b}.items()
    }
    found = across_regimes(groups)
    assert [r["best"].name for r in found["regimes"]] == ["uba-phi4", "uba-phi0.1"]
    worst = {r["name"]: (None if r["worst"] is None else round(r["worst"], 6), r["complete"]) for r in found["rows"]}
    # 10 tokens/param (100 updates x 100 tokens / 1000): the rule picks phi 4 to zero.
    assert worst == {"uba-phi0.1": (0.2, 2), "linear": (0.25, 2), "uba-phi4": (0.0, 1), "uba-rule": (0.0, 1)}
    assert [r["name"] for r in found["rows"]] == ["uba-phi0.1", "linear", "uba-phi4", "uba-rule"]
    table = across_regimes_table(groups)
    assert table[0] == "| schedule | a 10 t/p | b 10 t/p | worst (regimes with every seed) |"
    assert table[2] == "| best of the regime | `uba-phi4` 5.0000 | `uba-phi0.1` 3.8500 | |"
    assert "| `uba-phi4` | +0.000 | -0.300 (1 seed) | +0.000 (1 of 2) |" in table
