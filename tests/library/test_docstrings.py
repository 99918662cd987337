"""Every public name of ``uba_hf`` explains itself in ``help()``, and the examples in the docstrings run."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import pydoc

import pytest

import uba_hf

CONSTANTS = [n for n in uba_hf.__all__ if isinstance(getattr(uba_hf, n), (str, int, float))]
OBJECTS = [n for n in uba_hf.__all__ if n not in CONSTANTS]
# Where Transformers has a schedule function, and for the objects users build first: a runnable example.
WITH_EXAMPLE = [
    "get_uba_schedule_with_warmup",
    "uba_factor",
    "uba_lr_lambda",
    "suggest_schedule",
    "zero_config_schedule",
    "register_uba_scheduler",
    "UBASchedule",
    "UBAArguments",
    "UBAConfigError",
]
MODULES = ["uba_hf", "uba_hf.schedule", "uba_hf.registry", "uba_hf.arguments", "uba_hf.errors", "uba_hf.zero_config"]


def test_the_lists_cover_every_public_name():
    assert sorted(CONSTANTS + OBJECTS) == sorted(uba_hf.__all__)
    assert CONSTANTS == ["UBA_SCHEDULER_NAME"]
    assert set(WITH_EXAMPLE) <= set(OBJECTS)


@pytest.mark.parametrize("name", OBJECTS)
def test_every_public_object_has_its_own_docstring_that_reads_in_help(name):
    obj = getattr(uba_hf, name)
    own = vars(obj).get("__doc__") if inspect.isclass(obj) else obj.__doc__  # not inherited (ValueError's)
    assert own, f"{name} has no docstring of its own"
    doc = inspect.getdoc(obj)
    summary = doc.splitlines()[0]
    assert summary.endswith(".") and len(summary) <= 120, f"{name}: first line {summary!r}"
    assert len(doc.split()) >= 25, f"{name}: {len(doc.split())} words"
    assert summary in pydoc.render_doc(obj, renderer=pydoc.plaintext)


@pytest.mark.parametrize("name", CONSTANTS)
def test_every_public_constant_is_documented_where_it_is_defined_and_in_the_package_help(name):
    """A constant has no ``__doc__`` of its own: a string right after its assignment documents it (as Sphinx
    reads it), and the package docstring, which ``help(uba_hf)`` shows, names it."""
    value = getattr(uba_hf, name)
    module = next(m for m in (uba_hf.schedule, uba_hf.registry) if name in vars(m) and getattr(m, name) is value)
    body = ast.parse(inspect.getsource(module)).body
    docs = [
        nxt.value.value
        for stmt, nxt in zip(body, body[1:], strict=False)
        if isinstance(stmt, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == name for t in stmt.targets)
        and isinstance(nxt, ast.Expr)
        and isinstance(nxt.value, ast.Constant)
        and isinstance(nxt.value.value, str)
    ]
    assert len(docs) == 1 and len(docs[0].split()) >= 10, f"{name}: {docs}"
    assert f"``{name}``" in uba_hf.__doc__


@pytest.mark.parametrize("name", WITH_EXAMPLE)
def test_the_schedule_functions_show_an_example(name):
    assert ">>> " in inspect.getdoc(getattr(uba_hf, name))


def test_the_docstring_examples_run_and_print_what_they_say():
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    ran = {}
    for module_name in MODULES:
        module = importlib.import_module(module_name)
        for test in finder.find(module, module_name):
            if test.examples:
                ran[test.name] = runner.run(test, out=lambda _: None)
    failed = {name: result for name, result in ran.items() if result.failed}
    assert failed == {}
    documented = {name.rsplit(".", 1)[-1] for name in ran}
    assert set(WITH_EXAMPLE) <= documented  # every example above was found and run
    assert sum(r.attempted for r in ran.values()) >= 30
