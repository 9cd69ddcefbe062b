"""Classroom exercises: checks that name the mistake, student versions, and grading.

``check(name, answer)`` runs a student's function on hidden inputs (made here with a fixed
seed, several shapes, non-square among them, one at real layer size where overflow matters,
and real VGG features where float16 overflows)
against the reference in :mod:`helpers.images` and :mod:`helpers.losses`. A right answer
prints one line starting with ✓; a wrong one raises :class:`CheckFailed` (an
``AssertionError``, so nbgrader scores it) whose message says which mistake the output
matches. Neither the reference code nor its outputs are shown.

The package, one module per notebook of ``notebooks/exercises``:

- :mod:`._engine`  the check: calling the student's function and judging its answers
- :mod:`.cases`, :mod:`.diagnosis`  the hidden inputs; naming a wrong answer (factors, …)
- :mod:`.mutations`  the search over mutants of each reference (operators as data)
- :mod:`.real_inputs`  real-magnitude hidden inputs (VGG features of the bundled images)
- :mod:`.ex01_preprocess` … :mod:`.ex07_match_the_look`  one check module per notebook
- :mod:`.ex01_mistakes`, :mod:`.ex04_mistakes`  the mutation operators of ex01 and ex04
- :mod:`.instructor`  the instructor's folder (``--source``; the ex07 target's settings)
- :mod:`.student`  student versions (``python -m helpers exercises --student OUTDIR``)
- :mod:`.metadata` the nbgrader cell metadata of the instructor notebooks, and its points
- :mod:`.grading`  grading a class (``python -m helpers exercises --grade SUBMISSIONS``):
  the kernel only answers (:mod:`.harness`), the grader judges (:mod:`.judge`,
  :mod:`.judge_runs`, an instructor's own checks: :mod:`.custom`)
"""

from __future__ import annotations

import json
import os
from typing import Any, Callable

from helpers.exercises._engine import NOT_IMPLEMENTED, SEED, CheckFailed, run_spec
from helpers.exercises.ex01_preprocess import PREPROCESS, run_deprocess
from helpers.exercises.ex02_gram import GRAM
from helpers.exercises.ex03_content import CONTENT
from helpers.exercises.ex04_style import STYLE, STYLE_LAYER
from helpers.exercises.ex05_total_variation import TV
from helpers.exercises.ex06_lbfgs import run_lbfgs
from helpers.exercises.ex07_match_the_look import (
    LOOK_SETTINGS,
    LOOK_THRESHOLDS,
    look_distances,
    look_paint,
    look_picture,
    look_size,
    run_look,
)
from helpers.exercises.student import (
    BEGIN,
    END,
    HINT,
    has_solution,
    solution_lines,
    student_source,
    student_version,
    write_student_versions,
)


def __getattr__(name: str) -> Any:
    """``EXERCISES_DIR`` and ``LOOK_TARGET``, only when running from the repository (the
    installed package holds neither the instructor's folder nor the ex07 settings: see
    :mod:`.instructor`); kept for the tests, which read the checkout's notebooks."""
    import importlib

    source = None
    if name in ("EXERCISES_DIR", "LOOK_TARGET"):
        instructor = importlib.import_module("helpers.exercises.instructor")
        source = instructor.checkout_source()
    if source is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return source if name == "EXERCISES_DIR" else instructor.look_target(source)


#: When set, every check appends one JSON line {check, passed, credit, message} to this file
#: (for tools of your own; the project's grader does not read it: it judges answers itself).
GRADE_LOG_ENV = "NST_GRADE_LOG"
#: Set for nbgrader's autograde: a failed check with partial credit prints its message and
#: returns the points it earns (nbgrader's partial credit) instead of raising.
PARTIAL_CREDIT_ENV = "NST_PARTIAL_CREDIT"
#: Set in the grader's kernels: the check cells do nothing there (the grader judges the
#: answers the kernel gives to its own hidden inputs; nothing a kernel reports is trusted).
GRADING_ENV = "NST_GRADING"

_SPECS = {"preprocess": PREPROCESS, "gram": GRAM, "content": CONTENT,
          "style_layer": STYLE_LAYER, "style": STYLE, "tv": TV}
_RUNNERS: dict[str, Callable[[str, Any], None]] = {
    "deprocess": run_deprocess, "lbfgs": run_lbfgs, "look": run_look,
}
CHECKS = (*_SPECS, *_RUNNERS)

__all__ = ["BEGIN", "CHECKS", "END", "HINT", "LOOK_SETTINGS",
           "LOOK_THRESHOLDS", "NOT_IMPLEMENTED", "SEED", "CheckFailed", "check", "has_solution",
           "look_distances", "look_paint", "look_picture", "look_size", "operator_notes",
           "solution_lines",
           "student_source", "student_version", "write_student_versions"]


def operator_notes() -> str:
    """The mutation operators each check searches, as Markdown (the instructor notes,
    notebooks/exercises/README.md, hold this text between their operator markers; a test
    keeps the two equal), rendered from the operator data by
    :func:`helpers.exercises.mutations.operator_table`."""
    from helpers.exercises.ex01_preprocess import DEPROCESS
    from helpers.exercises.mutations import operator_table

    specs = {"preprocess": PREPROCESS, "deprocess": DEPROCESS, **_SPECS}
    return operator_table({name: spec.mutations for name, spec in specs.items()
                           if spec.mutations is not None})


def _record(name: str, passed: bool, credit: float, message: str) -> None:
    """Append this check's outcome to the grader's log, when a grader asked for one."""
    path = os.environ.get(GRADE_LOG_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps({"check": name, "passed": passed, "credit": credit,
                                  "message": message}) + "\n")


def check(name: str, answer: Any) -> float | None:
    """Check the student's ``answer`` for exercise ``name`` (one of :data:`CHECKS`) on hidden
    inputs. Prints a ✓ line when right; raises :class:`CheckFailed` naming the mistake.

    With ``NST_PARTIAL_CREDIT=1`` (nbgrader autograde) a failure that got some hidden inputs
    right prints its message and returns the points earned instead of raising."""
    if os.environ.get(GRADING_ENV) == "1":  # an instructor's own check too
        print(f"{name}: graded by the grader on its own hidden inputs")
        return None
    if name not in CHECKS:
        raise ValueError(f"unknown check {name!r}; choose one of {', '.join(CHECKS)}")
    try:
        if name in _SPECS:
            run_spec(name, _SPECS[name], answer)
        else:
            _RUNNERS[name](name, answer)
    except CheckFailed as failure:
        _record(name, False, failure.credit, failure.message)
        if os.environ.get(PARTIAL_CREDIT_ENV) == "1" and failure.credit > 0:
            from helpers.exercises.metadata import POINTS

            print(failure)
            return round(POINTS[name] * failure.credit, 2)
        raise
    _record(name, True, 1.0, "")
    return None
