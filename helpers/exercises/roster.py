"""The class list for grading (``--roster students.csv``; notebooks/exercises/README.md,
"Running a graded class"): read it, and match the submitters to its ids without guessing.
A name that matches only in case, or only a student's name, is reported, never taken."""

from __future__ import annotations

import csv
from pathlib import Path

from helpers.errors import StyleTransferError
from helpers.exercises.collect import fold
from helpers.files import check_input, read_bytes

ROSTER_BYTES = 10 * 2**20   # the largest class list read


def read_roster(path: Path) -> dict[str, str]:
    """The class list ``path`` (CSV with a header naming the columns ``id`` and ``name``;
    other columns ignored): student id -> name. One line if it cannot be read, lacks a
    column, or lists an id twice or an empty one."""
    data = read_bytes(check_input(path, "--roster"), ROSTER_BYTES + 1, "--roster")
    if len(data) > ROSTER_BYTES:
        raise StyleTransferError(f"--roster {path} is larger than {ROSTER_BYTES // 2**20} MB")
    try:
        rows = list(csv.reader(data.decode("utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise StyleTransferError(f"--roster {path} is not a UTF-8 CSV file ({exc})") from None
    header = [h.strip().casefold() for h in rows[0]] if rows else []
    if "id" not in header or "name" not in header:
        found = ",".join(rows[0])[:80] if rows else "nothing"
        raise StyleTransferError(f"--roster {path}: the first line must name the columns, "
                                 f"e.g. 'id,name' (found {found})")
    at, named = header.index("id"), header.index("name")
    roster: dict[str, str] = {}
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        sid = row[at].strip() if at < len(row) else ""
        if not sid:
            raise StyleTransferError(f"--roster {path}, line {number}: no id")
        if sid in roster:
            raise StyleTransferError(f"--roster {path}, line {number}: id {sid!r} listed twice")
        roster[sid] = row[named].strip() if named < len(row) else ""
    if not roster:
        raise StyleTransferError(f"--roster {path} lists no students")
    return roster


def match_roster(students: list[str], roster: dict[str, str]
                 ) -> tuple[dict[str, str], dict[str, list[str]], list[str]]:
    """Match submitters (their folder, zip or file names) to the roster's ids, exactly (a
    name that matches only an id's name, or only in case, is reported, not taken): student ->
    id for those matched, notes per unknown submitter, and notes on the roster's students
    who handed in nothing."""
    matched = {s: s for s in students if s in roster}
    by_fold: dict[str, list[str]] = {}
    for sid, name in roster.items():
        for key in {fold(sid), fold(name)} - {""}:
            by_fold.setdefault(key, []).append(sid)
    notes: dict[str, list[str]] = {}
    for student in students:
        if student in matched:
            continue
        near = sorted(set(by_fold.get(fold(student), [])))
        hint = (f"; close to the roster's {', '.join(map(repr, near))}: rename the submission "
                "if it is theirs") if near else ""
        notes[student] = [f"not on the roster (no id {student!r}){hint}; graded, with no name in "
                          "grades_wide.csv"]
    missing = [f"{sid!r} ({roster[sid] or 'no name'}) is on the roster but handed in nothing"
               for sid in roster if sid not in matched.values()]
    return matched, notes, missing
