"""``uba-run`` (= ``python -m uba_hf.run``): run any Transformers script or CLI with ``"uba"`` registered.

    uba-run path/to/run_clm.py --lr_scheduler_type uba --lr_scheduler_kwargs '{"phi": 1.0}' ...
    uba-run -m some.module --lr_scheduler_type uba ...
    uba-run trl sft --lr_scheduler_type uba ...          # an installed console script, by name
    torchrun --nproc_per_node 8 -m uba_hf.run run_clm.py ...
    deepspeed --module uba_hf.run run_clm.py --deepspeed ds.json ...

``HfArgumentParser`` reads the ``SchedulerType`` choices when the script builds its parser, so the
registration must happen before the script runs; this wrapper registers, then runs the target as
``__main__`` with the remaining arguments, like ``python script.py ...`` would.

Before the target runs (before it loads data or a model) the wrapper reads the UBA-relevant
arguments from the command line (and from a JSON / YAML config file given as an argument) and
refuses, in one line with exit code 2, what would otherwise fail or go wrong later: bad
``lr_scheduler_kwargs``, a warmup longer than ``max_steps``, a DeepSpeed config with its own
``scheduler`` block (which would silently replace UBA), and several processes on a machine without
GPUs that are not told to use the CPU (each would train alone as rank 0).

Launchers that pass ``--local_rank=N`` / ``--local-rank N`` (``deepspeed``, the legacy
``torch.distributed.launch``) put it before the script; it is moved to the front of the script's own
arguments, where the script would have received it without the wrapper.
"""

from __future__ import annotations

import json
import os
import runpy
import shutil
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:
    # `python uba_hf/run.py`: Python put uba_hf/ itself first on sys.path, where our deepspeed.py would
    # shadow the real `deepspeed` for the target script. Put the directory holding the package there.
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from uba_hf.arguments import check_uba_kwargs, validate_uba_args  # noqa: E402
from uba_hf.deepspeed import check_no_scheduler_block, load_deepspeed_config  # noqa: E402
from uba_hf.errors import UBAConfigError  # noqa: E402
from uba_hf.registry import UBA_SCHEDULER_NAME, register_uba_scheduler  # noqa: E402
from uba_hf_cli.usage import RUN_PROG, RUN_USAGE  # noqa: E402

PROG, USAGE = RUN_PROG, RUN_USAGE  # in uba_hf_cli.usage, so that `uba-run --help` needs no torch

LOCAL_RANK_FLAGS = ("--local_rank", "--local-rank")
CONFIG_SUFFIXES = (".json", ".yaml", ".yml")
CHECKED_KEYS = ("lr_scheduler_type", "lr_scheduler_kwargs", "deepspeed", "max_steps", "warmup_steps", "use_cpu")
# Other names of the checked keys in the configs of frameworks that drive the Trainer (axolotl: ``lr_scheduler``).
KEY_ALIASES = {"lr_scheduler": "lr_scheduler_type"}
TRUE = ("1", "true", "yes")


def split_local_rank(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split the launcher's ``--local_rank`` flags (``=N`` or ``N``) off the front of ``argv``."""
    local_rank: list[str] = []
    argv = list(argv)
    while argv:
        flag = argv[0].split("=", 1)[0]
        if flag not in LOCAL_RANK_FLAGS:
            break
        take = 1 if "=" in argv[0] else 2
        local_rank += argv[:take]
        argv = argv[take:]
    return local_rank, argv


def _cli_values(args: list[str]) -> dict[str, str]:
    """``--key value`` / ``--key=value`` (also ``--key-name``) for the keys the wrapper checks; last one wins."""
    found: dict[str, str] = {}
    for i, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, eq, value = arg[2:].partition("=")
        name = name.replace("-", "_")
        name = KEY_ALIASES.get(name, name)
        if name not in CHECKED_KEYS:
            continue
        if eq:
            found[name] = value
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            found[name] = args[i + 1]
        else:
            found[name] = "true"  # a bare boolean flag (`--use_cpu`)
    return found


def _config_file_values(args: list[str]) -> dict:
    """The checked keys from a JSON / YAML config file given as an argument (``run_clm.py args.json``,
    ``llamafactory-cli train cfg.yaml``, ``axolotl train cfg.yml`` whose ``lr_scheduler`` is read as
    ``lr_scheduler_type``). A file that is not a mapping with any of those keys (a DeepSpeed JSON, a data
    file) is not a training config and is skipped; so is one that does not parse (the target reports that
    itself)."""
    found: dict = {}
    for arg in args:
        if arg.lower().endswith(CONFIG_SUFFIXES) and os.path.isfile(arg):
            data = _read_config_file(arg)
            if isinstance(data, dict):
                found.update({KEY_ALIASES[k]: v for k, v in data.items() if k in KEY_ALIASES})
                found.update({k: data[k] for k in CHECKED_KEYS if k in data})
    return found


def _read_config_file(path: str):
    try:
        with open(path, encoding="utf-8") as f:
            if path.lower().endswith(".json"):
                return json.load(f)
            try:
                import yaml  # optional: only a YAML config file needs it
            except ImportError:
                return None
            try:
                return yaml.safe_load(f)
            except yaml.YAMLError:
                return None
    except (ValueError, OSError):  # not JSON / not UTF-8 / unreadable
        return None


def _as_number(value, name: str):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UBAConfigError(f"--{name} must be a number; got {value!r}.") from None


def check_uba_arguments(args: list[str]) -> None:
    """Refuse, before the target runs, the UBA arguments that would fail or mislead later.

    Only when ``lr_scheduler_type`` is ``uba`` (on the command line or in a config file; the command
    line wins). Uses the library's own validators, so the messages are the ones the Trainer would
    give at the first update, minus the wait for data and model loading.
    """
    values = {**_config_file_values(args), **_cli_values(args)}
    if str(values.get("lr_scheduler_type", "")).strip().lower() != UBA_SCHEDULER_NAME:
        return
    kwargs = values.get("lr_scheduler_kwargs") or {}
    if isinstance(kwargs, str):
        try:
            kwargs = json.loads(kwargs)
        except json.JSONDecodeError:
            raise UBAConfigError(
                f'--lr_scheduler_kwargs {kwargs!r} is not JSON; write e.g. \'{{"phi": 1.0, "min_lr_ratio": 0.1}}\'.'
            ) from None
    if not isinstance(kwargs, dict):
        raise UBAConfigError(f'--lr_scheduler_kwargs must be a JSON object (e.g. {{"phi": 1.0}}); got {kwargs!r}.')
    kwargs = check_uba_kwargs(kwargs)  # parsed: a phi / floor not given is absent (the schedule picks it)
    phi, min_lr_ratio = kwargs.get("phi"), kwargs.get("min_lr_ratio")
    max_steps = _as_number(values.get("max_steps", -1), "max_steps")
    warmup = _as_number(values.get("warmup_steps", 0), "warmup_steps")
    if max_steps > 0 and warmup >= 1:  # a ratio (< 1) of the budget always fits
        validate_uba_args(phi, min_lr_ratio, warmup, max_steps)
    if values.get("deepspeed"):
        check_no_scheduler_block(load_deepspeed_config(values["deepspeed"]))
    else:
        _check_processes_will_join(str(values.get("use_cpu", "false")).strip().lower() in TRUE)


def _check_processes_will_join(use_cpu: bool) -> None:
    """A launcher started several processes on a machine without an accelerator, and nothing tells the
    Trainer to run on the CPU: each process would then train alone as rank 0, all writing the same
    output_dir, and exit 0 (Accelerate does not pass a config's ``use_cpu`` to the processes it starts)."""
    import torch

    world_size = int(os.environ.get("WORLD_SIZE") or 1)
    cpu_asked = use_cpu or os.environ.get("ACCELERATE_USE_CPU", "").strip().lower() in TRUE
    if world_size > 1 and not cpu_asked and not torch.accelerator.is_available():
        raise UBAConfigError(
            f"{world_size} processes were launched on a machine without GPUs, but the Trainer is not told to "
            "use the CPU, so each would train alone as rank 0. Set ACCELERATE_USE_CPU=1 in the environment "
            "(or pass --use_cpu true)."
        )


def register_in_child_processes() -> None:
    """Put ``uba_hf/_children`` first on ``PYTHONPATH`` so that the Python processes the target starts
    register ``"uba"`` at start-up too (``trl sft`` re-launches its script through ``accelerate launch``)."""
    children = str(Path(__file__).resolve().parent / "_children")
    current = os.environ.get("PYTHONPATH", "")
    if children not in current.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (children, current) if p)


def _console_script(name: str):
    """The installed console script ``name``: its entry point, else a Python script of that name on PATH."""
    from importlib.metadata import entry_points

    found = list(entry_points(group="console_scripts", name=name))
    if found:
        return found[0]
    path = shutil.which(name)
    if path and _is_python_script(path):
        return path
    return None


def _is_python_script(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            first = f.readline(200)
    except OSError:
        return False
    return first.startswith(b"#!") and b"python" in first


def _module_exists(name: str) -> bool:
    """Whether ``python -m name`` would find the module (a missing parent package counts as missing)."""
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def _fail(message: str) -> None:
    """A user error: one line on stderr, exit code 2 (as argparse does)."""
    print(f"{PROG}: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    local_rank, argv = split_local_rank(argv)
    if argv and argv[0] in ("-h", "--help"):
        print(USAGE)
        raise SystemExit(0)
    if not argv or (argv[0] == "-m" and len(argv) < 2):
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    target, rest = (argv[1], argv[2:]) if argv[0] == "-m" else (argv[0], argv[1:])
    rest = local_rank + rest
    try:
        check_uba_arguments(rest)
    except UBAConfigError as e:
        _fail(str(e))
    register_uba_scheduler()
    register_in_child_processes()

    if argv[0] == "-m":
        if not _module_exists(target):
            _fail(f"no module named {target!r} (check the name, or install the package that provides it).")
        sys.argv = [target, *rest]
        runpy.run_module(target, run_name="__main__", alter_sys=True)
        return
    path = Path(target)
    if path.is_file() or (path.is_dir() and (path / "__main__.py").is_file()):
        sys.argv = [target, *rest]
        sys.path.insert(0, str(path.resolve() if path.is_dir() else path.resolve().parent))
        runpy.run_path(target, run_name="__main__")
        return
    script = _console_script(target)
    if script is None:
        _fail(
            f"{target!r} is not a file, and no console script of that name is installed "
            "(give a path to a .py file, -m MODULE, or an installed command such as `trl`)."
        )
    sys.argv = [target, *rest]
    if isinstance(script, str):
        runpy.run_path(script, run_name="__main__")
    else:
        sys.exit(script.load()())


if __name__ == "__main__":
    main()
