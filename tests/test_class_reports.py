"""The instructor's outputs of a graded class (issue #32, item 7): grades_wide.csv (one row
per student, roster names, a column per exercise, total, maximum), summary.html listing every
flag with its student, feedback pages with the student's own traceback and nothing of the
checker's frames, hidden inputs or references; all written atomically beside grades.csv."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers.errors import StyleTransferError
from helpers.exercises import reports
from helpers.exercises.grading import NOTEBOOK_ROW, Row

MAXIMUM = {"ex01_preprocess": 4.0, "ex02_gram": 2.0}
ROSTER = {"s1": "Ann Lee", "s2": "Ben Ode", "s3": "=HYPERLINK(\"x\")"}


def rows(student: str, p1: float, p2: float, gram: str = "") -> list[Row]:
    return [Row(student, "ex01_preprocess", "preprocess", p1, p1 == 2, ""),
            Row(student, "ex01_preprocess", "deprocess", 2.0, True, ""),
            Row(student, "ex02_gram", "gram", p2, p2 == 2, gram)]


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_grades_wide_has_one_row_per_roster_student_then_unknown_submitters():
    done = {"s1": rows("s1", 2, 2), "zed": rows("zed", 0.5, 0),
            "=cmd|' /C calc'!A0": rows("=cmd|' /C calc'!A0", 0, 0)}
    text = reports.grades_wide(done, MAXIMUM, ROSTER, {"s1": "s1"})
    table = parse(text)
    assert list(table[0]) == ["id", "name", "ex01_preprocess", "ex02_gram", "total", "maximum"]
    assert table[0] == {"id": "s1", "name": "Ann Lee", "ex01_preprocess": "4", "ex02_gram": "2",
                        "total": "6", "maximum": "6"}
    # on the roster, nothing handed in: empty points (an LMS import skips, never a silent 0)
    assert table[1] == {"id": "s2", "name": "Ben Ode", "ex01_preprocess": "", "ex02_gram": "",
                        "total": "", "maximum": "6"}
    assert table[2]["name"].startswith("'=")  # a spreadsheet shows it, does not run it
    assert [r["id"] for r in table[3:]] == ["zed", "'=cmd|' /C calc'!A0"]
    assert table[3]["name"] == "" and table[3]["total"] == "2.5"


def test_grades_wide_without_roster_lists_every_student():
    table = parse(reports.grades_wide({"b": rows("b", 2, 1), "a": rows("a", 0, 0)}, MAXIMUM))
    assert [(r["id"], r["total"], r["maximum"]) for r in table] == [("b", "5", "6"),
                                                                    ("a", "2", "6")]


RAW = [
    "\x1b[0;31m---------------------------------------------------------------------------\x1b[0m",
    "\x1b[0;31mValueError\x1b[0m                                Traceback (most recent call last)",
    "Cell \x1b[0;32mIn[7], line 1\x1b[0m\n\x1b[0;32m----> 1\x1b[0m check(\"gram\", gram_matrix)",
    "File \x1b[0;32m/srv/nst/helpers/exercises/_engine.py:257\x1b[0m, in \x1b[0;36mcall\x1b[0m"
    "\n\x1b[1;32m    257\x1b[0m result = fn(*args)  # REFERENCE_SECRET",
    "Cell \x1b[0;32mIn[5], line 4\x1b[0m, in \x1b[0;36mgram_matrix\x1b[0m\n      3 f = x[0]\n"
    "\x1b[0;32m----> 4\x1b[0m \x1b[38;5;28;01mraise\x1b[39;00m ValueError(f)",
    "\x1b[0;31mValueError\x1b[0m: [[ 0.4173 -1.2231  0.0042]\n [ 2.2 0.1 0.5]\n [1 2 3 4 5 6]]",
]


def test_clean_traceback_keeps_the_students_frames_only():
    text = reports.clean_traceback("\n".join(RAW))
    assert "gram_matrix" in text and "raise ValueError(f)" in text and "In[5], line 4" in text
    assert "_engine.py" not in text and "REFERENCE_SECRET" not in text and "\x1b" not in text
    assert "0.4173" not in text and "2.2" not in text and "(numbers left out)" in text
    assert text.count("numbers left out") == 1  # one line for the whole array
    assert "ValueError: … (numbers left out)" in text
    assert "shapes (1, 5, 7, 3)" in reports.clean_traceback(
        "ValueError: shapes (1, 5, 7, 3) and (2, 2) do not match")
    assert reports.clean_traceback("KeyError: [[ 12  45 200]\n [ 1 2 3]]") == (
        "KeyError: … (numbers left out)")
    long = reports.clean_traceback("\n".join(f"line {i}" for i in range(200)))
    assert len(long.splitlines()) == reports.TRACEBACK_LINES and "more lines" in long


def test_feedback_page_shows_the_students_traceback_and_no_hidden_values():
    mine = rows("ann", 0, 0, "your function raised ValueError")
    mine.append(Row("ann", "ex02_gram", NOTEBOOK_ROW, 0, False, "cell 5 raised NameError"))
    page = reports.feedback_page("ann", mine, MAXIMUM, {
        ("ex02_gram", "gram"): "\n".join(RAW),
        ("ex02_gram", NOTEBOOK_ROW): "NameError: name 'np' is not defined\n```injected```"})
    assert "Your code's traceback (`gram`)" in page and "raise ValueError(f)" in page
    assert "Your code's traceback (the notebook)" in page and "name 'np'" in page
    assert page.count("```") == 4  # the student's backticks cannot close the block
    assert "_engine.py" not in page and "0.4173" not in page and "REFERENCE" not in page
    assert reports.error_traceback({"ename": "KeyError", "evalue": "'x'", "traceback": []}) == (
        "KeyError: 'x'")


FLAGS = {
    "ann": ["handed in more than once: graded ann/, not ann.zip; check which one ann meant",
            "graded ex02_gram-Copy1.ipynb (not the handed-out name)"],
    "<b>bob</b>": ["not on the roster (no id '<b>bob</b>'); graded, with no name in "
                   "grades_wide.csv"],
}


def test_row_flags_finds_timeouts_crashes_edited_cells_and_library_answers():
    mine = [Row("c", "ex01", NOTEBOOK_ROW, 0, False, "timed out: the notebook did not finish "
                "within 60 s"),
            Row("c", "ex01", NOTEBOOK_ROW, 0, False, "cell 4 (cell-04) did not finish within "
                "60 s; it was interrupted"),
            Row("c", "ex01", NOTEBOOK_ROW, 0, False, "the kernel died (a crash)"),
            Row("c", "ex01", "preprocess", 2, True, "the check cell was changed; the "
                "instructor's version was run"),
            Row("c", "ex02", "gram", 0, False, "the check cell was deleted; it was put back"),
            Row("c", "ex02", "gram2", 0, False, "your function uses helpers.losses.gram_matrix"
                ", the library's own answer to this exercise"),
            Row("c", "ex03", "content", 0, False, "wrong values")]
    flags = reports.row_flags(mine)
    assert [reports.flag_kind(f) for f in flags] == [
        "time limit", "time limit", "crash", "check cell edited", "check cell deleted",
        "library answer"]


def test_summary_html_lists_every_flag_with_its_student_escaped():
    flags = {**FLAGS, "cy": ["ex01_preprocess: timed out: the notebook did not finish "
                             "within 60 s"]}
    page = reports.summary_html({"ann": 5, "<b>bob</b>": 2, "cy": 0}, flags, 6,
                                ["'s2' (Ben Ode) is on the roster but handed in nothing"],
                                "all 3 students graded", {"ann": "Ann Lee"})
    assert "<b>bob</b>" not in page and "&lt;b&gt;bob&lt;/b&gt;" in page
    for kind in ("duplicate or copy", "roster", "time limit"):
        assert f"<td>{kind}</td>" in page
    assert page.count("<tr><td>") == 5 + 3  # every flag, then every student
    assert "Ann Lee" in page and "(class folder)" in page


class Inputs:
    def __init__(self, *paths: Path) -> None:
        self.paths = list(paths)

    def near(self, path: Path) -> list[Path]:
        return [p for p in self.paths if p.resolve() == path.resolve()]


def instructors() -> dict:
    from helpers.exercises.grading import instructor_notebooks
    from helpers.exercises.instructor import checkout_source

    found = instructor_notebooks(checkout_source())
    return {k: found[k] for k in ("ex01", "ex02")}


def test_class_report_writes_every_output_beside_the_grades(tmp_path):
    subs = [SimpleNamespace(student=s, notes=list(FLAGS.get(s, [])), problem="")
            for s in ("ann", "s1", "<b>bob</b>")]
    out = tmp_path / "out" / "grades.csv"
    report = reports.ClassReport(out, instructors(), subs, Inputs(), {"s1": "Sam", "s2": "Sue"})
    report.finish("s1", rows("s1", 2, 2))
    report.finish("ann", rows("ann", 0, 1), {("ex02_gram", "gram"): "\n".join(RAW)})
    report.write_summary(None, ["zz.txt: not a folder, zip or notebook; ignored"], "done")
    names = sorted(p.name for p in out.parent.iterdir())
    assert names == ["feedback", "grades.csv", "grades_wide.csv", "summary.html", "summary.txt"]
    wide = parse((out.parent / "grades_wide.csv").read_text())
    assert [(r["id"], r["name"], r["total"]) for r in wide] == [("s1", "Sam", "6"),
                                                               ("s2", "Sue", ""),
                                                               ("ann", "", "3")]
    page = (out.parent / "summary.html").read_text()
    for fragment in ("handed in more than once", "not on the roster (no id &#x27;ann&#x27;)",
                     "&#x27;s2&#x27; (Sue) is on the roster but handed in nothing",
                     "zz.txt", "Sam"):
        assert fragment in page, fragment
    assert "raise ValueError(f)" in (out.parent / "feedback" / "ann.md").read_text()
    assert len(parse((out.parent / "grades.csv").read_text())) == 6


@pytest.mark.parametrize("name", ["summary.html", "grades_wide.csv", "summary.txt"])
def test_an_output_named_like_the_graders_own_files_is_refused(tmp_path, name):
    with pytest.raises(StyleTransferError, match="written by the grader"):
        reports.ClassReport(tmp_path / name, instructors(), [], Inputs())


def test_an_output_that_is_an_input_is_refused_before_grading(tmp_path):
    wide = tmp_path / "grades_wide.csv"
    wide.write_text("the instructor's own sheet")
    with pytest.raises(StyleTransferError):
        reports.ClassReport(tmp_path / "grades.csv", instructors(), [], Inputs(wide))
    assert wide.read_text() == "the instructor's own sheet"


def test_a_traceback_carried_below_a_messages_first_line_goes_under_the_table():
    message = ("your function raised ValueError: bad\nYour code's traceback (most recent call "
               "last):\n  File \"/tmp/ipykernel_1/2.py\", line 3, in gram_matrix\n"
               "    return f @ g\n  File \"/srv/helpers/exercises/_engine.py\", line 9, in "
               "reference\n    SECRET_REFERENCE_LINE")
    page = reports.feedback_page("ann", [Row("ann", "ex02_gram", "gram", 0, False, message)],
                                 MAXIMUM)
    table = next(line for line in page.splitlines() if line.startswith("| `gram`"))
    assert table == "| `gram` | 0 | ✗ your function raised ValueError: bad |"
    assert "Your code's traceback (`gram`)" in page and "return f @ g" in page
    assert "SECRET_REFERENCE_LINE" not in page and "_engine.py" not in page


# ------------------------------------------- end to end: --roster through the real command


@pytest.mark.slow  # two students' notebooks run in kernels
def test_grading_with_a_roster_writes_the_wide_grades_and_the_summary_page(tmp_path):
    import os
    import subprocess
    import sys

    import nbformat

    sys.path.insert(0, str(Path(__file__).parent / "data"))
    import submissions

    root = Path(__file__).resolve().parent.parent
    source = tmp_path / "source"
    source.mkdir()
    (source / submissions.NOTEBOOK).write_bytes(
        (root / "notebooks" / "exercises" / submissions.NOTEBOOK).read_bytes())
    for student, nb in [("s1", submissions.right()), ("zed", submissions.wrong())]:
        (tmp_path / "class" / student).mkdir(parents=True)
        nbformat.write(nb, tmp_path / "class" / student / submissions.NOTEBOOK)
    (tmp_path / "students.csv").write_text("id,name\ns1,Ann Lee\ns2,Ben Ode\n")
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", "exercises", "--grade", str(tmp_path / "class"),
         "--source", str(source), "--roster", str(tmp_path / "students.csv"), "-o",
         str(tmp_path / "out" / "grades.csv"), "--memory-mb", "2048", "--timeout", "300"],
        capture_output=True, text=True, timeout=900,
        env={**os.environ, "PYTHONPATH": str(root), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    wide = parse((tmp_path / "out" / "grades_wide.csv").read_text())
    # zed: preprocess wrong (0 of 2), deprocess right (2 of 2)
    assert [(r["id"], r["name"], r["total"], r["maximum"]) for r in wide] == [
        ("s1", "Ann Lee", "4", "4"), ("s2", "Ben Ode", "", "4"), ("zed", "", "2", "4")]
    page = (tmp_path / "out" / "summary.html").read_text()
    assert "not on the roster (no id &#x27;zed&#x27;)" in page
    assert "&#x27;s2&#x27; (Ben Ode) is on the roster but handed in nothing" in page
