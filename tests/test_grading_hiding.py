"""What a grading kernel cannot see (issue 32): the instructor's folder and, when it lies in a
git checkout, the checkout's history (its ``.git`` folder, or for a worktree the git folders
its ``.git`` file names); and where the system refuses the user namespaces that hide them, the
grader says so on stderr and in summary.html instead of grading silently."""

from __future__ import annotations

import html
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from helpers.exercises import EXERCISES_DIR
from helpers.exercises.grading import GradeRun, run_settings
from helpers.exercises.hiding import NOT_HIDDEN, git_dirs, hiding_works
from helpers.exercises.runner import new_token, run_notebook

ROOT = Path(__file__).resolve().parent.parent


def _checkouts(base: Path) -> dict[str, Path]:
    """A checkout (``main/.git``) and a worktree of it (``wt/.git``: a file), laid out as git
    writes them, each with an instructor's folder and a solution in the history."""
    git = base / "main" / ".git"
    (git / "objects" / "ab").mkdir(parents=True)
    (git / "objects" / "ab" / "cdef").write_text("### BEGIN SOLUTION (an old commit)")
    (git / "worktrees" / "wt").mkdir(parents=True)
    (git / "worktrees" / "wt" / "commondir").write_text("../..\n")
    (git / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/wt\n")
    (base / "wt").mkdir()
    (base / "wt" / ".git").write_text("gitdir: ../main/.git/worktrees/wt\n")
    folders = {}
    for name in ("main", "wt"):
        folders[name] = base / name / "notebooks" / "exercises"
        folders[name].mkdir(parents=True)
        (folders[name] / "ex01_preprocess.ipynb").write_bytes(
            (EXERCISES_DIR / "ex01_preprocess.ipynb").read_bytes())
    return folders


def test_the_git_folders_of_a_checkout_and_of_a_worktree(tmp_path):
    folders = _checkouts(tmp_path)
    git = (tmp_path / "main" / ".git").resolve()
    assert git_dirs(folders["main"]) == [git]
    assert git_dirs(folders["wt"]) == [git / "worktrees" / "wt", git]
    assert git_dirs(tmp_path) == []
    hidden = run_settings(GradeRun(hide=[str(folders["wt"])]), "t", []).hide
    assert {str(folders["wt"].resolve()), str(git), str(git / "worktrees" / "wt")} <= set(hidden)


@pytest.mark.notebooks  # one kernel
@pytest.mark.parametrize("checkout", ["main", "wt"])
def test_a_kernel_sees_neither_the_instructors_folder_nor_its_history(tmp_path, checkout):
    """The notebook lists the instructor's folder and every git folder of its checkout: all
    empty where the system hides them; where it cannot, the grader's probe says so (and then
    they are visible: the warning is not a false alarm)."""
    folders = _checkouts(tmp_path)
    git = tmp_path / "main" / ".git"
    looked = [folders[checkout], git, git / "objects" / "ab", git / "worktrees" / "wt"]
    paths = [str(p) for p in looked]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import os\nseen = [p for p in {paths!r} if os.path.isdir(p) and os.listdir(p)]\n"
        "assert not seen, seen", id="look")])
    work = tmp_path / "work" / "ex01"
    work.mkdir(parents=True)
    settings = run_settings(GradeRun(timeout=120, memory_mb=3000, cell_timeout=60),
                            new_token(), [folders[checkout]])
    run_notebook(nb, work, [], settings)
    errors = [o for o in nb.cells[0].get("outputs", []) if o.get("output_type") == "error"]
    assert nb.cells[0].metadata.get("nst_ran")
    if hiding_works():
        assert errors == [], errors[0].get("evalue")
    else:
        assert errors and "BEGIN" not in str(errors)  # seen, and said by the grader


def _grade(klass: Path, source: Path, out: Path, refuse: bool) -> subprocess.CompletedProcess:
    """The grading command, under a user namespace where no further one may be made when
    ``refuse`` (as on a system that refuses them)."""
    command = [sys.executable, "-m", "helpers", "exercises", "--grade", str(klass),
               "--source", str(source), "-o", str(out / "grades.csv"), "--timeout", "60"]
    if refuse and _can_unshare():
        command = ["unshare", "--user", "--map-current-user", "sh", "-c",
                   'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--user", "--map-current-user", "true"],
                          capture_output=True).returncode == 0


def test_refused_user_namespaces_are_said_on_stderr_and_in_the_summary(tmp_path):
    """Forced: a user namespace whose limit on further ones is 0 (the kernels' unshare fails
    as on a system without them). One warning line on stderr, the flag in summary.html and
    summary.txt; without forcing, where namespaces work, no warning."""
    source = _checkouts(tmp_path)["main"]
    klass = tmp_path / "class"
    (klass / "alice").mkdir(parents=True)
    (klass / "alice" / "notes.txt").write_text("nothing to grade")
    refused = _grade(klass, source, tmp_path / "refused", refuse=True)
    assert refused.returncode == 0, refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    warnings = [line for line in refused.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {NOT_HIDDEN}"], refused.stderr
    assert NOT_HIDDEN in (tmp_path / "refused" / "summary.txt").read_text()
    page = (tmp_path / "refused" / "summary.html").read_text()
    assert html.escape(NOT_HIDDEN) in page and "<td>not hidden</td>" in page
    if _can_unshare():
        plain = _grade(klass, source, tmp_path / "plain", refuse=False)
        assert plain.returncode == 0 and "warning:" not in plain.stderr, plain.stderr
        assert "not hidden" not in (tmp_path / "plain" / "summary.html").read_text()


@pytest.mark.notebooks  # two forked kernels
def test_kernels_forked_from_a_template_start_as_fresh_ones(tmp_path):
    """A kernel forked from the template (which imported TensorFlow, caching its temporary
    folder, and NumPy, with its random state) can write temporary files, and two kernels of
    one template draw different random numbers, as kernels started from scratch do."""
    from helpers.exercises.forking import Template
    from helpers.exercises.runner import kernel_env

    token = new_token()
    hidden = tmp_path / "instructor"  # the template's TMPDIR (a worker's first task's folder)
    hidden.mkdir()
    template = Template({**kernel_env(token), "TMPDIR": str(hidden)})
    try:
        draws = []
        for n in range(2):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                "import tempfile, numpy as np\n"
                "with tempfile.NamedTemporaryFile() as f:\n    f.write(b'x')\n"
                "open('draw.txt', 'w').write(str(np.random.randint(1 << 30)))", id="fresh")])
            work = tmp_path / f"work{n}" / "ex01"
            work.mkdir(parents=True)
            settings = run_settings(GradeRun(timeout=120, memory_mb=3000, cell_timeout=60),
                                    token, [hidden])
            settings.template = template
            run_notebook(nb, work, [], settings)
            outputs = nb.cells[0].get("outputs", [])
            errors = [o.get("evalue") for o in outputs if o.get("output_type") == "error"]
            assert nb.cells[0].metadata.get("nst_ran") and errors == [], errors
            draws.append((work / "draw.txt").read_text())
        assert draws[0] and draws[0] != draws[1], draws
    finally:
        template.close()
