"""A student's exercise notebooks (notebooks/exercises/ex*.ipynb) graded in a process of their
own, for :mod:`helpers.exercises.batch`:
``python -m helpers.exercises.worker TASK.json FOLDER`` writes ``FOLDER/result-N.json`` (the
rows of the task's notebook N) as each notebook is graded.

This process never runs student code: the kernel runs it and only sends answers back, which
are judged here (:mod:`helpers.exercises.judge`) on the hidden inputs drawn from the run's
seed (the task's ``seed``: the same for every student of the run).

A cell that kills its kernel's parent (``os.kill(os.getppid(), 9)``) ends this worker only:
the grader reports that notebook, starts a new worker for the student's notebooks after it,
and the class's grading goes on. SIGTERM and SIGHUP (sent by the grader when it is stopped)
end the notebook's kernel and its process group before the worker exits. On Linux the
worker is a child subreaper: a process the notebook detached (a double fork, a new
session, its environment wiped) is re-parented to the worker when its parent dies, and
killed with every other descendant before the worker exits.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from dataclasses import asdict
from pathlib import Path

from helpers.errors import StyleTransferError
from helpers.exercises.grading import grade_notebook, read_notebook
from helpers.exercises.judge import start_run
from helpers.exercises.runner import RunSettings
from helpers.files import read_bytes, write_text
from helpers.signals import exit_status, stop_on_signals

TASK_BYTES = 2**20
_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux; False elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_descendants() -> None:
    """SIGKILL every process descended from (or adopted by) this one, until none is left."""
    import psutil

    for _ in range(5):
        children = psutil.Process().children(recursive=True)
        if not children:
            return
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(children, timeout=2)


def main(argv: list[str]) -> int:
    """Grade the notebooks the task file lists, in turn, writing each one's rows (JSON) to
    ``FOLDER/result-N.json``. Exit status 0 when all were written, 2 on a bad task,
    129/130/143 when stopped."""
    if len(argv) != 2:
        print("usage: python -m helpers.exercises.worker TASK.json FOLDER", file=sys.stderr)
        return 2
    try:
        task = json.loads(read_bytes(argv[0], TASK_BYTES, "the task"))
        settings = RunSettings(task["timeout"], task["memory_mb"], task["token"],
                               task["cell_timeout"], task["hide"], task["seed"])
        start_run(settings.seed)
        os.environ["NST_GRADE_CACHE"] = str(task.get("cache", ""))  # shared by the workers
        become_subreaper()
        with stop_on_signals():
            try:
                for index, item in enumerate(task["notebooks"]):
                    rows = _grade(item, Path(task["tmp"]), settings)
                    write_text(Path(argv[1]) / f"result-{index}.json",
                               json.dumps([asdict(r) for r in rows]))
            finally:
                kill_descendants()
    except StyleTransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return exit_status(exc)
    return 0


def _grade(item: dict, tmp: Path, settings: RunSettings) -> list:
    """The rows of one notebook of the task."""
    from helpers.exercises.custom import register

    register(Path(item["instructor"]).parent)  # the instructor's own checks, if any
    instructor = read_notebook(Path(item["instructor"]), "the instructor's notebook")
    instructor.metadata["nst_exercise"] = item["exercise"]
    return grade_notebook(item["student"], Path(item["notebook"]), instructor, tmp, settings,
                          item.get("shown"))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
