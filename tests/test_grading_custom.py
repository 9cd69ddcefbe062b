"""An instructor's own exercise graded without editing the package (issue 32, item 8): the
worked example of notebooks/exercises/README.md (tests/data/ex08_example: ex08_mine.ipynb and
ex08_mine.py) in a --source folder; its check() is judged on hidden inputs from
ex08_mine.py, its nbgrader-style assert cell scores its points when it runs clean."""

from __future__ import annotations

import copy
import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.errors import StyleTransferError
from helpers.exercises import custom

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = Path(__file__).parent / "data" / "ex08_example"
NB = "ex08_mine.ipynb"

pytestmark = pytest.mark.notebooks  # runs kernels (left out by make test-fast)


def _student(body: str | None, drop_test: bool = False) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nbformat.read(EXAMPLE / NB, as_version=4))
    cell = next(c for c in nb.cells if c.id == "cell-04")
    head = cell.source.split("    ### BEGIN SOLUTION")[0]
    cell.source = head + (body or "    raise NotImplementedError")
    if drop_test:
        nb.cells = [c for c in nb.cells if c.id != "cell-08"]
    return nb


def test_the_instructors_checks_are_registered_with_their_points(tmp_path):
    assert custom.register(EXAMPLE) == ["mean_colour"]
    assert custom.points("mean_colour") == 2 and custom.points("gram") == 2
    (tmp_path / "ex09_bad.ipynb").write_text("{}")
    (tmp_path / "ex09_bad.py").write_text("CHECKS = {'gram': {}}")
    with pytest.raises(StyleTransferError, match="one of the package's own"):
        custom.register(tmp_path)
    (tmp_path / "ex09_bad.py").write_text("raise RuntimeError('oops')")
    with pytest.raises(StyleTransferError, match="cannot load .*RuntimeError: oops"):
        custom.register(tmp_path)


def test_an_instructors_own_exercise_is_graded(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(EXAMPLE, source)
    klass = tmp_path / "class"
    students = {
        "right": _student("    return np.mean(np.asarray(image, np.float64), axis=(0, 1))"),
        "wrong": _student("    return np.asarray(image, np.float64).mean()"),
        "stub": _student(None),
        "no_test": _student("    return np.asarray(image, float).mean(0).mean(0)", True),
    }
    for name, nb in students.items():
        (klass / name).mkdir(parents=True)
        nbformat.write(nb, klass / name / NB)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "helpers", "exercises", "--grade", str(klass),
                           "--source", str(source), "-o", str(tmp_path / "out" / "grades.csv"),
                           "--jobs", "2", "--timeout", "120", "--memory-mb", "3000"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        rows = [(r["student"], r["check"], float(r["points"]), r["message"][:39])
                for r in csv.DictReader(f)]
    assert sorted(rows) == sorted([
        ("right", "mean_colour", 2.0, ""), ("right", "test-shape", 1.0, ""),
        ("wrong", "mean_colour", 0.0, "you averaged over the channels too: ave"),
        ("wrong", "test-shape", 0.0, "AssertionError in the test cell"),
        ("stub", "mean_colour", 0.0, "not implemented yet: replace the `raise"),
        ("stub", "test-shape", 0.0, "NotImplementedError in the test cell"),
        ("no_test", "mean_colour", 2.0, ""),
        ("no_test", "test-shape", 1.0, "the check cell was deleted; it was put "),
    ])
    assert "right ex08_mine: 3 / 3 points" in proc.stdout
