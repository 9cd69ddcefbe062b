"""The processes a graded notebook leaves behind (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): every process a grading kernel starts carries the run's
token in its environment (:data:`TOKEN_ENV`), so a worker can kill them all, detached or
not, once the notebook is done (:func:`kill_leftovers`), and a kernel's own session
(:func:`kill_group`)."""

from __future__ import annotations

import os
import signal

TOKEN_ENV = "NST_GRADE_RUN"     # marks every process a graded notebook starts


def kill_group(pid: int | None) -> None:
    """SIGKILL the process group (the kernel's own session) led by ``pid``."""
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def kill_leftovers(token: str, keep: int | None = None) -> int:
    """SIGKILL every process of this user whose environment carries ``token`` (processes a
    graded notebook started, detached or not; a forked kernel shows its template's) but
    ``keep`` (the template, alive for the next notebook); return how many."""
    import psutil

    if not token:
        return 0
    me, killed = (os.getpid(), keep), 0
    for _ in range(3):  # a process may fork while the others are killed
        found = 0
        for proc in psutil.process_iter(["pid", "uids"]):
            try:
                if proc.pid in me or proc.info["uids"].real != os.getuid():
                    continue
                if proc.environ().get(TOKEN_ENV) == token:
                    proc.kill()
                    found += 1
            except (psutil.Error, OSError, AttributeError):
                continue
        killed += found
        if not found:
            break
    return killed
