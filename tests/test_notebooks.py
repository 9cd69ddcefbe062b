"""Notebooks: stored without outputs, and each runs top to bottom in a fresh kernel, executed by
the very command a learner uses (`make notebooks`), in fast mode (NST_FAST=1), showing its
figures and no TensorFlow start-up noise."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
#: Exercise notebooks run in tests/test_exercises.py; here they are only checked stored clean.
EXERCISES = sorted((ROOT / "notebooks").rglob("ex[0-9][0-9]_*.ipynb"))
#: A code cell that draws a matplotlib figure.
DRAWS = re.compile(r"\bplt\.(subplots|figure|imshow|plot)\b|\bimage_grid\(|\.imshow\(")
#: What TensorFlow's C++ runtime and tf.function print when they are not kept quiet.
NOISE = re.compile(r"cuInit|cuda|oneDNN|absl::|cpu_feature_guard|retracing|^[IWE]0000 ",
                   re.IGNORECASE | re.MULTILINE)


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds no numbered notebooks"


@pytest.mark.parametrize("path", NOTEBOOKS + EXERCISES, ids=lambda p: p.name)
def test_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not dirty, f"{path.name}: cells {dirty} have outputs; clear them before committing"


def make_notebooks(path: Path, out: Path) -> nbformat.NotebookNode:
    """Execute ``path`` with `make notebooks` (as a learner's shell would: no MPLBACKEND, no
    PYTHONPATH) in fast mode; return the executed notebook."""
    env = {k: v for k, v in os.environ.items()  # what the test run added is not a learner's
           if k not in ("MPLBACKEND", "PYTHONPATH", "MAKEFLAGS", "MFLAGS", "TF_CPP_MIN_LOG_LEVEL")}
    env["NST_FAST"] = "1"
    proc = subprocess.run(
        ["make", "-s", "notebooks", f"NOTEBOOKS={path}", "NB_FORMAT=notebook", f"NB_OUT={out}"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, f"{path.name} failed:\n{proc.stderr[-4000:]}"
    return nbformat.read(out / path.name, as_version=4)


@pytest.mark.notebooks
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs_and_shows_its_figures(path, tmp_path):
    nb = make_notebooks(path, tmp_path)
    code = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    blank = [i for i, c in code if DRAWS.search(c.source)
             and not any("image/png" in o.get("data", {}) for o in c.outputs)]
    assert not blank, f"{path.name}: cells {blank} draw a figure but show no image"
    noisy = [(i, o.text[:200]) for i, c in code for o in c.outputs
             if o.output_type == "stream" and o.name == "stderr" and NOISE.search(o.text)]
    assert not noisy, f"{path.name}: TensorFlow noise in the output: {noisy}"
