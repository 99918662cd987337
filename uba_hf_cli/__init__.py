"""The console scripts ``uba-run`` and ``uba-pretrain``: ``--help`` at once, and the library to run.

They live outside ``uba_hf`` on purpose. Python imports a package before any module in it, and importing
``uba_hf`` registers the schedule with Transformers, which imports torch and Transformers: 5 to 15 s
before a single line of help on a loaded machine. These entry points answer ``--help`` (and a missing
argument) from ``uba_hf_cli.usage``, which imports nothing, and import ``uba_hf`` only to run (or for
``uba-pretrain --help-all``, which renders the full parser of the installed Transformers).

The dependency goes one way: ``uba_hf`` imports only ``uba_hf_cli.usage`` from here (for the same texts), and
this module imports ``uba_hf`` only inside the entry points (``tests/test_architecture.py``).
"""

from __future__ import annotations

import sys

from .usage import HELP_FLAGS, PRETRAIN_HELP, PRETRAIN_NO_ARGUMENTS, RUN_USAGE

__all__ = ["pretrain_main", "run_main"]


def run_main() -> None:
    """``uba-run``: the usage at once; anything else goes to ``uba_hf.run.main``."""
    argv = sys.argv[1:]
    if argv[:1] and argv[0] in HELP_FLAGS:
        print(RUN_USAGE)
        raise SystemExit(0)
    from uba_hf.run import main

    main()


def pretrain_main() -> int:
    """``uba-pretrain``: ``--help`` and the no-argument hint at once; a run (and ``--help-all``) goes to
    ``uba_hf.pretrain.cli.main``."""
    argv = sys.argv[1:]
    if not argv:
        print(PRETRAIN_NO_ARGUMENTS, file=sys.stderr)
        return 2
    if any(arg in HELP_FLAGS for arg in argv):
        print(PRETRAIN_HELP, end="")
        return 0
    from uba_hf.pretrain.cli import main

    return main(argv)
