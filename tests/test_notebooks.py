"""Notebooks: stored without outputs, and each runs top to bottom in a fresh kernel, executed by
the very command a learner uses (`make notebooks`), in fast mode (NST_FAST=1), showing its
figures and no TensorFlow start-up noise; and the text around them: each links the glossary
from its first cell, every local link (README, docs/, notebooks) leads to a file and glossary
term, and the README opens with the picture and the quick start in at most 300 lines; what a
learner's `make lab` and git show: no nbgrader menus, a run notebook reads as unchanged."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
#: The tutorial's notebooks: NN_name or NNx_name (05b follows 05), in reading order.
NOTEBOOKS = sorted([*(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"),
                    *(ROOT / "notebooks").glob("[0-9][0-9][a-z]_*.ipynb")])
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
    # -o: the .venv running this test is set up; do not let make reinstall it (from a worktree
    # whose pyproject.toml is newer, that would re-point the shared editable install)
    proc = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "notebooks", f"NOTEBOOKS={path}",
         "NB_FORMAT=notebook", f"NB_OUT={out}"],
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


# --- the text a newcomer reads: glossary links, the README's first screen, local links --------

DOCS = ROOT / "docs"
GLOSSARY = DOCS / "glossary.md"
#: A markdown link: [text](target).
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces -> '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def glossary_anchors() -> set[str]:
    return {slug(line.lstrip("#")) for line in GLOSSARY.read_text().splitlines()
            if line.startswith("#")}


def markdown_texts() -> list[tuple[Path, str]]:
    """(file, text) of the README, the docs pages and every markdown cell of the notebooks."""
    texts = [(ROOT / "README.md", (ROOT / "README.md").read_text())]
    texts += [(p, p.read_text()) for p in sorted(DOCS.glob("*.md"))]
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        texts += [(path, c.source) for c in nb.cells if c.cell_type == "markdown"]
    return texts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_cell_links_the_glossary(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    assert "../docs/glossary.md" in first, \
        f"{path.name}: its first cell should link ../docs/glossary.md"


def test_local_links_lead_to_files_and_glossary_terms():
    anchors, broken = glossary_anchors(), []
    for source, text in markdown_texts():
        for target in LINK.findall(text):
            if target.startswith(("http://", "https://", "#")):
                continue
            file, _, anchor = target.partition("#")
            resolved = (source.parent / file).resolve()
            if not resolved.exists():
                broken.append(f"{source.name}: {target} (no such file)")
            elif resolved == GLOSSARY.resolve() and anchor and anchor not in anchors:
                broken.append(f"{source.name}: {target} (no such glossary term)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_readme_opens_with_the_picture_and_the_quick_start():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move long write-ups to docs/"
    sections = [i for i, line in enumerate(lines) if line.startswith("## ")]
    assert lines[sections[0]] == "## Quick start", "the first section should be the quick start"
    assert any(line.startswith("![") for line in lines[:sections[0]]), "no picture before it"
    quick_start = "\n".join(lines[sections[0]:sections[1]])
    assert "00_quickstart" in quick_start, "the quick start should say: open 00_quickstart"


# --- what a learner's JupyterLab and git show: no nbgrader menus, run notebooks read as clean ---

def git(repo: Path, *args: str) -> str:
    """``git -C repo args``; its stdout (a failure fails the test)."""
    proc = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
    return proc.stdout


def save_hook():
    """The post-save hook of `make lab`'s JupyterLab (etc/lab/jupyter_server_config.py)."""
    class Config:
        class FileContentsManager:
            pass

    path = ROOT / "etc" / "lab" / "jupyter_server_config.py"
    exec(compile(path.read_text(), str(path), "exec"), {"get_config": lambda: Config})
    return Config.FileContentsManager.post_save_hook


def save_as_lab_does(path: Path, nb: nbformat.NotebookNode) -> None:
    """Write ``nb`` with the metadata JupyterLab writes when its kernel has run, then call
    `make lab`'s post-save hook, as JupyterLab's save does."""
    nb.metadata.kernelspec = {"display_name": "Python 3 (ipykernel)", "language": "python",
                              "name": "python3"}
    nb.metadata.language_info = {
        "codemirror_mode": {"name": "ipython", "version": 3}, "file_extension": ".py",
        "mimetype": "text/x-python", "name": "python", "nbconvert_exporter": "python",
        "pygments_lexer": "ipython3", "version": "3.11.9"}
    nbformat.write(nb, path)
    save_hook()(model={"type": "notebook"}, os_path=str(path), contents_manager=None)


@pytest.mark.slow  # git runs nbstripout's Python a few times: 48 s here at load 11
def test_a_run_notebook_reads_as_unchanged_to_git(tmp_path):
    """`make git-filter` (which the Makefile's setup runs in a checkout) in a fresh repository,
    and a stored notebook run and saved as `make lab` saves it: it reads as clean to
    `git status` and `git diff` and keeps its outputs on disk; an edit of its text still shows
    and is not staged."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    git(repo, "config", "user.email", "learner@example.org")
    git(repo, "config", "user.name", "Learner")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_DIR=str(repo / ".git"), GIT_WORK_TREE=str(repo))  # make runs in ROOT
    proc = subprocess.run(["make", "-s", "git-filter"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nbstripout" in git(repo, "config", "filter.nbstripout.clean")
    path = repo / "nb.ipynb"
    path.write_bytes((ROOT / "notebooks" / "04_total_variation.ipynb").read_bytes())
    git(repo, "add", "nb.ipynb")
    git(repo, "commit", "-q", "-m", "a notebook as stored")

    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.execution_count = 1
    code.outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran it\n")]
    nbformat.write(nb, path)
    assert git(repo, "diff") == "", "git diff shows a run notebook's outputs"
    save_as_lab_does(path, nb)
    assert "ran it" in path.read_text(), "the file on disk should keep its outputs"
    assert git(repo, "status", "--porcelain") == "", "a run notebook reads as modified"
    assert git(repo, "diff") == "", "git diff shows a run notebook's outputs or metadata"

    nb.cells[0].source += "\nA learner's note."
    save_as_lab_does(path, nb)
    assert git(repo, "status", "--porcelain").split() == ["M", "nb.ipynb"], \
        "an edit of the text should still show, not staged"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def lab_page(target: str) -> tuple[str, int]:
    """Start `make TARGET` (JupyterLab, no browser) and return (its /lab page, the HTTP status
    of nbgrader's /formgrader); the server is stopped after."""
    port, token = free_port(), secrets.token_hex(8)
    flags = (f"--no-browser --ServerApp.ip=127.0.0.1 --ServerApp.port={port} "
             f"--IdentityProvider.token={token}")
    # -o: the .venv running this test is set up; do not let make reinstall it
    proc = subprocess.Popen(["make", "-s", "-o", ".venv/.installed", target,
                             f"LAB_FLAGS={flags}"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/lab?token={token}", timeout=10) as answer:
                    page = answer.read().decode()
                break
            except OSError:
                assert proc.poll() is None, f"make {target} ended with {proc.returncode}"
                assert time.monotonic() < deadline, f"make {target}: no JupyterLab in 120 s"
                time.sleep(0.5)
        try:
            with urllib.request.urlopen(f"{base}/formgrader?token={token}", timeout=10) as answer:
                status = answer.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        return page, status
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


@pytest.mark.slow
def test_make_lab_leaves_out_nbgrader_and_lab_instructor_keeps_it():
    """`make lab` (a learner's) serves JupyterLab with nbgrader's lab extension disabled and no
    formgrader; `make lab-instructor` has both."""
    page, formgrader = lab_page("lab")
    disabled = re.search(r'"disabledExtensions": (\[[^\]]*\])', page)
    assert disabled and "@jupyter/nbgrader" in json.loads(disabled.group(1)), \
        "make lab shows nbgrader's menus"
    assert formgrader == 404, f"make lab serves nbgrader's formgrader ({formgrader})"
    page, formgrader = lab_page("lab-instructor")
    disabled = re.search(r'"disabledExtensions": (\[[^\]]*\])', page)
    assert disabled and "@jupyter/nbgrader" not in json.loads(disabled.group(1))
    assert formgrader != 404, "make lab-instructor lost nbgrader's formgrader"
