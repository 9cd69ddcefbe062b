"""helpers/ is read by learners after the notebooks and changed by instructors: each function
fits on a screen and takes at most 15 decisions counting ternaries and boolean operators
(:func:`complexity`; ruff's C901 in `make lint` counts fewer), each module holds one thing in at
most 400 lines, public functions say what they do and what they take, and each module names the
notebook that teaches it; and the import table (:data:`PARTS`) holds: the formulas import no
engine, settings imports no TensorFlow, the engine imports no front-end and picks no images,
front-ends import no other front-end's private names, and no import cycles. Known debts of
files other work owns are listed by name, with their figure and the day (:data:`LONG_TODAY`,
:data:`COMPLEX_TODAY`, :data:`ALLOWED`)."""

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


#: The most lines a module may have: more, and it holds more than one thing (issue #30).
MAX_MODULE_LINES = 400
#: Modules over the limit today in files other work owns, with their length on the day they
#: were listed (2026-12-07): known debts; the test fails when one grows or is paid.
LONG_TODAY: dict[str, int] = {}


def test_every_module_is_at_most_400_lines():
    lengths = {str(p.relative_to(HELPERS)): len(p.read_text().splitlines()) for p in MODULES}
    over = {name: n for name, n in lengths.items() if n > MAX_MODULE_LINES}
    new = {name: n for name, n in over.items() if n > LONG_TODAY.get(name, MAX_MODULE_LINES)}
    assert not new, f"over {MAX_MODULE_LINES} lines (or grown since listed): {new}"
    assert sorted(name for name in LONG_TODAY if name not in over) == [], "paid: unlist them"


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


# --- layering: who may import whom (issue #30) -------------------------------------------

#: Where each module of helpers/ belongs (a package name covers its submodules). A new module
#: must be given a place here: that is the moment to decide what it may import.
PARTS = {
    # what everything may use: no TensorFlow, no images, no engine
    "base": ("helpers", "helpers._tf", "helpers.errors", "helpers.files", "helpers.signals",
             "helpers.registry", "helpers.settings", "helpers.setting_checks",
             "helpers.data", "helpers.bundled_files", "helpers.code", "helpers.report"),
    # what a student reads: the formulas and the image conversions, and their speed tricks
    "formulas": ("helpers.losses", "helpers.images", "helpers.image_files", "helpers.fast_ops"),
    # what paints: stylize and everything it runs on (the registries' parts included)
    "engine": ("helpers.stylizing", "helpers.run_plan", "helpers.run_images", "helpers.run_loop",
               "helpers.result", "helpers.memory", "helpers.objective", "helpers.targets",
               "helpers.optimizers",
               "helpers.control", "helpers.checkpoints", "helpers.backbone", "helpers.backbones",
               "helpers.style_losses", "helpers.fast_lbfgsb"),
    # what people use: each front-end is one entry, its modules are its own
    "cli": ("helpers.cli", "helpers.__main__"),
    "widgets": ("helpers.widgets", "helpers.app"),
    "sweeps": ("helpers.sweeps",),
    "exercises": ("helpers.exercises",),
}
FRONT_ENDS = ("cli", "widgets", "sweeps", "exercises")
#: What the formulas may import from helpers/ besides each other.
FORMULAS_MAY_IMPORT = ("helpers._tf", "helpers.errors", "helpers.files")
#: The modules that hold the bundled images: the front-ends pick images, the engine does not.
IMAGE_PICKERS = ("helpers.data",)
#: Imports that break a rule today, owned by other files' work: (importer, imported) -> why.
#: Each is a known debt; the tests fail on any import that breaks a rule and is not listed.
ALLOWED: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    """``helpers/sweeps/grid.py`` -> ``helpers.sweeps.grid`` (``__init__.py``: the package)."""
    parts = path.relative_to(HELPERS.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


ALL_MODULES = {module_name(p): p for p in HELPERS.rglob("*.py")}


def part_of(module: str) -> str | None:
    """The part of :data:`PARTS` that holds ``module`` (the longest matching name wins)."""
    best = max(((name, part) for part, names in PARTS.items() for name in names
                if module == name or module.startswith(name + ".")),
               key=lambda np_: len(np_[0]), default=(None, None))
    return best[1]


def imported_names(module: str) -> list[tuple[str, str | None]]:
    """(module, name or None) of every import in ``module``, at its top or inside a function,
    relative ones resolved; ``importlib.import_module("helpers.x")`` counts too."""
    tree = ast.parse(ALL_MODULES[module].read_text())
    package = module if ALL_MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    out: list[tuple[str, str | None]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(alias.name, None) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            out += [(base, alias.name) for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant)):
            out.append((node.args[0].value, None))
    return out


def imports_of(module: str) -> set[str]:
    """The helpers modules (and private names, e.g. ``helpers.cli._image``) ``module``
    imports: ``from helpers import images`` -> ``helpers.images``."""
    out = set()
    for base, name in imported_names(module):
        if not (base == "helpers" or base.startswith("helpers.")):
            continue
        if name and f"{base}.{name}" in ALL_MODULES:
            out.add(f"{base}.{name}")
        elif name and name.startswith("_"):
            out.add(f"{base}.{name}")
        else:
            out.add(base)
    return out - {module}


def assert_none_breaks(rule) -> None:
    """Fail, naming them, on the imports ``rule(importer, imported)`` calls a break and
    :data:`ALLOWED` does not list."""
    bad = [f"{m} imports {i}" for m in sorted(ALL_MODULES) for i in sorted(imports_of(m))
           if rule(m, i) and (m, i) not in ALLOWED]
    assert not bad, "\n".join(bad)


def owner(name: str) -> str | None:
    """The part of the module that defines ``name`` (a module or a module's private name)."""
    return part_of(name if name in ALL_MODULES else name.rpartition(".")[0])


def test_every_module_has_a_place_in_the_import_table():
    assert [m for m in ALL_MODULES if part_of(m) is None] == []


def test_the_formulas_import_no_engine():
    assert_none_breaks(lambda m, i: part_of(m) == "formulas" and owner(i) != "formulas" and not any(
        i == a or i.startswith(a + ".") for a in FORMULAS_MAY_IMPORT))


def test_the_engine_imports_no_front_end_and_picks_no_images():
    assert_none_breaks(lambda m, i: part_of(m) == "engine" and (
        owner(i) in FRONT_ENDS or owner(i) is None or i in IMAGE_PICKERS))


def test_front_ends_import_no_other_front_ends_private_names():
    def private(name: str) -> bool:
        return any(part.startswith("_") and part != "__main__" for part in name.split(".")[1:])

    assert_none_breaks(lambda m, i: part_of(m) in FRONT_ENDS and owner(i) in FRONT_ENDS
                       and owner(i) != part_of(m) and private(i))


def test_no_import_cycles():
    import graphlib

    graph = {m: {i for i in imports_of(m) if i in ALL_MODULES and (m, i) not in ALLOWED}
             for m in ALL_MODULES}
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle: {' -> '.join(cycle.args[1])}")


def test_settings_and_the_registries_import_no_tensorflow():
    """Settings, and the tables of style losses and backbones they read, load in a fraction of a
    second: not even their modules' loaders import TensorFlow or Keras until they run."""
    import subprocess
    import sys

    code = ("import sys, helpers.settings, helpers.style_losses, helpers.backbones\n"
            "print(sorted(m for m in ('tensorflow', 'keras', 'helpers._tf') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**__import__("os").environ, "PYTHONPATH": str(HELPERS.parent)})
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


# --- complexity, counting what ruff's C901 does not (issue #30) ---------------------------

#: The most decisions a function may take (ruff's C901 limit, :data:`MAX_COMPLEXITY`), counted
#: with the ternaries and boolean operators that ruff leaves out.
MAX_COMPLEXITY = 15
#: Functions over the limit today in files other work owns, with their figure on the day they
#: were listed: each is a known debt, to be paid by the file's owner; the test fails when one
#: grows, and when one is paid (so that its line goes too). Listed 2026-12-07 (issue #30).
COMPLEX_TODAY: dict[str, int] = {}


def complexity(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """McCabe's count of ``func`` (1 + one per ``if``/``elif``, loop, ``except`` and ``case``)
    plus one per conditional expression (``a if c else b``), one per extra operand of
    ``and``/``or``, and one per ``if`` of a comprehension. Functions defined inside count on
    their own, not here."""
    count = 1
    todo = list(ast.iter_child_nodes(func))
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        if isinstance(node, (ast.If, ast.For, ast.AsyncFor, ast.While, ast.ExceptHandler,
                             ast.IfExp, ast.match_case)):
            count += 1
        elif isinstance(node, ast.BoolOp):
            count += len(node.values) - 1
        elif isinstance(node, ast.comprehension):
            count += len(node.ifs)
        todo.extend(ast.iter_child_nodes(node))
    return count


def qualified_functions(path: Path):
    """(``module:Class.function`` name, node) of every function in ``path``, nested ones too."""
    tree = ast.parse(path.read_text())
    name = str(path.relative_to(HELPERS.parent))

    def walk(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{name}:{prefix}{child.name}", child
                yield from walk(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                yield from walk(child, f"{prefix}{child.name}.")
            else:
                yield from walk(child, prefix)

    yield from walk(tree, "")


def test_complexity_counts_ternaries_and_boolean_operators():
    tree = ast.parse("def f(a, b):\n    if a and b or a:\n        return [x for x in a if x]\n"
                     "    return a if b else b\n")
    assert complexity(tree.body[0]) == 1 + 1 + 2 + 1 + 1


def test_no_function_is_over_the_complexity_limit():
    found = {name: complexity(f) for path in MODULES for name, f in qualified_functions(path)}
    over = {name: n for name, n in found.items() if n > MAX_COMPLEXITY}
    new = {name: n for name, n in over.items() if n > COMPLEX_TODAY.get(name, MAX_COMPLEXITY)}
    assert not new, f"over complexity {MAX_COMPLEXITY} (or grown since listed): {new}"
    paid = sorted(name for name in COMPLEX_TODAY if name not in over)
    assert not paid, f"paid: remove them from COMPLEX_TODAY: {paid}"
