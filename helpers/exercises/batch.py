"""Grading a whole class of notebooks/exercises submissions, ``--jobs`` notebooks at once,
each in a worker process (:mod:`helpers.exercises.workers`, kept for the next notebook; a
notebook that ends its worker is reported and a new worker grades the next), each notebook
in a fresh kernel of its own, with nothing lost:

- every output (grades.csv, summary.txt, feedback pages) is checked against every file the
  grader reads (submissions, zips, the instructor's notebooks) before the first notebook
  runs (:func:`helpers.files.check_output`), and written atomically;
- grades.csv is rewritten as each student finishes, so Ctrl-C, SIGTERM or SIGHUP (or a
  cell that kills its worker) keeps every finished student's rows;
- a worker that outlives its notebooks' time limits is killed with its process group, and
  every process carrying its token after it (:func:`runner.kill_leftovers`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import tempfile
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Iterator

from helpers.errors import StyleTransferError
from helpers.exercises import reports
from helpers.exercises.collect import EXERCISE, Submission, collect, walk
from helpers.exercises.grading import (
    EXACT_TENSORFLOW,
    NOTEBOOK_ROW,
    GradeRun,
    Row,
    _name,
    check_cells,
    instructor_notebooks,
    printable,
)
from helpers.exercises.hiding import exposed, hiding_works, kernel_limits, not_hidden
from helpers.exercises.lending import Lender
from helpers.exercises.nbio import NOTEBOOK_BYTES
from helpers.exercises.worker import sweep_short
from helpers.exercises.workers import Task, Workers, run_job
from helpers.files import check_folder, check_input, check_output, read_bytes, same_file
from helpers.signals import ignored_signals


def shown(student: str) -> str:
    """A student's name for one line of output (quoted if it holds odd characters)."""
    return student if student.isprintable() and student.strip() == student else repr(student)


@contextlib.contextmanager
def deaf() -> Iterator[None]:
    """While inside, Ctrl-C, SIGTERM and SIGHUP are ignored (a second Ctrl-C cannot cut the
    cleanup after the first short): :func:`helpers.signals.ignored_signals`."""
    with ignored_signals():
        yield


class Inputs:
    """Every file the grader reads, indexed by resolved path and by inode, so each output
    is checked (:func:`helpers.files.check_output`) against the few inputs that could be
    it, not against all of a large class folder."""

    def __init__(self, paths: list[Path]) -> None:
        self.real: dict[str, Path] = {}
        self.inode: dict[tuple[int, int], Path] = {}
        for path in paths:
            self.real.setdefault(os.path.realpath(path), path)
            with contextlib.suppress(OSError):
                info = os.stat(path)
                self.inode.setdefault((info.st_dev, info.st_ino), path)

    def near(self, path: Path) -> list[Path]:
        """The inputs ``path`` could be (the same resolved path or the same inode)."""
        found = [self.real.get(os.path.realpath(path))]
        with contextlib.suppress(OSError):
            info = os.stat(path)
            found.append(self.inode.get((info.st_dev, info.st_ino)))
        return [p for p in found if p is not None]


def inputs_of(submissions: Path, instructors: dict[str, Any]) -> Inputs:
    """Every file the grader reads: all files under ``submissions`` (symlinks included, not
    followed: :func:`collect.walk`) and the instructor's notebooks."""
    files, _ = walk(submissions)
    return Inputs([Path(nb.metadata["nst_source"]) for nb in instructors.values()] + files)


def check_outputs(output: Path, submissions: Path, inputs: Inputs) -> tuple[Path, Path]:
    """Refuse, before grading, outputs that would overwrite an input or land inside the
    class folder (the feedback folder would be read as a student next time); return the
    summary's path and the feedback folder."""
    check_output(output, inputs.near(output), "-o")
    parent = Path(os.path.realpath(output.parent if str(output.parent) else "."))
    if parent.is_relative_to(os.path.realpath(submissions)):
        raise StyleTransferError(f"-o {output} is inside the submissions folder {submissions}; "
                                 "its feedback/ folder would be read as a student's next "
                                 "time: write the grades outside it")
    summary = output.with_name("summary.txt")
    check_output(summary, inputs.near(summary), "the summary")
    if summary == output or output.name == "summary.txt":
        raise StyleTransferError(f"-o {output}: summary.txt is the grader's summary; give "
                                 "another name, e.g. grades.csv")
    feedback = output.parent / "feedback"
    if same_file(output, feedback):
        raise StyleTransferError(f"-o {output} is the feedback folder the grader writes beside "
                                 "it; give a file name, e.g. grades.csv")
    return summary, check_folder(feedback, "the feedback folder")


def screen(subs: list[Submission], instructors: dict[str, Any]) -> None:
    """Drop (and note) a submitted notebook that is the instructor's own file (a link to
    it), and flag one byte-identical to the instructor's copy (the answer key)."""
    import hashlib

    sources = [Path(nb.metadata["nst_source"]) for nb in instructors.values()]
    keys: dict[int, set[str]] = {}
    for source in sources:
        data = read_bytes(source, NOTEBOOK_BYTES, "the instructor's notebook")
        keys.setdefault(len(data), set()).add(hashlib.sha256(data).hexdigest())
    for sub in subs:
        for key, path in list(sub.notebooks.items()):
            if any(same_file(path, source) for source in sources):
                del sub.notebooks[key]
                sub.notes.append(f"{sub.shown(path)} is the instructor's notebook (a link to "
                                 "it); not graded")
                continue
            with contextlib.suppress(StyleTransferError, OSError):
                size = path.stat().st_size  # only a file of the same size can be the same
                if size in keys and hashlib.sha256(read_bytes(
                        path, size, "notebook")).hexdigest() in keys[size]:
                    sub.notes.append(f"{sub.shown(path)} is byte for byte the instructor's "
                                     "notebook (the answer key)")


def _plan(subs: list[Submission], instructors: dict[str, Any]
          ) -> tuple[list[Task], dict[str, dict[str, list[Row]]]]:
    """The notebooks to run, and the rows known without running (not submitted, an
    unreadable zip) per student and exercise."""
    tasks, known = [], {}
    for sub in subs:
        known[sub.student] = {}
        for key, nb in instructors.items():
            exercise = nb.metadata["nst_exercise"]
            why = sub.problem or ("" if key in sub.notebooks else "not submitted")
            if why:
                known[sub.student][exercise] = [Row(sub.student, exercise, _name(c), 0.0,
                                                    False, why) for _, c in check_cells(nb)]
                continue
            tasks.append(Task(sub.student, exercise, sub.notebooks[key],
                              nb.metadata["nst_source"], sub.shown(sub.notebooks[key])))
    return tasks, known


class LentWorkers(Workers):
    """The run's workers, each one's process named to the :class:`Lender` slot of the
    notebook it grades (its CPU tells whether that notebook is idle)."""

    def __init__(self, lender: Lender) -> None:
        super().__init__()
        self.lender = lender

    def take(self, folder: Path) -> Any:
        """An idle worker or a new one (:meth:`Workers.take`), named to the caller's slot."""
        worker = super().take(folder)
        if worker is not None:
            self.lender.attach(worker.proc.pid)
        return worker

    def stop(self) -> None:
        """Stop the workers, and let the notebooks waiting for a slot go (to nothing)."""
        self.lender.stop()
        super().stop()


def _job(lender: Lender, *args: Any) -> list[list[Row]]:
    """:func:`run_job` in a slot of ``lender`` (waiting for one first)."""
    with lender.slot():
        return run_job(*args)


def _run(tasks: list[Task], known: dict[str, dict[str, list[Row]]],
         instructors: dict[str, Any], settings: GradeRun, report: reports.ClassReport,
         tmp: Path) -> None:
    """Run the tasks, one notebook per worker at a time, ``settings.jobs`` busy at once and
    up to ``settings.lend`` more while as many sleep (:mod:`helpers.exercises.lending`; a
    student's notebooks spread over the workers: one who hangs everywhere does not hold the
    run's end); each student is written out as soon as all their notebooks are graded.
    Ctrl-C, SIGTERM and SIGHUP stop the workers and propagate."""
    by_exercise = {nb.metadata["nst_exercise"]: nb for nb in instructors.values()}
    order = list(by_exercise)
    jobs: dict[str, list[Task]] = {s: [t for t in tasks if t.student == s] for s in known}
    for student, mine in jobs.items():
        if not mine:
            report.finish(student, [r for e in order for r in known[student].get(e, [])])
    jobs_at_once = max(1, settings.jobs)
    lender = Lender(jobs_at_once, jobs_at_once if settings.lend is None else settings.lend)
    workers = LentWorkers(lender)
    pool = ThreadPoolExecutor(max_workers=lender.jobs + lender.lend)
    try:
        futures = {pool.submit(_job, lender, [task], tmp / f"student-{number}-{k}",
                               by_exercise, settings, workers): (student, task)
                   for number, (student, mine) in enumerate(jobs.items())
                   for k, task in enumerate(mine)}
        left = {student: len(mine) for student, mine in jobs.items()}
        pending = set(futures)
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in finished:
                student, task = futures[future]
                known[student][task.exercise] = future.result()[0]
                left[student] -= 1
                if not left[student]:
                    _finish(student, jobs[student], known[student], order, report)
        if lender.lent:
            print(f"note: {lender.lent} notebook(s) started on the core of a sleeping one "
                  "(--jobs counts the notebooks using the CPU)", flush=True)
    except BaseException:
        with deaf():
            workers.stop()
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        workers.close()
        sweep_short(tmp)


def _finish(student: str, tasks: list[Task], known: dict[str, list[Row]], order: list[str],
            report: reports.ClassReport) -> None:
    """A student whose notebooks are all graded: one line per notebook, then their rows
    written out."""
    for task in tasks:
        rows = known[task.exercise]
        print(f"{shown(student)} {task.exercise}: {sum(r.points for r in rows):g}"
              f" / {report.maximum[task.exercise]:g} points", flush=True)
    report.finish(student, [r for e in order for r in known.get(e, [])])


def grade_class(submissions: Path, output: Path, source: Path, settings: GradeRun,
                roster: dict[str, str] | None = None) -> list[Row]:
    """Grade every student's notebooks in ``submissions``; write ``output`` (CSV),
    ``feedback/STUDENT.md``, ``grades_wide.csv`` (one row per student, names from the
    ``roster``), ``summary.txt`` and ``summary.html`` beside it; return the rows. Stopped by a
    signal, it writes what is finished and re-raises (``exc.graded``, ``exc.students``)."""
    if not submissions.is_dir():  # before reading any notebook (nbformat loads slowly)
        raise StyleTransferError(f"submissions folder not found: {submissions}")
    os.environ.update(EXACT_TENSORFLOW)
    instructors = instructor_notebooks(source)
    inputs = inputs_of(submissions, instructors)
    summary_path, _ = check_outputs(output, submissions, inputs)
    canonical = {k: Path(nb.metadata["nst_source"]).name for k, nb in instructors.items()}
    temporary = functools.partial(tempfile.TemporaryDirectory, ignore_cleanup_errors=True)
    with temporary(prefix="nst-unzipped-") as unzipped, temporary(prefix="nst-grade-") as tmp:
        # apart: a notebook removing its own temporary folder's parent spares the zips
        settings.hide = [*settings.hide, unzipped, tmp, str(submissions), str(source),
                         str(output.parent / "feedback")]
        subs, general = collect(submissions, Path(unzipped), canonical)
        screen(subs, instructors)
        report = reports.ClassReport(output, instructors, subs, inputs, roster)
        general.append(f"hidden inputs drawn from seed {settings.seed} (--seed {settings.seed} "
                       "draws them again)")
        if not hiding_works():
            print(f"warning: {not_hidden()}", file=sys.stderr, flush=True)
            general.insert(0, not_hidden())
        else:
            general.append(kernel_limits())
        general += exposed(settings.hide)
        for line in general + [f"{shown(s.student)}: {n}" for s in subs
                               for n in [*s.notes, *([s.problem] if s.problem else [])]]:
            print(f"note: {printable(line)}", flush=True)
        tasks, known = _plan(subs, instructors)
        try:
            _run(tasks, known, instructors, settings, report, Path(tmp))
        except KeyboardInterrupt as exc:
            exc.graded, exc.students = len(report.done), len(subs)  # type: ignore[attr-defined]
            with deaf():
                report.write_summary(summary_path, general, f"stopped after "
                                     f"{len(report.done)} of {len(subs)} students")
            raise
        report.write_summary(summary_path, general, f"all {len(subs)} students graded")
    return report.rows()


def grade_one(path: Path, source: Path, settings: GradeRun, only: str | None = None
              ) -> list[Row]:
    """Grade one notebook (exNN in its name picks the instructor's copy); ``only`` keeps the
    rows of one check (plus notebook-level events). For GitHub Classroom, one test each."""
    if not path.is_file():
        check_input(path, "notebook")  # says what it is: missing, a pipe, a device
    os.environ.update(EXACT_TENSORFLOW)
    match = EXERCISE.search(path.name)
    instructors = instructor_notebooks(source)
    if not match or match.group(0) not in instructors:
        raise StyleTransferError(f"cannot tell the exercise of {path.name}: name it like the "
                                 f"handed-out notebook ({', '.join(instructors)} …)")
    instructor = instructors[match.group(0)]
    if any(same_file(path, nb.metadata["nst_source"]) for nb in instructors.values()):
        raise StyleTransferError(f"{path} is the instructor's notebook (the same file or a link "
                                 "to it), not a submission")
    names = [_name(c) for _, c in check_cells(instructor)]
    if only is not None and only not in names:
        raise StyleTransferError(f"{path.name} has no check {only!r}; its checks: "
                                 f"{', '.join(names)}")
    if not hiding_works():
        print(f"warning: {not_hidden()}", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory(prefix="nst-grade-", ignore_cleanup_errors=True) as tmp:
        rows = _in_worker(path, instructor, settings, Path(tmp), [tmp, source, path.parent])
    return [r for r in rows if only is None or r.check in (only, NOTEBOOK_ROW)]


def _in_worker(path: Path, instructor: Any, settings: GradeRun, tmp: Path, hide: list
               ) -> list[Row]:
    """The rows of ``path`` graded as a class's notebooks are: in a worker process of its
    own (:func:`helpers.exercises.workers.run_job`: its folders on a capped tmpfs, the
    kernel hidden from ``hide``)."""
    exercise = instructor.metadata["nst_exercise"]
    task = Task(path.parent.name or "student", exercise, path, instructor.metadata["nst_source"],
                path.name)
    settings.hide = [*settings.hide, *map(str, hide)]
    workers = Workers()
    try:
        return run_job([task], tmp / "student-0", {exercise: instructor}, settings, workers)[0]
    except BaseException:
        workers.stop()
        raise
    finally:
        workers.close()
        sweep_short(tmp)
