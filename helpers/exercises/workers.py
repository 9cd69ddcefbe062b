"""The worker processes of a class's grading (notebooks/exercises; used by
:mod:`helpers.exercises.batch`): each student's notebooks are graded in turn by a worker
process (:mod:`helpers.exercises.worker`, started in its own session), which then waits
for the next student (about ``--jobs`` workers for the whole class: each one's start, the
judge's imports, the run's hidden inputs and the template kernels are forked from are paid
once per worker, not per student). A notebook that ends its worker (a cell killing it, a
signal, a hang past every time limit) is reported and a new worker grades the student's next
notebook. A stop ends every worker and its kernels.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from helpers.errors import StyleTransferError
from helpers.exercises.grading import NOTEBOOK_ROW, GradeRun, Row, _name, check_cells, run_settings
from helpers.exercises.runner import _pythonpath, kill_group, kill_leftovers, new_token
from helpers.files import read_bytes, write_text

GRACE = 60             # seconds a worker may take beyond its notebook's time limit
RESULT_BYTES = 20 * 2**20
#: A worker: its file run as a script, so that nothing (no NumPy thread) runs before it
#: enters its own namespaces (-P: its folder is not put on ``sys.path``).
WORKER = [sys.executable, "-P", str(Path(__file__).with_name("worker.py"))]


@dataclass
class Task:
    """One notebook to grade (a worker grades a student's notebooks in turn)."""

    student: str
    exercise: str
    notebook: Path
    instructor: str
    shown: str = ""


class Worker:
    """One worker process: its stdin takes tasks, its stdout says when each is done, its
    stderr goes to a temporary file (read when it fails)."""

    def __init__(self, proc: subprocess.Popen, err: IO[bytes]) -> None:
        self.proc, self.err, self.buffer = proc, err, b""
        self.token = new_token()  # its kernels' (and its template's): killed if it dies

    def send(self, task: Path, folder: Path) -> None:
        """Give it a task (OSError when it is gone)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{task}\t{folder}\n".encode())
        self.proc.stdin.flush()

    def done(self, task: Path, limit: float) -> bool:
        """Whether it said it finished ``task`` within ``limit`` seconds (False: it ended
        or is still busy)."""
        assert self.proc.stdout is not None
        deadline, want = time.monotonic() + limit, f"done {task}".encode()
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                lines = self.buffer.split(b"\n")
                if any(line == want for line in lines[:-1]):
                    self.buffer = b""
                    return True
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(timeout=left):
                    return False
                data = os.read(self.proc.stdout.fileno(), 1 << 16)
                if not data:
                    return False
                self.buffer = (self.buffer + data)[-(1 << 16):]


class Workers:
    """The worker processes of a run: idle ones wait for the next student (each keeps what
    no student touches: the judge's imports, the hidden inputs, the template kernel), and a
    stop ends them all."""

    def __init__(self) -> None:
        self.lock, self.running, self.idle, self.stopped = threading.Lock(), set(), [], False

    def take(self, folder: Path) -> Worker | None:
        """An idle worker, else a new one in its own session (its temporary files in
        ``folder``); None once stopped."""
        with self.lock:
            if self.stopped:
                return None
            if self.idle:
                return self.idle.pop()
            err = tempfile.TemporaryFile(dir=folder)
            proc = subprocess.Popen(WORKER,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=err, start_new_session=True,
                                    env={**os.environ, "PYTHONPATH": _pythonpath(),
                                         "TMPDIR": str(folder)})
            self.running.add(proc)
            return Worker(proc, err)

    def give_back(self, worker: Worker) -> None:
        """A worker that finished its task waits for the next."""
        with self.lock:
            self.idle.append(worker)

    def done(self, worker: Worker) -> None:
        """Forget a worker that ended."""
        with self.lock:
            self.running.discard(worker.proc)
        worker.err.close()

    def stop(self) -> None:
        """SIGTERM every worker (each ends its kernel), SIGKILL those left after 5 s."""
        with self.lock:
            self.stopped = True
            procs = list(self.running)
        for proc in procs:
            _signal_group(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                kill_group(proc.pid)

    def close(self) -> None:
        """End the idle workers at the end of the run (their input closed: they exit)."""
        with self.lock:
            idle, self.idle = self.idle, []
        for worker in idle:
            with contextlib.suppress(OSError):
                assert worker.proc.stdin is not None
                worker.proc.stdin.close()
            try:
                worker.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            kill_group(worker.proc.pid)
            self.done(worker)


def _signal_group(pid: int, signum: int) -> None:
    try:
        os.killpg(pid, signum)
    except OSError:
        pass


def _failed(task: Task, instructor: Any, why: str) -> list[Row]:
    """The rows of a notebook whose worker gave no result."""
    rows = [Row(task.student, task.exercise, NOTEBOOK_ROW, 0.0, False, why)]
    return rows + [Row(task.student, task.exercise, _name(c), 0.0, False, f"not run: {why}")
                   for _, c in check_cells(instructor)]


def _result(path: Path) -> list[Row] | None:
    """The rows a worker wrote, or None (missing, too large, damaged)."""
    try:
        data = json.loads(read_bytes(path, RESULT_BYTES, "the worker's result"))
        return [Row(**row) for row in data]
    except (StyleTransferError, ValueError, TypeError):
        return None


def _tail(err: IO[bytes]) -> str:
    """The last line the worker wrote to its stderr (read from the end, bounded)."""
    try:
        size = err.seek(0, os.SEEK_END)
        err.seek(max(0, size - (1 << 16)))
        text = err.read(1 << 16).decode("utf-8", "replace")
    except OSError:
        return ""
    lines = [line for line in text.splitlines()  # its notes are no reason it failed
             if line.strip() and not line.startswith("note: ")]
    return lines[-1][:200] if lines else ""


def run_job(tasks: list[Task], folder: Path, instructors: dict[str, Any], settings: GradeRun,
            workers: Workers) -> list[list[Row]]:
    """Grade one student's notebooks (``tasks``) in a worker process, in turn; the rows of
    each. A notebook that ends its worker (killed, stopped, out of time) gets rows saying
    so, and a new worker grades the notebooks after it."""
    results: list[list[Row]] = []
    while len(results) < len(tasks):
        rest = tasks[len(results):]
        try:
            done, why = _run_worker(rest, folder / f"run-{len(results)}", settings, workers)
        except (OSError, StyleTransferError) as exc:  # e.g. the temporary folder removed
            done, why = [], f"could not run its grading: {exc}"
        results += done
        if len(results) < len(tasks):
            task = tasks[len(results)]
            results.append(_failed(task, instructors[task.exercise], why))
    return results


def _run_worker(tasks: list[Task], folder: Path, settings: GradeRun, workers: Workers
                ) -> tuple[list[list[Row]], str]:
    """Have a worker grade ``tasks``; the rows of the notebooks it finished (in order), and
    why it stopped before the next one."""
    worker = workers.take(folder.parent.parent)
    if worker is None:
        return [], "not graded: the grading was stopped"
    spec = {"tmp": str(folder), "cache": str(folder.parent.parent / "cache"),
            "token": worker.token, "timeout": settings.timeout,
            "memory_mb": settings.memory_mb, "cell_timeout": settings.cell_timeout,
            "seed": settings.seed, **_hiding(settings, worker.token),
            "sent": time.time(),
            "notebooks": [{"student": t.student, "exercise": t.exercise, "shown": t.shown,
                           "notebook": str(t.notebook), "instructor": t.instructor}
                          for t in tasks]}
    try:
        folder.mkdir(parents=True, exist_ok=True)  # a notebook may have removed it
        write_text(folder / "task.json", json.dumps(spec))
    except (OSError, StyleTransferError):
        workers.give_back(worker)
        raise
    limit = len(tasks) * (settings.timeout + 12 * settings.cell_timeout) + GRACE  # 3 tries
    finished = False
    try:
        worker.send(folder / "task.json", folder)
        finished = worker.done(folder / "task.json", limit)
    except OSError:
        pass
    why = ""
    if finished:  # it killed what its notebooks left (all but its template)
        workers.give_back(worker)
    else:
        why = _ended(worker, limit)
        workers.done(worker)
        # what carries its token: its template, its kernels' keepers (a hidden kernel's
        # processes die with its keeper; unhidden, one that wiped its environment is missed)
        kill_leftovers(worker.token)
    done = []
    for index in range(len(tasks)):
        rows = _result(folder / f"result-{index}.json")
        if rows is None:
            break
        done.append(rows)
    return done, why


def _hiding(settings: GradeRun, token: str) -> dict[str, Any]:
    """What the task tells the worker about hiding: the folders, and whether it must."""
    run = run_settings(settings, token, [])
    return {"hide": run.hide, "must_hide": run.must_hide}


def _ended(worker: Worker, limit: int) -> str:
    """End a worker that did not finish its task (its process group killed); why it did
    not, from its exit status and stderr."""
    status = None
    with contextlib.suppress(subprocess.TimeoutExpired):
        status = worker.proc.wait(timeout=1)
    kill_group(worker.proc.pid)
    worker.proc.wait()
    return _why(status, limit, worker.err)


def _why(status: int | None, limit: int, err: IO[bytes]) -> str:
    """Why a worker ended before its next notebook, from its exit status."""
    if status is None:
        return f"the grading of this notebook did not end within {limit} s"
    if status < 0:
        return (f"the grading process was killed ({_signal_name(-status)}): a cell may have "
                "killed it")
    if status in (129, 130, 143):
        return (f"the grading process was stopped ({_signal_name(status - 128)}): a cell may "
                "have signalled it")
    return f"the grading process failed (status {status}): " + (
        _tail(err) or "its temporary folder is gone (removed by a notebook?)")


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"
