"""The four ways users reach "uba" through Transformers, each in a fresh interpreter where it matters."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest
import torch
import transformers
from transformers import TrainingArguments
from transformers.trainer_utils import SchedulerType

import uba_hf
from uba_hf import get_uba_schedule_with_warmup

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}


def run_python(code: str, *args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True, env=ENV, cwd=cwd
    )


def test_scheduler_type_member_is_real_and_registration_idempotent():
    before = list(SchedulerType)
    assert uba_hf.register_uba_scheduler() is SchedulerType.UBA
    assert uba_hf.register_uba_scheduler() is SchedulerType("uba")
    assert list(SchedulerType) == before
    assert [m.value for m in SchedulerType].count("uba") == 1
    assert SchedulerType.UBA == "uba" and SchedulerType.UBA.name == "UBA"
    assert pickle.loads(pickle.dumps(SchedulerType.UBA)) is SchedulerType.UBA


def test_fresh_interpreter_without_import_has_no_uba_then_import_registers():
    out = run_python(
        """
        from transformers.trainer_utils import SchedulerType
        print("uba" in [m.value for m in SchedulerType])
        import uba_hf
        print("uba" in [m.value for m in SchedulerType])
        """
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "True"]


def test_get_scheduler_builds_uba():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = transformers.get_scheduler(
        "uba",
        opt,
        num_warmup_steps=2,
        num_training_steps=10,
        scheduler_specific_kwargs={"phi": 0.5, "min_lr_ratio": 0.1},
    )
    ref = get_uba_schedule_with_warmup(
        torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), 2, 10, phi=0.5, min_lr_ratio=0.1
    )
    for _ in range(12):
        assert sched.get_last_lr() == ref.get_last_lr()
        opt.step(), ref.optimizer.step()  # the order PyTorch expects (no gradients: the weights stay)
        sched.step()
        ref.step()


def test_get_scheduler_rejects_unknown_kwargs_clearly():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match=r"accepts only \['phi', 'min_lr_ratio', 'rebudget'\].*min_lr.*min_lr_ratio"):
        transformers.get_scheduler("uba", opt, 0, 10, scheduler_specific_kwargs={"min_lr": 1e-5})


def test_training_arguments_dict_json_and_pickle(tmp_path):
    args = TrainingArguments(
        output_dir=str(tmp_path), lr_scheduler_type="uba", lr_scheduler_kwargs={"phi": 1.0, "min_lr_ratio": 0.1}
    )
    assert args.lr_scheduler_type is SchedulerType.UBA
    assert args.to_dict()["lr_scheduler_type"] == "uba"
    assert json.loads(args.to_json_string())["lr_scheduler_kwargs"] == {"phi": 1.0, "min_lr_ratio": 0.1}
    path = tmp_path / "args.pkl"
    path.write_bytes(pickle.dumps(args))
    # A fresh interpreter that never imported uba_hf can still unpickle the arguments.
    out = run_python(
        """
        import pickle, sys
        args = pickle.loads(open(sys.argv[1], "rb").read())
        print(args.lr_scheduler_type.value, args.lr_scheduler_kwargs["phi"])
        """,
        str(path),
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["uba", "1.0"]


HF_SCRIPT = """
import json
from transformers import HfArgumentParser, TrainingArguments
(args,) = HfArgumentParser(TrainingArguments).parse_args_into_dataclasses()
print(json.dumps({"type": args.lr_scheduler_type.value, "kwargs": args.lr_scheduler_kwargs}))
"""


def test_hf_argument_parser_cli_in_fresh_process(tmp_path):
    code = "import uba_hf\n" + HF_SCRIPT
    out = run_python(
        code, "--output_dir", str(tmp_path), "--lr_scheduler_type", "uba", "--lr_scheduler_kwargs", '{"phi": 0.5}'
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"type": "uba", "kwargs": {"phi": 0.5}}


def test_unmodified_script_fails_without_and_runs_with_uba_hf_run(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(HF_SCRIPT)
    argv = ["--output_dir", str(tmp_path), "--lr_scheduler_type", "uba", "--lr_scheduler_kwargs", '{"phi": 0.5}']
    plain = subprocess.run([sys.executable, str(script), *argv], capture_output=True, text=True, env=ENV)
    assert plain.returncode != 0 and "invalid choice: 'uba'" in plain.stderr
    wrapped = subprocess.run(
        [sys.executable, "-m", "uba_hf.run", str(script), *argv], capture_output=True, text=True, env=ENV
    )
    assert wrapped.returncode == 0, wrapped.stderr
    assert json.loads(wrapped.stdout.strip().splitlines()[-1]) == {"type": "uba", "kwargs": {"phi": 0.5}}


def test_uba_hf_run_without_script_prints_usage():
    out = subprocess.run([sys.executable, "-m", "uba_hf.run"], capture_output=True, text=True, env=ENV)
    assert out.returncode == 2 and "usage: python -m uba_hf.run" in out.stderr


STOCK_TRAINER_SCRIPT = """
import sys

import torch
from transformers import Trainer, TrainingArguments

import uba_hf  # registers "uba"


class Tiny(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 1)

    def forward(self, x, labels):
        return {"loss": torch.nn.functional.mse_loss(self.linear(x).squeeze(-1), labels)}


data = [{"x": torch.full((4,), float(i)), "labels": torch.tensor(float(i % 3))} for i in range(16)]
args = TrainingArguments(
    output_dir=sys.argv[1], max_steps=4, learning_rate=1e-3, lr_scheduler_type="uba", log_level=sys.argv[2],
    per_device_train_batch_size=4, use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
)
Trainer(model=Tiny(), args=args, train_dataset=data).train()
"""


@pytest.mark.parametrize("log_level", ["info", "warning"])
def test_the_stock_trainer_shows_the_zero_config_pick_beside_its_own_messages_at_its_log_level(tmp_path, log_level):
    """README way 1 as a user runs it (a script, no logging set up): with ``log_level="info"`` the pick and its reason
    appear once on stderr, where the Trainer's own INFO lines appear; at ``"warning"`` neither does."""
    script = tmp_path / "train.py"
    script.write_text(STOCK_TRAINER_SCRIPT)
    out = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "out"), log_level], capture_output=True, text=True, env=ENV
    )
    assert out.returncode == 0, out.stderr[-3000:]
    pick = uba_hf.zero_config_schedule(4, 1e-3)
    line = f"UBA zero-config: phi={pick['phi']:g}, min_lr_ratio={pick['min_lr_ratio']:g}, from {pick['reason']}"
    shown = log_level == "info"
    assert out.stderr.count(line) == int(shown), out.stderr[-3000:]
    assert ("***** Running training *****" in out.stderr) == shown  # the Trainer's own INFO line, same stream
