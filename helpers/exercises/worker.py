"""One submitted exercise notebook (notebooks/exercises/ex*.ipynb) graded in a process of its
own, for :mod:`helpers.exercises.batch`:
``python -m helpers.exercises.worker TASK.json RESULT.json``.

The grader starts one worker per notebook, so a cell that kills its kernel's parent
(``os.kill(os.getppid(), 9)``) ends this worker only: the class's grading goes on and every
other student's rows are kept. SIGTERM and SIGHUP (sent by the grader when it is stopped)
end the notebook's kernel and its process group before the worker exits. On Linux the
worker is a child subreaper: a process the notebook detached (a double fork, a new
session, its environment wiped) is re-parented to the worker when its parent dies, and
killed with every other descendant before the worker exits.
"""

from __future__ import annotations

import ctypes
import json
import sys
from dataclasses import asdict
from pathlib import Path

from helpers.errors import StyleTransferError
from helpers.exercises.grading import grade_notebook, read_notebook
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
    """Grade the notebook the task file names; write its rows (JSON) to the result file.
    Exit status 0 when the rows were written, 2 on a bad task, 129/130/143 when stopped."""
    if len(argv) != 2:
        print("usage: python -m helpers.exercises.worker TASK.json RESULT.json", file=sys.stderr)
        return 2
    try:
        task = json.loads(read_bytes(argv[0], TASK_BYTES, "the task"))
        instructor = read_notebook(Path(task["instructor"]), "the instructor's notebook")
        instructor.metadata["nst_exercise"] = task["exercise"]
        settings = RunSettings(task["timeout"], task["memory_mb"], task["token"])
        notebook = Path(task["notebook"])
        become_subreaper()
        with stop_on_signals():
            try:
                rows = grade_notebook(task["student"], notebook, instructor,
                                      Path(task["tmp"]), settings, task.get("shown"))
            finally:
                kill_descendants()
        write_text(argv[1], json.dumps([asdict(r) for r in rows]))
    except StyleTransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return exit_status(exc)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
