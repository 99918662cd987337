"""UBA through clients this package does not control: ``uba-run`` in front of an unmodified
HfArgumentParser script (tests/clients/train_stock.py, the stock Trainer), TRL's SFTTrainer, and the
real launchers (torchrun, ``accelerate launch`` with the shipped recipe, ``deepspeed --module``).

The wrapper's own behaviour (usage, errors, ``--local_rank``, early checks) is tested in process,
on throwaway target scripts that leave a marker file when they run: a refused command must stop
before its target starts. The training runs compare the LR of every update with the closed form of
docs/schedule.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from conftest import LRRecorder, assert_clean, closed_form, excerpt, free_port, launcher_env, run_launcher, tiny_olmo2

import uba_hf.run as uba_run
from uba_hf.deepspeed import check_no_scheduler_block
from uba_hf.errors import UBAConfigError
from uba_hf.registry import check_uba_kwargs

ROOT = Path(__file__).resolve().parents[1]
CLIENT = str(ROOT / "tests" / "clients" / "train_stock.py")
ZERO2 = ROOT / "recipes" / "deepspeed" / "zero2.json"
LR, W, N, PHI, RATIO, SAVE = 1e-3, 2, 8, 1.0, 0.1, 4
WRAP = [sys.executable, "-m", "uba_hf.run"]

# ------------------------------------------------------------------------------ the wrapper itself

# A target that records the arguments it received and that it ran with "uba" registered.
TARGET = """
import json, sys
from transformers.trainer_utils import SchedulerType
with open(sys.argv[0] + ".ran", "w") as f:
    json.dump({"argv": sys.argv, "uba": "uba" in [s.value for s in SchedulerType]}, f)
"""


@pytest.fixture
def target(tmp_path, monkeypatch):
    """A throwaway script; ``uba_run.main`` runs in this process with sys.argv / sys.path restored after."""
    path = tmp_path / "target.py"
    path.write_text(TARGET)
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setenv("PYTHONPATH", os.environ.get("PYTHONPATH", ""))  # main() adds uba_hf/_children
    return path


def ran(path: Path) -> dict | None:
    marker = Path(str(path) + ".ran")
    return json.loads(marker.read_text()) if marker.exists() else None


def refused(argv: list[str], capsys) -> str:
    """Run the wrapper, expect the one-line user error with exit code 2, return the message."""
    with pytest.raises(SystemExit) as exit_:
        uba_run.main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("uba-run: error: "), err
    return err.removeprefix("uba-run: error: ")


def test_help_exits_0_and_the_console_script_is_the_module(capsys):
    with pytest.raises(SystemExit) as exit_:
        uba_run.main(["--help"])
    assert exit_.value.code == 0 and "usage: python -m uba_hf.run (or uba-run)" in capsys.readouterr().out
    from importlib.metadata import entry_points

    # Declared in setup.cfg; in this environment the package is installed, so the script exists too.
    assert "uba-run = uba_hf.run:main" in (ROOT / "setup.cfg").read_text()
    (ep,) = entry_points(group="console_scripts", name="uba-run")
    assert ep.value == "uba_hf.run:main"


@pytest.mark.slow
def test_installed_uba_run_help_exits_0():
    exe = shutil.which("uba-run")
    assert exe, "uba-run is not on PATH: pip install -e ."
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, env=launcher_env(), timeout=120)
    assert proc.returncode == 0 and "usage:" in proc.stdout, proc.stderr


def test_a_missing_target_is_one_line_and_exit_2(capsys, target):
    message = refused(["no_such_script.py", "--output_dir", "x"], capsys)
    assert "'no_such_script.py' is not a file" in message


@pytest.mark.parametrize(
    "launcher_argv, script_argv",
    [
        (["--local_rank=0"], ["--local_rank=0"]),  # deepspeed --module uba_hf.run
        (["--local-rank=1"], ["--local-rank=1"]),  # python -m torch.distributed.launch
        (["--local_rank", "3"], ["--local_rank", "3"]),
        ([], []),
    ],
)
def test_launcher_local_rank_before_the_script_is_passed_to_the_script(target, launcher_argv, script_argv):
    uba_run.main([*launcher_argv, str(target), "--output_dir", "o", "--local_rank=7"])
    record = ran(target)
    assert record["argv"] == [str(target), *script_argv, "--output_dir", "o", "--local_rank=7"]
    assert record["uba"]
    # What the target starts registers "uba" too (tested in test_child_processes_register_uba...).
    assert os.environ["PYTHONPATH"].split(os.pathsep)[0] == str(ROOT / "uba_hf" / "_children")


@pytest.mark.slow
def test_legacy_torch_distributed_launch_through_uba_run(tmp_path):
    """``python -m torch.distributed.launch ... -m uba_hf.run SCRIPT``: the launcher puts
    ``--local-rank=0`` before the script (once a FileNotFoundError); the script receives it first."""
    script = tmp_path / "target.py"
    script.write_text(TARGET)
    cmd = [sys.executable, "-m", "torch.distributed.launch", "--nproc_per_node", "1"]
    proc = run_launcher([*cmd, "--master_port", str(free_port()), "-m", "uba_hf.run", str(script), "--x", "1"])
    assert proc.returncode == 0, excerpt(proc.stdout)
    assert ran(script) == {"argv": [str(script), "--local-rank=0", "--x", "1"], "uba": True}


def test_module_target_and_local_rank(tmp_path, target, monkeypatch):
    (tmp_path / "target_module.py").write_text(TARGET.replace("sys.argv[0] + ", f"{str(tmp_path / 'mod')!r} + "))
    monkeypatch.syspath_prepend(str(tmp_path))
    uba_run.main(["--local_rank=0", "-m", "target_module", "--x", "1"])
    record = json.loads((tmp_path / "mod.ran").read_text())
    assert record["argv"][1:] == ["--local_rank=0", "--x", "1"] and record["uba"]


def test_console_script_found_on_path(tmp_path, target, monkeypatch):
    """A Python console script that is not an entry point (e.g. installed by another tool) is run from PATH."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    exe = bin_dir / "my-train"
    exe.write_text(f"#!{sys.executable}\n" + TARGET.replace("sys.argv[0] + ", f"{str(tmp_path / 'exe')!r} + "))
    exe.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    uba_run.main(["my-train", "--x", "1"])
    record = json.loads((tmp_path / "exe.ran").read_text())
    assert record["argv"] == [str(exe), "--x", "1"] and record["uba"]  # argv[0] as the shell would give it


BAD = [
    (["--lr_scheduler_kwargs", '{"min_lr": 1e-5}'], "accepts only ['phi', 'min_lr_ratio']; got unknown ['min_lr']"),
    (['--lr_scheduler_kwargs={"phi": 0}'], "`phi` must be a finite number > 0"),
    (["--lr-scheduler-kwargs", '{"min_lr_ratio": 1.5}'], "`min_lr_ratio` must be in [0, 1)"),
    (["--lr_scheduler_kwargs", '{"phi": "fast"}'], "`phi` must be a finite number > 0 or 'auto'"),
    (["--lr_scheduler_kwargs", "phi=1"], "--lr_scheduler_kwargs 'phi=1' is not JSON"),
    (["--max_steps", "10", "--warmup_steps", "20"], "`num_warmup_steps` (20) must be <= `num_training_steps` (10)"),
]


@pytest.mark.parametrize("extra, message", BAD, ids=[m[:24] for _, m in BAD])
def test_bad_uba_arguments_are_refused_before_the_script_starts(capsys, target, extra, message):
    got = refused([str(target), "--output_dir", "o", "--lr_scheduler_type", "uba", *extra], capsys)
    assert message in got
    assert ran(target) is None


def test_the_early_message_is_the_validators_own(capsys, target):
    with pytest.raises(UBAConfigError) as direct:
        check_uba_kwargs({"min_lr": 1e-5})
    assert refused([str(target), "--lr_scheduler_type=uba", "--lr_scheduler_kwargs", '{"min_lr": 1e-5}'], capsys) == (
        str(direct.value)
    )


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_bad_uba_arguments_in_a_config_file_are_refused(tmp_path, capsys, target, suffix):
    """``run_clm.py args.json`` / ``llamafactory-cli train cfg.yaml``: the file's values are checked too,
    and the command line overrides them."""
    config = {"output_dir": "o", "lr_scheduler_type": "uba", "lr_scheduler_kwargs": {"phi": -1}}
    path = tmp_path / f"args{suffix}"
    path.write_text(json.dumps(config))  # JSON is also YAML
    assert "`phi` must be a finite number > 0" in refused([str(target), str(path)], capsys)
    assert ran(target) is None
    uba_run.main([str(target), str(path), "--lr_scheduler_kwargs", '{"phi": 1.0}'])
    assert ran(target)["uba"]


def test_other_schedulers_and_valid_uba_arguments_run(target):
    uba_run.main([str(target), "--lr_scheduler_type", "cosine", "--lr_scheduler_kwargs", '{"min_lr": 1e-5}'])
    assert ran(target) is not None  # not ours to judge: Transformers' cosine_with_min_lr takes min_lr
    Path(str(target) + ".ran").unlink()
    kwargs = '{"phi": 0.5, "min_lr_ratio": 0.1}'
    args = ["--lr_scheduler_type", "uba", "--lr_scheduler_kwargs", kwargs, "--max_steps", "10", "--warmup_steps", "0.1"]
    uba_run.main([str(target), *args, "--deepspeed", str(ZERO2)])
    assert ran(target)["uba"]


def _with_scheduler_block() -> dict:
    config = json.loads(ZERO2.read_text())
    config["scheduler"] = {"type": "WarmupDecayLR", "params": {"total_num_steps": "auto"}}
    return config


@pytest.mark.parametrize("as_path", [True, False], ids=["path", "json-string"])
def test_deepspeed_config_with_a_scheduler_block_is_refused_before_the_script_starts(tmp_path, capsys, target, as_path):
    config = _with_scheduler_block()
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(config))
    value = str(path) if as_path else json.dumps(config)
    message = refused([str(target), "--lr_scheduler_type", "uba", "--deepspeed", value], capsys)
    with pytest.raises(UBAConfigError) as direct:
        check_no_scheduler_block(config)
    assert message == str(direct.value)  # the same message UBATrainer gives
    assert ran(target) is None
    # Another schedule asked for explicitly: DeepSpeed's own scheduler is the user's choice.
    uba_run.main([str(target), "--lr_scheduler_type", "cosine", "--deepspeed", value])
    assert ran(target) is not None


needs_cpu_only = pytest.mark.skipif(torch.accelerator.is_available(), reason="the check is for machines without GPUs")


@needs_cpu_only
def test_processes_that_would_each_run_alone_are_refused(capsys, target, monkeypatch):
    """WORLD_SIZE=2 (set by torchrun / accelerate launch) on a machine without GPUs, nothing says CPU."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("ACCELERATE_USE_CPU", raising=False)
    uba = ["--lr_scheduler_type", "uba"]
    message = refused([str(target), *uba], capsys)
    assert "each would train alone as rank 0. Set ACCELERATE_USE_CPU=1" in message and ran(target) is None
    for told in (["--use_cpu", "true"], ["--use_cpu"], ["--use-cpu=True"], ["--deepspeed", str(ZERO2)]):
        uba_run.main([str(target), *uba, *told])
        assert ran(target) is not None, told
        Path(str(target) + ".ran").unlink()
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    uba_run.main([str(target), *uba])
    assert ran(target) is not None


@pytest.mark.slow
@needs_cpu_only
def test_multi_cpu_recipe_without_the_cpu_flag_is_refused_not_split(tmp_path):
    """What happened before: two rank-0 runs in one output_dir, exit 0. Through uba-run: exit 2 on each rank."""
    out = tmp_path / "split"
    cmd = accelerate(out)
    proc = run_launcher(cmd, timeout=300)  # no ACCELERATE_USE_CPU, no --use_cpu
    assert proc.returncode != 0
    assert proc.stdout.count("uba-run: error: 2 processes were launched on a machine without GPUs") == 2, excerpt(
        proc.stdout
    )
    assert not out.exists()


@pytest.mark.slow
def test_run_py_as_a_file_uses_absolute_imports_and_does_not_shadow_deepspeed(tmp_path):
    """``python uba_hf/run.py``: uba_hf/deepspeed.py must not become the target's ``import deepspeed``."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import importlib.util, json, sys\n"
        "from transformers.trainer_utils import SchedulerType\n"
        "print(json.dumps({'deepspeed': importlib.util.find_spec('deepspeed').origin,"
        " 'uba': 'uba' in [s.value for s in SchedulerType], 'argv': sys.argv[1:]}))\n"
    )
    proc = subprocess.run(
        [sys.executable, str(ROOT / "uba_hf" / "run.py"), str(script), "--x", "1"],
        capture_output=True,
        text=True,
        env=launcher_env(),
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["uba"] and out["argv"] == ["--x", "1"]
    assert Path(out["deepspeed"]).parent.name == "deepspeed" and "uba_hf" not in out["deepspeed"]


def test_deepspeed_accelerate_recipes_name_their_json_from_any_directory(tmp_path, monkeypatch):
    """From outside the repository, the command in each recipe's header (``--deepspeed_config_file``
    with the JSON's path) hands the launched processes an existing DeepSpeed config."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    monkeypatch.chdir(tmp_path)
    for recipe in sorted((ROOT / "recipes" / "accelerate").glob("deepspeed_*.yaml")):
        stage = recipe.stem.removeprefix("deepspeed_")
        header = recipe.read_text().split("compute_environment")[0]
        assert f"--deepspeed_config_file $UBA_HF/recipes/deepspeed/{stage}.json" in header, recipe.name
        for given in ([], ["--deepspeed_config_file", str(ROOT / "recipes" / "deepspeed" / f"{stage}.json")]):
            args = launch_command_parser().parse_args(["--config_file", str(recipe), *given, "train.py"])
            args, defaults, _ = _validate_launch_command(args)
            args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command
            _, env = prepare_deepspeed_cmd_env(args)
            found = Path(env["ACCELERATE_DEEPSPEED_CONFIG_FILE"]).is_file()
            assert found == bool(given), (recipe.name, given, env["ACCELERATE_DEEPSPEED_CONFIG_FILE"])


# ------------------------------------------------------------------------------ the stock Trainer


def client_args(out: Path, *extra: str) -> list[str]:
    return [
        *("--output_dir", str(out), "--lr_scheduler_type", "uba"),
        *("--lr_scheduler_kwargs", json.dumps({"phi": PHI, "min_lr_ratio": RATIO})),
        *("--max_steps", str(N), "--warmup_steps", str(W), "--learning_rate", str(LR)),
        *("--per_device_train_batch_size", "4", "--save_steps", str(SAVE), "--logging_steps", "1"),
        *("--report_to", "none", "--disable_tqdm", "true", "--seed", "0"),
        *extra,
    ]


def expected(steps, budget: int = N) -> dict[int, float]:
    return {s: LR * closed_form(s, W, budget, PHI, RATIO) for s in steps}


def reports(out: Path, n: int) -> list[dict]:
    found = sorted(out.glob("rank*.json"))
    assert len(found) == n, found
    recs = [json.loads(p.read_text()) for p in found]
    for rec in recs:
        rec["lrs"] = {int(k): v for k, v in rec["lrs"].items()}
    return recs


CPU = ("--use_cpu", "true")


def one_process(out: Path, *extra: str) -> list[str]:
    return [*WRAP, CLIENT, *client_args(out, *CPU, *extra)]


def torchrun(out: Path, *extra: str) -> list[str]:
    return [
        *(sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port())),
        *("-m", "uba_hf.run", CLIENT, *client_args(out, *CPU, *extra)),
    ]


def accelerate(out: Path, *extra: str) -> list[str]:
    """The command of multi_cpu.yaml's header and README's compatibility table, run with
    ACCELERATE_USE_CPU=1 in the environment and without the script's own ``--use_cpu``."""
    return [
        *(sys.executable, "-m", "accelerate.commands.launch", "--config_file"),
        *(str(ROOT / "recipes" / "accelerate" / "multi_cpu.yaml"), "--main_process_port", str(free_port())),
        *("-m", "uba_hf.run", CLIENT, *client_args(out, *extra)),
    ]


LAUNCHERS = {"one_process": (one_process, 1), "torchrun": (torchrun, 2), "accelerate": (accelerate, 2)}


def launch(name: str, out: Path, *extra: str) -> subprocess.CompletedProcess:
    build, _ = LAUNCHERS[name]
    # Accelerate does not pass the recipe's use_cpu to the processes it starts (see multi_cpu.yaml).
    env = {"ACCELERATE_USE_CPU": "1"} if name == "accelerate" else {}
    return run_launcher(build(out, *extra), timeout=300, **env)


@pytest.fixture(scope="module", params=list(LAUNCHERS))
def stock_run(request, tmp_path_factory):
    name = request.param
    out = tmp_path_factory.mktemp(name)
    proc = launch(name, out)
    assert_clean(proc)
    return name, out, reports(out, LAUNCHERS[name][1])


@pytest.mark.slow
def test_stock_trainer_through_uba_run_lr_exact_at_every_update(stock_run):
    name, _, recs = stock_run
    for rec in recs:
        assert rec["world_size"] == rec["torch_world_size"] == LAUNCHERS[name][1]
        assert rec["scheduler_class"] == "UBASchedule" and rec["global_step"] == N
        assert rec["scheduler_state_uba"] == {
            "num_training_steps": N,
            "num_warmup_steps": W,
            "phi": PHI,
            "min_lr_ratio": RATIO,
        }
        assert rec["lrs"] == pytest.approx(expected(range(N)), rel=1e-12, abs=1e-18)
    if len(recs) == 2:
        assert recs[0]["lrs"] == recs[1]["lrs"]
    if name == "accelerate":  # what ran is what the recipe tells a user to run
        header = (ROOT / "recipes" / "accelerate" / "multi_cpu.yaml").read_text().split("compute_environment")[0]
        assert "ACCELERATE_USE_CPU=1 accelerate launch --config_file recipes/accelerate/multi_cpu.yaml" in header


@pytest.mark.slow
def test_stock_trainer_resume_with_another_max_steps_is_refused(stock_run, tmp_path):
    name, out, _ = stock_run
    proc = launch(name, tmp_path / "other", "--max_steps", "12", "--resume_from_checkpoint", str(out / "checkpoint-4"))
    assert proc.returncode != 0
    assert "Cannot resume from" in proc.stdout and "num_training_steps: checkpoint 8 vs now 12" in proc.stdout
    assert not list((tmp_path / "other").glob("rank*.json"))


@pytest.mark.slow
def test_stock_trainer_resume_with_the_same_max_steps_is_exact(stock_run, tmp_path):
    name, out, full = stock_run
    proc = launch(name, tmp_path / "resumed", "--resume_from_checkpoint", str(out / "checkpoint-4"))
    assert_clean(proc)
    for rec, uninterrupted in zip(reports(tmp_path / "resumed", LAUNCHERS[name][1]), full, strict=True):
        assert sorted(rec["lrs"]) == list(range(SAVE, N)) and rec["global_step"] == N
        assert rec["lrs"] == {s: uninterrupted["lrs"][s] for s in range(SAVE, N)}  # bit for bit


# ------------------------------------------------------------------------------ DeepSpeed


@pytest.mark.slow
def test_deepspeed_launcher_zero2_through_uba_run_steps_uba_on_the_engine(tmp_path):
    """``deepspeed --module uba_hf.run`` puts ``--local_rank=N`` before the script; ZeRO-2 from the
    shipped JSON on 2 CPU processes; the LR read from the DeepSpeed engine is the closed form, and
    the engine's checkpoint refuses a resume with another budget (the scheduler's own state)."""

    def deepspeed(out: Path, *extra: str) -> list[str]:
        return [
            *(sys.executable, "-m", "deepspeed.launcher.runner", "--num_gpus", "2", "--master_port", str(free_port())),
            *("--module", "uba_hf.run", CLIENT, *client_args(out, *CPU, "--deepspeed", str(ZERO2), *extra)),
        ]

    out = tmp_path / "zero2"
    proc = run_launcher(deepspeed(out), timeout=300)
    assert_clean(proc)
    assert "'uba_hf.run', '--local_rank=0'" in proc.stdout  # the launcher's own log of what it started
    for rec in reports(out, 2):
        assert rec["world_size"] == rec["torch_world_size"] == 2
        assert rec["engine_class"] == "DeepSpeedEngine" and rec["zero_stage"] == 2
        assert not rec["ds_config_has_scheduler"] and rec["scheduler_class"] == "UBASchedule"
        assert rec["lrs"] == pytest.approx(expected(range(N)), rel=1e-12, abs=1e-18)
    other = tmp_path / "other"
    proc = run_launcher(deepspeed(other, "--max_steps", "12", "--resume_from_checkpoint", str(out / "checkpoint-4")))
    assert proc.returncode != 0
    assert "Cannot resume from" in proc.stdout and "num_training_steps: checkpoint 8 vs now 12" in proc.stdout
    assert not list(other.glob("rank*.json"))


@pytest.mark.slow
def test_deepspeed_json_with_a_scheduler_block_is_refused_on_every_rank(tmp_path):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(_with_scheduler_block()))
    out = tmp_path / "out"
    proc = run_launcher(torchrun(out, "--deepspeed", str(path)), timeout=300)
    assert proc.returncode != 0
    assert proc.stdout.count("uba-run: error: The DeepSpeed config has a 'scheduler' block (WarmupDecayLR)") == 2
    assert "Traceback" not in proc.stdout.split("uba-run: error")[0]
    assert not out.exists()  # stopped before the Trainer created anything


# ------------------------------------------------------------------------------ TRL


def _offline_tokenizer():
    """A byte-level BPE tokenizer trained here, in memory: no hub."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    texts = [f"def f{i}(x):\n    return x + {i}\n" for i in range(64)]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=300, special_tokens=["<pad>", "<eos>"]))
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="<eos>"), texts


def test_trl_sft_trainer_with_uba_lr_exact(tmp_path):
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    tokenizer, texts = _offline_tokenizer()
    config = SFTConfig(
        output_dir=str(tmp_path),
        lr_scheduler_type="uba",
        lr_scheduler_kwargs={"phi": PHI, "min_lr_ratio": RATIO},
        max_steps=N,
        warmup_steps=W,
        learning_rate=LR,
        per_device_train_batch_size=4,
        max_length=16,
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        use_cpu=True,
        disable_tqdm=True,
    )
    model = tiny_olmo2(vocab_size=len(tokenizer), seq_len=16, pad_token_id=tokenizer.pad_token_id)
    recorder = LRRecorder()
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_dict({"text": texts}),
        processing_class=tokenizer,
        callbacks=[recorder],
    )
    trainer.train()
    assert type(trainer.lr_scheduler).__name__ == "UBASchedule"
    assert recorder.steps == list(range(N))
    assert recorder.lrs == pytest.approx(list(expected(range(N)).values()), rel=1e-12, abs=1e-18)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == N


@pytest.mark.slow
def test_trl_cli_through_uba_run_trains_with_uba(tmp_path):
    """``uba-run trl sft ...``: TRL's console script, found by name, re-launches its training script
    through ``accelerate launch`` in a new process, which registers "uba" at start-up (uba_hf/_children)."""
    tokenizer, texts = _offline_tokenizer()
    model_dir, data_dir, out = tmp_path / "model", tmp_path / "data", tmp_path / "out"
    tiny_olmo2(vocab_size=len(tokenizer), seq_len=16, pad_token_id=tokenizer.pad_token_id).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    data_dir.mkdir()
    (data_dir / "train.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    cmd = [
        *(*WRAP, "trl", "sft", "--model_name_or_path", str(model_dir), "--dataset_name", str(data_dir)),
        *("--max_length", "16", "--save_steps", str(N)),
        *client_args(out, *CPU),
    ]
    proc = run_launcher(cmd, timeout=300)
    assert_clean(proc)
    state = torch.load(out / f"checkpoint-{N}" / "scheduler.pt", weights_only=True)
    assert state["uba"] == {"num_training_steps": N, "num_warmup_steps": W, "phi": PHI, "min_lr_ratio": RATIO}
    history = json.loads((out / f"checkpoint-{N}" / "trainer_state.json").read_text())["log_history"]
    logged = {h["step"] - 1: h["learning_rate"] for h in history if "learning_rate" in h}  # as test_distributed
    assert logged == pytest.approx(expected(range(N)), rel=1e-12, abs=1e-18)


@pytest.mark.slow
def test_child_processes_register_uba_and_run_the_sitecustomize_they_shadow(tmp_path):
    other = tmp_path / "other_site"
    other.mkdir()
    (other / "sitecustomize.py").write_text("import os\nos.environ['OTHER_SITECUSTOMIZE_RAN'] = '1'\n")
    children = ROOT / "uba_hf" / "_children"
    code = (
        "import os\nfrom transformers.trainer_utils import SchedulerType\n"
        "print(os.environ.get('OTHER_SITECUSTOMIZE_RAN'), 'uba' in [s.value for s in SchedulerType])"
    )
    env = launcher_env(PYTHONPATH=os.pathsep.join([str(children), str(other), str(ROOT)]))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["1", "True"]


# ------------------------------------------------------------------------------ a dead rank


@pytest.mark.slow
def test_a_killed_rank_ends_the_launch_and_latest_resumes_exactly(tmp_path):
    """SIGKILL rank 1 after checkpoint-4 (the documented multi-CPU accelerate command): the launcher
    exits non-zero within 60 s; ``--resume_from_checkpoint latest`` then finishes the budget with the
    closed-form LR, every update exactly once."""
    import psutil

    out = tmp_path / "run"
    budget = 12
    cmd = accelerate(out, "--max_steps", str(budget), "--step_sleep", "0.5")
    launcher = subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=launcher_env(ACCELERATE_USE_CPU="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        ckpt = out / "checkpoint-4"
        deadline = time.time() + 240
        while not ((ckpt / "trainer_state.json").exists() and (ckpt / "rng_state_1.pth").exists()):
            assert launcher.poll() is None, launcher.stdout.read()[-3000:]
            assert time.time() < deadline, "no checkpoint-4 within 240 s"
            time.sleep(0.05)
        rank1 = [p for p in psutil.Process(launcher.pid).children(recursive=True) if p.environ().get("RANK") == "1"]
        assert len(rank1) == 1, rank1
        rank1[0].kill()
        killed_at = time.time()
        try:
            output, _ = launcher.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            pytest.fail("the launcher was still running 60 s after a rank was killed")
        took = time.time() - killed_at
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, 9)
            launcher.communicate()
    assert launcher.returncode != 0, excerpt(output)
    print(f"launcher exited {launcher.returncode} {took:.1f} s after SIGKILL of rank 1")
    assert not (out / "checkpoint-8").exists()

    proc = run_launcher(accelerate(out, "--max_steps", str(budget), "--resume_from_checkpoint", "latest"),
                        timeout=300, ACCELERATE_USE_CPU="1")  # fmt: skip
    assert_clean(proc)
    for rec in reports(out, 2):
        assert rec["resumed_from"].endswith("checkpoint-4") and rec["global_step"] == budget
        assert rec["lrs"] == pytest.approx(expected(range(4, budget), budget=budget), rel=1e-12, abs=1e-18)
        assert rec["logged_steps"] == list(range(1, budget + 1))  # none lost, none repeated
