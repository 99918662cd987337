"""``uba-run`` itself: usage, errors, ``--local_rank``, the early checks, launcher recipes.

Tested in process, on throwaway target scripts that leave a marker file when they run: a refused
command must stop before its target starts.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ds_config_with_scheduler_block, excerpt, free_port, launcher_env, needs_cpu_only, run_launcher

import uba_hf.run as uba_run
from uba_hf.deepspeed import check_no_scheduler_block
from uba_hf.errors import UBAConfigError
from uba_hf.registry import check_uba_kwargs

ROOT = Path(__file__).resolve().parents[2]
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

    # Declared in setup.cfg (uba_hf_cli answers --help without importing torch, then runs uba_hf.run.main); in
    # this environment the package is installed, so the script exists too.
    assert "uba-run = uba_hf_cli:run_main" in (ROOT / "setup.cfg").read_text()
    (ep,) = entry_points(group="console_scripts", name="uba-run")
    assert ep.value == "uba_hf_cli:run_main", "the installed console scripts are stale: pip install -e ."


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
    (
        ["--lr_scheduler_kwargs", '{"min_lr": 1e-5}'],
        "accepts only ['phi', 'min_lr_ratio', 'rebudget']; got unknown ['min_lr']",
    ),
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


@pytest.mark.parametrize("as_path", [True, False], ids=["path", "json-string"])
def test_deepspeed_config_with_a_scheduler_block_is_refused_before_the_script_starts(tmp_path, capsys, target, as_path):
    config = ds_config_with_scheduler_block()
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
