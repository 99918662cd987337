"""Stock Trainer and UBATrainer on a tiny OLMo-2: LR at every optimizer update vs the closed form."""

from __future__ import annotations

import json
import logging
import os
import re

import pytest
from conftest import LRRecorder, TokenDataset, closed_form, tiny_olmo2, tiny_training_args, train_tiny
from transformers import Trainer, TrainingArguments
from transformers.trainer_utils import SchedulerType

from uba_hf import UBAArguments, UBATrainer, zero_config_schedule
from uba_hf.checkpoints import SCHEDULE_RECORD_NAME

LR = 1e-2


def make_args(tmp_path, **overrides) -> TrainingArguments:
    return tiny_training_args(tmp_path / "out", **overrides)


train = train_tiny


def expected(N, W, phi, r, steps=None):
    return [LR * closed_form(s, W, N, phi, r) for s in (steps if steps is not None else range(N))]


def test_stock_trainer_with_training_arguments_runs_uba(tmp_path):
    args = make_args(tmp_path, lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": 1.0, "min_lr_ratio": 0.1})
    trainer, rec, losses = train(Trainer, args)
    assert rec.steps == list(range(12))
    assert rec.lrs == pytest.approx(expected(12, 3, 1.0, 0.1), rel=1e-12)
    assert trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(LR * 0.1)


@pytest.mark.parametrize("accum,warmup,W", [(1, 3, 3), (3, 3, 3), (2, 0.25, 3)])
def test_uba_trainer_lr_every_update_with_accumulation_and_warmup_ratio(tmp_path, accum, warmup, W):
    args = make_args(tmp_path, gradient_accumulation_steps=accum, warmup_steps=warmup)
    trainer, rec, _ = train(UBATrainer, args, uba_args=UBAArguments(phi="0.5", min_lr_ratio=0.05))
    assert trainer.args.lr_scheduler_type is SchedulerType.UBA
    assert trainer.state.global_step == 12
    assert rec.lrs == pytest.approx(expected(12, W, 0.5, 0.05), rel=1e-12)  # 12 updates, not 12 * accum


def zero_config_for(budget: int, lr: float = LR) -> dict:
    """What UBATrainer picks with no phi given, at ``budget`` updates of peak LR ``lr`` (the tests' 1e-2)."""
    return zero_config_schedule(budget, lr)


def test_zero_config_reads_the_optimizers_peak_lr_the_largest_of_its_param_groups(tmp_path):
    """A user's optimizer with two LRs: the choice comes from the larger (3.0 x 12 updates = LR area 36: phi 1, where
    the Trainer's 1e-2 alone would give a late decay), and each group follows it from its own peak."""
    import torch

    model = tiny_olmo2()
    head = list(model.model.norm.parameters())
    rest = [p for p in model.parameters() if all(p is not h for h in head)]
    optimizer = torch.optim.AdamW([{"params": rest, "lr": LR}, {"params": head, "lr": 3.0}])
    recorder = LRRecorder()
    trainer = UBATrainer(
        model=model,
        args=make_args(tmp_path),
        train_dataset=TokenDataset(),
        callbacks=[recorder],
        optimizers=(optimizer, None),
    )
    trainer.train()
    pick = zero_config_schedule(12, 3.0)
    assert (pick["phi"], pick["min_lr_ratio"]) == (1.0, 0.1) and zero_config_for(12)["phi"] == 0.01
    assert trainer.zero_config == {**pick, "learning_rate": 3.0, "num_training_steps": 12}
    assert recorder.lrs == pytest.approx(expected(12, 3, 1.0, 0.1), rel=1e-12)  # group 0, from its own 1e-2
    assert trainer.lr_scheduler.get_last_lr()[1] == pytest.approx(3.0 * closed_form(12, 3, 12, 1.0, 0.1), rel=1e-12)


def test_uba_trainer_budget_from_epochs_like_trainer(tmp_path):
    # 64 examples / batch 4 / accumulation 2 = 8 updates per epoch; 1.5 epochs -> ceil(12) = 12 updates.
    args = make_args(tmp_path, max_steps=-1, num_train_epochs=1.5, gradient_accumulation_steps=2, warmup_steps=0)
    trainer, rec, _ = train(UBATrainer, args)
    assert trainer.state.max_steps == 12
    pick = zero_config_for(12)  # chosen for the budget the Trainer derived
    assert rec.lrs == pytest.approx(expected(12, 0, pick["phi"], pick["min_lr_ratio"]), rel=1e-12)


def test_uba_trainer_logs_phi_and_budget_once(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        train(UBATrainer, make_args(tmp_path, max_steps=4, warmup_steps=1))
    lines = [r.getMessage() for r in caplog.records if r.name == "uba_hf" and "UBA " in r.getMessage()]
    pick = zero_config_for(4)
    assert lines == [
        f"UBA zero-config: phi={pick['phi']:g}, min_lr_ratio={pick['min_lr_ratio']:g}, from {pick['reason']}",
        f"UBA schedule: phi={pick['phi']}, budget=4 optimizer updates (warmup 1, decay 3), "
        f"min_lr_ratio={pick['min_lr_ratio']}",
    ]


def test_uba_trainer_honours_an_explicit_other_schedule(tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="uba_hf"):
        trainer, rec, _ = train(UBATrainer, make_args(tmp_path, lr_scheduler_type="cosine"))
    assert not trainer.uses_uba and trainer.args.lr_scheduler_type is SchedulerType.COSINE
    assert rec.lrs == pytest.approx(expected(12, 3, 2.0, 0.0), rel=1e-12)  # cosine == UBA at phi=2
    assert "chosen explicitly" in caplog.text


def test_uba_trainer_reads_lr_scheduler_kwargs_and_rejects_conflicts(tmp_path):
    args = make_args(tmp_path, lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": 4.0})
    trainer, rec, _ = train(UBATrainer, args)
    floor = zero_config_for(12)["min_lr_ratio"]
    assert trainer.uba_kwargs == {"phi": 4.0, "min_lr_ratio": floor}  # a phi given: the zero-config floor
    assert rec.lrs == pytest.approx(expected(12, 3, 4.0, floor), rel=1e-12)
    args = make_args(tmp_path, lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": 4.0})
    with pytest.raises(ValueError, match=r"`phi` is given twice.*4\.0.*0\.5"):
        UBATrainer(model=tiny_olmo2(), args=args, uba_args=UBAArguments(phi="0.5"))
    args = make_args(tmp_path, lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": -1})
    with pytest.raises(ValueError, match="`phi`"):
        UBATrainer(model=tiny_olmo2(), args=args)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"phi": "0"}, "`phi`"),
        ({"phi": "nan"}, "`phi`"),
        ({"phi": "fast"}, "`phi`.*'auto'"),
        ({"min_lr_ratio": 1.5}, r"`min_lr_ratio`.*\[0, 1\)"),
    ],
)
def test_uba_arguments_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        UBAArguments(**kwargs)


def test_phi_and_the_floor_are_parsed_once_where_they_enter_into_a_float_or_none():
    """Text and numbers become floats at the entry (``UBAArguments``, ``lr_scheduler_kwargs``); ``"auto"`` is not
    given, so it neither conflicts with a phi given elsewhere nor enters the run identity."""
    from uba_hf.arguments import check_uba_kwargs, resolve_uba_kwargs
    from uba_hf.checkpoints import identity_differences, run_identity

    assert (UBAArguments(phi="auto").phi, UBAArguments(phi=" 2 ", min_lr_ratio=0).min_lr_ratio) == (None, 0.0)
    assert UBAArguments(phi="2").phi == 2.0 and UBAArguments(phi="AUTO").to_scheduler_kwargs() == {}
    parsed = check_uba_kwargs({"phi": "0.5", "min_lr_ratio": "0.1", "rebudget": False})
    assert parsed == {"phi": 0.5, "min_lr_ratio": 0.1} and all(type(v) is float for v in parsed.values())
    assert check_uba_kwargs({"phi": "auto", "min_lr_ratio": None}) == {}
    assert resolve_uba_kwargs({"phi": "auto"}, UBAArguments(phi="0.5")) == {"phi": 0.5}
    with pytest.raises(ValueError, match="`min_lr_ratio` must be a number in \\[0, 1\\).*'ten'"):
        check_uba_kwargs({"min_lr_ratio": "ten"})
    # A checkpoint of a run given phi="auto" (recorded as the string by 0.4.0) is part of a run that gives none.
    recorded = run_identity("uba", 1e-3, 0, {"phi": "auto"})
    assert identity_differences(recorded, run_identity("uba", 1e-3, 0, resolve_uba_kwargs({"phi": "auto"}, None))) == []


def test_streaming_dataset_without_max_steps_is_a_clear_error(tmp_path):
    import torch

    class Stream(torch.utils.data.IterableDataset):
        def __iter__(self):
            yield from TokenDataset()

    with pytest.raises(ValueError, match="max_steps"):
        UBATrainer(model=tiny_olmo2(), args=make_args(tmp_path, max_steps=-1), train_dataset=Stream())


def test_resume_gives_identical_lr_and_loss_curve(tmp_path):
    full_args = make_args(tmp_path / "full", save_strategy="steps", save_steps=5)
    _, full_rec, full_losses = train(UBATrainer, full_args)
    ckpt = tmp_path / "full" / "out" / "checkpoint-5"
    record = json.loads((ckpt / SCHEDULE_RECORD_NAME).read_text())
    pick = zero_config_for(12)
    assert record == {
        "lr_scheduler_type": "uba",
        "min_lr_ratio": pick["min_lr_ratio"],
        "num_training_steps": 12,
        "num_warmup_steps": 3,
        "phi": pick["phi"],
        "zero_config": {**pick, "learning_rate": LR, "num_training_steps": 12},
    }
    resumed_args = make_args(tmp_path / "full", save_strategy="steps", save_steps=5)
    trainer, rec, losses = train(UBATrainer, resumed_args, resume=str(ckpt))
    assert trainer.state.global_step == 12
    assert rec.steps == list(range(5, 12))
    assert rec.lrs == full_rec.lrs[5:]  # exactly, not approximately
    assert rec.lrs == pytest.approx(expected(12, 3, pick["phi"], pick["min_lr_ratio"], range(5, 12)), rel=1e-12)
    assert sorted(losses) == list(range(1, 13))
    assert [losses[s] for s in range(6, 13)] == pytest.approx([full_losses[s] for s in range(6, 13)], rel=1e-5)


def test_stock_trainer_resume_with_another_budget_is_refused_and_same_budget_is_exact(tmp_path):
    kwargs = dict(lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": 1.0}, save_strategy="steps", save_steps=5)
    _, full_rec, _ = train(Trainer, make_args(tmp_path, **kwargs))
    ckpt = os.path.join(tmp_path, "out", "checkpoint-5")
    for max_steps in (20, 8):  # longer and shorter: the LR would jump up or down mid-decay
        with pytest.raises(ValueError, match=rf"num_training_steps: checkpoint 12 vs now {max_steps}"):
            train(Trainer, make_args(tmp_path, max_steps=max_steps, **kwargs), resume=ckpt)
    _, rec, _ = train(Trainer, make_args(tmp_path, **kwargs), resume=ckpt)
    assert rec.lrs == full_rec.lrs[5:]


def test_resume_with_another_budget_is_refused_naming_both(tmp_path):
    args = make_args(tmp_path, save_strategy="steps", save_steps=5)
    train(UBATrainer, args)
    ckpt = os.path.join(args.output_dir, "checkpoint-5")
    with pytest.raises(ValueError, match=r"num_training_steps: checkpoint 12 vs now 20"):
        train(UBATrainer, make_args(tmp_path, max_steps=20, save_strategy="steps", save_steps=5), resume=ckpt)
    with pytest.raises(ValueError, match=rf"phi: checkpoint {zero_config_for(12)['phi']} vs now 3.0"):
        train(
            UBATrainer,
            make_args(tmp_path, save_strategy="steps", save_steps=5),
            resume=ckpt,
            uba_args=UBAArguments(phi="3"),
        )


@pytest.mark.parametrize("given", [{}, {"phi": "auto"}], ids=["nothing", "auto"])
def test_zero_config_picks_logs_records_and_is_reused_on_resume(tmp_path, caplog, given):
    """No phi (or phi="auto"): phi and the floor from the run's LR area (peak LR x updates), one log line with the
    reason, the choice in every checkpoint; a resume takes the checkpoint's values and says so."""
    args = make_args(tmp_path, save_strategy="steps", save_steps=5)
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        trainer, rec, _ = train(UBATrainer, args, uba_args=UBAArguments(**given))
    pick = zero_config_for(12)
    assert trainer.uba_kwargs == {"phi": pick["phi"], "min_lr_ratio": pick["min_lr_ratio"]}
    assert trainer.zero_config["reason"] == pick["reason"] and caplog.text.count("UBA zero-config: ") == 1
    assert rec.lrs == pytest.approx(expected(12, 3, pick["phi"], pick["min_lr_ratio"]), rel=1e-12)
    record = json.loads((tmp_path / "out" / "checkpoint-5" / SCHEDULE_RECORD_NAME).read_text())
    assert (record["phi"], record["min_lr_ratio"], record["zero_config"]) == (
        pick["phi"],
        pick["min_lr_ratio"],
        trainer.zero_config,
    )

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        resumed, rec2, _ = train(
            UBATrainer,
            make_args(tmp_path, save_strategy="steps", save_steps=5),
            resume=str(tmp_path / "out" / "checkpoint-5"),
            uba_args=UBAArguments(**given),
        )
    assert "UBA zero-config" not in caplog.text and f"resuming with phi={pick['phi']}" in caplog.text
    assert resumed.zero_config == trainer.zero_config and rec2.lrs == rec.lrs[5:]


def test_zero_config_keeps_a_floor_given_and_a_phi_given_is_not_replaced(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        trainer, rec, _ = train(UBATrainer, make_args(tmp_path / "a"), uba_args=UBAArguments(min_lr_ratio=0.0))
    pick = zero_config_for(12)
    assert trainer.uba_kwargs == {"phi": pick["phi"], "min_lr_ratio": 0.0}
    assert f"min_lr_ratio=0 (as given), from {pick['reason']}" in caplog.text
    assert rec.lrs == pytest.approx(expected(12, 3, pick["phi"], 0.0), rel=1e-12)
    trainer, _, _ = train(UBATrainer, make_args(tmp_path / "b"), uba_args=UBAArguments(phi="3"))
    assert trainer.zero_config is None and trainer.uba_kwargs == {"phi": 3.0, "min_lr_ratio": pick["min_lr_ratio"]}


@pytest.mark.parametrize("kwargs", [None, {"phi": "auto"}])
@pytest.mark.parametrize("lr", [LR, 3.0])  # LR areas 0.12 (a late decay) and 36 (phi 1)
def test_the_stock_trainer_without_phi_runs_the_zero_config_choice_as_uba_trainer_does(tmp_path, kwargs, lr):
    """One automatic answer: the stock path knows the budget and the optimizer's LR, and picks what UBATrainer
    picks, so the stock Trainer's LRs are UBATrainer's at every update."""
    pick = zero_config_for(12, lr)
    stock_args = make_args(tmp_path / "stock", learning_rate=lr, lr_scheduler_type="uba", lr_scheduler_kwargs=kwargs)
    _, stock, _ = train(Trainer, stock_args)
    trainer, uba, _ = train(UBATrainer, make_args(tmp_path / "uba", learning_rate=lr))
    assert trainer.zero_config["phi"] == pick["phi"] and stock.lrs == uba.lrs
    want = [lr * closed_form(s, 3, 12, pick["phi"], pick["min_lr_ratio"]) for s in range(12)]
    assert stock.lrs == pytest.approx(want, rel=1e-12)


def _documented_step_convention() -> tuple[dict, list[list[str]]]:
    """The example of docs/schedule.md, "Which LR each update uses": its parameters and its table rows."""
    from conftest import ROOT

    text = (ROOT / "docs" / "schedule.md").read_text()
    section = text.split("## Which LR each update uses")[1].split("\n## ")[0]
    params = re.search(r"\(`(warmup_steps=.*?)`\)", section).group(1)
    settings = {key: float(value) for key, value in (item.split("=") for item in params.split(", "))}
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in section.splitlines()]
    return settings, [row for row in rows if len(row) == 4 and row[1].isdigit()]


def test_logged_lr_follows_the_documented_step_convention(tmp_path):
    """The LR logged at step k is the one update k used, the schedule at scheduler step k - 1: the first update
    runs at 0, and the floor is only the LR after the last update (docs/schedule.md)."""
    settings, rows = _documented_step_convention()
    W, N, peak = int(settings["warmup_steps"]), int(settings["max_steps"]), settings["learning_rate"]
    args = make_args(tmp_path, warmup_steps=W, max_steps=N, learning_rate=peak)
    uba = UBAArguments(phi=settings["phi"], min_lr_ratio=settings["min_lr_ratio"])
    trainer, rec, _ = train(UBATrainer, args, uba_args=uba)
    logged = {h["step"]: h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h}
    assert len(rows) == N + 1 and sorted(logged) == list(range(1, N + 1))
    for step, s, multiplier, lr in rows:
        s = int(s)
        lr = float(lr.split()[0])
        assert float(multiplier) == pytest.approx(
            closed_form(s, W, N, settings["phi"], settings["min_lr_ratio"]), abs=5e-7
        )
        if step.isdigit():
            assert int(step) - 1 == s
            assert logged[int(step)] == rec.lrs[s] == pytest.approx(lr, abs=5e-9)  # logged = used by update `step`
        else:  # "after the budget": the floor, reached by no update within it
            assert s == N and trainer.lr_scheduler.get_last_lr()[0] == pytest.approx(lr, rel=1e-12)
            assert min(rec.lrs[W:]) > lr
    assert rec.lrs[0] == 0.0


def test_uba_trainer_with_tensorboard_writes_only_under_output_dir(tmp_path, monkeypatch):
    """An evaluation before training is logged too, and lands under output_dir, not in ./runs."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TENSORBOARD_LOGGING_DIR", raising=False)
    args = make_args(tmp_path, report_to=["tensorboard"], max_steps=4, warmup_steps=1)
    trainer = UBATrainer(model=tiny_olmo2(), args=args, train_dataset=TokenDataset(), eval_dataset=TokenDataset(8))
    trainer.evaluate()
    trainer.train()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # nothing in the current directory
    (folder,) = (tmp_path / "out" / "runs").iterdir()
    events = EventAccumulator(str(folder))
    events.Reload()
    assert [e.step for e in events.Scalars("eval/loss")] == [0]
    assert [e.step for e in events.Scalars("train/learning_rate")] == [1, 2, 3, 4]
