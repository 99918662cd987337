"""Registers ``"uba"`` at start-up in every Python process started under ``uba-run`` (see ``__init__``).

It shadows any other ``sitecustomize`` on the path, so it runs that one first. Registration imports
Transformers at start-up in those processes; a training process imports it anyway.
"""

import importlib
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))


def _run_shadowed_sitecustomize() -> None:
    this = sys.modules.get(__name__)
    saved = sys.path[:]
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]
    sys.modules.pop(__name__, None)
    try:
        importlib.import_module("sitecustomize")
    except ModuleNotFoundError as e:
        if e.name != "sitecustomize":
            raise
    finally:
        sys.path[:] = saved
        if this is not None:
            sys.modules[__name__] = this


def _register() -> None:
    if importlib.util.find_spec("uba_hf") is None:
        # Launched from a checkout that is not installed: the package is the directory above this one's parent.
        sys.path.append(os.path.dirname(os.path.dirname(_HERE)))
    from uba_hf.registry import register_uba_scheduler

    register_uba_scheduler()


_run_shadowed_sitecustomize()
_register()
