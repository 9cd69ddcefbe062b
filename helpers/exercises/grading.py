"""Grade a class's submitted exercise notebooks (notebooks/exercises/ex*.ipynb):
``python -m helpers exercises --grade SUBMISSIONS -o grades.csv`` (``make grade DIR=…``).

SUBMISSIONS holds one folder or zip per student (named after the student), or flat
notebooks named ``STUDENT_exNN_….ipynb``. Each notebook runs in a fresh kernel
(:mod:`helpers.exercises.kernel`, memory capped) with ``NST_FAST=1`` and a time limit for
the whole notebook. Check cells are found by their cell id (or nbgrader ``grade_id``) in the
instructor's copy; one the student changed or deleted is put back from that copy, graded,
and reported. Every check records its outcome through ``NST_GRADE_LOG``. The result is
``grades.csv`` (student, exercise, check, points, passed, message) and one Markdown feedback
page per student with the diagnoses, never the hidden inputs or the solutions.

Not a sandbox: student code runs with the grader's user rights (see the README).
"""

from __future__ import annotations

import copy
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.exercises.metadata import checks_in
from helpers.exercises.student import has_solution

FIELDS = ("student", "exercise", "check", "points", "passed", "message")
NOTEBOOK_ROW = "(notebook)"   # the check column of a row about the whole notebook
_EXERCISE = re.compile(r"ex\d\d")
_ZIP_LIMIT = 200 * 2**20      # uncompressed bytes read from one student's zip


@dataclass
class Row:
    """One line of grades.csv."""

    student: str
    exercise: str
    check: str
    points: float
    passed: bool
    message: str


@dataclass
class Settings:
    """How to run the notebooks: seconds per notebook, memory cap in MiB."""

    timeout: int = 600
    memory_mb: int = 8192


# ------------------------------------------------------------------------ the instructor's

def instructor_notebooks(source: Path) -> dict[str, Any]:
    """exercise key ("ex02") -> the instructor's notebook, for every ex*.ipynb with solutions."""
    import nbformat

    if not source.is_dir():
        raise StyleTransferError(f"exercise folder not found: {source} (give --source DIR)")
    found = {}
    for path in sorted(source.glob("ex*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        if has_solution(nb) and (match := _EXERCISE.match(path.name)):
            nb.metadata["nst_exercise"] = path.stem
            found[match.group(0)] = nb
    if not found:
        raise StyleTransferError(f"no exercise notebooks with solutions in {source}")
    return found


def check_cells(nb: Any) -> list[tuple[int, Any]]:
    """(index, cell) of every check cell: nbgrader grade cells, or cells calling check()."""
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code" and (
        c.metadata.get("nbgrader", {}).get("grade") or checks_in(c.source))]


def _points(cell: Any) -> float:
    return float(cell.metadata.get("nbgrader", {}).get("points", 1))


# ----------------------------------------------------------------------- the submissions

def _safe_unzip(archive: Path, into: Path) -> None:
    """Extract the notebooks of a zip, refusing paths outside ``into`` and huge members."""
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            name = Path(info.filename)
            if info.is_dir() or name.suffix != ".ipynb" or name.is_absolute() or (
                    ".." in name.parts) or "__MACOSX" in name.parts:
                continue
            total += info.file_size
            if total > _ZIP_LIMIT:
                raise zipfile.BadZipFile("more than 200 MB of notebooks")
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(info))


def _by_exercise(paths: list[Path]) -> dict[str, Path]:
    """exercise key -> notebook, from names containing exNN (checkpoints skipped)."""
    found: dict[str, Path] = {}
    for path in sorted(paths):
        match = _EXERCISE.search(path.name)
        if match and ".ipynb_checkpoints" not in path.parts:
            found.setdefault(match.group(0), path)
    return found


def collect(submissions: Path, unpack: Path) -> dict[str, dict[str, Path] | str]:
    """student -> {exercise key: notebook}, or a string saying why nothing could be read."""
    if not submissions.is_dir():
        raise StyleTransferError(f"submissions folder not found: {submissions}")
    students: dict[str, Any] = {}
    for entry in sorted(submissions.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            students[entry.name] = _by_exercise(list(entry.rglob("*.ipynb")))
        elif entry.suffix == ".zip":
            try:
                _safe_unzip(entry, unpack / entry.stem)
                students[entry.stem] = _by_exercise(list((unpack / entry.stem).rglob("*.ipynb")))
            except (zipfile.BadZipFile, OSError) as exc:
                students[entry.stem] = f"could not read the zip: {exc}"
        elif entry.suffix == ".ipynb" and (match := _EXERCISE.search(entry.name)):
            name = entry.stem[: match.start()].strip("_- .") or entry.stem
            students.setdefault(name, {})[match.group(0)] = entry
    if not students:
        raise StyleTransferError(f"no submissions in {submissions}: expected one folder or zip "
                                 "per student, or notebooks named STUDENT_exNN_….ipynb")
    return students


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


def _kernel_manager(kernel_dir: Path, settings: Settings) -> Any:
    """A kernel manager for the memory-capped kernel of :mod:`helpers.exercises.kernel`."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec = kernel_dir / "nst-grade"
    spec.mkdir(parents=True, exist_ok=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "helpers.exercises.kernel", "--memory-mb",
                 str(settings.memory_mb), "-f", "{connection_file}"],
        "display_name": "nst grading", "language": "python"}))
    return AsyncKernelManager(kernel_name="nst-grade",
                              kernel_spec_manager=KernelSpecManager(
                                  kernel_dirs=[str(kernel_dir)]))


def run_notebook(nb: Any, workdir: Path, log: Path, settings: Settings) -> str:
    """Run every cell (errors do not stop it) in a fresh capped kernel with NST_FAST=1;
    return "" when it finished, else what stopped it. Fills the cells' outputs."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    env = {**os.environ, "NST_FAST": "1", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
           "NST_GRADE_LOG": str(log), "PYTHONPATH": _pythonpath()}
    env.pop("NST_PARTIAL_CREDIT", None)
    client = NotebookClient(nb, timeout=settings.timeout, allow_errors=True,
                            km=_kernel_manager(workdir / "kernels", settings),
                            shutdown_kernel="immediate",
                            resources={"metadata": {"path": str(workdir)}})
    deadline = time.monotonic() + settings.timeout
    try:  # cleanup_kc: the kernel is shut down (killed) however the cells end
        with client.setup_kernel(env=env, cwd=str(workdir), cleanup_kc=True,
                                 stderr=subprocess.DEVNULL):  # TensorFlow's start-up noise
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.timeout = max(1, int(deadline - time.monotonic()))
                client.execute_cell(cell, index)
                cell.metadata["nst_records"] = _new_records(log)
    except CellTimeoutError:
        return f"timed out: the notebook did not finish within {settings.timeout} s"
    except DeadKernelError:
        return ("the kernel died (a crash, os._exit, or memory exhausted below the "
                f"{settings.memory_mb} MiB limit)")
    except RuntimeError as exc:  # e.g. the kernel did not start
        return f"could not run the notebook: {exc}"
    return ""


def _pythonpath() -> str:
    """PYTHONPATH for the kernel: this checkout's ``helpers`` first."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([root, *([rest] if rest else [])])


def _new_records(log: Path) -> list[dict]:
    """The check outcomes logged since the last call (the log is emptied after reading)."""
    if not log.exists():
        return []
    lines = log.read_text(encoding="utf-8").splitlines()
    log.write_text("", encoding="utf-8")
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return records


# ------------------------------------------------------------------------------ outcomes

def _error(cell: Any) -> tuple[str, str] | None:
    """(name, first line of the message) of the cell's error output, if any."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            value = (str(output.get("evalue", "")).strip().splitlines() or [""])[0]
            return str(output.get("ename", "Error")), value[:300]
    return None


def _check_row(cell: Any, ran: Any, status: str) -> tuple[float, bool, str]:
    """(points, passed, message) of one check cell as it ran (``ran``) in the student's
    notebook; ``status`` says what stopped the notebook, if anything did."""
    points = _points(cell)
    if ran is None or "nst_records" not in ran.metadata:
        return 0.0, False, f"not run: {status or 'the notebook stopped before this cell'}"
    records, error = ran.metadata["nst_records"], _error(ran)
    failed = [r for r in records if not r.get("passed")]
    if records and not failed and error is None:
        return points, True, ""
    if failed:
        credit = float(failed[0].get("credit", 0.0))
        return round(points * credit, 2), False, str(failed[0].get("message", ""))
    if error is not None:
        return 0.0, False, f"{error[0]} in the check cell" + (f": {error[1]}" if error[1] else "")
    return 0.0, False, "the check did not report a result (was `check` redefined?)"


def _memory_note(nb: Any, settings: Settings) -> str:
    for index, cell in enumerate(nb.cells):
        error = _error(cell)
        if error and error[0] == "MemoryError":
            return (f"memory limit ({settings.memory_mb} MiB) reached in cell {index} "
                    f"({cell.get('id')}): MemoryError")
    return ""


def grade_notebook(student: str, path: Path | None, instructor: Any, tmp: Path,
                   settings: Settings) -> list[Row]:
    """The rows of one student's notebook for one exercise (``path`` None: not submitted)."""
    import nbformat

    exercise = instructor.metadata["nst_exercise"]
    cells = check_cells(instructor)
    problem = "not submitted" if path is None else ""
    if path is not None:
        try:
            submitted = nbformat.read(path, as_version=4)
        except Exception as exc:  # not JSON, not a notebook: the grading goes on
            problem = f"could not read the notebook: {type(exc).__name__}: {exc}"[:300]
    if problem:
        return [Row(student, exercise, _name(c), 0.0, False, problem) for _, c in cells]
    nb, notes = restore_checks(submitted, instructor)
    workdir = Path(tempfile.mkdtemp(prefix=f"{exercise}-", dir=tmp))
    status = run_notebook(nb, workdir, workdir / "log.jsonl", settings)
    rows = [Row(student, exercise, NOTEBOOK_ROW, 0.0, False, note)
            for note in (status, _memory_note(nb, settings)) if note]
    for _, cell in cells:
        ran = next((c for c in nb.cells if c.get("id") == cell.id), None)
        points, passed, message = _check_row(cell, ran, status)
        if cell.id in notes:
            message = f"{message}; {notes[cell.id]}" if message else notes[cell.id]
        rows.append(Row(student, exercise, _name(cell), points, passed, message))
    shutil.rmtree(workdir, ignore_errors=True)
    return rows


def _name(cell: Any) -> str:
    names = checks_in(cell.source)
    return names[0] if names else cell.metadata.get("nbgrader", {}).get("grade_id", cell.id)


# --------------------------------------------------------------------------- the reports

def write_grades(rows: list[Row], path: Path) -> None:
    """grades.csv: one row per student, exercise and check (plus notebook-level events)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(FIELDS)
        for row in rows:
            student, exercise, check, points, passed, message = astuple(row)
            writer.writerow([student, exercise, check, f"{points:g}", str(passed).lower(),
                             message])


def _cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def feedback_page(student: str, rows: list[Row], maximum: dict[str, float]) -> str:
    """A student's Markdown feedback: per exercise the points and each check's diagnosis.
    Only the checks' messages appear: no hidden inputs, no reference, no solution."""
    total = sum(r.points for r in rows)
    lines = [f"# Feedback for {student}", "",
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


def _maximum(instructors: dict[str, Any]) -> dict[str, float]:
    return {nb.metadata["nst_exercise"]: sum(_points(c) for _, c in check_cells(nb))
            for nb in instructors.values()}


def _safe_name(student: str) -> str:
    return re.sub(r"[^\w.-]+", "_", student).strip("._") or "student"


def grade(submissions: Path, output: Path, source: Path, settings: Settings) -> list[Row]:
    """Grade every student's notebooks in ``submissions``; write ``output`` (CSV) and
    ``feedback/STUDENT.md`` beside it; return the rows."""
    if not submissions.is_dir():  # before reading any notebook (nbformat loads slowly)
        raise StyleTransferError(f"submissions folder not found: {submissions}")
    instructors = instructor_notebooks(source)
    maximum = _maximum(instructors)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="nst-grade-") as tmp:
        students = collect(submissions, Path(tmp) / "unzipped")
        for student, notebooks in students.items():
            mine: list[Row] = []
            for key, instructor in instructors.items():
                if isinstance(notebooks, str):
                    mine += [Row(student, instructor.metadata["nst_exercise"], _name(c), 0.0,
                                 False, notebooks) for _, c in check_cells(instructor)]
                    continue
                started = time.monotonic()
                mine += grade_notebook(student, notebooks.get(key), instructor, Path(tmp),
                                       settings)
                got = sum(r.points for r in mine if r.exercise == instructor.metadata[
                    "nst_exercise"])
                print(f"{student} {instructor.metadata['nst_exercise']}: {got:g} / "
                      f"{maximum[instructor.metadata['nst_exercise']]:g} points "
                      f"({time.monotonic() - started:.0f} s)", flush=True)
            _write_feedback(output.parent / "feedback", student, mine, maximum)
            rows += mine
    write_grades(rows, output)
    return rows


def _write_feedback(folder: Path, student: str, rows: list[Row],
                    maximum: dict[str, float]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{_safe_name(student)}.md").write_text(feedback_page(student, rows, maximum),
                                                      encoding="utf-8")


def grade_one(path: Path, source: Path, settings: Settings, only: str | None = None
              ) -> list[Row]:
    """Grade one notebook (exNN in its name picks the instructor's copy); ``only`` keeps the
    rows of one check (plus notebook-level events). For GitHub Classroom, one test each."""
    if not path.is_file():
        raise StyleTransferError(f"notebook not found: {path}")
    match = _EXERCISE.search(path.name)
    instructors = instructor_notebooks(source)
    if not match or match.group(0) not in instructors:
        raise StyleTransferError(f"cannot tell the exercise of {path.name}: name it like the "
                                 f"handed-out notebook ({', '.join(instructors)} …)")
    instructor = instructors[match.group(0)]
    names = [_name(c) for _, c in check_cells(instructor)]
    if only is not None and only not in names:
        raise StyleTransferError(f"{path.name} has no check {only!r}; its checks: "
                                 f"{', '.join(names)}")
    with tempfile.TemporaryDirectory(prefix="nst-grade-") as tmp:
        rows = grade_notebook(path.parent.name or "student", path, instructor, Path(tmp),
                              settings)
    return [r for r in rows if only is None or r.check in (only, NOTEBOOK_ROW)]
