"""The console scripts ``uba-run`` and ``uba-pretrain``: their usage texts, and ``--help`` without torch.

They live outside ``uba_hf`` on purpose. Python imports a package before any module in it, and importing
``uba_hf`` registers the schedule with Transformers, which imports torch and Transformers: 5 to 15 s
before a single line of help on a loaded machine. These entry points answer ``--help`` (and a missing
argument) from the texts here, and import ``uba_hf`` only to run.

``uba-pretrain --help`` lists Transformers' ``TrainingArguments`` too, so its text is rendered ahead of
time (``_pretrain_help.py``, for the Transformers version it names) and rendered live, slowly, under
any other version. Regenerate it after changing an option or upgrading Transformers:
``python -m uba_hf_cli.render``.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version

HELP_FLAGS = ("-h", "--help")

RUN_PROG = "uba-run"
RUN_USAGE = f"""usage: python -m uba_hf.run (or {RUN_PROG}) TARGET [ARGS...]

TARGET is one of
  SCRIPT.py            a Python file (or a directory with __main__.py), run as __main__
  -m MODULE            a module, run like `python -m MODULE`
  NAME                 an installed console script (`{RUN_PROG} trl sft ...`, `{RUN_PROG} llamafactory-cli train \
cfg.yaml`)

Registers the "uba" scheduler type first, so `--lr_scheduler_type uba --lr_scheduler_kwargs '{{"phi": 1.0}}'`
works in any HfArgumentParser script. UBA arguments and a --deepspeed config are checked before the
target runs. --local_rank=N / --local-rank N given before TARGET (by a launcher) is passed on to it."""

PRETRAIN_USAGE = "uba-pretrain [RECIPE.yaml] [--key value ...]"
PRETRAIN_DESCRIPTION = """\
Pretrain an OLMo-2 style decoder from scratch with the UBA learning-rate schedule.

positional arguments:
  RECIPE.yaml   optional YAML recipe (e.g. recipes/pretrain/tiny.yaml, the CPU default) whose keys are
                the --options below; --key value flags after it override the recipe. A shipped recipe
                can be named instead of a path: tiny, olmo2-20m, ..., olmo2-7b.

The job's own options come first (model, data, UBA schedule, run), then Transformers' TrainingArguments.
Example: uba-pretrain tiny --max_steps 50 --output_dir out/x"""
PRETRAIN_NO_ARGUMENTS = (
    f"usage: {PRETRAIN_USAGE}\n"
    "uba-pretrain: no arguments. Try `uba-pretrain tiny` (the CPU default run) or `uba-pretrain --help`."
)


def _installed_transformers() -> str | None:
    try:
        return version("transformers")
    except PackageNotFoundError:
        return None


def rendered_pretrain_help() -> str | None:
    """The pre-rendered ``uba-pretrain --help``, or None when it was rendered under another Transformers."""
    from . import _pretrain_help

    return _pretrain_help.TEXT if _pretrain_help.TRANSFORMERS_VERSION == _installed_transformers() else None


def run_main() -> None:
    """``uba-run``: the usage at once; anything else goes to ``uba_hf.run.main``."""
    argv = sys.argv[1:]
    if argv[:1] and argv[0] in HELP_FLAGS:
        print(RUN_USAGE)
        raise SystemExit(0)
    from uba_hf.run import main

    main()


def pretrain_main() -> int:
    """``uba-pretrain``: ``--help`` and the no-argument hint at once; a run goes to ``uba_hf.pretrain.cli.main``."""
    argv = sys.argv[1:]
    if not argv:
        print(PRETRAIN_NO_ARGUMENTS, file=sys.stderr)
        return 2
    if any(arg in HELP_FLAGS for arg in argv) and (text := rendered_pretrain_help()) is not None:
        print(text, end="")
        return 0
    from uba_hf.pretrain.cli import main

    return main(argv)
