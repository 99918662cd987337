"""Run an unmodified Transformers script with the ``"uba"`` scheduler type available.

    python -m uba_hf.run path/to/run_clm.py --lr_scheduler_type uba --lr_scheduler_kwargs '{"phi": 1.0}' ...
    python -m uba_hf.run -m some.module --lr_scheduler_type uba ...

``HfArgumentParser`` reads the ``SchedulerType`` choices when the script builds its parser, so the
registration must happen before the script runs; this wrapper registers, then runs the script as
``__main__`` with the remaining arguments, like ``python script.py ...`` would.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys
from pathlib import Path

from .registry import register_uba_scheduler

USAGE = (
    "usage: python -m uba_hf.run SCRIPT.py [ARGS...] | python -m uba_hf.run -m MODULE [ARGS...]"
    "   (installed as `uba-run`)"
)
HELP = f"""{USAGE}

Run an unmodified Transformers script (e.g. run_clm.py) with the "uba" scheduler type registered, so
that --lr_scheduler_type uba --lr_scheduler_kwargs '{{"phi": 1.0, "min_lr_ratio": 0.1}}' work.
ARGS go to the script unchanged (`uba-run run_clm.py --help` shows the script's own help)."""


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(HELP)
        raise SystemExit(0)
    if not argv or (argv[0] == "-m" and len(argv) < 2):
        print(USAGE, file=sys.stderr)
        raise SystemExit(2)
    if argv[0] != "-m" and not Path(argv[0]).is_file():
        print(f"uba-run: error: no such script {argv[0]!r} (to run a module, use -m MODULE)", file=sys.stderr)
        raise SystemExit(2)
    register_uba_scheduler()
    if argv[0] == "-m":
        module, rest = argv[1], argv[2:]
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:  # a missing parent package
            found = False
        if not found:
            print(f"uba-run: error: no module named {module!r}", file=sys.stderr)
            raise SystemExit(2)
        sys.argv = [module, *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    else:
        script, rest = argv[0], argv[1:]
        sys.argv = [script, *rest]
        sys.path.insert(0, str(Path(script).resolve().parent))
        runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
