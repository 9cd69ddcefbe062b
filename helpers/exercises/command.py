"""The ``python -m helpers exercises`` subcommand (notebooks/exercises): write the student
versions, or grade submissions (a class folder, or one notebook for GitHub Classroom)."""

from __future__ import annotations

import argparse
from pathlib import Path

from helpers.cli import _positive_int  # a whole number >= 1, as every count of the CLI
from helpers.errors import StyleTransferError

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
                        help="folder of the instructor's exercise notebooks (default: "
                             "notebooks/exercises)")
    parser.add_argument("-o", "--output", default="grades.csv",
                        help="with --grade SUBMISSIONS: the CSV to write; feedback/STUDENT.md "
                             "goes beside it")
    parser.add_argument("--timeout", type=_positive_int, default=600,
                        help="with --grade: seconds each notebook may run")
    parser.add_argument("--memory-mb", type=_positive_int, default=8192,
                        help="with --grade: address-space limit of each notebook's kernel, MiB")
    parser.add_argument("--only", metavar="CHECK", default=None,
                        help="with --grade NOTEBOOK: report (and exit on) this check only")


def run(args: argparse.Namespace) -> int:
    """Run the subcommand; StyleTransferError (bad input) is the caller's to report."""
    from helpers.exercises import EXERCISES_DIR

    source = Path(args.source) if args.source else EXERCISES_DIR
    if args.student is not None:
        from helpers.exercises.student import write_student_versions

        written = write_student_versions(source, args.student)
        print(f"Wrote {len(written)} student notebooks to {args.student}: "
              + ", ".join(p.name for p in written))
        return 0
    from helpers.exercises import grading

    settings = grading.Settings(timeout=args.timeout, memory_mb=args.memory_mb)
    target = Path(args.grade)
    if target.suffix == ".ipynb":
        rows = grading.grade_one(target, source, settings, args.only)
        for row in rows:
            mark = "✓" if row.passed else "✗"
            print(f"{mark} {row.exercise} {row.check}: {row.points:g} points"
                  + (f" — {row.message}" if row.message else ""))
        return 0 if rows and all(r.passed for r in rows) else EXIT_FAILED_CHECK
    if args.only is not None:
        raise StyleTransferError("--only works with one notebook (--grade NOTEBOOK.ipynb)")
    output = Path(args.output)
    if output.is_dir():
        raise StyleTransferError(f"cannot write {output}: it is a folder; give a .csv file")
    rows = grading.grade(target, output, source, settings)
    students = len({r.student for r in rows})
    print(f"Graded {students} students: {output} and {output.parent / 'feedback'}/")
    return 0
