"""Running one submitted exercise notebook (notebooks/exercises/ex*.ipynb) for the grader
(:mod:`helpers.exercises.grading`), with every wait and every byte bounded.

- The kernel (:mod:`helpers.exercises.kernel`: memory capped, its printed output capped)
  runs in its own session; after the notebook its whole process group is killed, and so is
  every process still carrying this run's ``NST_GRADE_RUN`` token in its environment (a
  detached child, a double fork): :func:`kill_leftovers`.
- Only error outputs are kept while the cells run (streams and pictures are dropped), and
  no message from the kernel larger than
  :data:`helpers.exercises.kernel_sockets.MESSAGE_BYTES` is received at all, so a cell
  printing hundreds of MB cannot balloon the grader.
- Each cell has its own time limit (``cell_timeout``) within the notebook's: a cell that
  hangs is interrupted and the notebook goes on (a kernel that does not answer the
  interrupt ends it).
- After the cells, the kernel only answers: for each check the grader writes a job (hidden
  inputs) into the kernel's working folder and runs :mod:`helpers.exercises.harness` there;
  what the student's function gave comes back as files, read here as data with a bound
  (:func:`read_answer`: regular files only, JSON and ``np.load(allow_pickle=False)`` later).
  Nothing a check cell prints or logs is trusted.
- A hidden kernel is reached over ``ipc://`` socket files in its connection folder, which it
  can write: the grader connects only through links of its own to them, checked, and never
  reconnects (:mod:`helpers.exercises.kernel_sockets`).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.exercises import limits
from helpers.exercises.hiding import KERNEL_NOT_HIDDEN
from helpers.exercises.kernel_sockets import RefusedKernel, client_class, notebook_client
from helpers.exercises.kernel_sockets import kernel_pid as _kernel_pid
from helpers.exercises.kernel_sockets import manager_class as _checked_manager
from helpers.exercises.leftovers import TOKEN_ENV, kill_group, kill_leftovers  # noqa: F401
from helpers.files import read_bytes, write_text

ANSWER_BYTES = 64 * 2**20     # the most of one check's answer read back


@dataclass
class RunSettings:
    """How to run a notebook: seconds for the whole notebook, memory cap of its kernel in
    MiB, the token its processes carry (:func:`kill_leftovers`), seconds per cell, the
    folders its kernel must not see (:func:`helpers.exercises.kernel.hide`), and the seed of
    the run's hidden inputs."""

    timeout: int = 600
    memory_mb: int = 8192
    token: str = ""
    cell_timeout: int = 60
    hide: list[str] = field(default_factory=list)
    seed: int = 0
    template: Any = None  # a forking.Template: kernels forked from it (None: from scratch)
    must_hide: bool = False  # hiding works here: a kernel that cannot hide runs nothing
    folder_mb: int = 0  # the size cap of the notebook's folder (worker.notebook_folder; 0: none)


@dataclass
class Job:
    """One check the kernel answers: its name, the student's function it calls, and the
    tag naming its files."""

    check: str
    function: str
    tag: str


def new_token() -> str:
    """A fresh token for one grading run."""
    return uuid.uuid4().hex


def read_answer(workdir: Path, name: str, sent: Any = None) -> tuple[dict | None, bytes]:
    """What the kernel answered as ``name``: its JSON record (the one its answering cell
    ``sent`` as output, else the .json file; None when missing or not JSON) and its arrays
    (the .npz file's bytes, read later with allow_pickle=False; when their SHA-256 is not the
    one the record names, the files were changed after the harness wrote them: no answer).
    Regular files only, each read with a bound: a pipe or a sparse giant is no answer."""
    try:
        record = sent if isinstance(sent, dict) else json.loads(read_bytes(
            workdir / f"{name}.json", 4 * 2**20, "an answer", follow_links=False))
        data = read_bytes(workdir / f"{name}.npz", ANSWER_BYTES + 1, "an answer",
                          follow_links=False)
    except (StyleTransferError, ValueError, OSError, RecursionError):
        return None, b""
    if len(data) > ANSWER_BYTES:
        return {"status": "too_large"}, b""
    if not isinstance(record, dict):
        return None, b""
    if record.get("npz_sha256") != hashlib.sha256(data).hexdigest():
        return {"status": "changed"}, b""
    return record, data


def kernel_manager(kernel_dir: Path, settings: RunSettings) -> Any:
    """A kernel manager for the capped kernel of :mod:`helpers.exercises.kernel` (run as a
    script, hiding ``settings.hide``). Its connection file lies in a folder of its own
    (0700, beside ``kernel_dir``: in the notebook's size-capped folder) that only this
    kernel sees; hidden (``settings.must_hide``: a network namespace of its own, no other
    kernel reachable), the kernel is reached over ZeroMQ's ``ipc`` transport, its socket
    files in that folder too, connected to through links of the grader's
    (:func:`helpers.exercises.kernel_sockets.take_sockets`)."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = kernel_dir / "nst-grade"
    spec.mkdir(parents=True, exist_ok=True)
    run = uuid.uuid4().hex[:12]  # short: a socket's path has at most 107 bytes
    private = kernel_dir.parent / f"k{run}"
    private.mkdir(mode=0o700)
    hide = [arg for folder in settings.hide for arg in ("--hide", str(folder))]
    write_text(spec / "kernel.json", json.dumps({
        "argv": [sys.executable, str(Path(__file__).with_name("kernel.py")), "--memory-mb",
                 str(settings.memory_mb), *hide, "--private", str(private),
                 *(["--must-hide"] if settings.must_hide else []),
                 "-f", "{connection_file}"],
        "display_name": "nst grading", "language": "python"}))
    from helpers.exercises.forking import manager_class

    base = manager_class(settings.template, lambda env: kill_leftovers(env.get(TOKEN_ENV, "")))
    km = _checked_manager(base, kernel_dir.parent / f"g{run}")(
        kernel_name="nst-grade", connection_file=str(private / "kernel.json"),
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernel_dir)]),
        transport="ipc" if settings.must_hide else "tcp")
    km.client_factory = client_class()
    return km


def harness_code(job_file: str, output: str) -> str:
    """The cell that answers one job: the harness's text run in a namespace of its own,
    writing its answer to ``output`` (.json, .npz)."""
    from helpers.exercises import harness

    source = Path(harness.__file__).read_text(encoding="utf-8")
    return (f"__nst_harness = {{'__name__': 'nst_harness'}}\n"
            f"exec(compile({source!r}, {harness.HARNESS_FILE!r}, 'exec'), __nst_harness)\n"
            f"__nst_harness['main']({job_file!r}, globals(), {output!r})\n"
            "del __nst_harness")


@dataclass
class Outcome:
    """What running a notebook gave: what stopped it ("" when it finished), notes (cells
    interrupted), and each job's answer (:func:`read_answer`) by tag."""

    status: str = ""
    notes: list[str] = field(default_factory=list)
    answers: dict[str, tuple[dict | None, bytes]] = field(default_factory=dict)
    current: int | None = None  # the cell running now
    prepare: dict[str, Any] = field(default_factory=dict, repr=False)  # tag -> its cell's code
    late: dict[str, str] = field(default_factory=dict)  # job tag -> why it gave no answer
    times: dict[str, float] = field(default_factory=dict)  # seconds by step (the bench's)
    sent: dict[str, Any] = field(default_factory=dict)  # output name -> record sent as output

    def took(self, step: str, since: float) -> float:
        """Add the seconds since ``since`` to ``step``'s time; return the time now."""
        now = time.perf_counter()
        self.times[step] = self.times.get(step, 0.0) + now - since
        return now


def run_notebook(nb: Any, workdir: Path, jobs: list[Job], settings: RunSettings,
                 write: Any = None) -> Outcome:
    """Run every cell (errors do not stop it) in a fresh capped kernel with NST_FAST=1 and
    cwd ``workdir``, then each job (``write(job)`` puts its files in ``workdir`` and returns
    the job file's name); the kernel is killed and the answers read. A cell that kills its
    kernel is left out and the notebook run again in a fresh one (twice at most)."""
    cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    outcome, deadline = Outcome(), time.monotonic() + settings.timeout
    outputs = {job.tag: f"answer-{job.tag}-{uuid.uuid4().hex}" for job in jobs}
    for job in jobs:  # our copy of the notebook: these cells are never written out
        nb.cells.append(_new_cell("", f"nst-answer-{job.tag}"))
        nb.cells[-1].metadata["nst_output"] = outputs[job.tag]
        cells.append((len(nb.cells) - 1, nb.cells[-1]))
        # the hidden inputs are written only when their cell runs, after the student's
        outcome.prepare[job.tag] = functools.partial(
            lambda job: harness_code(write(job), outputs[job.tag]), job)
    for _ in range(3):
        died = _run_once(nb, workdir, cells, settings, deadline, outcome)
        if died is None or time.monotonic() > deadline - 5:
            break
        cells = [(i, c) for i, c in cells if i != died]
        cell_id = str(nb.cells[died].get("id"))
        if cell_id.startswith("nst-answer-"):
            outcome.late[cell_id[len("nst-answer-"):]] = (
                "your function ended the kernel on the hidden inputs (os._exit, a crash, or "
                f"memory exhausted below the {settings.memory_mb} MiB limit)")
        outcome.notes.append(f"the kernel died in cell {died} ({cell_id}); the notebook was "
                             "run again without it")
        outcome.status = ""
    outcome.answers = {job.tag: read_answer(workdir, outputs[job.tag],
                                            outcome.sent.get(outputs[job.tag]))
                       for job in jobs}
    return outcome


def _run_once(nb: Any, workdir: Path, cells: list, settings: RunSettings, deadline: float,
              outcome: Outcome) -> int | None:
    """One run of ``cells`` in a fresh kernel; the index of the cell it died in, if it did."""
    import zmq
    from nbclient.exceptions import DeadKernelError

    env = kernel_env(settings.token)
    km = kernel_manager(workdir.parent / f"kernels-{workdir.name}", settings)
    client = notebook_client(nb, km, workdir, settings.cell_timeout)
    pid, outcome.current, started = None, None, time.perf_counter()
    try:  # cleanup_kc: the kernel is shut down (its process group killed) however it ends
        with client.setup_kernel(env=env, cwd=str(workdir), cleanup_kc=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            pid = _kernel_pid(km)
            outcome.took("kernel start", started)
            try:
                _run_cells(client, km, cells, deadline, settings, outcome)
            finally:
                outcome.sent.update(client.sent)
            started = time.perf_counter()
    except DeadKernelError:
        outcome.status = ("the kernel died (a crash, os._exit, or memory exhausted below "
                          f"the {settings.memory_mb} MiB limit)")
        return outcome.current
    except RefusedKernel as exc:
        outcome.status = str(exc)
    except (ValueError, TypeError, AttributeError, KeyError, zmq.ZMQError) as exc:
        outcome.status = ("the kernel sent a message the grader could not read, or too "
                          f"large ({type(exc).__name__}: {str(exc)[:100]}); the notebook's "
                          "cells after it were not run")
    except RuntimeError as exc:  # e.g. the kernel did not start
        outcome.status = f"could not run the notebook: {str(exc)[:200]}"
    finally:
        if settings.must_hide and getattr(km, "hide_failed", False):
            outcome.status = KERNEL_NOT_HIDDEN
        kill_group(pid)
        kill_leftovers(settings.token, getattr(getattr(settings.template, "proc", None), "pid",
                                               None))
        limits.sweep()  # the kernel's cgroup: its keeper, killed, could not remove it
        for folder in (Path(km.connection_file).parent, km.links):  # and our links to it
            shutil.rmtree(folder, ignore_errors=True)
        outcome.took("kernel stop", started)
    return None


def kernel_env(token: str) -> dict[str, str]:
    """The environment of a grading kernel (with the run's ``token``; without it for the
    template kernels are forked from): the grader's allowed variables only
    (:func:`helpers.exercises.hiding.kernel_variables`) and the grading settings."""
    from helpers.exercises.hiding import kernel_variables

    env = {**kernel_variables(), "NST_FAST": "1", "MPLBACKEND": "Agg", "NST_GRADING": "1",
           "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": _pythonpath(),
           # per-thread malloc arenas (64 MiB of address space each) crashed a kernel
           # forked from the template under its RLIMIT_AS (--memory-mb 2000)
           "MALLOC_ARENA_MAX": "2"}
    if token:
        env[TOKEN_ENV] = token
    return env


def _new_cell(source: str, cell_id: str) -> Any:
    import nbformat

    return nbformat.v4.new_code_cell(source, id=cell_id)


def _run_cells(client: Any, km: Any, cells: list, deadline: float, settings: RunSettings,
               outcome: Outcome) -> None:
    """Each cell in turn, at most ``cell_timeout`` s each; a cell over it is interrupted and
    the rest run, until the notebook's own time is up. The answering cells then run in any
    case, ``cell_timeout`` s each."""
    from nbclient.exceptions import CellTimeoutError

    for index, cell in cells:
        answer = cell.get("id", "").startswith("nst-answer-")  # its own time, after the notebook
        left = settings.cell_timeout if answer else deadline - time.monotonic()
        if left < 1:
            outcome.status = (f"timed out: the notebook did not finish within "
                              f"{settings.timeout} s; the rest of its cells were not run")
            continue
        client.timeout = max(1, int(min(settings.cell_timeout, left)))
        outcome.current, started = index, time.perf_counter()
        if answer and not _prepared(cell, outcome, settings):
            continue
        started = outcome.took("hidden inputs", started) if answer else started
        step = "answers" if answer else "first cell" if index == cells[0][0] else "cells"
        try:
            client.execute_cell(cell, index)
            cell.metadata["nst_ran"] = True
        except CellTimeoutError:
            what = ("your function did not return on the hidden inputs" if answer else
                    f"cell {index} ({cell.get('id')}) did not finish")
            outcome.notes.append(f"{what} within {client.timeout} s; it was interrupted")
            if answer:
                outcome.late[cell.id[len("nst-answer-"):]] = outcome.notes[-1]
            if not _interrupted(client, km):
                outcome.status = "the kernel did not answer after an interrupt; stopped"
                return
        finally:
            outcome.took(step, started)


def _prepared(cell: Any, outcome: Outcome, settings: RunSettings) -> bool:
    """Write the hidden inputs of an answering ``cell`` and give it its code; False (and
    why, in ``outcome.late``) when they cannot be written: the notebook filled its folder
    (``settings.folder_mb``) or removed it."""
    tag = cell.id[len("nst-answer-"):]
    try:
        cell.source = outcome.prepare[tag]()
    except StyleTransferError:
        cap = (f" (its files may take {settings.folder_mb} MiB)" if settings.folder_mb else "")
        outcome.late[tag] = ("the hidden inputs could not be written into the notebook's "
                             f"folder: the notebook filled it{cap} or removed it")
        return False
    return True


def _interrupted(client: Any, km: Any) -> bool:
    """Interrupt the kernel; whether it answers a trivial cell within 10 s afterwards."""
    from jupyter_core.utils import run_sync
    from nbclient.exceptions import CellTimeoutError

    client.drop_pollers()
    run_sync(km.interrupt_kernel)()
    client.timeout = 10
    client.nb.cells.append(_new_cell("pass", "nst-probe"))
    try:
        client.execute_cell(client.nb.cells[-1], len(client.nb.cells) - 1)
    except CellTimeoutError:
        return False
    finally:
        client.nb.cells.pop()
    return True


def _pythonpath() -> str:
    """PYTHONPATH for the kernel: this checkout's ``helpers`` first."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([root, *([rest] if rest else [])])
