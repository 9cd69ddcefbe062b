"""What a grading kernel must not see (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): the folders it hides are the instructor's, the
submissions', the grader's own, and the git folders of any checkout holding one of them
(:func:`git_dirs`: the solutions live in its history). Hiding needs user namespaces
(:func:`helpers.exercises.kernel.hide`); where the system refuses them, :func:`hiding_works`
says so before grading and the grader warns (:data:`NOT_HIDDEN`), never silently. A folder
the kernel itself needs (the project, Python) is never hidden (:func:`needed`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path


def git_dirs(folder: Path) -> list[Path]:
    """The git folders of the checkout ``folder`` lies in (none outside one): its ``.git``
    folder, or for a worktree (a ``.git`` file, ``gitdir: …``) the worktree's git folder
    and the common one it names (``commondir``), where the history is."""
    for parent in [folder, *folder.parents]:
        dot = parent / ".git"
        try:
            if dot.is_dir():
                return [dot.resolve()]
            if not dot.is_file():
                continue
            text = dot.read_text(encoding="utf-8", errors="replace")[:4096].strip()
        except OSError:
            continue
        if not text.startswith("gitdir:"):
            return []
        git = (parent / text[len("gitdir:"):].strip()).resolve()
        common = git / "commondir"
        try:
            shared = (git / common.read_text(encoding="utf-8").strip()).resolve()
        except OSError:
            return [git]
        return [git, shared]
    return []


#: What the grader says (stderr, summary.html) when kernels cannot be kept from the folders.
NOT_HIDDEN = ("kernels could see the instructor's folder: user namespaces are not available "
              "here; run the grader in the nst-grader container")


def hiding_works() -> bool:
    """Whether a grading kernel can hide folders here (:func:`helpers.exercises.kernel.probe`
    run in a process of its own, as a kernel would)."""
    import subprocess
    import sys

    kernel = Path(__file__).with_name("kernel.py")
    with tempfile.TemporaryDirectory(prefix="nst-probe-") as folder:
        Path(folder, "seen").touch()
        try:
            return subprocess.run([sys.executable, str(kernel), "--probe", folder],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=60).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


def needed(folder: Path) -> bool:
    """Whether the kernel needs what lies in ``folder`` (the project, Python, the Jupyter
    runtime folder): such a folder is never hidden (e.g. ``--source .``)."""
    import sys

    from jupyter_core.paths import jupyter_runtime_dir

    needs = [Path(__file__).resolve().parent.parent.parent, Path(sys.prefix).resolve(),
             Path(sys.executable).resolve(), Path(jupyter_runtime_dir()).resolve()]
    return any(need.is_relative_to(folder) for need in needs)
