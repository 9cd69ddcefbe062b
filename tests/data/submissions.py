"""Synthetic submissions of exercise 1 for tests/test_grading.py, made from the instructor's
notebook so they follow it: right, wrong, tampered, hanging, crashing, memory-hogging, and
unreadable, as one folder or zip per student or flat files."""

from __future__ import annotations

import copy
import zipfile
from pathlib import Path

import nbformat

from helpers.exercises import EXERCISES_DIR, student_version

NOTEBOOK = "ex01_preprocess.ipynb"
WRONG_PREPROCESS = '''MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess(image):
    return (np.asarray(image, dtype=np.float32) - MEAN_BGR)[None]  # RGB left in place'''
#: A cell that uses up address space without touching memory (calloc): MemoryError under the
#: grader's limit, instant and harmless without one.
HOG = "\n\nhog = bytearray(3 * 2**30)"


def _instructor() -> nbformat.NotebookNode:
    return nbformat.read(EXERCISES_DIR / NOTEBOOK, as_version=4)


def _cell(nb: nbformat.NotebookNode, cell_id: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.id == cell_id)


def right() -> nbformat.NotebookNode:
    """The instructor's copy as a student would hand it in: solutions in, markers gone."""
    nb = copy.deepcopy(_instructor())
    for cell in nb.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines()
                                if "### " not in line)
    return nb


def wrong() -> nbformat.NotebookNode:
    nb = right()
    _cell(nb, "cell-04").source = WRONG_PREPROCESS
    return nb


def tampered() -> nbformat.NotebookNode:
    """The stubs left in, the preprocess check replaced by a fake tick, the deprocess check
    cell deleted."""
    nb = student_version(_instructor())
    _cell(nb, "cell-06").source = 'print("✓ preprocess: all good")'
    nb.cells = [c for c in nb.cells if c.id != "cell-12"]
    return nb


def hanging() -> nbformat.NotebookNode:
    nb = right()
    _cell(nb, "cell-10").source += "\n\nimport time\n\nwhile True:\n    time.sleep(1)"
    return nb


def crashing() -> nbformat.NotebookNode:
    nb = right()
    _cell(nb, "cell-10").source += "\n\nimport os\n\nos._exit(1)"
    return nb


def memory_hog() -> nbformat.NotebookNode:
    nb = right()
    _cell(nb, "cell-04").source += HOG
    return nb


def write_class(folder: Path) -> Path:
    """The class folder: alice (right, folder), bob (wrong, zip), carol (tampered, flat file),
    dave (hangs), erin (crashes), frank (exhausts memory), gina (unreadable notebook), hugo
    (handed in another exercise only)."""
    folder.mkdir(parents=True, exist_ok=True)
    for student, make in [("alice", right), ("dave", hanging), ("erin", crashing),
                          ("frank", memory_hog)]:
        (folder / student).mkdir()
        nbformat.write(make(), folder / student / NOTEBOOK)
    with zipfile.ZipFile(folder / "bob.zip", "w") as zf:
        zf.writestr(f"bob/{NOTEBOOK}", nbformat.writes(wrong()))
        zf.writestr("../escape.ipynb", "{}")  # refused: outside the folder
    nbformat.write(tampered(), folder / f"carol_{NOTEBOOK}")
    (folder / "gina").mkdir()
    (folder / "gina" / NOTEBOOK).write_text("{ not a notebook")
    (folder / "hugo").mkdir()
    (folder / "hugo" / "ex02_gram.ipynb").write_text("{}")
    return folder
