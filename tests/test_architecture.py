"""The project's shape, checked: three layers, every doc reference resolves, no hidden schedule rule."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from conftest import ROOT, TINY_FLOOR, TINY_PHI, closed_form

LIBRARY = ROOT / "uba_hf"
# What the library may not import: the pretraining job, the benchmark harness, and the job's extras.
FORBIDDEN_IN_LIBRARY = ("uba_hf.pretrain", "uba_bench", "benchmarks", "datasets", "tokenizers", "matplotlib", "yaml")


def _optional(tree: ast.AST) -> set[int]:
    """ids of import nodes inside ``try: ... except ImportError``: optional, the code works without them."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and any(
            isinstance(h.type, ast.Name) and h.type.id in ("ImportError", "ModuleNotFoundError") for h in node.handlers
        ):
            found.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return found


def _imports(path: Path) -> set[str]:
    """Absolute module names a file needs (relative imports resolved against the uba_hf package)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    optional = _optional(tree)
    names = set()
    for node in ast.walk(tree):
        if id(node) in optional:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
                names.add(module)
                names.update(f"{module}.{alias.name}" for alias in node.names)
            else:
                names.add(node.module)
    return names


def library_files() -> list[Path]:
    return sorted(p for p in LIBRARY.rglob("*.py") if "pretrain" not in p.relative_to(LIBRARY).parts)


def test_library_imports_nothing_from_the_job_or_the_harness():
    offenders = {
        str(p.relative_to(ROOT)): sorted(
            n
            for n in _imports(p)
            if n.split(".")[0] in FORBIDDEN_IN_LIBRARY
            or any(n == f or n.startswith(f + ".") for f in FORBIDDEN_IN_LIBRARY)
        )
        for p in library_files()
    }
    assert {k: v for k, v in offenders.items() if v} == {}
    assert len(library_files()) >= 10  # the scan sees the library


def test_the_installed_packages_are_the_library_the_job_and_the_console_scripts():
    import configparser

    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    packages = set(setup["options"]["packages"].split())
    # Listed by hand (the recipes' package is a mapped folder): every package under uba_hf/ and uba_hf_cli/ (the
    # console scripts' fast front), nothing else.
    roots = (LIBRARY, ROOT / "uba_hf_cli")
    on_disk = {".".join(p.parent.relative_to(ROOT).parts) for root in roots for p in root.rglob("__init__.py")}
    assert packages == on_disk | {"uba_hf.pretrain.recipes"}
    assert setup["options"]["package_dir"].split() == ["uba_hf.pretrain.recipes", "=", "recipes/pretrain"]


CONSOLE_SCRIPTS = ROOT / "uba_hf_cli"


def _module_level_imports(path: Path) -> set[str]:
    """The top-level names of the packages ``path`` imports when it is imported: not inside a function or class."""
    names, stack = set(), list(ast.parse(path.read_text(encoding="utf-8")).body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            names.add(path.relative_to(ROOT).parts[0] if node.level else node.module.split(".")[0])
        stack.extend(ast.iter_child_nodes(node))
    return names


def test_the_console_scripts_and_the_library_import_each_other_one_way():
    """``uba_hf_cli`` answers ``--help`` without torch, so: its usage texts import nothing; the library takes from it
    only those texts; and it imports the library only inside its entry points, after ``--help`` is answered. So
    importing either package never imports the other's importer: no cycle."""
    usage = CONSOLE_SCRIPTS / "usage.py"
    assert not [n for n in ast.walk(ast.parse(usage.read_text())) if isinstance(n, (ast.Import, ast.ImportFrom))]
    from_library = {n for p in LIBRARY.rglob("*.py") for n in _imports(p) if n.split(".")[0] == "uba_hf_cli"}
    assert from_library and {n.rsplit(".", 1)[0] if n.count(".") > 1 else n for n in from_library} == {
        "uba_hf_cli.usage"
    }
    scripts = sorted(CONSOLE_SCRIPTS.rglob("*.py"))
    assert {p.name for p in scripts} == {"__init__.py", "usage.py"}
    for path in scripts:
        assert "uba_hf" not in _module_level_imports(path), path
        allowed = {"__future__", "sys", "uba_hf_cli", "uba_hf"}
        assert {n.split(".")[0] for n in _imports(path)} <= allowed, path


# Backticked repo paths in docs and docstrings, e.g. docs/schedule.md or
# tests/library/test_schedule.py::test_pinned_values.
_REF = re.compile(r"`((?:docs|tests|scripts|recipes|benchmarks|uba_hf)/[\w./-]+)(?:::(\w+))?`")


OUTSIDE_THE_REPO = ("shared" + "/docs", "../" + "shared")  # split so this file does not match itself


def _doc_files() -> list[Path]:
    files = [ROOT / "README.md", *ROOT.glob("docs/*.md"), *ROOT.glob("recipes/**/*")]
    files += [*ROOT.glob("benchmarks/*.md"), *ROOT.glob("benchmarks/*/README.md")]  # the index and each study's
    files += [p for p in ROOT.rglob("*.py") if ".git" not in p.parts]
    return [p for p in files if p.is_file()]


def test_every_doc_reference_resolves_and_nothing_points_outside_the_repo():
    missing = []
    for doc in _doc_files():
        text = doc.read_text(encoding="utf-8", errors="replace")
        assert not any(outside in text for outside in OUTSIDE_THE_REPO), f"{doc} cites a path outside the repo"
        for target, test_name in _REF.findall(text):
            target = target.rstrip(".")
            if any(ch in target for ch in "*{<"):  # patterns such as `recipes/deepspeed/*.json`
                continue
            path = ROOT / target
            if not path.exists():
                missing.append(f"{doc.relative_to(ROOT)} -> {target}")
            elif test_name and f"def {test_name}(" not in path.read_text(encoding="utf-8"):
                missing.append(f"{doc.relative_to(ROOT)} -> {target}::{test_name}")
    assert missing == []


def test_schedule_spec_is_in_the_repo():
    spec = (ROOT / "docs" / "schedule.md").read_text()
    for needed in ("2 c / (2 phi + (2 - phi) c)", "s >= N", "min_lr_ratio", "arXiv 2505.24452"):
        assert needed in spec


@pytest.mark.slow
def test_pretrain_cli_honours_an_explicit_linear_schedule(tmp_path):
    """The CLI's default is uba, so `--lr_scheduler_type linear` there means linear (no hidden rule)."""
    from uba_hf.pretrain.cli import main

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for i, src in enumerate(sorted(Path(json.__file__).parent.glob("*.py"))):
        (corpus / f"doc{i}.txt").write_text(src.read_text(encoding="utf-8"), encoding="utf-8")
    out = tmp_path / "run"
    steps, warmup, lr = 6, 2, 1e-3
    common = ["--dataset_name", str(corpus), "--vocab_size", "400", "--block_size", "32", "--max_eval_blocks", "4"]
    common += ["--max_steps", str(steps), "--warmup_steps", str(warmup), "--learning_rate", str(lr)]
    common += ["--per_device_train_batch_size", "2", "--logging_steps", "1", "--save_strategy", "no"]
    common += ["--eval_strategy", "no", "--preprocessing_num_workers", "1", "--output_dir", str(out)]
    recipe = str(ROOT / "recipes" / "pretrain" / "tiny.yaml")
    assert (
        main([recipe, *common, "--lr_scheduler_type", "linear", "--config_overrides", '{"num_hidden_layers": 1}']) == 0
    )
    history = json.loads((out / "trainer_state.json").read_text())["log_history"]
    lrs = {h["step"] - 1: h["learning_rate"] for h in history if "learning_rate" in h}
    linear = {s: lr * (s / warmup if s < warmup else (steps - s) / (steps - warmup)) for s in range(steps)}
    assert lrs == pytest.approx(linear, rel=1e-9, abs=1e-15)
    uba = {s: lr * closed_form(s, warmup, steps, TINY_PHI, TINY_FLOOR) for s in range(steps)}
    assert lrs != pytest.approx(uba, rel=1e-6)  # and it is not the UBA curve
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["lr_scheduler_type"] == "linear"


def test_the_benchmark_harness_has_no_import_cycle():
    """uba_bench's modules import each other in one direction only (lazy imports inside functions count)."""
    harness = ROOT / "benchmarks" / "uba_bench"
    modules = {p.stem for p in harness.glob("*.py") if p.stem != "__init__"}
    graph = {
        m: {n.split(".")[2] for n in _imports(harness / f"{m}.py") if n.startswith("benchmarks.uba_bench.")} & modules
        for m in modules
    }
    assert graph["runner"] >= {"grid"} and "runner" not in graph["grid"]  # the cycle this replaced

    def cycle_from(m, path):
        if m in path:
            return path[path.index(m) :] + [m]
        return next((c for n in sorted(graph[m]) if (c := cycle_from(n, [*path, m]))), None)

    assert [c for m in sorted(modules) if (c := cycle_from(m, []))] == []
