"""Benchmark v2's plan and runner (issue 15): the committed setups meet the issue (budgets, tokens/param,
grids, seeds, order, the budget rule's pick in every regime), and their results files resume, import v1's
runs and come out the same with two workers."""

from __future__ import annotations

import json

import pytest
import uba_bench as bench


def test_v2_plan_meets_the_issue():
    """Budgets, tokens/param, grids, seeds and cell order of the committed v2 plan."""
    from uba_bench import v2

    sweep = v2.group_config("sweep")
    data = bench.SweepData(None, None, sweep.vocab_size, 0, 0)
    nonemb = {"sweep": 131_648, "main-job": 1_050_752}  # measured here (benchmarks/v2/README.md)
    model = bench.make_model(sweep, data, 0)
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight.numel() + model.get_output_embeddings().weight.numel()
    assert total - emb == nonemb["sweep"]
    top, low = max(sweep.budgets), min(sweep.budgets)
    assert top / low >= 16 and top * sweep.block_size * sweep.batch_size / nonemb["sweep"] >= 20
    assert sweep.train_docs is None
    main = v2.group_config("main-job")
    assert max(main.budgets) / min(main.budgets) >= 4
    for s in v2.SETUPS:
        cfg = s.config()
        assert len(cfg.seeds) >= 3 and cfg.extend_grid
        assert all(len(cfg.lrs_for(n, b)) >= 4 for n in cfg.schedules for b in cfg.budgets)
        cells = bench.planned_cells(cfg)
        order = [(c[3], cfg.budgets.index(c[1])) for c in cells]
        assert order == sorted(order)  # seed-major, then budget: all schedules of a budget before the next
    assert set(v2.CORE) >= {"uba-default", "linear", "wsd-1sqrt", "cosine-min10", "schedule-free"}
    covered = {n for s in v2.SETUPS if s.group == "sweep" for n in s.config().schedules}
    distinct = {bench.spec_key(n, 100) for n in bench.v2_schedule_names()}
    assert {bench.spec_key(n, 100) for n in covered} == distinct
    # The cheap budgets first, the grid that decides the default before the core comparison.
    names = [s.name for s in v2.SETUPS]
    assert names.index("sweep-grid") < names.index("sweep-core") < names.index("sweep-core-top")
    assert names.index("sweep-core") < names.index("sweep-candidates-top") < names.index("sweep-core-top")
    assert names.index("sweep-core-top") < names.index("sweep-phi-top") < names.index("sweep-grid-top")
    # The main job's model: its core, then the phi grid extended downward, then floored small phis; all of
    # them before the rest of the grid at 20 tokens/param.
    main = [f"main-job-{s}" for s in ("core", "low-phi", "lower-phi", "lowest-phi", "floored-low-phi")]
    assert [n for n in names if n.startswith("main-job")] == main
    assert names.index(main[-1]) < names.index("sweep-grid-top")
    top_setups = ("sweep-candidates-top", "sweep-phi-top", "sweep-grid-top")
    top_grid = [n for s in top_setups for n in v2.SETUP_BY_NAME[s].config().schedules]
    assert sorted(top_grid) == sorted(v2.GRID)  # the grid at 5200 is split in three, nothing lost or run twice
    budgets = {s.name: s.config().budgets for s in v2.SETUPS if s.group == "sweep"}
    assert max(budgets["sweep-core"]) < min(budgets["sweep-core-top"]) == max(sweep.budgets)


def test_a_models_report_plans_exactly_the_cells_its_setups_run():
    """The merged config a model's report reads (``group_config``) plans the union of its setups' cells, no
    more: main-job-lowest-phi runs its phis at 100 updates only, so the report must not count them missing at
    400 (it said "partial: 381 / 405" for a finished benchmark) nor take them as that budget's phi-grid edge."""
    from uba_bench import v2

    for group in v2.GROUPS:
        merged = bench.planned_cells(v2.group_config(group))
        union = {c for s in v2.SETUPS if s.group == group for c in bench.planned_cells(s.config())}
        assert len(merged) == len(set(merged)) and set(merged) == union, group
    main = v2.group_config("main-job")
    assert "uba-phi0.005" in main.schedules_at(100) and "uba-phi0.005" not in main.schedules_at(400)
    assert "uba-default" in main.schedules_at(400)
    with pytest.raises(ValueError, match=r"budgets_by_schedule\['linear'\].*subset of `budgets`"):
        bench.quick_config(budgets_by_schedule={"linear": [999]}, schedules=["linear"])


def test_v2_runs_the_budget_rules_pick_at_every_budget():
    """The report's main subject (the budget rule at each budget's tokens/param) is run in every regime."""
    from uba_bench import v2

    non_embedding = {"sweep": 131_648, "main-job": 1_050_752}  # the models' stats lines (benchmarks/v2/README.md)
    for group in v2.GROUPS:
        setups = [s.config() for s in v2.SETUPS if s.group == group]
        run = {(bench.spec_key(n, b), b) for c in setups for n, b, _, _ in bench.planned_cells(c)}
        for budget in v2.group_config(group).budgets:
            cfg = setups[0]
            pick = v2.budget_rule(budget * cfg.block_size * cfg.batch_size / non_embedding[group])
            name = bench.uba_name(pick["phi"], pick["min_lr_ratio"])
            assert (bench.spec_key(name, budget), budget) in run, (group, budget, name)


def test_v2_results_resume_without_rerunning(tmp_path):
    """A v2 setup killed mid-write resumes: finished cells are kept, the torn line is ignored, the missing
    cell reruns and reproduces the same loss (deterministic per seed)."""
    cfg = bench.quick_config(
        schedules=[bench.SCHEDULE_FREE, "wsd-1sqrt"], budgets=[10], lrs=[1e-3], seeds=[0], extend_grid=True
    )
    path = tmp_path / "results.jsonl"
    counts = bench.run_sweep(cfg, path, log=lambda *_: None)
    assert counts["ran"] == 2
    lines = path.read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["setup", "stats", "run", "run"]
    path.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])  # the last run torn mid-line
    assert bench.run_sweep(cfg, path, log=lambda *_: None)["ran"] == 1
    runs = [r for r in bench.read_results(path) if r.get("kind") == "run"]
    assert len(runs) == 2 and runs[1]["eval_loss"] == json.loads(lines[3])["eval_loss"]
    assert bench.run_sweep(cfg, path, log=lambda *_: None)["ran"] == 0


def test_v2_imports_v1_runs_that_differ_only_in_the_probe(tmp_path, monkeypatch):
    """v1's main-job runs (probed with more HVPs than v2's defaults) are imported into main-job-core, auto
    runs excepted, under v2's header: the sweep resumes from that file instead of refusing or rerunning."""
    from uba_bench import v2

    setup = v2.SETUP_BY_NAME["main-job-core"]
    cfg = setup.config()
    v1_setup = {**cfg.setup_key(), "probe_batches": 2, "probe_batch_size": 8, "probe_lanczos_steps": 20}
    v1_setup["probe_num_probes"] = 3
    name, budget, lr, seed = next(c for c in bench.planned_cells(cfg) if c[0] == "cosine-min10" and c[1] == 400)
    run = {"kind": "run", "spec": bench.spec_key(name, budget), "budget": budget, "lr": lr, "seed": seed}
    other = {**run, "spec": bench.spec_key("cosine-min10", budget), "lr": 123.0}  # a cell v2 does not plan
    auto = {**run, "spec": bench.spec_key(bench.AUTO, budget)}
    src = tmp_path / "v1.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in [{"kind": "setup", "setup": v1_setup}, run, other, auto]) + "\n")
    monkeypatch.setitem(v2.IMPORTS, setup.name, src)

    assert v2.import_v1_runs(setup, root=tmp_path) == 1
    records = bench.read_results(setup.results(tmp_path))
    assert records[0]["setup"] == cfg.setup_key() and records[0]["imported_setup"] == v1_setup
    assert [r["spec"] for r in records[1:]] == [run["spec"]] and records[1]["imported_from"] == str(src)
    assert v2.import_v1_runs(setup, root=tmp_path) == 0  # never twice into a started file

    other_model = {**v1_setup, "block_size": v1_setup["block_size"] * 2}
    src.write_text("\n".join(json.dumps(r) for r in [{"kind": "setup", "setup": other_model}, run]) + "\n")
    assert v2.import_v1_runs(setup, root=tmp_path / "other") == 0


@pytest.mark.slow  # two worker processes, ~40 s on 2 busy cores
def test_two_workers_reproduce_one_worker(tmp_path):
    """``--workers 2`` trains cells in two processes: the same cells, each with exactly the loss one worker
    gets (a cell depends only on its seed), every record written once, by one writer."""
    cfg = bench.quick_config(schedules=["uba-default", "wsd-1sqrt"], budgets=[10], lrs=[1e-3], seeds=[0, 1])
    losses = {}
    for workers in (1, 2):
        path = tmp_path / f"workers{workers}.jsonl"
        assert bench.run_sweep(cfg, path, log=lambda *_: None, workers=workers)["ran"] == 4
        runs = [r for r in bench.read_results(path) if r.get("kind") == "run"]
        assert len(path.read_text().splitlines()) == 2 + len(runs)  # setup, stats, one line per run
        losses[workers] = {bench.cell_key(r["spec"], r["budget"], r["lr"], r["seed"]): r["eval_loss"] for r in runs}
    assert len(losses[1]) == 4 and losses[2] == losses[1]


def test_every_committed_results_file_belongs_to_its_setup():
    """v2's and the phi-factor study's results files resume under today's configs (the retired probe settings in
    their setup lines aside), so neither a rerun nor a report mixes two setups."""
    from conftest import ROOT
    from phi_factors import plan
    from uba_bench import v2

    checked = 0
    for setups, root in ((v2.SETUPS, ROOT / "benchmarks" / "v2"), (plan.SETUPS, plan.FACTORS_DIR)):
        for s in setups:
            header = next((r for r in bench.read_results(ROOT / s.results(root)) if r.get("kind") == "setup"), None)
            if header is not None:
                assert s.config().same_setup(header["setup"]), s.name
                checked += 1
    assert checked >= len(v2.SETUPS) + 30
