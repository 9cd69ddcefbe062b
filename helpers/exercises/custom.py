"""An instructor's own exercise, graded without editing the package (notebooks/exercises,
README "Your own exercise"): beside ``ex08_mine.ipynb`` in the folder given to ``--source``
lies ``ex08_mine.py``, read by the grader only (the students' kernels cannot see that
folder), defining one entry per check the notebook calls (``check("mean_colour", fn)``)::

    CHECKS = {"mean_colour": {
        "inputs": lambda rng: [(rng.uniform(0, 255, (4, 5, 3)),), ...],  # hidden inputs
        "reference": lambda image: image.mean(axis=(0, 1)),               # the right answer
        "points": 2,
        "mistakes": [("you averaged the channels too", lambda image: image.mean())],
        "what": "the mean colour",                                        # optional
    }}

The inputs are NumPy arrays (positional arguments), drawn from the grading run's seed like
the built-in checks'; a wrong answer is named by the first known mistake that matches every
hidden input (or, when the shape is wrong, whose result has the student's shape), else by
the engine's own diagnoses (a factor, a sign, NaN).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import StyleTransferError
from helpers.exercises.cases import Case, Spec, rng

#: check name -> (Spec, points), registered from the instructor's folder.
REGISTERED: dict[str, tuple[Spec, float]] = {}


def _cases(entry: dict, salt: int) -> Any:
    def make() -> list[Case]:
        found = []
        for number, args in enumerate(entry["inputs"](rng(salt))):
            args = tuple(args) if isinstance(args, tuple | list) else (args,)
            shapes = ", ".join(str(getattr(a, "shape", type(a).__name__)) for a in args)
            found.append(Case(args, {}, f"hidden input {number + 1} ({shapes})"))
        return found

    return make


def _spec(name: str, entry: dict, salt: int) -> Spec:
    if not callable(entry.get("inputs")) or not callable(entry.get("reference")):
        raise StyleTransferError(f"check {name!r}: 'inputs' and 'reference' must be functions")
    mistakes = [(str(m), f) for m, f in entry.get("mistakes", [])]

    def shape_hint(got: tuple, expected: tuple, case: Case) -> str | None:
        """A known mistake whose result has the student's (wrong) shape."""
        return next((m for m, f in mistakes if np.shape(f(*case.args)) == got), None)

    return Spec(what=str(entry.get("what", f"the result of {name}")),
                cases=_cases(entry, salt), reference=entry["reference"],
                returns=str(entry.get("returns", "value")), candidates=mistakes,
                shape_hint=shape_hint)


def register(source: Path) -> list[str]:
    """Read every ``exNN_*.py`` beside an ``exNN_*.ipynb`` in the instructor's ``source``
    folder and register its checks; their names. One line if one is broken."""
    from helpers.exercises.metadata import POINTS

    names = []
    for path in sorted(source.glob("ex*.py")):
        if not path.with_suffix(".ipynb").is_file():
            continue
        checks = _load(path)
        for name, entry in checks.items():
            if name in POINTS:
                raise StyleTransferError(f"{path}: check {name!r} is one of the package's own; "
                                         "give yours another name")
            salt = 1000 + sum(map(ord, name))
            REGISTERED[name] = (_spec(name, entry, salt), float(entry.get("points", 1)))
            names.append(name)
    return names


def _load(path: Path) -> dict:
    """The ``CHECKS`` table of the instructor's module at ``path`` (run here: it is the
    instructor's own code, never a student's)."""
    spec = importlib.util.spec_from_file_location(f"nst_exercise_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the instructor's file: say which and why, in one line
        raise StyleTransferError(f"cannot load {path}: {type(exc).__name__}: {exc}") from None
    checks = getattr(module, "CHECKS", None)
    if not isinstance(checks, dict) or not all(isinstance(v, dict) for v in checks.values()):
        raise StyleTransferError(f"{path} must define CHECKS = {{name: {{...}}}}")
    return checks


def points(check: str) -> float:
    """The points of any check: the package's table, else a registered one's."""
    from helpers.exercises.metadata import POINTS

    if check in POINTS:
        return float(POINTS[check])
    return REGISTERED[check][1] if check in REGISTERED else 0.0
