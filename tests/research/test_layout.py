"""benchmarks/ as its charter says (benchmarks/README.md): one folder per question, each with a README the index
lists, and the engine and the studies import from uba_hf only what the package makes public."""

from __future__ import annotations

import ast

import pytest
from conftest import ROOT

import uba_hf

BENCHMARKS = ROOT / "benchmarks"
ENGINE = "uba_bench"
# Modules of uba_hf a study may import from, beside the names of ``uba_hf.__all__``.
PUBLIC_MODULES = ("uba_hf.pretrain", "uba_hf.callbacks", "uba_hf.zero_config")
# The engine and the studies this check covers.
CHECKED = (ENGINE, "phi_factors", "overhead", "rebudget", "frameworks", "shapes", "high_area")


def study_folders() -> list[str]:
    return sorted(
        p.name for p in BENCHMARKS.iterdir() if p.is_dir() and p.name != ENGINE and not p.name.startswith((".", "_"))
    )


def uba_hf_imports(path) -> set[str]:
    """``module`` or ``module:name`` for every import from ``uba_hf`` in a file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "uba_hf"}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module.split(".")[0] == "uba_hf":
            found |= {f"{node.module}:{a.name}" for a in node.names}
    return found


def is_public(imported: str) -> bool:
    module, _, name = imported.partition(":")
    if module == "uba_hf":
        return not name or name in uba_hf.__all__ or name == "__version__"
    return any(module == m or module.startswith(m + ".") for m in PUBLIC_MODULES)


@pytest.mark.parametrize("folder", study_folders())
def test_every_study_folder_has_a_readme_that_the_index_lists(folder):
    readme = BENCHMARKS / folder / "README.md"
    assert readme.is_file(), f"benchmarks/{folder}/ has no README.md"
    assert f"`{folder}/`" in (BENCHMARKS / "README.md").read_text(encoding="utf-8"), f"the index misses {folder}/"


def test_the_engine_and_the_studies_import_only_public_names_of_uba_hf():
    files = [p for folder in CHECKED for p in sorted((BENCHMARKS / folder).rglob("*.py"))]
    assert len(files) >= 15  # the scan sees the engine and the studies
    private = {str(p.relative_to(ROOT)): sorted(i for i in uba_hf_imports(p) if not is_public(i)) for p in files}
    assert {k: v for k, v in private.items() if v} == {}
    assert not is_public("uba_hf.checkpoints:COMPLETE_MARKER") and is_public("uba_hf.pretrain.data:load_corpus")
