"""Re-budgeting a live run (docs/schedule.md, "Re-budgeting"): the scheduler itself, then UBATrainer and
the stock Trainer. Every LR after a re-budget is checked against the segment's closed form
(tests/conftest.py::segment_closed_form), the join against the old curve's own steps."""

from __future__ import annotations

import io
import json
import logging
import pickle
from functools import partial

import pytest
import torch
from conftest import (
    TokenDataset,
    closed_form,
    segment_closed_form,
    tiny_olmo2,
    tiny_training_args,
    train_tiny,
)
from transformers import Trainer, TrainerCallback, TrainingArguments

from uba_hf import UBAArguments, UBAConfigError, UBATrainer, get_uba_schedule_with_warmup, uba_lr_lambda
from uba_hf.callbacks import ResumeLogCallback
from uba_hf.checkpoints import SCHEDULE_RECORD_NAME

# ------------------------------------------------------------------------------------------ scheduler


def new_pair(W, N, phi, r, opt_state=None, rebudget=False):
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    sched = get_uba_schedule_with_warmup(opt, W, N, phi=phi, min_lr_ratio=r, rebudget=rebudget)
    if opt_state is not None:  # after the scheduler is built, as the Trainer restores a checkpoint
        opt.load_state_dict(opt_state)
    return opt, sched


def used_lrs(opt, sched, n):
    """The LR the next ``n`` updates use (read before each step, as the Trainer's optimizer sees it)."""
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def resume(opt, sched, W, N, phi, r, rebudget):
    """A kill/resume: fresh optimizer and scheduler, optimizer state then scheduler state (the Trainer's order)."""
    state = torch.load(io.BytesIO(_saved(sched)), weights_only=True)  # as scheduler.pt is read back
    new_opt, new_sched = new_pair(W, N, phi, r, opt_state=opt.state_dict(), rebudget=rebudget)
    new_sched.load_state_dict(state)
    return new_opt, new_sched


def _saved(sched) -> bytes:
    buffer = io.BytesIO()
    torch.save(sched.state_dict(), buffer)
    return buffer.getvalue()


def largest_decay_step(curve, W):
    return max(abs(a - b) for a, b in zip(curve[W:], curve[W + 1 :], strict=False))


@pytest.mark.parametrize("phi", [0.5, 1.0, 2.0, 4.0])
@pytest.mark.parametrize("r", [0.0, 0.1])
@pytest.mark.parametrize("new_budget", [40, 13, 9], ids=["longer", "shorter", "next-update"])
def test_rebudget_continues_without_a_jump_on_the_segment_closed_form(phi, r, new_budget):
    W, N, k = 2, 20, 8
    old_curve = [closed_form(s, W, N, phi, r) for s in range(N + 1)]
    opt, sched = new_pair(W, N, phi, r)
    assert used_lrs(opt, sched, k) == pytest.approx(old_curve[:k], rel=1e-12)
    # The new budget's own (ratio) warmup differs from the run's: the run keeps its warmup.
    opt, sched = resume(opt, sched, W=new_budget // 10, N=new_budget, phi=phi, r=r, rebudget=True)
    after = used_lrs(opt, sched, new_budget + 5 - k)
    # The join: update k uses the LR the old plan had scheduled for it (exactly), one step of the old curve.
    uninterrupted = used_lrs(*new_pair(W, N, phi, r), N + 1)
    assert after[0] == uninterrupted[k] == pytest.approx(old_curve[k], rel=1e-12)
    assert abs(after[0] - old_curve[k - 1]) <= largest_decay_step(old_curve, W)
    assert all(a >= b for a, b in zip(after, after[1:], strict=False))  # non-increasing
    expected = [segment_closed_form(s, k, old_curve[k], new_budget, phi, r) for s in range(k, new_budget + 5)]
    assert after == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert after[new_budget - k :] == [r] * 5  # at the floor from the new budget on
    uba = sched.state_dict()["uba"]
    assert uba["num_training_steps"] == new_budget and uba["num_warmup_steps"] == W
    assert uba["segments"] == [
        {"start": W, "start_multiplier": 1.0, "end": N},
        {"start": k, "start_multiplier": uninterrupted[k], "end": new_budget},
    ]


def test_several_rebudgets_in_a_row_and_kill_resume_after_each_is_exact():
    phi, r = 1.0, 0.1
    opt, sched = new_pair(2, 20, phi, r)
    used_lrs(opt, sched, 8)
    plans = [(8, 40), (15, 30), (25, 60), (31, 32)]  # at update k, new budget: longer, shorter, longer, 1 left
    for i, (k, budget) in enumerate(plans):
        assert sched.last_epoch == k
        planned = sched.get_last_lr()[0]  # what the current plan schedules for update k
        opt, sched = resume(opt, sched, W=3, N=budget, phi=phi, r=r, rebudget=True)
        # A kill/resume right after the re-budget, without --rebudget and with the new budget: exact.
        twin_opt, twin = resume(opt, sched, W=budget // 10, N=budget, phi=phi, r=r, rebudget=False)
        until = plans[i + 1][0] if i + 1 < len(plans) else budget + 2
        lrs = used_lrs(opt, sched, until - k)
        assert used_lrs(twin_opt, twin, until - k) == lrs  # exactly, not approximately
        expected = [segment_closed_form(s, k, planned, budget, phi, r) for s in range(k, until)]
        assert lrs == pytest.approx(expected, rel=1e-12)
        assert [seg["end"] for seg in sched.state_dict()["uba"]["segments"]] == [20] + [b for _, b in plans[: i + 1]]
    assert lrs[-2:] == [r, r]


def test_rebudget_inside_the_warmup_finishes_the_warmup_then_decays_to_the_new_budget():
    W, N, k, phi, r = 10, 40, 4, 1.0, 0.1
    opt, sched = new_pair(W, N, phi, r)
    used_lrs(opt, sched, k)
    opt, sched = resume(opt, sched, W=8, N=80, phi=phi, r=r, rebudget=True)
    lrs = used_lrs(opt, sched, 80 - k)
    # The same as having planned 80 updates from the start, with the run's own warmup of 10.
    assert lrs == pytest.approx([closed_form(s, W, 80, phi, r) for s in range(k, 80)], rel=1e-12)
    with pytest.raises(UBAConfigError, match=r"must be > 4 and >= the warmup 10"):
        opt2, sched2 = new_pair(W, N, phi, r)
        used_lrs(opt2, sched2, k)
        resume(opt2, sched2, W=0, N=9, phi=phi, r=r, rebudget=True)


def test_rebudget_to_a_budget_already_reached_is_an_error():
    opt, sched = new_pair(2, 20, 1.0, 0.1)
    used_lrs(opt, sched, 8)
    for budget in (8, 5):
        with pytest.raises(UBAConfigError, match=rf"Cannot re-budget to {budget} updates at update 8: .* must be > 8"):
            resume(opt, sched, W=0, N=budget, phi=1.0, r=0.1, rebudget=True)


def test_without_rebudget_another_budget_is_refused_naming_rebudget():
    opt, sched = new_pair(2, 20, 1.0, 0.1)
    used_lrs(opt, sched, 8)
    with pytest.raises(UBAConfigError) as err:
        resume(opt, sched, W=2, N=40, phi=1.0, r=0.1, rebudget=False)
    message = str(err.value)
    assert "num_training_steps: checkpoint 20 vs now 40" in message and "--rebudget" in message
    assert "new run from the checkpoint's weights" in message
    # A re-budgeted state resumed with its old budget is refused too (the LR would jump back).
    opt, sched = resume(opt, sched, W=2, N=40, phi=1.0, r=0.1, rebudget=True)
    with pytest.raises(UBAConfigError, match="num_training_steps: checkpoint 40 vs now 20"):
        resume(opt, sched, W=2, N=20, phi=1.0, r=0.1, rebudget=False)


def test_rebudget_changes_only_the_budget():
    opt, sched = new_pair(2, 20, 1.0, 0.1)
    used_lrs(opt, sched, 8)
    with pytest.raises(UBAConfigError, match=r"phi: checkpoint 1.0 vs now 2.0\. A re-budget changes only the budget"):
        resume(opt, sched, W=2, N=40, phi=2.0, r=0.1, rebudget=True)
    # The same budget with rebudget=True is a plain resume.
    twin_opt, twin = resume(opt, sched, W=2, N=20, phi=1.0, r=0.1, rebudget=True)
    assert used_lrs(twin_opt, twin, 14) == used_lrs(opt, sched, 14)
    assert "segments" not in twin.state_dict()["uba"] and "rebudget" not in twin.state_dict()


def test_rebudgeted_lambda_is_a_picklable_partial_of_the_module_function():
    opt, sched = new_pair(2, 20, 1.0, 0.1)
    used_lrs(opt, sched, 8)
    opt, sched = resume(opt, sched, W=2, N=40, phi=1.0, r=0.1, rebudget=True)
    fn = sched.lr_lambdas[0]
    assert isinstance(fn, partial) and fn.func is uba_lr_lambda
    clone = pickle.loads(pickle.dumps(fn))
    assert [clone(s) for s in range(45)] == [fn(s) for s in range(45)]
    assert pickle.loads(pickle.dumps(sched)).state_dict()["uba"] == sched.state_dict()["uba"]


# ------------------------------------------------------------------------------------------ trainers

LR = 1e-2


def make_args(out, **overrides) -> TrainingArguments:
    return tiny_training_args(out, **{"save_strategy": "steps", "save_steps": 5, **overrides})


train = train_tiny


def test_uba_trainer_rebudget_longer_then_kill_resume_is_exact(tmp_path):
    out = tmp_path / "out"
    _, first, _ = train(UBATrainer, make_args(out), uba_args=UBAArguments(phi="1", min_lr_ratio=0.1))
    planned_5 = first.lrs[5]
    # Resume checkpoint-5 with a 20-update budget and --rebudget (a ratio warmup now: 0.25 x 20 = 5).
    rebudget = UBAArguments(phi="1", min_lr_ratio=0.1, rebudget=True)
    trainer, rec, losses = train(
        UBATrainer, make_args(out, max_steps=20, warmup_steps=0.25), resume=str(out / "checkpoint-5"), uba_args=rebudget
    )
    assert trainer.state.global_step == 20 and rec.steps == list(range(5, 20))
    assert rec.lrs[0] == planned_5
    assert rec.lrs == pytest.approx(
        [LR * segment_closed_form(s, 5, planned_5 / LR, 20, 1.0, 0.1) for s in range(5, 20)]
    )
    assert all(a >= b for a, b in zip(rec.lrs, rec.lrs[1:], strict=False))
    record = json.loads((out / "checkpoint-10" / SCHEDULE_RECORD_NAME).read_text())
    assert record["num_training_steps"] == 20 and record["num_warmup_steps"] == 3  # the run's own warmup
    assert record["segments"] == [
        {"start": 3, "start_multiplier": 1.0, "end": 12},
        {"start": 5, "start_multiplier": pytest.approx(planned_5 / LR, rel=1e-15), "end": 20},
    ]
    # Killed after the re-budget: resuming checkpoint-10 with the new budget (no --rebudget) is exact.
    _, again, again_losses = train(
        UBATrainer,
        make_args(out, max_steps=20, warmup_steps=0.25),
        resume=str(out / "checkpoint-10"),
        uba_args=UBAArguments(phi="1", min_lr_ratio=0.1),
    )
    assert again.lrs == rec.lrs[5:]
    assert [again_losses[s] for s in range(11, 21)] == pytest.approx([losses[s] for s in range(11, 21)], rel=1e-5)


def test_stock_trainer_rebudget_shorter_through_lr_scheduler_kwargs(tmp_path, caplog):
    kwargs = dict(lr_scheduler_type="uba", save_steps=4)
    out = tmp_path / "out"
    _, first, _ = train(Trainer, make_args(out, lr_scheduler_kwargs={"phi": 1.0, "min_lr_ratio": 0.0}, **kwargs))
    with pytest.raises(ValueError, match="--rebudget"):
        train(
            Trainer,
            make_args(out, max_steps=9, lr_scheduler_kwargs={"phi": 1.0, "min_lr_ratio": 0.0}, **kwargs),
            resume=str(out / "checkpoint-4"),
        )
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        trainer, rec, _ = train(
            Trainer,
            make_args(
                out, max_steps=9, lr_scheduler_kwargs={"phi": 1.0, "min_lr_ratio": 0.0, "rebudget": True}, **kwargs
            ),
            resume=str(out / "checkpoint-4"),
            callbacks=[ResumeLogCallback()],  # the stock Trainer does not tell callbacks the checkpoint: found
        )
    assert f"resuming from {out / 'checkpoint-4'} (update 4 of 9)" in caplog.messages
    assert trainer.state.global_step == 9 and rec.steps == list(range(4, 9))
    assert rec.lrs == pytest.approx(
        [LR * segment_closed_form(s, 4, first.lrs[4] / LR, 9, 1.0, 0.0) for s in range(4, 9)]
    )
    assert trainer.lr_scheduler.get_last_lr()[0] == 0.0  # the floor at the new budget
    with pytest.raises(ValueError, match="'rebudget' must be true or false"):
        Trainer(
            model=tiny_olmo2(),
            args=make_args(out, lr_scheduler_kwargs={"rebudget": "yes"}, **kwargs),
            train_dataset=TokenDataset(),
        ).train()


class StopAfter(TrainerCallback):
    """A pre-emption at update ``step``: save there and stop, as ``PreemptionCallback`` does on SIGTERM."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            control.should_save = control.should_training_stop = True
        return control


@pytest.mark.parametrize("stopped_at", [None, 3], ids=["finished", "pre-empted"])
def test_latest_with_rebudget_extends_this_runs_newest_checkpoint(tmp_path, caplog, stopped_at):
    """``resume_from_checkpoint="latest"`` with ``rebudget=True`` and a longer budget: ``rebudget`` says how to
    resume, not what was trained, so it must not make the run's own checkpoints look like another run's."""
    out = tmp_path / "out"
    first_args = make_args(out, max_steps=6, warmup_steps=1, save_steps=2)
    stop = [StopAfter(stopped_at)] if stopped_at else []
    _, first, _ = train(UBATrainer, first_args, uba_args=UBAArguments(phi="1", min_lr_ratio=0.1), callbacks=stop)
    reached = stopped_at or 6
    with caplog.at_level(logging.INFO, logger="uba_hf"):
        trainer, rec, _ = train(
            UBATrainer,
            make_args(out, max_steps=9, warmup_steps=1, save_steps=2),
            resume="latest",
            uba_args=UBAArguments(phi="1", min_lr_ratio=0.1, rebudget=True),
        )
    assert trainer.state.global_step == 9 and rec.steps == list(range(reached, 9))
    start = closed_form(reached, 1, 6, 1.0, 0.1)  # the multiplier the first run had reached
    assert rec.lrs == pytest.approx([LR * segment_closed_form(s, reached, start, 9, 1.0, 0.1) for s in rec.steps])
    resumed = [r.getMessage() for r in caplog.records if r.getMessage().startswith("resuming from")]
    assert resumed == [f"resuming from {out / f'checkpoint-{reached}'} (update {reached} of 9)"]
    assert not [r for r in caplog.records if "another run" in r.getMessage()]
