"""The ``python -m helpers exercises`` subcommand (notebooks/exercises): write the student
versions, or grade submissions (a class folder, or one notebook for GitHub Classroom)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import check_name
from helpers.settings import whole_number
from helpers.signals import exit_status, signal_name, stop_on_signals

EXIT_FAILED_CHECK = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommand's options."""
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--student", metavar="OUTDIR",
                      help="write the student versions into this folder")
    what.add_argument("--grade", metavar="SUBMISSIONS",
                      help="grade a folder of submissions (one folder or zip per student, or "
                           "STUDENT_exNN_….ipynb), or one notebook (exit status 1 if a check "
                           "fails)")
    parser.add_argument("--source", default=None, metavar="DIR",
                        help="the instructor's folder: exercise notebooks with solutions and "
                             "look_target.json (default: notebooks/exercises of the "
                             "repository the library runs from)")
    parser.add_argument("--roster", default=None, metavar="CSV",
                        help="with --grade SUBMISSIONS: the class list (columns id,name); "
                             "missing students and unknown submitters are reported")
    parser.add_argument("-o", "--output", default="grades.csv",
                        help="with --grade SUBMISSIONS: the CSV to write; feedback/STUDENT.md "
                             "goes beside it")
    parser.add_argument("--timeout", default="600", metavar="SECONDS",
                        help="with --grade: seconds each notebook may run")
    parser.add_argument("--memory-mb", default="8192", metavar="MIB",
                        help="with --grade: address-space limit of each notebook's kernel, MiB")
    parser.add_argument("--jobs", default=None, metavar="N",
                        help="with --grade SUBMISSIONS: notebooks graded at once (default: "
                             "the number of cores)")
    parser.add_argument("--cell-timeout", default="60", metavar="SECONDS",
                        help="with --grade: seconds each cell may run (a cell over it is "
                             "interrupted and the notebook goes on)")
    parser.add_argument("--seed", default=None, metavar="N",
                        help="with --grade: draw the hidden inputs from this seed (default: a "
                             "fresh one per run, printed in the summary)")
    parser.add_argument("--only", metavar="CHECK", default=None,
                        help="with --grade NOTEBOOK: report (and exit on) this check only")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; StyleTransferError (bad input) is the caller's to report. Ctrl-C,
    SIGTERM and SIGHUP end it with one line and status 130, 143 or 129 (grading keeps every
    finished student's rows in the CSV)."""
    with stop_on_signals():
        try:
            return _run(args)
        except KeyboardInterrupt as exc:
            print(_stopped(args, exc), file=sys.stderr)
            return exit_status(exc)


def _stopped(args: argparse.Namespace, exc: KeyboardInterrupt) -> str:
    """The one line saying what an interrupted run kept."""
    graded = getattr(exc, "graded", None)
    if graded is None:
        return f"interrupted ({signal_name(exc)}); no grades were written"
    if not graded:
        return (f"interrupted ({signal_name(exc)}) before any of the {exc.students} students "
                f"was graded: {args.output} was not written (any earlier file is kept)")
    return (f"interrupted ({signal_name(exc)}) while grading: {args.output} keeps the "
            f"{graded} of {exc.students} students graded so far; run again to grade the rest")


def _memory_mb(text: str, minimum: int) -> int:
    """``--memory-mb``: a whole number of MiB no smaller than a kernel with TensorFlow needs
    (below it every kernel would die and every student get 0 points)."""
    try:
        return whole_number(text, "--memory-mb", minimum)
    except StyleTransferError as exc:
        raise StyleTransferError(f"{exc} (a notebook kernel with TensorFlow needs at least "
                                 f"{minimum} MiB)") from None


def _student(source: Path, out: str) -> int:
    """--student: the student notebooks, and the ex07 target pictures when ``source`` keeps
    the target's settings (refused before writing when a notebook needs them and they are
    missing)."""
    from helpers.exercises.instructor import LOOK_TARGET_FILE, needs_look_target
    from helpers.exercises.student import write_student_versions

    keeps = (source / LOOK_TARGET_FILE).exists()
    if not keeps and (needs := needs_look_target(source)):
        raise StyleTransferError(f"{needs} needs the target's settings, {source / LOOK_TARGET_FILE}"
                                 ', e.g. {"style_weight": 30}; add the file or leave the '
                                 "notebook out")
    if keeps:  # settings that cannot be used, or a picture that would replace an input:
        from helpers.exercises.instructor import LOOK_PICTURES, look_target
        from helpers.files import check_output

        look_target(source)  # one line before anything is written
        for name in LOOK_PICTURES.values():
            check_output(Path(out) / name, [*source.iterdir()], "the target picture")
    written = write_student_versions(source, out)
    print(f"Wrote {len(written)} student notebooks to {out}: "
          + ", ".join(p.name for p in written), flush=True)
    if keeps:
        from helpers.exercises.ex07_match_the_look import paint_look_pictures

        pictures = paint_look_pictures(source, out)
        print("Painted the ex07 target: " + ", ".join(p.name for p in pictures)
              + f" (hand them out with the notebooks; keep {LOOK_TARGET_FILE})")
    return 0


def _roster(path: str, output: Path) -> dict[str, str]:
    """``--roster``: read (one line if it cannot be used) before any notebook runs, and never
    one of the files the grader writes (grades, grades_wide.csv, the summaries)."""
    from helpers.exercises.reports import SUMMARY_HTML, SUMMARY_TEXT, WIDE
    from helpers.exercises.roster import read_roster
    from helpers.files import check_output

    roster = read_roster(Path(path))
    for name in (output.name, WIDE, SUMMARY_TEXT, SUMMARY_HTML):
        check_output(output.with_name(name), [Path(path)], "the grades")
    return roster


def _run(args: argparse.Namespace) -> int:
    from helpers.exercises.instructor import find_source

    if args.roster is not None and (args.grade is None or args.grade.endswith(".ipynb")):
        raise StyleTransferError("--roster works with --grade SUBMISSIONS (a class folder)")
    source = find_source(args.source)
    if args.student is not None:
        return _student(source, args.student)
    from helpers.exercises import grading

    settings = grading.GradeRun(
        timeout=whole_number(args.timeout, "--timeout"),
        memory_mb=_memory_mb(args.memory_mb, grading.MIN_MEMORY_MB),
        jobs=grading.cores() if args.jobs is None else whole_number(args.jobs, "--jobs"),
        cell_timeout=whole_number(args.cell_timeout, "--cell-timeout"))
    if args.seed is not None:
        settings.seed = whole_number(args.seed, "--seed", 0)
    target = Path(args.grade)
    if target.suffix == ".ipynb":
        return _grade_one(target, source, settings, args.only)
    if args.only is not None:
        raise StyleTransferError("--only works with one notebook (--grade NOTEBOOK.ipynb)")
    from helpers.exercises.batch import grade_class

    output = check_name(args.output, "-o")
    if args.roster is None:
        rows = grade_class(target, output, source, settings)
    else:
        rows = grade_class(target, output, source, settings, roster=_roster(args.roster, output))
    students = len({r.student for r in rows})
    print(f"Graded {students} students: {output} and {output.parent / 'feedback'}/")
    return 0


def _grade_one(target: Path, source: Path, settings: Any, only: str | None) -> int:
    """``--grade NOTEBOOK.ipynb``: one line per check (and each flag); the exit status is
    the grade (0: every check passed)."""
    from helpers.exercises.batch import grade_one
    from helpers.exercises.reports import row_flags
    from helpers.exercises.worker import become_subreaper, kill_descendants

    become_subreaper()  # this process adopts what the notebook detaches, and kills it
    try:
        rows = grade_one(target, source, settings, only)
    finally:
        kill_descendants()
    for row in rows:
        mark = "✓" if row.passed else "✗"
        print(f"{mark} {row.exercise} {row.check}: {row.points:g} points"
              + (f" — {row.message}" if row.message else ""))
    for flag in row_flags(rows):
        print(f"flag: {flag}")
    print(f"(hidden inputs drawn from seed {settings.seed}: --seed {settings.seed} draws "
          "them again)")
    return 0 if rows and all(r.passed for r in rows) else EXIT_FAILED_CHECK
