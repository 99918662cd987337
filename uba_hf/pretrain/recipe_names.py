"""Shipped recipes by name: ``uba-pretrain tiny`` reads ``recipes/pretrain/tiny.yaml``.

A source checkout has them in ``recipes/pretrain/``; the wheel ships the same files as package data in the
package ``uba_hf.pretrain.recipes`` (setup.cfg maps it onto the folder ``recipes/pretrain``), so a name works
from any directory after ``pip install uba-hf``. A path ending in ``.yaml`` / ``.yml`` is taken as given.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import UBAConfigError

_HERE = Path(__file__).resolve().parent
# Installed wheel first, then the checkout this module sits in.
RECIPE_DIRS = (_HERE / "recipes", _HERE.parents[1] / "recipes" / "pretrain")


def recipe_dir() -> Path | None:
    """The folder of the shipped pretraining recipes, or None if this installation has none."""
    return next((d for d in RECIPE_DIRS if d.is_dir() and any(d.glob("*.yaml"))), None)


def recipe_names() -> list[str]:
    folder = recipe_dir()
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder else []


def resolve_recipe(arg: str) -> str | None:
    """The recipe file the CLI's first argument names: a ``.yaml`` / ``.yml`` path as given, a shipped recipe's
    name (``tiny``, ``olmo2-150m``) as its file, None for an option (``--key``)."""
    if arg.startswith("-"):
        return None
    if arg.endswith((".yaml", ".yml")):
        return arg
    folder = recipe_dir()
    if folder is not None and (folder / f"{arg}.yaml").is_file():
        return str(folder / f"{arg}.yaml")
    names = ", ".join(recipe_names()) or "none installed"
    raise UBAConfigError(f"{arg!r} is neither a YAML recipe (.yaml) nor the name of a shipped recipe ({names}).")
