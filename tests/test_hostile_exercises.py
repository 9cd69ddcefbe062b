"""Hostile cases for ``python -m helpers exercises --grade`` and ``--student`` (issue #31):
outputs onto inputs, signals mid-grade, names that collide, duplicates and copies, pipes,
zip bombs, sparse logs, huge outputs, cells that kill the grader or leave processes behind.
Each runs the real command (or the API) and checks the exit status, one ``error:`` line, no
traceback, and that every input is byte-identical afterwards. Cases before any kernel starts
are fast; the ones that run notebooks use exercise 1 (NumPy only) and are marked."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers.errors import StyleTransferError
from helpers.exercises import EXERCISES_DIR
from helpers.exercises.collect import collect, file_name, unzip
from helpers.exercises.hiding import hiding_works
from helpers.exercises.nbio import read_notebook
from helpers.exercises.runner import ANSWER_BYTES, read_answer

sys.path.insert(0, str(Path(__file__).parent / "data"))
import submissions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NB = submissions.NOTEBOOK
KEYS = {"ex01": NB}


def cli(*args: str, timeout: int = 120, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    return subprocess.run([sys.executable, "-m", "helpers", "exercises", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def hashes(*folders: Path) -> dict[str, str]:
    """sha256 of every regular file under the folders (symlinks by their target's bytes)."""
    out = {}
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.is_fifo():
                out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def one_error(proc: subprocess.CompletedProcess, fragment: str, status: int = 2) -> None:
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and fragment in lines[0], lines


@pytest.fixture
def source(tmp_path) -> Path:
    folder = tmp_path / "source"
    folder.mkdir()
    (folder / NB).write_bytes((EXERCISES_DIR / NB).read_bytes())
    return folder


@pytest.fixture
def klass(tmp_path) -> Path:
    folder = tmp_path / "class"
    (folder / "alice").mkdir(parents=True)
    nbformat.write(submissions.right(), folder / "alice" / NB)
    return folder


# ------------------------------------------------------------ outputs onto inputs (no kernel)

@pytest.mark.parametrize("where", ["notebook", "symlink", "hardlink", "source", "inside",
                                   "summary"])
def test_grades_never_overwrite_what_the_grader_reads(tmp_path, klass, source, where):
    target = {"notebook": klass / "alice" / NB, "symlink": tmp_path / "link.csv",
              "hardlink": tmp_path / "hard.csv", "source": source / NB,
              "inside": klass / "grades.csv", "summary": tmp_path / "summary.txt"}[where]
    if where == "symlink":
        target.symlink_to(klass / "alice" / NB)
    if where == "hardlink":
        os.link(source / NB, target)
    before = hashes(klass, source)
    proc = cli("--grade", str(klass), "--source", str(source), "-o", str(target))
    fragment = {"inside": "inside the submissions folder",
                "summary": "summary.txt is the grader's summary"}.get(where, "would overwrite")
    one_error(proc, fragment)
    assert hashes(klass, source) == before
    assert "alice" not in proc.stdout  # refused before the first student


@pytest.mark.parametrize("how", ["file_parent", "read_only"])
def test_unwritable_output_is_one_line_before_the_first_student(tmp_path, klass, source, how):
    locked = tmp_path / "locked"
    if how == "file_parent":
        locked.write_text("a file, not a folder")
    else:
        locked.mkdir()
        locked.chmod(0o500)
        if os.access(locked, os.W_OK):
            locked.chmod(0o700)
            pytest.skip("running as root: permissions are not enforced")
    try:
        proc = cli("--grade", str(klass), "--source", str(source), "-o",
                   str(locked / "grades.csv"))
    finally:
        if locked.is_dir():
            locked.chmod(0o700)
    one_error(proc, "cannot write into")
    assert proc.stdout == ""


@pytest.mark.parametrize("how", ["same", "symlink", "dot", "file_link"])
def test_student_versions_never_replace_the_instructor_notebooks(tmp_path, source, how):
    out = {"same": source, "symlink": tmp_path / "alias", "dot": source / "." / ".." /
           "source", "file_link": tmp_path / "out"}[how]
    if how == "symlink":
        out.symlink_to(source)
    if how == "file_link":
        out.mkdir()
        (out / NB).symlink_to(source / NB)
    before = hashes(source)
    proc = cli("--student", str(out), "--source", str(source))
    one_error(proc, "instructor" if how != "file_link" else "would overwrite")
    assert hashes(source) == before


def test_student_versions_onto_a_pipe_is_one_line(tmp_path, source):
    os.mkfifo(tmp_path / "pipe")
    one_error(cli("--student", str(tmp_path / "pipe"), "--source", str(source)),
              "it is a pipe, device or socket, not a folder")


def test_student_versions_are_written_atomically_and_stubbed(tmp_path, source):
    proc = cli("--student", str(tmp_path / "out"), "--source", str(source))
    assert proc.returncode == 0, proc.stderr
    written = nbformat.read(tmp_path / "out" / NB, as_version=4)
    assert "raise NotImplementedError" in "".join(c.source for c in written.cells)
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("content", ["fifo", "{ not json", "[1, 2, 3]", '{"cells": 5}',
                                     "\udcff"])
def test_an_unreadable_instructor_notebook_is_one_line(tmp_path, klass, source, content):
    bad = source / "ex02_gram.ipynb"
    if content == "fifo":
        os.mkfifo(bad)
    else:
        bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    for args in (["--grade", str(klass), "-o", str(tmp_path / "g.csv")],
                 ["--student", str(tmp_path / "out")]):
        proc = cli(*args, "--source", str(source), timeout=60)
        one_error(proc, "ex02_gram.ipynb")
    assert not (tmp_path / "g.csv").exists() and not (tmp_path / "out" / NB).exists()


def test_a_fifo_as_the_one_notebook_is_one_line(tmp_path, source):
    os.mkfifo(tmp_path / NB)
    one_error(cli("--grade", str(tmp_path / NB), "--source", str(source), timeout=60),
              "a pipe")


# ----------------------------------------------------------------- collecting (no kernel)

def test_feedback_names_are_unique_and_reversible():
    names = ["a b", "a_b", "a?b", "a/b", "alice", "Alice", ".hidden", "élodie", "a%20b", "",
             "x" * 300]
    files = [file_name(n) for n in names]
    assert len(set(files)) == len(names)
    for name, encoded in zip(names[:-1], files[:-1], strict=True):
        assert urllib.parse.unquote(encoded) == name or name == ""
        assert "/" not in encoded and not encoded.startswith(".")
    assert len(files[-1].encode()) <= 200
    assert file_name("Alice", fold_case=True).casefold() != file_name("alice").casefold()


def test_the_same_student_twice_is_reported_not_resolved_silently(tmp_path):
    klass = tmp_path / "class"
    (klass / "alice").mkdir(parents=True)
    (klass / "alice" / NB).write_text("{}")
    with zipfile.ZipFile(klass / "alice.zip", "w") as zf:
        zf.writestr(NB, "{}")
    (klass / "alice_ex01_preprocess.ipynb").write_text("{}")
    (klass / "Bob").mkdir()
    (klass / "bob").mkdir()
    subs, _ = collect(klass, tmp_path / "unzipped", KEYS)
    alice = next(s for s in subs if s.student == "alice")
    assert alice.origin == "alice/" and alice.notebooks["ex01"] == klass / "alice" / NB
    assert "handed in more than once: graded alice/, not alice.zip, alice_ex…." in (
        alice.notes[0])
    assert [s.student for s in subs] == ["alice", "Bob", "bob"]
    assert all("differing only in case" in s.notes[0] for s in subs[1:])


def test_the_handed_out_name_wins_over_copies(tmp_path):
    klass = tmp_path / "class"
    (klass / "ann" / "old").mkdir(parents=True)
    for name in ["ex01_preprocess-Copy1.ipynb", "ex01_preprocess (1).ipynb", NB,
                 "old/" + NB, "notes.ipynb", "reindex01.ipynb"]:
        (klass / "ann" / name).write_text("{}")
    (klass / "ben").mkdir()
    (klass / "ben" / "ex01_preprocess-Copy1.ipynb").write_text("{}")
    subs, _ = collect(klass, tmp_path / "unzipped", KEYS)
    ann, ben = subs
    assert ann.notebooks == {"ex01": klass / "ann" / NB}
    joined = " | ".join(ann.notes)
    for name in ["ex01_preprocess-Copy1.ipynb", "ex01_preprocess (1).ipynb", "old/" + NB,
                 "notes.ipynb", "reindex01.ipynb"]:
        assert name in joined
    assert ben.notebooks["ex01"].name == "ex01_preprocess-Copy1.ipynb"
    assert "not the handed-out name" in ben.notes[0]


def test_pipes_symlinks_out_and_bad_zips_are_refused_without_hanging(tmp_path, source):
    klass = tmp_path / "class"
    (klass / "ann").mkdir(parents=True)
    os.mkfifo(klass / "ann" / NB)
    (klass / "cat").mkdir()
    (klass / "cat" / NB).symlink_to(source / NB)  # the instructor's solutions
    os.mkfifo(klass / "dan.zip")
    os.mkfifo(klass / "eve_ex01_preprocess.ipynb")
    (klass / "fay.zip").write_bytes(b"PK\x05\x06" + b"\0" * 18)  # an empty zip
    with zipfile.ZipFile(klass / "gus.zip", "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NB, b"\0" * (60 * 2**20))  # a 60 MB notebook in 60 KB: a bomb
    with zipfile.ZipFile(klass / "hal.zip", "w") as zf:
        for n in range(2100):
            zf.writestr(f"f{n}.txt", "")
    (klass / "ivy.zip").write_bytes(b"PK\x03\x04 damaged")
    started = time.monotonic()
    subs, _ = collect(klass, tmp_path / "unzipped", KEYS)
    assert time.monotonic() - started < 30  # no wait on a pipe
    by = {s.student: s for s in subs}
    assert by["ann"].notebooks == {} and "a pipe" in by["ann"].notes[0]
    assert by["cat"].notebooks == {} and "outside the submission" in by["cat"].notes[0]
    assert "a pipe" in by["dan"].problem
    assert by["eve"].notebooks == {} and "a pipe" in by["eve"].notes[0]
    assert by["fay"].notebooks == {} and "holds no notebooks" in by["fay"].notes[-1]
    assert "unpacks to too much" in by["gus"].problem
    assert "2100 entries" in by["hal"].problem
    assert "could not read ivy.zip" in by["ivy"].problem
    assert not list((tmp_path / "unzipped").rglob("*.ipynb"))


def _odd_class(klass: Path, outside: Path) -> None:
    """D3/E19, E02, X03: a symlink loop as a notebook, a folder named like a notebook, a
    student folder that is a symlink out of the class folder, a loop as a class entry."""
    (klass / "sal").mkdir(parents=True)
    (klass / "sal" / NB).symlink_to("a")
    (klass / "sal" / "a").symlink_to(NB)
    (klass / "bob" / NB).mkdir(parents=True)
    outside.mkdir()
    (outside / NB).write_text("{}")
    (klass / "eve").symlink_to(outside)
    (klass / "zed").symlink_to("zed")


def test_loops_notebook_folders_and_links_out_are_flagged(tmp_path):
    klass = tmp_path / "class"
    _odd_class(klass, tmp_path / "etc")
    (klass / "alice").mkdir()
    nbformat.write(submissions.right(), klass / "alice" / NB)
    subs, general = collect(klass, tmp_path / "unzipped", KEYS)
    by = {s.student: s for s in subs}
    assert by["alice"].notebooks == {"ex01": klass / "alice" / NB}
    assert by["sal"].notebooks == {} and "symlink that leads nowhere" in by["sal"].notes[0]
    assert by["bob"].notebooks == {} and "a folder named like a notebook" in by["bob"].notes[0]
    assert by["eve"].notebooks == {} and "outside the submissions folder" in by["eve"].problem
    assert "zed" not in by and any("zed: a symlink that leads nowhere" in n for n in general)


def test_a_symlink_loop_does_not_stop_grading_the_others(tmp_path, source):
    klass = tmp_path / "class"
    _odd_class(klass, tmp_path / "etc")
    before = hashes(klass, source, tmp_path / "etc")
    out = tmp_path / "out"
    proc = cli("--grade", str(klass), "--source", str(source), "-o", str(out / "g.csv"),
               "--timeout", "20", "--jobs", "1")
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    summary = (out / "summary.txt").read_text()
    for student, flag in [("sal", "symlink that leads nowhere"), ("eve", "outside the "
                          "submissions folder"), ("bob", "a folder named like a notebook")]:
        assert f"{student!r}: " in summary and flag in summary, summary
        assert any(line.startswith(f"note: {student}: ") and flag in line
                   for line in proc.stdout.splitlines()), proc.stdout
    assert "zed: a symlink that leads nowhere" in summary
    rows = (out / "g.csv").read_text()
    assert {line.split(",")[0] for line in rows.splitlines()[1:]} == {"bob", "eve", "sal"}
    assert hashes(klass, source, tmp_path / "etc") == before


def test_the_instructors_notebook_handed_in_is_refused_or_flagged(tmp_path, source):
    from helpers.exercises.batch import screen
    from helpers.exercises.grading import instructor_notebooks

    klass = tmp_path / "class"
    klass.mkdir()
    (klass / "linked").symlink_to(source)  # a whole folder linked to the answer key
    (klass / "copied").mkdir()
    (klass / "copied" / NB).write_bytes((source / NB).read_bytes())
    subs, _ = collect(klass, tmp_path / "unzipped", KEYS)
    screen(subs, instructor_notebooks(source))
    by = {s.student: s for s in subs}
    assert by["linked"].notebooks == {}  # a folder linked out of the class: not even read
    assert (f"a symlink to {source.resolve()}, outside the submissions folder; not graded"
            == by["linked"].problem)
    (klass / "linked").unlink()
    (klass / "linked").mkdir()
    (klass / "linked" / NB).symlink_to(source / NB)
    (klass / "inside").symlink_to("linked")  # a link inside the class folder is followed
    subs, _ = collect(klass, tmp_path / "unzipped", KEYS)
    screen(subs, instructor_notebooks(source))
    by = {s.student: s for s in subs}
    assert by["linked"].notebooks == {} and by["inside"].notebooks == {}
    assert f"{NB}: a symlink to a file outside the submission; not graded" in (
        by["linked"].notes)
    assert by["copied"].notebooks == {"ex01": klass / "copied" / NB}
    assert f"copied/{NB} is byte for byte the instructor's notebook (the answer key)" in (
        by["copied"].notes)


def test_zip_member_names_cannot_escape(tmp_path):
    archive = tmp_path / "z.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ["../up_ex01.ipynb", "/abs_ex01.ipynb", "C:/win_ex01.ipynb",
                     "a\\..\\..\\b_ex01.ipynb", "ok/" + NB]:
            zf.writestr(name, "{}")
    notes = unzip(archive, tmp_path / "into")
    assert len(notes) == 4 and all("unsafe name" in n for n in notes)
    assert [p.relative_to(tmp_path) for p in tmp_path.rglob("*.ipynb")] == [
        Path("into/ok") / NB]


@pytest.mark.parametrize("content", [b"[]", b'{"nbformat": 4}', b'{"cells": [1]}', b"\xff\xfe",
                                     b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, '
                                     b'"cells": [{"cell_type": "code"}]}'])
def test_json_that_is_not_a_notebook_is_one_line(tmp_path, content):
    path = tmp_path / NB
    path.write_bytes(content)
    with pytest.raises(StyleTransferError, match="is not a notebook"):
        read_notebook(path)


def test_deep_folders_encrypted_zips_and_twice_listed_members(tmp_path):
    import io

    klass = tmp_path / "class"
    deep = klass / "deep"
    for _ in range(30):
        deep = deep / "a"
    deep.mkdir(parents=True)
    (deep / NB).write_text("{}")
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr(NB, "{}")
    data = bytearray(plain.getvalue())
    data[6] |= 1  # the "encrypted" flag, in the local and the central header
    data[data.find(b"PK\x01\x02") + 8] |= 1
    (klass / "enc.zip").write_bytes(bytes(data))
    with pytest.warns(UserWarning), zipfile.ZipFile(klass / "dup.zip", "w") as zf:
        zf.writestr(NB, '{"first": 1}')
        zf.writestr(NB, '{"second": 2}')
    subs, _ = collect(klass, tmp_path / "unzipped", KEYS)
    by = {s.student: s for s in subs}
    assert by["deep"].notebooks == {} and "folders deep; skipped" in by["deep"].notes[0]
    assert "password required" in by["enc"].problem
    assert json.loads(by["dup"].notebooks["ex01"].read_text()) == {"first": 1}
    assert "listed twice in the zip" in by["dup"].notes[0]


def test_a_notebook_over_the_size_limit_is_refused_without_reading_it_all(tmp_path):
    from helpers.exercises.nbio import NOTEBOOK_BYTES

    path = tmp_path / NB
    with open(path, "wb") as f:
        f.truncate(NOTEBOOK_BYTES + 2**20)  # sparse
    with pytest.raises(StyleTransferError, match="larger than 100 MB"):
        read_notebook(path)


def test_a_feedback_page_linked_to_a_submission_is_refused_before_grading(tmp_path, klass,
                                                                           source):
    (tmp_path / "out" / "feedback").mkdir(parents=True)
    (tmp_path / "out" / "feedback" / "alice.md").symlink_to(klass / "alice" / NB)
    before = hashes(klass, source)
    proc = cli("--grade", str(klass), "--source", str(source), "-o",
               str(tmp_path / "out" / "grades.csv"))
    one_error(proc, "would overwrite the input")
    assert proc.stdout == "" and hashes(klass, source) == before


@pytest.mark.parametrize("args,fragment", [
    (["-o", ""], "-o is empty"),
    (["-o", "/dev/null"], "is a device"),
    (["-o", "{tmp}/out/summary.txt"], "summary.txt is the grader's summary"),
    (["--jobs", "0"], "--jobs must be a whole number >= 1"),
    (["-o", "{tmp}/out/feedback"], "is the feedback folder"),
    (["--timeout", "ten"], "--timeout must be a whole number >= 1, not 'ten'"),
    (["--memory-mb", "1", "-o", "{tmp}/g.csv"],  # E31
     "--memory-mb must be a whole number >= 2048, not '1'"),
    (["--memory-mb", "2047", "-o", "{tmp}/g.csv"], "needs at least 2048 MiB"),
])
def test_bad_outputs_and_counts_are_one_line(tmp_path, klass, source, args, fragment):
    proc = cli("--grade", str(klass), "--source", str(source),
               *[a.format(tmp=tmp_path) for a in args])
    one_error(proc, fragment)


def test_grading_the_instructors_own_notebook_is_refused(tmp_path, source):
    (tmp_path / "me").mkdir()
    (tmp_path / "me" / NB).symlink_to(source / NB)
    for path in (source / NB, tmp_path / "me" / NB):
        one_error(cli("--grade", str(path), "--source", str(source)), "the instructor's notebook")


# ------------------------------------------------------------- the kernel's answers (no kernel)

def test_a_fifo_a_folder_or_a_sparse_file_as_an_answer_cannot_hang_or_exhaust(tmp_path):
    os.mkfifo(tmp_path / "answer-a.json")
    (tmp_path / "answer-a.npz").write_bytes(b"")
    assert read_answer(tmp_path, "answer-a") == (None, b"")
    (tmp_path / "answer-b.json").mkdir()
    assert read_answer(tmp_path, "answer-b") == (None, b"")
    (tmp_path / "answer-c.json").write_text(json.dumps({"graded": []}))
    with open(tmp_path / "answer-c.npz", "wb") as f:
        f.truncate(3 * 2**30)  # 3 GB, sparse
    assert read_answer(tmp_path, "answer-c") == ({"status": "too_large"}, b"")
    (tmp_path / "answer-d.json").write_text("[1, 2]")  # JSON, not a record
    (tmp_path / "answer-d.npz").write_bytes(b"")
    assert read_answer(tmp_path, "answer-d") == (None, b"")
    assert ANSWER_BYTES <= 64 * 2**20


def test_the_kernel_caps_printed_output():
    from helpers.exercises.kernel import cap_stream

    class Sink:
        def __init__(self):
            self.parts = []

        def write(self, text):
            self.parts.append(text)
            return len(text)

    sink = Sink()
    cap_stream(sink, limit=10)
    for _ in range(3):
        sink.write("x" * 8)
    text = "".join(sink.parts)
    assert text.startswith("x" * 10) and text.count("x") == 10 and "cut at 10" in text


# ------------------------------------------------------------ notebooks that run (kernels)

def hostile(code: str, after: str = "cell-14") -> nbformat.NotebookNode:
    """The right notebook with ``code`` run as a new cell after ``after``."""
    nb = submissions.right()
    index = next(i for i, c in enumerate(nb.cells) if c.id == after) + 1
    nb.cells.insert(index, nbformat.v4.new_code_cell(code, id=f"hostile-{index}"))
    return nb


#: Processes a notebook leaves running, each found afterwards by its command line's marker.
MARK = "4321.5"
CHILDREN = '''import os, subprocess
child = subprocess.Popen(["sleep", "4321.51"], start_new_session=False)
if os.fork() == 0:  # a double fork into a session of its own
    os.setsid()
    if os.fork() == 0:
        os.execv("/bin/sleep", ["sleep", "4321.52"])
    if os.fork() == 0:  # and one that wipes its environment too
        os.execve("/bin/sleep", ["sleep", "4321.53"], {})
    os._exit(0)
os.wait()
'''
FIFO_ANSWER = "import os\nos.mkfifo('answer-preprocess.json')"  # where the kernel answers
SPARSE_ANSWER = '''import json
with open("answer-deprocess.json", "w") as f:
    f.write(json.dumps({"graded": [{"status": "ok"}]}))
with open("answer-deprocess.npz", "wb") as f:
    f.truncate(3 * 2**30)'''


def _marked() -> list[int]:
    """Processes still running that a notebook's CHILDREN cell started."""
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        if any(MARK in part for part in proc.info["cmdline"] or []) and (
                proc.info["status"] != psutil.STATUS_ZOMBIE):
            found.append(proc.pid)
    return found


KILLER = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)"
LOUD = '''import os, sys
from IPython.display import display
print("x" * 200_000_000)
os.write(1, b"y" * 50_000_000)
display({"text/plain": "z" * 60_000_000}, raw=True)'''
SIGINT_WORKER = "import os, signal\nos.killpg(os.getpgid(os.getppid()), signal.SIGINT)"
DISK = '''with open("filler.bin", "wb") as f:
    f.write(b"\\0" * 200 * 2**20)'''


def _leftovers(tmpdir: Path) -> list[int]:
    """Processes still running that the grading run started (found by their TMPDIR)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if proc.environ().get("TMPDIR") == str(tmpdir) and proc.pid != os.getpid():
                found.append(proc.pid)
        except psutil.Error:
            continue
    return found


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory):
    """A class of hostile submissions graded once: (process, rows, folder)."""
    import csv

    base = tmp_path_factory.mktemp("hostile")
    source = base / "source"
    source.mkdir()
    (source / NB).write_bytes((EXERCISES_DIR / NB).read_bytes())
    klass, tmpdir = base / "class", base / "tmp"
    tmpdir.mkdir()
    notebooks = {"a b": submissions.right(), "a_b": hostile(CHILDREN),
                 "a?b": hostile(FIFO_ANSWER), "sparse": hostile(SPARSE_ANSWER),
                 "killer": hostile(KILLER, after="cell-06"), "loud": hostile(LOUD),
                 "disk": hostile(DISK), "sigint": hostile(SIGINT_WORKER, after="cell-06")}
    for student, nb in notebooks.items():
        (klass / student).mkdir(parents=True)
        nbformat.write(nb, klass / student / NB)
    os.mkfifo(klass / f"zed_{NB}")
    with zipfile.ZipFile(klass / "zero.zip", "w") as zf:
        zf.writestr(NB, "")
    before = hashes(klass, source)
    proc = cli("--grade", str(klass), "--source", str(source), "-o", str(base / "out" /
               "grades.csv"), "--timeout", "60", "--memory-mb", "3000", "--jobs", "2",
               timeout=600, env={"TMPDIR": str(tmpdir)})
    with open(base / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert hashes(klass, source) == before
    return proc, rows, base


def points(rows, student):
    return sum(float(r["points"]) for r in rows if r["student"] == student)


def notebook_notes(rows, student):
    return " | ".join(r["message"] for r in rows if r["student"] == student
                      and r["check"] == "(notebook)")


@pytest.mark.slow
@pytest.mark.notebooks
def test_hostile_class_is_graded_to_the_end(hostile_class):
    proc, rows, base = hostile_class
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "Graded 10 students" in proc.stdout
    totals = {s: points(rows, s) for s in ["a b", "a_b", "a?b", "sparse", "loud", "disk"]}
    assert totals == dict.fromkeys(totals, 4.0), totals
    assert points(rows, "zed") == 0 and "a pipe" in (base / "out" / "summary.txt").read_text()
    if hiding_works():  # its parent is outside its PID namespace: pid 0, its own group (in
        # which it is PID 1, immune to SIGKILL from inside): nothing is killed or stopped
        assert points(rows, "killer") == 4 and points(rows, "sigint") == 4
        assert notebook_notes(rows, "killer") == "" == notebook_notes(rows, "sigint")
    else:
        assert points(rows, "killer") == 0
        assert "the grading process was killed (SIGKILL)" in notebook_notes(rows, "killer")
        assert "the grading process was stopped (SIGINT)" in notebook_notes(rows, "sigint")
    zero = next(r["message"] for r in rows if r["student"] == "zero")
    assert f"could not read the notebook: notebook zero.zip: {NB} is not a notebook" in zero


@pytest.mark.slow
@pytest.mark.notebooks
def test_feedback_pages_do_not_collide(hostile_class):
    pages = {urllib.parse.unquote(p.stem) for p in (hostile_class[2] / "out" / "feedback")
             .glob("*.md")}
    assert pages == {"a b", "a_b", "a?b", "sparse", "killer", "loud", "disk", "zed", "sigint",
                     "zero"}
    page = (hostile_class[2] / "out" / "feedback" / f"{file_name('a?b')}.md").read_text()
    assert page.startswith("# Feedback for a?b")


@pytest.mark.slow
@pytest.mark.notebooks
def test_no_process_of_a_submission_outlives_grading(hostile_class):
    base = hostile_class[2]
    assert _marked() == []
    assert _leftovers(base / "tmp") == []
    assert list((base / "tmp").iterdir()) == []  # temporary files (the 200 MB filler) gone


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_notebook_cannot_remove_the_graders_temporary_folder(tmp_path, source):
    """The grader's folders are hidden from the kernel (an empty read-only tmpfs over them
    in the kernel's own mount namespace): the removal fails in the student's notebook only."""
    klass = tmp_path / "class"
    (klass / "aa").mkdir(parents=True)
    nbformat.write(hostile("import os, pathlib, shutil\n"
                           "shutil.rmtree(pathlib.Path(os.environ['TMPDIR']).parent)"),
                   klass / "aa" / NB)
    with zipfile.ZipFile(klass / "bb.zip", "w") as zf:
        zf.writestr(NB, nbformat.writes(submissions.right()))
    proc = cli("--grade", str(klass), "--source", str(source), "-o",
               str(tmp_path / "out" / "grades.csv"), "--jobs", "1", "--timeout", "60",
               timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    assert "bb ex01_preprocess: 4 / 4 points" in proc.stdout
    assert "aa ex01_preprocess: 4 / 4 points" in proc.stdout


@pytest.mark.slow
@pytest.mark.notebooks
def test_huge_output_does_not_balloon_the_grader(tmp_path):
    """400 MB printed, written to fd 1 and displayed: the grading process grows by little
    (measured in this process: the notebook is run here, its kernel elsewhere)."""
    import resource

    from helpers.exercises.grading import grade_notebook
    from helpers.exercises.runner import RunSettings, new_token

    path = tmp_path / NB
    nbformat.write(hostile(LOUD.replace("200_000_000", "300_000_000")), path)
    instructor = read_notebook(EXERCISES_DIR / NB)
    instructor.metadata["nst_exercise"] = "ex01_preprocess"
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = grade_notebook("loud", path, instructor, tmp_path,
                          RunSettings(120, 3000, new_token()))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert sum(r.points for r in rows) == 4, rows
    assert grown_mb < 100, grown_mb


def _slow_class(base: Path) -> Path:
    klass = base / "class"
    for student, nb in [("alice", submissions.right()), ("dave", submissions.hanging())]:
        (klass / student).mkdir(parents=True)
        nbformat.write(nb, klass / student / NB)
    return klass


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("signum,status", [(signal.SIGINT, 130), (signal.SIGTERM, 143),
                                           (signal.SIGHUP, 129)])
def test_a_signal_mid_grade_keeps_the_finished_students(tmp_path, source, signum, status):
    klass, tmpdir = _slow_class(tmp_path), tmp_path / "tmp"
    tmpdir.mkdir()
    before = hashes(klass, source)
    grades = tmp_path / "out" / "grades.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "exercises", "--grade",
                             str(klass), "--source", str(source), "-o", str(grades),
                             "--timeout", "120", "--jobs", "1"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while not grades.exists() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.5)
    time.sleep(3)  # dave's notebook is running now
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == status, out + err
    assert "Traceback" not in out + err
    assert err.strip().splitlines() == [
        f"interrupted ({'Ctrl-C' if signum == signal.SIGINT else signum.name}) while "
        f"grading: {grades} keeps the 1 of 2 students graded so far; run again to grade "
        "the rest"]
    assert {line.split(",")[0] for line in grades.read_text().splitlines()[1:]} == {"alice"}
    assert "stopped after 1 of 2" in (grades.parent / "summary.txt").read_text()
    assert hashes(klass, source) == before
    time.sleep(1)
    assert _leftovers(tmpdir) == []


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_cell_killing_the_grader_itself_keeps_the_finished_rows(tmp_path, source):
    """The kernel's grandparent is the grader: where kernels can hide, the kernel cannot see
    it (nor any process outside); elsewhere killing it ends the run (status -9), but the
    students finished before keep their rows. Nothing of the run is left running."""
    klass, tmpdir = tmp_path / "class", tmp_path / "tmp"
    tmpdir.mkdir()
    killer = hostile("import psutil\npsutil.Process().parent().parent().kill()")
    for student, nb in [("alice", submissions.right()), ("zz", killer)]:
        (klass / student).mkdir(parents=True)
        nbformat.write(nb, klass / student / NB)
    grades = tmp_path / "out" / "grades.csv"
    proc = cli("--grade", str(klass), "--source", str(source), "-o", str(grades), "--jobs", "1",
               "--timeout", "60", timeout=300, env={"TMPDIR": str(tmpdir)})
    graded = {line.split(",")[0] for line in grades.read_text().splitlines()[1:]}
    if hiding_works():  # it cannot see the grader: the cell fails, the notebook is graded
        assert proc.returncode == 0 and graded == {"alice", "zz"}, proc.stderr
        assert "zz ex01_preprocess: 4 / 4 points" in proc.stdout
    else:
        assert proc.returncode == -signal.SIGKILL and graded == {"alice"}
    time.sleep(2)
    assert _leftovers(tmpdir) == []


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_signal_before_anyone_finished_keeps_an_earlier_grades_file(tmp_path, source):
    klass, grades = _slow_class(tmp_path), tmp_path / "out" / "grades.csv"
    (klass / "alice").rename(klass / "zed")  # dave (hanging) first
    grades.parent.mkdir()
    grades.write_text("an earlier run's grades\n")
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmpdir)}
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "exercises", "--grade",
                             str(klass), "--source", str(source), "-o", str(grades),
                             "--timeout", "120", "--cell-timeout", "600", "--jobs", "1"],
                            env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120  # until dave's notebook is being graded
    while not list(tmpdir.glob("nst-grade-*/student-*/run-*/task.json")) and (
            time.monotonic() < deadline):
        time.sleep(0.3)
    time.sleep(2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, out + err
    assert err.strip().splitlines() == [
        f"interrupted (SIGTERM) before any of the 2 students was graded: {grades} was not "
        "written (any earlier file is kept)"]
    assert grades.read_text() == "an earlier run's grades\n"


GRADER_MODULES = ["grading", "student", "command", "kernel", "metadata", "collect", "runner",
                  "worker", "workers", "batch", "reports", "nbio", "judge", "judge_runs",
                  "harness"]


@pytest.mark.parametrize("module", GRADER_MODULES)
def test_the_grader_writes_files_only_through_helpers_files(module):
    """No open() for writing, no Path.write_text/write_bytes, no nbformat.write or savefig:
    every file goes through helpers.files (atomic)."""

    tree = ast.parse((ROOT / "helpers" / "exercises" / f"{module}.py").read_text())
    bad = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            modes = [a.value for a in node.args[1:2] + [k.value for k in node.keywords
                                                        if k.arg == "mode"]
                     if isinstance(a, ast.Constant)]
            if not modes or any(set(str(m)) & set("wax+") for m in modes):
                bad.append(f"open() at line {node.lineno}")
        if isinstance(func, ast.Attribute) and (
                func.attr in ("write_text", "write_bytes", "savefig") or (
                    func.attr == "write" and isinstance(func.value, ast.Name)
                    and func.value.id == "nbformat")):
            bad.append(f".{func.attr}() at line {node.lineno}")
    assert not bad, bad


@pytest.mark.slow
@pytest.mark.notebooks
def test_one_notebook_mode_leaves_no_process_behind(tmp_path, source):
    path = tmp_path / "me" / NB
    path.parent.mkdir()
    nbformat.write(hostile(CHILDREN), path)
    proc = cli("--grade", str(path), "--source", str(source), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert _marked() == []


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_notebook_killing_its_worker_spares_the_students_next_notebook(tmp_path, source):
    """One worker grades a student's notebooks in turn; the one that kills it is reported
    and a new worker grades the next (a second exercise: a copy of exercise 1)."""
    (source / "ex09_again.ipynb").write_bytes((source / NB).read_bytes())
    klass = tmp_path / "class"
    (klass / "kim").mkdir(parents=True)
    nbformat.write(hostile(KILLER, after="cell-06"), klass / "kim" / NB)
    nbformat.write(submissions.right(), klass / "kim" / "ex09_again.ipynb")
    proc = cli("--grade", str(klass), "--source", str(source), "-o",
               str(tmp_path / "out" / "grades.csv"), "--timeout", "60", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "kim ex09_again: 4 / 4 points" in proc.stdout
    rows = (tmp_path / "out" / "grades.csv").read_text()
    if hiding_works():  # its parent is outside its PID namespace: it reaches no worker
        assert "kim ex01_preprocess: 4 / 4 points" in proc.stdout and "(notebook)" not in rows
        return
    assert "kim ex01_preprocess: 0 / 4 points" in proc.stdout
    assert "kim,ex01_preprocess,(notebook),0,false,the grading process was killed (SIGKILL)" in (
        rows)
