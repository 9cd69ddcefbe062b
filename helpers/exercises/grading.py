"""Grade a class's submitted exercise notebooks (notebooks/exercises/ex*.ipynb):
``python -m helpers exercises --grade SUBMISSIONS -o grades.csv`` (``make grade DIR=…``).

SUBMISSIONS holds one folder or zip per student (named after the student), or flat
notebooks named ``STUDENT_exNN_….ipynb`` (:mod:`helpers.exercises.collect`: duplicates,
copies and refused files are reported, never resolved silently). Each student's notebooks
are graded in a worker process of their own (:mod:`helpers.exercises.worker`, ``--jobs``
students at once; a notebook that kills its worker is reported and a new worker grades the
next), which runs each in a fresh kernel (:mod:`helpers.exercises.runner`: memory and
output capped, its processes killed afterwards) with ``NST_FAST=1`` and a time limit for
the whole notebook. Check cells are found by their cell id (or nbgrader ``grade_id``) in
the instructor's copy; one the student changed or deleted is put back from that copy and
reported. The checks' verdicts are not taken from the kernel: after the cells, the kernel
only answers the hidden inputs this run drew (:mod:`helpers.exercises.judge`, the same for
every student of the run), and this process judges the answers with the diagnosis engine,
points from the grader's table (:data:`helpers.exercises.metadata.POINTS`, and an
instructor's own exercise's, :mod:`helpers.exercises.custom`). nbgrader-style
test cells (a grade cell without ``check()``: asserts) score their points when they ran
without an error; they run in the student's kernel, so they are as trustworthy as
nbgrader's own autograding (a student can defeat them), unlike the checks.

The results (:mod:`helpers.exercises.batch`): ``grades.csv`` (student, exercise, check,
points, passed, message), rewritten atomically as each student finishes (an interrupted run
keeps every finished student); one Markdown feedback page per student with the diagnoses,
never the hidden inputs or the solutions; ``summary.txt`` with every student's total and
every flag. Nothing the grader reads is ever written: an output that resolves to a
submission or an instructor notebook is refused before grading starts.

Not a sandbox: student code runs with the grader's user rights, in a kernel that cannot see
the instructor's folder, the submissions or the grader's files (see the README).
"""

from __future__ import annotations

import copy
import io
import os
import re
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.exercises.collect import EXERCISE
from helpers.exercises.custom import points, register
from helpers.exercises.hiding import git_dirs, hiding_works, needed
from helpers.exercises.judge import new_seed
from helpers.exercises.metadata import checks_in
from helpers.exercises.nbio import read_notebook
from helpers.exercises.runner import Job, Outcome, RunSettings, run_notebook
from helpers.exercises.student import has_solution

FIELDS = ("student", "exercise", "check", "points", "passed", "message")
NOTEBOOK_ROW = "(notebook)"   # the check column of a row about the whole notebook


@dataclass
class Row:
    """One line of grades.csv (its text fields :func:`printable`: it is shown in a terminal,
    summary.txt and the feedback pages)."""

    student: str
    exercise: str
    check: str
    points: float
    passed: bool
    message: str

    def __post_init__(self) -> None:
        for name in ("student", "exercise", "check", "message"):
            setattr(self, name, printable(getattr(self, name)))


def printable(text: str) -> str:
    """``text`` with every control or format character but newline and tab written as an
    escape (``\\x1b``, ``\\u202e``): a student's text (a cell id, an error message) cannot
    send a terminal's escape sequences or reorder the instructor's view (bidi controls)."""
    import unicodedata

    return "".join(ch if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cf")
                   else ascii(ch)[1:-1] for ch in str(text))


#: TensorFlow's settings while grading (set before it loads in the grader, its workers and the
#: kernels, which inherit them): oneDNN's CPU kernels off, so a convolution of an image one
#: pixel high or wide is computed right. With them on (TensorFlow's default on x86), its
#: values are garbage and its gradient raises AbortedError, which practice must excuse and
#: the grader could not tell from a student raising it; graded with them off, nothing is.
EXACT_TENSORFLOW = {"TF_ENABLE_ONEDNN_OPTS": "0"}

#: The smallest ``--memory-mb`` accepted. Measured (Python 3.11, this venv, a kernel forked
#: from the template with TensorFlow loaded, its memory cgroup counting page cache too): at
#: 1536 MiB every kernel died before answering, at 1700 ex01's cells thrashed past the cell
#: limit, from 1800 it graded right. Below this every kernel could die: every student 0.
MIN_MEMORY_MB = 2048


@dataclass
class GradeRun:
    """How to grade: seconds per notebook and per cell, memory cap of each kernel in MiB,
    notebooks graded at once (default: the number of cores), the seed of this run's hidden
    inputs (default: a fresh one, :func:`helpers.exercises.judge.new_seed`), and how many
    more notebooks may start while as many sleep (``lend``, default: as many as ``jobs``;
    0: never; :mod:`helpers.exercises.lending`)."""

    timeout: int = 600
    memory_mb: int = 8192
    jobs: int = field(default_factory=lambda: cores())
    cell_timeout: int = 60
    seed: int = field(default_factory=lambda: new_seed())
    hide: list[str] = field(default_factory=list)  # folders no kernel may see
    lend: int | None = None


def cores() -> int:
    """The cores this process may run on (its CPU affinity, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


# ------------------------------------------------------------------------ the instructor's

def instructor_notebooks(source: Path) -> dict[str, Any]:
    """exercise key ("ex02") -> the instructor's notebook, for every ex*.ipynb with solutions
    (its path in ``metadata["nst_source"]``); one line if one cannot be read."""
    if not source.is_dir():
        raise StyleTransferError(f"exercise folder not found: {source} (give --source DIR)")
    found = {}
    for path in sorted(source.glob("ex*.ipynb")):
        nb = read_notebook(path, "the instructor's notebook")
        if has_solution(nb) and (match := EXERCISE.match(path.name)):
            nb.metadata["nst_exercise"] = path.stem
            nb.metadata["nst_source"] = str(path)
            found[match.group(0)] = nb
    if not found:
        raise StyleTransferError(f"no exercise notebooks with solutions in {source}")
    register(source)  # the instructor's own exercises (exNN_*.py beside the notebook)
    return found


def check_cells(nb: Any) -> list[tuple[int, Any]]:
    """(index, cell) of every check cell: nbgrader grade cells, or cells calling check()."""
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and (
        c.metadata.get("nbgrader", {}).get("grade") or checks_in(c.source))]


_CALL = re.compile(r"""check\(\s*["'](\w+)["']\s*,\s*([A-Za-z_]\w*)""")


def check_calls(source: str) -> list[tuple[str, str]]:
    """(check, function) of every ``check("name", function)`` in a cell."""
    return _CALL.findall(source)


def _points(cell: Any) -> float:
    """A check cell's points from the grader's table; an nbgrader test cell's from the
    instructor's metadata."""
    names = checks_in(cell.source)
    if names:
        return float(sum(points(n) for n in names))
    return float(cell.metadata.get("nbgrader", {}).get("points", 1))


# ------------------------------------------------------------------ tampering and running

def _find(nb: Any, cell: Any) -> int | None:
    """Index of the instructor's ``cell`` in the student's notebook: same cell id, else the
    same nbgrader grade_id."""
    grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
    for index, mine in enumerate(nb.cells):
        if mine.get("id") == cell.get("id"):
            return index
    for index, mine in enumerate(nb.cells):
        if grade_id and mine.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            return index
    return None


def _after(nb: Any, previous: Any) -> int:
    """Where a deleted check cell goes back: after the cell that came before it in the
    instructor's copy (same id, else same source), else at the end."""
    for same in (lambda c: c.get("id") == previous.get("id"),
                 lambda c: c.source.strip() == previous.source.strip()):
        for index, cell in enumerate(nb.cells):
            if same(cell):
                return index + 1
    return len(nb.cells)


def restore_checks(student: Any, instructor: Any) -> tuple[Any, dict[str, str]]:
    """A copy of the student's notebook with every check cell as in the instructor's copy
    (outputs cleared), and {cell id: what the student had done to it}."""
    nb = copy.deepcopy(student)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notes = {}
    for position, cell in check_cells(instructor):
        index = _find(nb, cell)
        if index is None:
            index = _after(nb, instructor.cells[position - 1]) if position else 0
            nb.cells.insert(index, copy.deepcopy(cell))
            notes[cell.id] = "the check cell was deleted; it was put back and run"
        elif nb.cells[index].source.strip() != cell.source.strip():
            nb.cells[index].source = cell.source
            notes[cell.id] = "the check cell was changed; the instructor's version was run"
        nb.cells[index].id = cell.id
    return nb, notes


# ------------------------------------------------------------------------------ outcomes

def _error(cell: Any) -> tuple[str, str] | None:
    """(name, first line of the message) of the cell's error output, if any."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = (str(output.get("evalue", "")).strip().splitlines() or [""])[0]
            return str(output.get("ename", "Error")), value[:300]
    return None


def _verdict(check: str, answer: tuple[dict | None, bytes], source: Path) -> tuple[float, str]:
    """(credit 0..1, message) of one check from the kernel's answer, judged here."""
    import numpy as np

    from helpers.exercises._engine import CheckFailed
    from helpers.exercises.judge_runs import judge, not_counted

    record, data = answer
    if record is None:
        return 0.0, "no answer from your notebook for this check (the kernel stopped first?)"
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) if data else _Empty() as npz:
            line = judge(check, record, npz, source)
    except CheckFailed as failure:
        text = failure.message + (f"\n{failure.student_traceback}"
                                  if failure.student_traceback else "")
        return failure.credit, text
    except (ValueError, KeyError, TypeError, OSError, zipfile.BadZipFile) as exc:  # forged
        return 0.0, f"the answer from your notebook could not be read ({type(exc).__name__})"
    return 1.0, not_counted(check, line)


class _Empty(dict):
    """An empty npz stand-in (a check whose answer holds no arrays)."""

    files: list[str] = []

    def __enter__(self) -> _Empty:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None


def _cell_rows(cell: Any, ran: Any, outcome: Outcome, source: Path) -> list[tuple]:
    """(check, points, passed, message) of one instructor check cell."""
    calls = check_calls(cell.source)
    if not calls:  # an nbgrader test cell (asserts): scored by running without an error
        most = _points(cell)
        if ran is None or not ran.metadata.get("nst_ran"):
            return [(_name(cell), 0.0, False, f"not run: {outcome.status or 'stopped before'}")]
        error = _error(ran)
        if error is None:
            return [(_name(cell), most, True, "")]
        return [(_name(cell), 0.0, False, f"{error[0]} in the test cell"
                 + (f": {error[1]}" if error[1] else ""))]
    rows = []
    for check, _ in calls:
        credit, message = _verdict(check, outcome.answers.get(check, (None, b"")), source)
        if check in outcome.late and outcome.answers.get(check, (None,))[0] is None:
            message = outcome.late[check]
        rows.append((check, round(points(check) * credit, 2), credit == 1.0, message))
    return rows


def _memory_note(nb: Any, settings: RunSettings) -> str:
    for index, cell in enumerate(nb.cells):
        error = _error(cell)
        if error and error[0] == "MemoryError":
            return (f"memory limit ({settings.memory_mb} MiB) reached in cell {index} "
                    f"({cell.get('id')}): MemoryError")
    return ""


def grade_notebook(student: str, path: Path | None, instructor: Any, tmp: Path,
                   settings: RunSettings, shown: str | None = None,
                   times: dict[str, float] | None = None) -> list[Row]:
    """The rows of one student's notebook for one exercise (``path`` None: not submitted);
    ``shown``: the notebook's name in messages (default: its path); ``times`` gets the
    seconds each step took (kernel start, cells, answers, judging: the bench's breakdown)."""
    import shutil
    import time

    from helpers.exercises.judge import write_job
    from helpers.exercises.judge_runs import hand_out_look_picture

    exercise = instructor.metadata["nst_exercise"]
    cells = check_cells(instructor)
    problem = "not submitted" if path is None else ""
    if path is not None:
        try:
            submitted = read_notebook(path)
        except StyleTransferError as exc:  # a pipe, not JSON, not a notebook: grading goes on
            text = str(exc).replace(str(path), shown) if shown else str(exc)
            problem = f"could not read the notebook: {text}"[:400]
    if problem:
        return [Row(student, exercise, _name(c), 0.0, False, problem) for _, c in cells]
    nb, notes = restore_checks(submitted, instructor)
    jobs = [Job(check, function, check) for _, c in cells
            for check, function in check_calls(c.source)]
    workdir = Path(tempfile.mkdtemp(prefix=f"{exercise}-", dir=tmp))
    source = Path(instructor.metadata.get("nst_source", ".")).parent
    times = {} if times is None else times
    try:
        started = time.perf_counter()
        if any(job.check == "look" for job in jobs):  # ex07's picture, as handed out
            hand_out_look_picture(source, workdir)
        times["look picture"] = time.perf_counter() - started
        outcome = run_notebook(nb, workdir, jobs, settings,
                               lambda job: write_job(job.check, job.function, workdir, job.tag))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
        shutil.rmtree(workdir.parent / f"kernels-{workdir.name}", ignore_errors=True)
    times.update(outcome.times)
    started = time.perf_counter()
    rows = [Row(student, exercise, NOTEBOOK_ROW, 0.0, False, note)
            for note in (outcome.status, _memory_note(nb, settings), *outcome.notes) if note]
    for _, cell in cells:
        ran = next((c for c in nb.cells if c.get("id") == cell.id), None)
        for check, got, passed, message in _cell_rows(cell, ran, outcome, source):
            if cell.id in notes:
                message = f"{message}; {notes[cell.id]}" if message else notes[cell.id]
            rows.append(Row(student, exercise, check, got, passed, message))
    times["judging"] = time.perf_counter() - started
    return rows


def _name(cell: Any) -> str:
    names = checks_in(cell.source)
    return names[0] if names else cell.metadata.get("nbgrader", {}).get("grade_id", cell.id)




def run_settings(settings: GradeRun, token: str, hide: list) -> RunSettings:
    """How each notebook runs: the run's limits, and the folders its kernel must not see
    (``hide``, plus the package's own instructor notebooks, and the git folder of every
    checkout holding one of them: the solutions live in its history)."""
    from helpers.exercises import EXERCISES_DIR

    hidden = [Path(p).resolve() for p in [*settings.hide, *hide, EXERCISES_DIR]]
    hidden += [git for folder in hidden for git in git_dirs(folder)]
    return RunSettings(settings.timeout, settings.memory_mb, token, settings.cell_timeout,
                       sorted({str(p) for p in hidden if not needed(p)}), settings.seed,
                       must_hide=hiding_works())
