"""Students' exercise notebooks (notebooks/exercises/ex*.ipynb) graded in a process apart
from the grader's, for :mod:`helpers.exercises.batch`: ``python -m helpers.exercises.worker``
reads tasks from standard input, one a line (``TASK.json<TAB>FOLDER``: one student's
notebooks), writes ``FOLDER/result-N.json`` (the rows of the task's notebook N) as each
notebook is graded and ``done TASK.json`` when the task is; then it waits for the next
student's task. What the tasks of one worker share is what no student touches: the run's
hidden inputs and references (drawn once), the imports of the judge, and the template that
forks each notebook's fresh kernel (:mod:`helpers.exercises.forking`).

This process never runs student code: the kernel runs it and only sends answers back, which
are judged here (:mod:`helpers.exercises.judge`) on the hidden inputs drawn from the run's
seed (the task's ``seed``: the same for every student of the run).

A hidden kernel (:mod:`helpers.exercises.jail`) cannot see or signal this worker. Where
kernels cannot hide, a cell that kills its kernel's parent (``os.kill(os.getppid(), 9)``)
ends this worker only: the grader reports that notebook, starts a new worker for the
student's notebooks after it, and the class's grading goes on. SIGTERM and SIGHUP (sent by
the grader when it is stopped) end the notebook's kernel and its process group before the
worker exits. On Linux the worker is a child subreaper: a process the notebook detached (a
double fork, a new session, its environment wiped) is re-parented to the worker (or, hidden,
dies with its kernel's PID namespace), and every descendant but the template is killed
before each notebook's result is written.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

from helpers.errors import StyleTransferError
from helpers.exercises.forking import Template
from helpers.exercises.grading import grade_notebook, read_notebook
from helpers.exercises.judge import start_run
from helpers.exercises.runner import RunSettings, kernel_env
from helpers.files import read_bytes, write_text
from helpers.signals import exit_status, stop_on_signals

TASK_BYTES = 2**20
#: When set (by bench/bench_grading.py), a folder where each notebook's seconds per step go
#: (``TIMES_ENV/<token>-<pid>-<ns>-N.json``, one per notebook: kernel start, cells,
#: answers, judging, the worker's start).
TIMES_ENV = "NST_GRADE_TIMES"
_PR_SET_CHILD_SUBREAPER, _PR_SET_DUMPABLE = 36, 4


def become_subreaper() -> bool:
    """Make this process adopt its orphaned descendants (Linux; False elsewhere)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def not_dumpable() -> bool:
    """Make this process not dumpable (Linux): no kernel (same user, in a user namespace of
    its own) may trace it or read its memory, where a student graded earlier left the
    run's references. False where it cannot."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_descendants(keep: int | None = None) -> None:
    """SIGKILL every process descended from (or adopted by) this one, until none is left
    (but ``keep`` and its own descendants: the template kernel)."""
    import psutil

    for _ in range(5):
        children = psutil.Process().children(recursive=True)
        if keep is not None:
            spared = {keep}
            with contextlib.suppress(psutil.Error):
                spared |= {p.pid for p in psutil.Process(keep).children(recursive=True)}
            children = [c for c in children if c.pid not in spared]
        if not children:
            return
        for child in children:
            try:
                child.kill()
            except psutil.Error:
                continue
        psutil.wait_procs(children, timeout=2)


def die_with_parent() -> None:
    """Once this process's parent (the grader) is gone, killed or not, stop (SIGTERM to
    itself: its template and kernels are ended as on any stop), and after 10 s more end
    anyway: a killed grader leaves no worker or kernel running (a thread watches)."""
    import signal
    import threading

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        kill_descendants()
        os._exit(143)

    if parent > 1:
        threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def main(argv: list[str]) -> int:
    """Grade the tasks named on standard input, one a line (``TASK.json<TAB>FOLDER``): the
    notebooks each task file lists, in turn, each one's rows (JSON) written to
    ``FOLDER/result-N.json``, then ``done TASK.json`` on standard output. Exit status 0 at
    the end of the input, 2 on a bad task, 129/130/143 when stopped."""
    if argv:
        print("usage: python -m helpers.exercises.worker  (tasks on standard input)",
              file=sys.stderr)
        return 2
    become_subreaper()
    not_dumpable()
    die_with_parent()
    state: dict = {}
    try:
        with stop_on_signals():
            try:
                for line in sys.stdin:
                    task_file, _, folder = line.rstrip("\n").partition("\t")
                    _task(Path(task_file), Path(folder), state)
                    print(f"done {task_file}", flush=True)
            finally:
                if "template" in state:
                    state["template"].close()
                kill_descendants()
    except StyleTransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return exit_status(exc)
    return 0


def _task(path: Path, folder: Path, state: dict) -> None:
    """Grade one task (a student's notebooks). ``state`` keeps what the tasks of this
    process share: the run's hidden inputs (drawn once per seed) and the template kernel."""
    task = json.loads(read_bytes(path, TASK_BYTES, "the task"))
    settings = RunSettings(task["timeout"], task["memory_mb"], task["token"],
                           task["cell_timeout"], task["hide"], task["seed"],
                           must_hide=bool(task.get("must_hide")))
    if state.get("seed") != settings.seed:
        start_run(settings.seed)
        state["seed"] = settings.seed
    os.environ["NST_GRADE_CACHE"] = str(task.get("cache", ""))  # shared by the workers
    os.environ["TMPDIR"] = task["tmp"]  # the kernels' temporary files, removed with it
    if "template" not in state or not state["template"].alive():  # a kernel may end it
        if "template" in state:
            state["template"].close()
        # with this worker's token: the kernels it forks show it (killed if the worker dies)
        state["template"] = Template(kernel_env(settings.token))
    settings.template = state["template"]
    try:
        for index, item in enumerate(task["notebooks"]):
            times = {"worker start": time.time() - task.get("sent", time.time())
                     } if index == 0 else {}
            rows = _grade(item, Path(task["tmp"]), settings, times)
            # nothing the notebook started may outlive it and touch its result
            kill_descendants(keep=settings.template.proc.pid)
            write_text(folder / f"result-{index}.json", json.dumps([asdict(r) for r in rows]))
            _write_times(settings.token, index, item, times)
    finally:
        kill_descendants(keep=settings.template.proc.pid)


def _grade(item: dict, tmp: Path, settings: RunSettings, times: dict[str, float]) -> list:
    """The rows of one notebook of the task (``times``: the seconds of its steps)."""
    from helpers.exercises.custom import register

    started = time.perf_counter()
    register(Path(item["instructor"]).parent)  # the instructor's own checks, if any
    instructor = read_notebook(Path(item["instructor"]), "the instructor's notebook")
    instructor.metadata["nst_exercise"] = item["exercise"]
    instructor.metadata["nst_source"] = item["instructor"]  # its folder: ex07's settings
    times["reading"] = time.perf_counter() - started
    return grade_notebook(item["student"], Path(item["notebook"]), instructor, tmp, settings,
                          item.get("shown"), times)


def _write_times(token: str, index: int, item: dict, times: dict[str, float]) -> None:
    """One notebook's seconds per step, for the bench (only when :data:`TIMES_ENV` is set)."""
    folder = os.environ.get(TIMES_ENV)
    if folder:
        # one file per notebook graded (a task holds one notebook: index alone would repeat)
        name = f"{token}-{os.getpid()}-{time.monotonic_ns()}-{index}.json"
        write_text(Path(folder) / name, json.dumps(
            {"student": item["student"], "exercise": item["exercise"], "times": times}))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
