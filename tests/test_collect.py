"""Collecting a class (issue #32, item 5): the same student twice (folder and zip, folders
differing in case), copies (``-Copy1``, ``(1)``), unknown notebook names and a roster that
does not match the submitters are reported, never resolved silently; the handed-out name wins
over a copy. Also ``--roster`` files that cannot be used: one line, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers.errors import StyleTransferError
from helpers.exercises.collect import collect
from helpers.exercises.roster import match_roster, read_roster

ROOT = Path(__file__).resolve().parent.parent
KEYS = {"ex01": "ex01_preprocess.ipynb", "ex02": "ex02_gram.ipynb"}


def put(path: Path, text: str = "{}") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_a_class_with_every_kind_of_duplicate(tmp_path):
    klass = tmp_path / "class"
    put(klass / "alice" / "ex01_preprocess.ipynb", "folder")
    with zipfile.ZipFile(klass / "alice.zip", "w") as zf:
        zf.writestr("ex01_preprocess.ipynb", "zip")
    put(klass / "Carl" / "ex01_preprocess.ipynb")
    put(klass / "carl" / "ex02_gram.ipynb")
    for name in ["ex02_gram-Copy1.ipynb", "ex02_gram (1).ipynb", "ex02_gram.ipynb",
                 "Untitled.ipynb", "ex09_extra.ipynb"]:
        put(klass / "dana" / name)
    put(klass / "eve" / "ex02_gram (1).ipynb")
    put(klass / "fay_ex01_preprocess-Copy1.ipynb")
    put(klass / "fay_ex01_preprocess.ipynb")
    subs, general = collect(klass, tmp_path / "unzipped", KEYS)
    by = {s.student: s for s in subs}
    assert list(by) == ["alice", "Carl", "carl", "dana", "eve", "fay"]
    assert by["alice"].origin == "alice/" and "alice.zip" in by["alice"].notes[0]
    assert "more than once" in by["alice"].notes[0]
    for twin in ("Carl", "carl"):
        assert "differing only in case" in by[twin].notes[0] and by[twin].notebooks
    dana = by["dana"]
    assert dana.notebooks == {"ex02": klass / "dana" / "ex02_gram.ipynb"}
    notes = " | ".join(dana.notes)
    for name in ("ex02_gram-Copy1.ipynb", "ex02_gram (1).ipynb", "Untitled.ipynb",
                 "ex09_extra.ipynb"):
        assert name in notes, name
    assert by["eve"].notebooks["ex02"].name == "ex02_gram (1).ipynb"
    assert "not the handed-out name" in by["eve"].notes[0]
    assert by["fay"].notebooks["ex01"].name == "fay_ex01_preprocess.ipynb"
    assert "fay_ex01_preprocess-Copy1.ipynb" in " ".join(by["fay"].notes)
    assert general == []


def roster_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "students.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_roster_matches_ids_and_reports_both_ways(tmp_path):
    roster = read_roster(roster_file(tmp_path, "\ufeffID,Name,email\ns1,Ann Lee,a@x\n"
                                               "s2,Ben Ode,\n\ns3,Cy,\n"))
    assert roster == {"s1": "Ann Lee", "s2": "Ben Ode", "s3": "Cy"}
    matched, unknown, missing = match_roster(["s1", "S2", "Ann Lee", "zed"], roster)
    assert matched == {"s1": "s1"}
    assert "close to the roster's 's2'" in unknown["S2"][0]
    assert "close to the roster's 's1'" in unknown["Ann Lee"][0]
    assert unknown["zed"] == ["not on the roster (no id 'zed'); graded, with no name in "
                              "grades_wide.csv"]
    assert missing == ["'s2' (Ben Ode) is on the roster but handed in nothing",
                       "'s3' (Cy) is on the roster but handed in nothing"]


@pytest.mark.parametrize("text,fragment", [
    ("student,email\na,b\n", "must name the columns"),
    ("", "must name the columns"),
    ("id,name\n", "lists no students"),
    ("id,name\ns1,A\ns1,B\n", "line 3: id 's1' listed twice"),
    ("id,name\n,Nobody\n", "line 2: no id"),
])
def test_a_roster_that_cannot_be_used_is_one_line(tmp_path, text, fragment):
    with pytest.raises(StyleTransferError, match=fragment):
        read_roster(roster_file(tmp_path, text))


def test_a_roster_that_is_not_text_or_a_pipe_is_one_line(tmp_path):
    path = tmp_path / "bin.csv"
    path.write_bytes(b"id,name\n\xff\xfe\x00")
    with pytest.raises(StyleTransferError, match="not a UTF-8 CSV"):
        read_roster(path)
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(StyleTransferError, match="pipe"):
        read_roster(tmp_path / "pipe.csv")
    with pytest.raises(StyleTransferError, match="folder"):
        read_roster(tmp_path)
    with pytest.raises(StyleTransferError, match="not found|does not exist|no such"):
        read_roster(tmp_path / "missing.csv")


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "exercises", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_bad_roster_is_refused_before_any_notebook_runs(tmp_path):
    put(tmp_path / "class" / "s1" / "ex01_preprocess.ipynb")
    roster = roster_file(tmp_path, "id,name\ns1,A\ns1,B\n")
    before = roster.read_bytes()
    for args, fragment in [(["--grade", str(tmp_path / "class")], "listed twice"),
                           (["--student", str(tmp_path / "out")], "works with --grade"),
                           (["--grade", str(tmp_path / "x.ipynb")], "works with --grade")]:
        proc = cli(*args, "--roster", str(roster), "-o", str(tmp_path / "g.csv"))
        assert proc.returncode == 2, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0]
        assert "Traceback" not in proc.stderr + proc.stdout
    assert roster.read_bytes() == before
    assert not (tmp_path / "g.csv").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["grades.csv", "grades_wide.csv", "summary.html"])
def test_a_roster_the_grader_would_write_over_is_refused(tmp_path, name):
    put(tmp_path / "class" / "s1" / "ex01_preprocess.ipynb")
    roster = roster_file(tmp_path, "id,name\ns1,Ann\n")
    (tmp_path / "out").mkdir()
    os.link(roster, tmp_path / "out" / name)  # the same file under the grader's name
    before = roster.read_bytes()
    proc = cli("--grade", str(tmp_path / "class"), "--roster", str(roster), "-o",
               str(tmp_path / "out" / "grades.csv"))
    assert proc.returncode == 2 and proc.stderr.startswith("error:"), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert roster.read_bytes() == before
