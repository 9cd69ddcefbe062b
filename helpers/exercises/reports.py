"""What the grader of notebooks/exercises writes for the instructor and the students, all
through :mod:`helpers.files` (atomic: a file is the old one or the complete new one):

- ``grades.csv``: one row per student, exercise and check (plus notebook-level events);
- ``grades_wide.csv``: one row per student (id, name from ``--roster``, a column per exercise,
  total, maximum), for a spreadsheet or an LMS gradebook;
- ``summary.txt`` and ``summary.html``: every student's total and every flag (time limits,
  crashes, edited or deleted check cells, library answers, duplicates and copies, roster
  mismatches) with the student;
- ``feedback/STUDENT.md``: per exercise the points, each check's diagnosis and the student's
  own traceback (:func:`clean_traceback`: never the checker's frames, the hidden inputs or the
  references).

:class:`ClassReport` keeps a class's finished students and rewrites these as each finishes.
"""

from __future__ import annotations

import csv
import html
import io
import re
from dataclasses import astuple
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.exercises._engine import LIMIT, NOT_COUNTED
from helpers.exercises.grading import FIELDS, NOTEBOOK_ROW, Row, _points, check_cells, printable
from helpers.files import check_output, write_text

#: The files the grader writes beside ``-o grades.csv`` (an ``-o`` of one of these is refused).
WIDE, SUMMARY_TEXT, SUMMARY_HTML = "grades_wide.csv", "summary.txt", "summary.html"
#: Kinds of flag, found by what their message says, in the order the summary lists them.
FLAG_KINDS = (
    ("not hidden", re.compile(r"kernels could see the instructor's folder|could not hide",
                              re.I)),
    ("time limit", re.compile(r"timed out|did not (?:end|finish|return)\b.*within|time "
                              r"limit|it was interrupted|did not answer after an interrupt",
                              re.I)),
    ("crash", re.compile(r"kernel died|was killed|was stopped|failed \(status|could not run|"
                         r"memory limit|MemoryError", re.I)),
    ("check cell edited", re.compile(r"check cell was changed", re.I)),
    ("check cell deleted", re.compile(r"check cell was deleted", re.I)),
    ("library answer", re.compile(r"library's own answer", re.I)),
    ("not counted", re.compile(r"hidden input not counted")),
    ("duplicate or copy", re.compile(r"more than once|several notebooks|not the handed-out|"
                                     r"differing only in case|byte for byte|instructor's "
                                     r"notebook", re.I)),
    ("roster", re.compile(r"roster", re.I)),
    ("not submitted", re.compile(r"not submitted|handed in nothing", re.I)),
)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
TRACEBACK_LINES = 40
_LEFT_OUT = "… (numbers left out)"


def grades_csv(rows: list[Row]) -> str:
    """grades.csv's text: one row per student, exercise and check (plus notebook-level
    events)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for row in rows:
        student, exercise, check, points, passed, message = astuple(row)[:6]
        writer.writerow([_safe(student), exercise, check, f"{points:g}", str(passed).lower(),
                         _safe(message)])
    return out.getvalue()


def write_grades(rows: list[Row], path: Path) -> None:
    """Write grades.csv atomically."""
    write_text(path, grades_csv(rows))


def _safe(text: str) -> str:
    """A CSV cell a spreadsheet will not run as a formula (=, +, -, @ at the start)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def grades_wide(done: dict[str, list[Row]], maximum: dict[str, float],
                roster: dict[str, str] | None = None, matched: dict[str, str] | None = None
                ) -> str:
    """grades_wide.csv's text: ``id, name, <exercise>…, total, maximum``, one row per student.
    With a roster: its students first, in its order (one who handed in nothing has empty
    points, not 0), then submitters not on it (empty name). ``matched``: submitter -> id."""
    roster, matched = roster or {}, matched or {s: s for s in done if s in (roster or {})}
    by_id = {sid: student for student, sid in matched.items()}
    most = sum(maximum.values())
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "name", *maximum, "total", "maximum"])
    for sid, name in roster.items():
        rows = done.get(by_id.get(sid, ""))
        writer.writerow([_safe(sid), _safe(name), *_points_of(rows, maximum), f"{most:g}"])
    for student, rows in done.items():
        if student not in matched:
            writer.writerow([_safe(student), "", *_points_of(rows, maximum), f"{most:g}"])
    return out.getvalue()


def _points_of(rows: list[Row] | None, maximum: dict[str, float]) -> list[str]:
    """A student's points per exercise and total (empty cells: nothing handed in)."""
    if rows is None:
        return [""] * (len(maximum) + 1)
    per = [sum(r.points for r in rows if r.exercise == e) for e in maximum]
    return [f"{round(p, 2):g}" for p in per] + [f"{round(sum(per), 2):g}"]


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def clean_traceback(text: str) -> str:
    """The student's own traceback for a feedback page: colour codes removed, the checker's
    frames (files of the ``helpers`` package) and everything below them dropped, numbers
    printed in bulk (which could be hidden inputs or references) left out, at most
    :data:`TRACEBACK_LINES` lines."""
    lines, skipping = [], False
    for line in _ANSI.sub("", text).splitlines():
        frame = re.match(r"\s*(File |Cell In\[)", line)
        if frame:
            skipping = bool(re.search(r"[/\\]helpers[/\\]|site-packages|[/\\]lib[/\\]python",
                                      line))
        elif not line.startswith(" "):
            skipping = False  # the error line itself (or a header)
        if not skipping and line.strip() and not set(line.strip()) <= set("-"):
            head = re.match(r"\w+: ", line)
            cut = head.end() if head else 0
            shown = (f"{line[:cut] or '  '}… (numbers left out)" if _numbers(line[cut:])
                     else line.rstrip())
            if not (lines and shown.endswith(_LEFT_OUT) and lines[-1].endswith(_LEFT_OUT)):
                lines.append(shown)
    if len(lines) > TRACEBACK_LINES:
        lines = [*lines[:TRACEBACK_LINES - 1], f"… ({len(lines) - TRACEBACK_LINES + 1} more "
                 "lines)"]
    return "\n".join(lines)


def _numbers(line: str) -> bool:
    """True for a line printing numbers in bulk (an array, which could be a hidden input or
    a reference): 3 decimals, 10 numbers, or little else than 2 numbers and brackets."""
    found = _NUMBER.findall(line)
    decimals = sum(1 for n in found if "." in n or "e" in n.lower())
    rest = re.sub(r"array|dtype=\w+|[\s\[\](),;.…]", "", _NUMBER.sub("", line))
    return decimals >= 3 or len(found) >= 10 or (len(found) >= 2 and len(rest) <= 2)


def error_traceback(output: dict[str, Any]) -> str:
    """:func:`clean_traceback` of a notebook error output (ename, evalue, traceback)."""
    text = "\n".join(output.get("traceback") or [])
    return clean_traceback(text or f"{output.get('ename', 'Error')}: {output.get('evalue', '')}")


def _first(message: str) -> str:
    """A message's first line (the diagnosis; what follows is the student's traceback)."""
    return message.split("\n", 1)[0]


def _tracebacks(rows: list[Row], given: dict[tuple[str, str], str], exercise: str
                ) -> list[str]:
    """The Markdown blocks of one exercise's tracebacks: those in ``given`` and those carried
    by a message below its first line, each cleaned (:func:`clean_traceback`)."""
    found = {k: v for k, v in given.items() if k[0] == exercise}
    for row in rows:
        if row.exercise == exercise and "\n" in row.message:
            found.setdefault((exercise, row.check), row.message.split("\n", 1)[1])
    lines = []
    for (_, check), text in found.items():
        if shown := clean_traceback(text):
            what = "the notebook" if check == NOTEBOOK_ROW else f"`{check}`"
            lines += [f"Your code's traceback ({what}):", "", "```text",
                      shown.replace("```", "'''"), "```", ""]
    return lines


def feedback_page(student: str, rows: list[Row], maximum: dict[str, float],
                  tracebacks: dict[tuple[str, str], str] | None = None) -> str:
    """A student's Markdown feedback: per exercise the points, each check's diagnosis (a
    message's first line) and, where their code raised, their own traceback (the lines below
    a message's first, or ``tracebacks``: (exercise, check or NOTEBOOK_ROW) -> text), cleaned
    here. No hidden inputs, references or solutions."""
    total = sum(r.points for r in rows)
    lines = [f"# Feedback for {_cell(student)}", "",
             f"**{total:g} of {sum(maximum.values()):g} points.**", ""]
    for exercise, most in maximum.items():
        mine = [r for r in rows if r.exercise == exercise]
        got = sum(r.points for r in mine)
        lines += [f"## {exercise}: {got:g} / {most:g}", ""]
        lines += [f"- ⚠ {_cell(_first(r.message))}" for r in mine if r.check == NOTEBOOK_ROW]
        lines += ["", "| check | points | result |", "| --- | --- | --- |"]
        lines += [f"| `{r.check}` | {r.points:g} | "
                  f"{'✓' if r.passed else '✗'} {_cell(_first(r.message))} |"
                  for r in mine if r.check != NOTEBOOK_ROW]
        lines += ["", *_tracebacks(mine, tracebacks or {}, exercise)]
    return "\n".join(lines)


def maximum(instructors: dict[str, Any]) -> dict[str, float]:
    """exercise -> its points."""
    return {nb.metadata["nst_exercise"]: sum(_points(c) for _, c in check_cells(nb))
            for nb in instructors.values()}


def flag_kind(note: str) -> str:
    """The kind of a flag (:data:`FLAG_KINDS`), "other" when none fits."""
    return next((kind for kind, pattern in FLAG_KINDS if pattern.search(note)), "other")


#: The flag of a passed check whose ✓ line names hidden inputs not counted (judge_runs'
#: not_counted): the excused error may be the student's own code raising it.
NOT_COUNTED_FLAG = ("{exercise} {check}: a hidden input not counted: {what} (TensorFlow's own "
                    "limit on 1-pixel convolutions — or the student's code raising it: read it)")
_NOT_COUNTED = re.compile(f"{re.escape(NOT_COUNTED)}(.*?){re.escape(LIMIT)}")


def row_flags(rows: list[Row]) -> list[str]:
    """The flags in a student's rows: notebook events, checks that name an edited or
    deleted check cell or a library answer, and passed checks with hidden inputs not
    counted (:data:`NOT_COUNTED_FLAG`)."""
    flags = []
    for row in rows:
        first = _first(row.message)
        shown = f"{row.exercise}: {first}" if row.check == NOTEBOOK_ROW else (
            f"{row.exercise} {row.check}: {first}")
        uncounted = _NOT_COUNTED.search(first) if row.passed else None
        if uncounted:
            flags.append(NOT_COUNTED_FLAG.format(exercise=row.exercise, check=row.check,
                                                 what=uncounted[1]))
        if row.message and (row.check == NOTEBOOK_ROW or flag_kind(row.message) in (
                "check cell edited", "check cell deleted", "library answer")):
            flags.append(shown)
    return flags


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


def summary_html(totals: dict[str, float], flags: dict[str, list[str]], most: float,
                 general: list[str], state: str, names: dict[str, str] | None = None) -> str:
    """summary.html: the same as :func:`summary` as a page: a table of every flag (kind,
    student, what) first, then every student's total. Every text is HTML-escaped."""
    names, e = names or {}, html.escape
    every = [("(class folder)", note) for note in general] + [
        (student, note) for student, notes in flags.items() for note in notes]
    order = [kind for kind, _ in FLAG_KINDS] + ["other"]
    every.sort(key=lambda item: order.index(flag_kind(item[1])))
    rows = "\n".join(f"<tr><td>{e(flag_kind(note))}</td><td>{e(student)}</td>"
                     f"<td>{e(note)}</td></tr>" for student, note in every)
    marks = "\n".join(f"<tr><td>{e(student)}</td><td>{e(names.get(student, ''))}</td>"
                      f"<td>{points:g}</td><td>{len(flags.get(student, []))}</td></tr>"
                      for student, points in totals.items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Grading summary</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:.2em .5em;text-align:left;vertical-align:top}}</style>
</head><body>
<h1>Grading summary</h1>
<p>{e(state)}. {len(totals)} students, {len(every)} flags; maximum {most:g} points.</p>
<h2>Flags</h2>
<table><tr><th>kind</th><th>student</th><th>what</th></tr>
{rows}
</table>
<h2>Totals</h2>
<table><tr><th>student</th><th>name</th><th>points</th><th>flags</th></tr>
{marks}
</table>
</body></html>
"""


class ClassReport:
    """A class's finished students, written out as each one finishes: grades.csv (``output``),
    and beside it grades_wide.csv, summary.txt, summary.html and feedback/STUDENT.md. Every
    output is checked against the grader's inputs (``inputs.near(path)``) when made, before
    the first notebook runs. ``subs``: the collected submissions (student, notes, problem);
    ``roster``: id -> name (``--roster``) or None."""

    def __init__(self, output: Path, instructors: dict[str, Any], subs: list[Any],
                 inputs: Any, roster: dict[str, str] | None = None) -> None:
        from helpers.exercises.collect import file_name, fold
        from helpers.exercises.roster import match_roster

        if output.name in (WIDE, SUMMARY_TEXT, SUMMARY_HTML):
            raise StyleTransferError(f"-o {output}: {output.name} is written by the grader "
                                     "beside the grades; give another name, e.g. grades.csv")
        self.output, self.inputs, self.roster = output, inputs, roster
        self.maximum = maximum(instructors)
        self.order = [s.student for s in subs]
        self.flags = {s.student: [*s.notes, *([s.problem] if s.problem else [])] for s in subs}
        self.general: list[str] = []
        self.matched: dict[str, str] = {}
        if roster is not None:
            self.matched, unknown, self.general = match_roster(self.order, roster)
            for student, notes in unknown.items():
                self.flags[student] += notes
        folded = [fold(s) for s in self.order]
        self.pages = {s: file_name(s, folded.count(fold(s)) > 1) for s in self.order}
        self.done: dict[str, list[Row]] = {}
        self.paths = {name: self._checked(output.with_name(name), name)
                      for name in (WIDE, SUMMARY_TEXT, SUMMARY_HTML)}
        for student in self.order:
            self.page(student)

    def _checked(self, path: Path, what: str) -> Path:
        return check_output(path, self.inputs.near(path), what)

    def page(self, student: str) -> Path:
        """The student's feedback page, checked against every input."""
        return self._checked(self.output.parent / "feedback" / f"{self.pages[student]}.md",
                             "a feedback page")

    def finish(self, student: str, rows: list[Row],
               tracebacks: dict[tuple[str, str], str] | None = None) -> None:
        """Keep a student's rows; write their feedback page, grades.csv and grades_wide.csv."""
        self.done[student] = rows
        self.flags[student] += row_flags(rows)
        write_text(self.page(student), printable(
            feedback_page(student, rows, self.maximum, tracebacks)))
        write_grades(self.rows(), self.output)
        finished = {s: self.done[s] for s in self.order if s in self.done}
        write_text(self.paths[WIDE], grades_wide(finished, self.maximum, self.roster,
                                                 self.matched))

    def rows(self) -> list[Row]:
        """The finished students' rows, in the class's order."""
        return [r for s in self.order if s in self.done for r in self.done[s]]

    def write_summary(self, path: Path | None, general: list[str], state: str) -> None:
        """Write summary.txt (at ``path``, default beside the grades) and summary.html: the
        finished students' totals and flags, the class folder's notes (``general``) and the
        roster's students who handed in nothing."""
        totals = {s: sum(r.points for r in self.done[s]) for s in self.order if s in self.done}
        flags = {s: self.flags[s] for s in totals}
        notes, most = [*general, *self.general], sum(self.maximum.values())
        names = {s: (self.roster or {}).get(sid, "") for s, sid in self.matched.items()}
        write_text(path or self.paths[SUMMARY_TEXT],
                   printable(summary(totals, flags, most, notes, state)))
        write_text(self.paths[SUMMARY_HTML], summary_html(totals, flags, most, notes, state,
                                                          names))
