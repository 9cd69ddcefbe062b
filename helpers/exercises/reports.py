"""What the grader of notebooks/exercises writes for the instructor and the students:
``grades.csv``, one Markdown feedback page per student and ``summary.txt`` (totals and every
flag: duplicates, copies, refused files, timeouts, crashes), all through
:mod:`helpers.files` (atomic: a file is the old one or the complete new one)."""

from __future__ import annotations

import csv
import io
from dataclasses import astuple
from pathlib import Path
from typing import Any

from helpers.exercises.grading import FIELDS, NOTEBOOK_ROW, Row, _points, check_cells
from helpers.files import write_text


def grades_csv(rows: list[Row]) -> str:
    """grades.csv's text: one row per student, exercise and check (plus notebook-level
    events)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for row in rows:
        student, exercise, check, points, passed, message = astuple(row)
        writer.writerow([student, exercise, check, f"{points:g}", str(passed).lower(), message])
    return out.getvalue()


def write_grades(rows: list[Row], path: Path) -> None:
    """Write grades.csv atomically."""
    write_text(path, grades_csv(rows))


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def feedback_page(student: str, rows: list[Row], maximum: dict[str, float]) -> str:
    """A student's Markdown feedback: per exercise the points and each check's diagnosis.
    Only the checks' messages appear: no hidden inputs, no reference, no solution."""
    total = sum(r.points for r in rows)
    lines = [f"# Feedback for {_cell(student)}", "",
             f"**{total:g} of {sum(maximum.values()):g} points.**", ""]
    for exercise, most in maximum.items():
        mine = [r for r in rows if r.exercise == exercise]
        got = sum(r.points for r in mine)
        lines += [f"## {exercise}: {got:g} / {most:g}", ""]
        lines += [f"- ⚠ {_cell(r.message)}" for r in mine if r.check == NOTEBOOK_ROW]
        lines += ["", "| check | points | result |", "| --- | --- | --- |"]
        lines += [f"| `{r.check}` | {r.points:g} | "
                  f"{'✓' if r.passed else '✗'} {_cell(r.message)} |"
                  for r in mine if r.check != NOTEBOOK_ROW]
        lines.append("")
    return "\n".join(lines)


def maximum(instructors: dict[str, Any]) -> dict[str, float]:
    """exercise -> its points."""
    return {nb.metadata["nst_exercise"]: sum(_points(c) for _, c in check_cells(nb))
            for nb in instructors.values()}


def summary(totals: dict[str, float], flags: dict[str, list[str]], most: float,
            general: list[str], state: str) -> str:
    """summary.txt: the run's state, every student's total, and every flag by student."""
    lines = [f"Grading summary: {state}", "", f"Totals (of {most:g} points):"]
    lines += [f"  {student!r}: {points:g}" for student, points in totals.items()]
    flagged = {s: f for s, f in flags.items() if f}
    lines += ["", f"Flags ({sum(map(len, flagged.values())) + len(general)}):"]
    lines += [f"  (class folder) {note}" for note in general]
    lines += [f"  {student!r}: {note}" for student, notes in flagged.items() for note in notes]
    return "\n".join(lines) + "\n"
