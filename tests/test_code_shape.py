"""helpers/ is read by learners after the notebooks and changed by instructors: each function
fits on a screen, public ones say what they do and what they take, and each module names the
notebook that teaches it (complexity is checked by ruff's C901 in `make lint`)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

HELPERS = Path(__file__).resolve().parent.parent / "helpers"
MODULES = sorted(p for p in HELPERS.rglob("*.py") if p.name != "__main__.py")
MAX_LINES = 60


def functions(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield node


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(HELPERS)))
def test_every_function_fits_on_a_screen(path):
    long = [f"{f.name} ({f.end_lineno - f.lineno + 1} lines)" for f in functions(path)
            if f.end_lineno - f.lineno + 1 > MAX_LINES]
    assert not long, f"{path.name}: over {MAX_LINES} lines: {long}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(HELPERS)))
def test_public_functions_have_docstrings_and_type_hints(path):
    tree = ast.parse(path.read_text())
    public = [n for n in tree.body if isinstance(n, ast.FunctionDef)
              and not n.name.startswith("_")]
    public += [m for c in tree.body if isinstance(c, ast.ClassDef) and not c.name.startswith("_")
               for m in c.body if isinstance(m, ast.FunctionDef) and not m.name.startswith("_")]
    bare = [f.name for f in public if ast.get_docstring(f) is None]
    assert not bare, f"{path.name}: public functions without a docstring: {bare}"
    unhinted = [f.name for f in public if f.returns is None or any(
        a.annotation is None for a in f.args.args + f.args.kwonlyargs if a.arg not in
        ("self", "cls"))]
    assert not unhinted, f"{path.name}: public functions without type hints: {unhinted}"


@pytest.mark.parametrize("path", [p for p in MODULES if not p.name.startswith("_")],
                         ids=lambda p: str(p.relative_to(HELPERS)))
def test_each_module_names_the_notebook_that_teaches_it(path):
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    assert re.search(r"notebooks? \d\d|notebooks/|ex\d\d_|no\s+notebook", doc), \
        f"{path.name}: the module docstring names no notebook"
