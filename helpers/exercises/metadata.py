"""nbgrader cell metadata for the instructor notebooks in notebooks/exercises (schema
version 3): solution cells and check cells ("autograder tests", locked, with points), so
``nbgrader generate_assignment`` and ``nbgrader autograde`` work on them unchanged, and
:mod:`helpers.exercises.grading` finds each check cell by its stable cell id."""

from __future__ import annotations

import re
from typing import Any

from helpers.exercises.student import BEGIN

#: Points per check; the check cells' nbgrader metadata is written from this table.
POINTS: dict[str, int] = {"preprocess": 2, "deprocess": 2, "gram": 2, "content": 1,
                          "style_layer": 2, "style": 2, "tv": 2, "lbfgs": 3, "look": 3}
SCHEMA_VERSION = 3
_CHECK_CALL = re.compile(r"""^\s*check\(\s*["'](\w+)["']""", re.M)
_DEF = re.compile(r"^def\s+(\w+)", re.M)


def checks_in(source: str) -> list[str]:
    """The check names a cell calls, ``check("gram", …)`` -> ["gram"]."""
    return _CHECK_CALL.findall(source)


def cell_metadata(cell: Any) -> dict[str, Any] | None:
    """The nbgrader metadata this code cell should carry, or None for an ordinary cell."""
    if cell.cell_type != "code":
        return None
    names = checks_in(cell.source)
    if names:
        return {"grade": True, "grade_id": f"check-{names[0]}", "locked": True,
                "points": sum(POINTS[n] for n in names), "schema_version": SCHEMA_VERSION,
                "solution": False, "task": False}
    if BEGIN in cell.source:
        functions = _DEF.findall(cell.source)
        return {"grade": False, "grade_id": f"answer-{functions[0] if functions else cell.id}",
                "locked": False, "schema_version": SCHEMA_VERSION, "solution": True,
                "task": False}
    return None


def add_metadata(nb: Any) -> Any:
    """Write (or refresh) the nbgrader metadata of every solution and check cell, in place."""
    for cell in nb.cells:
        meta = cell_metadata(cell)
        if meta is None:
            cell.metadata.pop("nbgrader", None)
        else:
            cell.metadata["nbgrader"] = meta
    return nb


def metadata_problems(nb: Any) -> list[str]:
    """What nbgrader would refuse or we would grade wrongly, per its documented schema v3:
    grade/solution/locked/task booleans, a unique grade_id on every graded, solution or
    locked cell, points (a number >= 0) on grade cells, schema_version 3."""
    problems: list[str] = []
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if meta is None:
            continue
        where = f"cell {index} ({cell.get('id')})"
        problems += [f"{where}: {problem}" for problem in _cell_problems(cell, meta, seen)]
    return problems


def _cell_problems(cell: Any, meta: dict[str, Any], seen: set[str]) -> list[str]:
    """What is wrong with one cell's nbgrader metadata ``meta``; its grade_id is added to
    ``seen``."""
    problems = [f"'{key}' must be true or false" for key in ("grade", "solution", "locked", "task")
                if not isinstance(meta.get(key), bool)]
    if meta.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version must be {SCHEMA_VERSION}")
    if meta.get("grade") or meta.get("solution") or meta.get("locked"):
        problems += _grade_id_problems(meta.get("grade_id"), seen)
    if meta.get("grade") and not (isinstance(meta.get("points"), int | float)
                                  and meta["points"] >= 0):
        problems.append("a grade cell needs points >= 0")
    if meta.get("solution") and cell.cell_type == "code" and BEGIN not in cell.source:
        problems.append(f"a solution cell without {BEGIN}")
    return problems


def _grade_id_problems(grade_id: Any, seen: set[str]) -> list[str]:
    """A grade_id that is not letters, digits, _ or -, or one already ``seen`` (then added)."""
    problems = []
    if not isinstance(grade_id, str) or not re.fullmatch(r"[\w-]+", grade_id):
        return ["grade_id must be letters, digits, _ or -"]  # a list or dict cannot be seen
    if grade_id in seen:
        problems.append(f"duplicate grade_id {grade_id!r}")
    seen.add(grade_id)
    return problems
