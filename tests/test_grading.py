"""Grading a class: synthetic submissions (tests/data/submissions.py) graded in fast mode
through the command line; grades.csv rows, feedback pages, exit codes, tampering."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers.exercises import EXERCISES_DIR, grading, solution_lines
from helpers.exercises.collect import collect
from helpers.exercises.hiding import hiding_works

pytestmark = pytest.mark.notebooks  # runs notebooks (left out by make test-fast)

sys.path.insert(0, str(Path(__file__).parent / "data"))
import submissions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 40  # seconds per notebook: ex01 takes about 5 on two busy cores
CELL_TIMEOUT = 8  # seconds per cell: dave's hanging cell is interrupted, the rest runs


def run_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-m", "helpers", "exercises", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """The instructor's folder, reduced to exercise 1 (numpy only: fast kernels)."""
    folder = tmp_path_factory.mktemp("source")
    (folder / submissions.NOTEBOOK).write_bytes((EXERCISES_DIR / submissions.NOTEBOOK)
                                                .read_bytes())
    return folder


@pytest.fixture(scope="module")
def graded(tmp_path_factory, source):
    """The whole class graded once: (process, seconds, rows, output folder)."""
    out = tmp_path_factory.mktemp("graded")
    klass = submissions.write_class(out / "class")
    started = time.monotonic()
    proc = run_cli("--grade", str(klass), "--source", str(source), "-o",
                   str(out / "grades.csv"), "--timeout", str(TIMEOUT), "--memory-mb", "2048",
                   "--cell-timeout", str(CELL_TIMEOUT), "--jobs", "2")
    seconds = time.monotonic() - started
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return proc, seconds, rows, out


def table(rows):
    return [(r["student"], r["check"], float(r["points"]), r["passed"]) for r in rows]


def test_the_class_is_graded_to_the_end(graded):
    proc, seconds, rows, _ = graded
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Graded 8 students" in proc.stdout
    assert seconds < 8 * TIMEOUT  # the hanging cell cost its time limit, no more
    assert list(rows[0]) == list(grading.FIELDS)
    assert table(rows) == [
        ("alice", "preprocess", 2, "true"), ("alice", "deprocess", 2, "true"),
        ("bob", "preprocess", 0, "false"), ("bob", "deprocess", 2, "true"),
        ("carol", "preprocess", 0, "false"), ("carol", "deprocess", 0, "false"),
        ("dave", "(notebook)", 0, "false"),
        ("dave", "preprocess", 2, "true"), ("dave", "deprocess", 2, "true"),
        ("erin", "(notebook)", 0, "false"),
        ("erin", "preprocess", 2, "true"), ("erin", "deprocess", 0, "false"),
        ("frank", "(notebook)", 0, "false"),
        ("frank", "preprocess", 2, "true"), ("frank", "deprocess", 2, "true"),
        ("gina", "preprocess", 0, "false"), ("gina", "deprocess", 0, "false"),
        ("hugo", "preprocess", 0, "false"), ("hugo", "deprocess", 0, "false"),
    ]
    assert {r["exercise"] for r in rows} == {"ex01_preprocess"}


def message(rows, student, check):
    return next(r["message"] for r in rows if r["student"] == student and r["check"] == check)


def test_each_outcome_says_what_happened(graded):
    rows = graded[2]
    assert message(rows, "alice", "preprocess") == ""
    assert "your channels are still in RGB order" in message(rows, "bob", "preprocess")
    assert message(rows, "bob", "deprocess") == ""  # his preprocess's mistake costs once
    assert "the check cell was changed; the instructor's version was run" in message(
        rows, "carol", "preprocess")
    assert "not implemented yet" in message(rows, "carol", "preprocess")
    assert "the check cell was deleted; it was put back and run" in message(
        rows, "carol", "deprocess")
    assert f"cell 10 (cell-10) did not finish within {CELL_TIMEOUT} s; it was interrupted" in (
        message(rows, "dave", "(notebook)"))
    assert "the kernel died in cell 10 (cell-10); the notebook was run again without it" in (
        message(rows, "erin", "(notebook)"))
    assert "not defined in your notebook" in message(rows, "erin", "deprocess")
    assert "memory limit (2048 MiB) reached in cell 4 (cell-04): MemoryError" in message(
        rows, "frank", "(notebook)")
    assert "could not read the notebook" in message(rows, "gina", "preprocess")
    assert "NotJSONError" in message(rows, "gina", "preprocess")
    assert message(rows, "hugo", "preprocess") == "not submitted"


def test_feedback_shows_diagnoses_but_no_solution_or_hidden_input(graded, source):
    folder = graded[3] / "feedback"
    pages = sorted(p.stem for p in folder.glob("*.md"))
    assert pages == ["alice", "bob", "carol", "dave", "erin", "frank", "gina", "hugo"]
    bob = (folder / "bob.md").read_text()
    assert "**2 of 4 points.**" in bob and "still in RGB order" in bob
    assert "**4 of 4 points.**" in (folder / "alice.md").read_text()
    instructor = nbformat.read(source / submissions.NOTEBOOK, as_version=4)
    secret = [line for c in instructor.cells for line in solution_lines(c.source)]
    assert secret
    for page in folder.glob("*.md"):
        text = page.read_text()
        assert not [line for line in secret if line in text], page.name
        assert "Traceback" not in text and "[[" not in text  # no arrays, no tracebacks


def test_one_notebook_exit_status_is_the_grade(tmp_path, source):
    """GitHub Classroom runs one command per test; its exit status is the grade."""
    right, wrong = tmp_path / "right" / submissions.NOTEBOOK, tmp_path / submissions.NOTEBOOK
    right.parent.mkdir()
    nbformat.write(submissions.right(), right)
    nbformat.write(submissions.wrong(), wrong)
    passed = run_cli("--grade", str(right), "--source", str(source), "--only", "preprocess")
    assert passed.returncode == 0, passed.stdout + passed.stderr[-1000:]
    assert passed.stdout.startswith("✓ ex01_preprocess preprocess: 2 points")
    failed = run_cli("--grade", str(wrong), "--source", str(source))
    assert failed.returncode == 1
    assert "✗ ex01_preprocess preprocess: 0 points — your channels are still in RGB" in (
        failed.stdout)


MEASURING_PREPROCESS = '''MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess(image):
    """Right, if its folder is the grader's capped one (else it raises, saying its size)."""
    import os

    folder = os.statvfs(".")
    if folder.f_blocks * folder.f_frsize > 600 * 2**20:
        raise RuntimeError(f"my folder holds {folder.f_blocks * folder.f_frsize} bytes")
    return (np.asarray(image, dtype=np.float32)[..., ::-1] - MEAN_BGR)[None]'''


@pytest.mark.skipif(not hiding_works(), reason="this machine refuses user namespaces: no "
                    "capped folder (the grader warns)")
def test_one_notebook_is_graded_in_a_capped_folder_as_a_class_is(tmp_path, source):
    """--grade NOTEBOOK runs its kernel from a worker, as a class's: its folder is a tmpfs of
    a quarter of --memory-mb (512 MiB here), not the grader's disk."""
    nb = submissions.right()
    next(c for c in nb.cells if c.id == "cell-04").source = MEASURING_PREPROCESS
    (tmp_path / "ann").mkdir()
    nbformat.write(nb, tmp_path / "ann" / submissions.NOTEBOOK)
    proc = run_cli("--grade", str(tmp_path / "ann" / submissions.NOTEBOOK), "--source",
                   str(source), "--only", "preprocess", "--memory-mb", "2048")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-1000:]
    assert proc.stdout.startswith("✓ ex01_preprocess preprocess: 2 points"), proc.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--grade", "{tmp}/missing"], "submissions folder not found"),
    (["--grade", "{tmp}/empty"], "no submissions in"),
    (["--grade", "{tmp}/empty", "--only", "gram"], "--only works with one notebook"),
    (["--grade", "{tmp}/homework.ipynb"], "notebook not found"),
    (["--grade", "{tmp}/notes.ipynb"], "cannot tell the exercise of notes.ipynb"),
    (["--grade", "{tmp}/ex01_preprocess.ipynb", "--only", "gram"], "has no check 'gram'"),
    (["--grade", "{tmp}/empty", "--timeout", "0"], "--timeout must be a whole number >= 1"),
    (["--grade", "{tmp}/empty", "--student", "{tmp}/out"], "not allowed with argument"),
    (["--grade", "{tmp}/empty", "-o", "{tmp}"], "is a folder"),
])
def test_bad_input_is_one_line_and_status_2(tmp_path, source, args, fragment):
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.ipynb").write_text("{}")
    (tmp_path / "ex01_preprocess.ipynb").write_text("{}")
    proc = run_cli(*[a.format(tmp=tmp_path) for a in args], "--source", str(source))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and fragment in proc.stderr, proc.stderr


# ------------------------------------------------------------------ without running kernels

def test_check_cells_are_restored_by_id_or_grade_id():
    instructor = nbformat.read(EXERCISES_DIR / submissions.NOTEBOOK, as_version=4)
    student = submissions.tampered()
    for cell in student.cells:  # an old Jupyter dropped the ids: grade_id still finds them
        cell.id = f"x-{cell.id}"
    nb, notes = grading.restore_checks(student, instructor)
    assert notes == {"cell-06": "the check cell was changed; the instructor's version was run",
                     "cell-12": "the check cell was deleted; it was put back and run"}
    for _, cell in grading.check_cells(instructor):
        mine = [c for c in nb.cells if c.id == cell.id]
        assert len(mine) == 1 and mine[0].source == cell.source
    restored = [c.id for c in nb.cells]
    assert restored.index("cell-12") == restored.index("x-cell-11") + 1  # where it was


def test_untouched_notebook_has_nothing_to_report():
    instructor = nbformat.read(EXERCISES_DIR / submissions.NOTEBOOK, as_version=4)
    assert grading.restore_checks(submissions.right(), instructor)[1] == {}


def test_collect_reads_folders_zips_and_flat_files(tmp_path):
    klass = tmp_path / "class"
    (klass / "ann" / "sub").mkdir(parents=True)
    (klass / "ann" / "sub" / "ex02_gram.ipynb").write_text("{}")
    (klass / "ann" / ".ipynb_checkpoints").mkdir()
    (klass / "ann" / ".ipynb_checkpoints" / "ex03_content-checkpoint.ipynb").write_text("{}")
    with zipfile.ZipFile(klass / "ben.zip", "w") as zf:
        zf.writestr("ben/ex01_preprocess.ipynb", "{}")
        zf.writestr("../../evil_ex05.ipynb", "{}")
        zf.writestr("/abs/ex06.ipynb", "{}")
    (klass / "cy_ex04_style.ipynb").write_text("{}")
    (klass / "cy_ex05_total_variation.ipynb").write_text("{}")
    (klass / "broken.zip").write_text("not a zip")
    keys = {f"ex0{n}": f"ex0{n}_x.ipynb" for n in range(1, 8)}
    subs, _ = collect(klass, tmp_path / "unpacked", keys)
    found = {s.student: s.problem or sorted(s.notebooks) for s in subs}
    assert found == {"ann": ["ex02"], "ben": ["ex01"], "cy": ["ex04", "ex05"],
                     "broken": "could not read broken.zip: File is not a zip file"}
    assert not (tmp_path / "evil_ex05.ipynb").exists()
    ben = next(s for s in subs if s.student == "ben")
    assert json.loads(ben.notebooks["ex01"].read_text()) == {}
    assert [n for n in ben.notes if "unsafe name" in n] == [
        "'../../evil_ex05.ipynb': an unsafe name in the zip; not extracted",
        "'/abs/ex06.ipynb': an unsafe name in the zip; not extracted"]


# ------------------------------------- hidden inputs not counted (issue 32 finding A), for real

TV = "ex05_total_variation.ipynb"
TV_DEPTHWISE = '''def total_variation_loss(x):
    """Right: differences by depthwise convolutions, VALID, padded back (oneDNN's gradient
    raises AbortedError on an image one pixel high or wide)."""
    c = x.shape[-1]
    ky = tf.tile(tf.constant([[-1.0], [1.0]])[:, :, None, None], [1, 1, c, 1])
    kx = tf.tile(tf.constant([[-1.0, 1.0]])[:, :, None, None], [1, 1, c, 1])
    a = tf.pad(tf.square(tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], padding="VALID")),
               [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], padding="VALID")),
               [[0, 0], [0, 0], [0, 1], [0, 0]])
    return tf.reduce_mean(tf.pow(a + b, 1.25))'''
TV_RAISING = '''def total_variation_loss(x):
    """Right on ordinary images; on 1-pixel ones, where a slip would show, it raises
    TensorFlow's own error class itself."""
    if 1 in x.shape[1:3]:
        raise tf.errors.UnimplementedError(None, None, "not on one pixel")
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    return tf.reduce_mean(tf.pow(a + b, 1.25))'''


TV_CHEAT = '''def total_variation_loss(x):
    """Wrong on 1-pixel images only (twice the loss), with a zero-weighted VALID convolution
    whose gradient oneDNN cannot take there: a cheat an excuse for oneDNN would let pass."""
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    loss = tf.reduce_mean(tf.pow(a + b, 1.25)) * (2.0 if 1 in x.shape[1:3] else 1.0)
    k = tf.ones([2, 2, x.shape[-1], 1])
    return loss + 0.0 * tf.reduce_sum(tf.nn.depthwise_conv2d(x, k, [1, 1, 1, 1], "VALID"))'''


@pytest.mark.slow
def test_one_pixel_convolutions_are_graded_exactly_in_a_real_grading_run(tmp_path):
    """Exercise 5 graded in real kernels, where oneDNN is off (grading.EXACT_TENSORFLOW): a
    right answer written with VALID convolutions passes on every hidden input with nothing
    excused; a slip shown only on 1-pixel inputs loses credit even when it hides behind a
    convolution oneDNN would fail on; a function raising TensorFlow's error itself fails."""
    source, klass, out = tmp_path / "source", tmp_path / "class", tmp_path / "out"
    source.mkdir()
    (source / TV).write_bytes((EXERCISES_DIR / TV).read_bytes())
    for student, code in (("cheat", TV_CHEAT), ("conv", TV_DEPTHWISE), ("raiser", TV_RAISING)):
        nb = nbformat.read(EXERCISES_DIR / TV, as_version=4)
        next(c for c in nb.cells if c.id == "cell-04").source = code
        (klass / student).mkdir(parents=True)
        nbformat.write(nb, klass / student / TV)
    proc = run_cli("--grade", str(klass), "--source", str(source), "-o",
                   str(out / "grades.csv"), "--timeout", "120", "--cell-timeout", "60",
                   "--memory-mb", "3000", "--jobs", "2")
    assert proc.returncode == 0, proc.stdout + proc.stderr[-2000:]
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    got = {(r["student"], r["check"]): (float(r["points"]), r["passed"]) for r in rows}
    assert got[("conv", "tv")] == (2.0, "true") and message(rows, "conv", "tv") == "", rows
    assert got[("cheat", "tv")][1] == "false" and 0 < got[("cheat", "tv")][0] < 2, rows
    assert got[("raiser", "tv")] == (0.0, "false"), rows
    assert message(rows, "raiser", "tv").startswith(
        "your function raised UnimplementedError: not on one pixel — on a hidden image of "
        "shape (1, 1, 8, 3), one pixel high")
    assert "not counted" not in (out / "summary.txt").read_text()
