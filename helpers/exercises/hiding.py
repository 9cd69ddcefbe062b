"""What a grading kernel must not see (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`). A kernel sees only what it needs
(:func:`helpers.exercises.jail.allowed`); the folders named to hide (the instructor's, the
submissions', the grader's own, and the git folders of any checkout holding one of them,
:func:`git_dirs`: the solutions live in its history) are covered where they lie inside
what it sees, and what it still sees inside one of them is said (:func:`exposed`), never
silently. Hiding needs user namespaces; where the system refuses them, :func:`hiding_works`
says so before grading and the grader warns (:data:`NOT_HIDDEN`), never silently; where it
works, a kernel that cannot hide runs nothing (:data:`KERNEL_NOT_HIDDEN`). A kernel gets
only an allow-list of the grader's environment (:func:`kernel_variables`).
"""

from __future__ import annotations

import functools
import os
import tempfile
from pathlib import Path

#: The grader's environment variables a kernel gets (nothing else: no cloud token, no
#: secret of the grader's): by name, and by prefix (locale, threads, TensorFlow's own
#: settings, not every ``TF_``: Terraform's tokens are ``TF_TOKEN_…``, ``TF_VAR_…``).
KERNEL_VARIABLES = ("PATH", "LANG", "LANGUAGE", "TZ", "TERM", "PYTHONHASHSEED",
                    "PYTHONDONTWRITEBYTECODE", "PYTHONIOENCODING", "KERAS_BACKEND",
                    "LD_LIBRARY_PATH", "HOME", "TMPDIR", "USER", "LOGNAME",
                    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "KERAS_HOME",
                    "MPLCONFIGDIR", "IPYTHONDIR", "JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR",
                    "JUPYTER_RUNTIME_DIR")
KERNEL_PREFIXES = ("LC_", "TF_CPP_", "TF_NUM_", "TF_ENABLE_", "TF_FORCE_", "TF_GPU_",
                   "TF_XLA_", "TF_USE_", "OMP_", "MKL_", "KMP_", "OPENBLAS_", "NUMEXPR_",
                   "CUDA_", "XLA_")


def kernel_variables() -> dict[str, str]:
    """The grader's environment variables a grading kernel may get (:data:`KERNEL_VARIABLES`,
    :data:`KERNEL_PREFIXES`); a hidden kernel's ``HOME``, ``TMPDIR`` and folder variables
    are then its own (:func:`helpers.exercises.jail.build`)."""
    return {name: value for name, value in os.environ.items()
            if name in KERNEL_VARIABLES or name.startswith(KERNEL_PREFIXES)}


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


#: What the grader says (stderr, summary.html) when kernels cannot be kept from the folders
#: (:func:`not_hidden` adds what the system refused).
NOT_HIDDEN = ("kernels could see the instructor's folder: this system refuses the namespaces a "
              "kernel hides in; run the grader in the nst-grader container")


#: Why a notebook was not graded when its kernel, told to hide, could not (the summary's
#: "not hidden" flag).
KERNEL_NOT_HIDDEN = ("not graded: its kernel could not hide the instructor's and the grader's "
                     "folders (though this machine can), so none of its cells ran; grade it "
                     "again")


@functools.lru_cache(maxsize=1)
def probe() -> tuple[bool, str, tuple[str, ...]]:
    """Whether a grading kernel can build its own world here, what the system refused when
    it cannot (in words, "" when unknown), and what limits a kernel gets
    (:func:`helpers.exercises.kernel.probe` run in a process of its own, as a kernel would;
    asked once per process)."""
    import json
    import subprocess
    import sys

    kernel = Path(__file__).with_name("kernel.py")
    with tempfile.TemporaryDirectory(prefix="nst-probe-") as folder:
        Path(folder, "seen").touch()
        try:
            proc = subprocess.run([sys.executable, str(kernel), "--probe", folder],
                                  stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=60, text=True)
        except (OSError, subprocess.TimeoutExpired):
            return False, "", ()
    try:
        said = json.loads((proc.stdout.strip().splitlines() or ["{}"])[-1])
    except ValueError:
        said = {}
    return (proc.returncode == 0, str(said.get("refused", "")),
            tuple(str(line) for line in said.get("limits", ())))


def hiding_works() -> bool:
    """Whether a grading kernel can build its own world here (:func:`probe`)."""
    return probe()[0]


def not_hidden() -> str:
    """:data:`NOT_HIDDEN`, naming what this system refused (:func:`probe`)."""
    refused = probe()[1]
    if not refused:
        return NOT_HIDDEN
    return (f"kernels could see the instructor's folder: this system refuses {refused}; run "
            "the grader in the nst-grader container")


def kernel_limits() -> str:
    """One line for the instructor: what limits each grading kernel here (:func:`probe`),
    besides its address space (``--memory-mb``) and its ``/tmp`` and ``/dev/shm``."""
    found = probe()[2]
    if not found:
        return ("kernel limits: only its address space (--memory-mb) and output; no cgroup, "
                "no cap on processes, System V IPC or memfd could be set here")
    return "kernel limits: address space (--memory-mb), " + "; ".join(found)


def needed(folder: Path) -> bool:
    """Whether ``folder`` holds something a kernel sees (Python, ``helpers``, ``data/``,
    the Jupyter runtime folder where its connection file lies): not covered as a whole
    (e.g. ``--source .``); a kernel sees only those things in it (:func:`exposed`)."""
    from jupyter_core.paths import jupyter_runtime_dir

    from helpers.exercises.jail import allowed

    needs = [Path(p).resolve() for p in [*allowed(), jupyter_runtime_dir()]]
    return any(need.is_relative_to(folder.resolve()) for need in needs)


def exposed(folders: list) -> list[str]:
    """One line for each hidden folder in ``folders`` that holds something every kernel
    still sees (read-only), naming those things."""
    from helpers.exercises.jail import allowed

    lines = []
    for folder in sorted({Path(f).resolve() for f in folders}):
        seen = sorted({p for p in allowed() if Path(p).is_relative_to(folder)})
        if seen:
            lines.append(f"kernels still see, read-only, inside the hidden folder {folder}: "
                         f"{', '.join(seen)} (what every kernel needs)")
    return lines
