"""Running one submitted exercise notebook (notebooks/exercises/ex*.ipynb) for the grader
(:mod:`helpers.exercises.grading`), with every wait and every byte bounded.

- The kernel (:mod:`helpers.exercises.kernel`: memory capped, its printed output capped)
  runs in its own session; after the notebook its whole process group is killed, and so is
  every process still carrying this run's ``NST_GRADE_RUN`` token in its environment (a
  detached child, a double fork): :func:`kill_leftovers`.
- Only error outputs are kept while the cells run (streams and pictures are dropped), and
  no message from the kernel larger than :data:`MESSAGE_BYTES` is received at all, so a cell
  printing hundreds of MB cannot balloon the grader.
- The grade log the checks write (``NST_GRADE_LOG``) is moved aside, checked to be a
  regular file and read up to :data:`LOG_BYTES` (:func:`read_log`): a pipe or a 3 GB sparse
  file in its place cannot hang or exhaust the grader.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import read_bytes, write_text

LOG_BYTES = 2**20               # the most of the grade log read after each cell
MESSAGE_BYTES = 32 * 2**20      # the largest message accepted from a student's kernel
TRACEBACK_CHARS = 20_000        # of an error output kept for the feedback
TOKEN_ENV = "NST_GRADE_RUN"     # marks every process a graded notebook starts


@dataclass
class RunSettings:
    """How to run a notebook: seconds for the whole notebook, memory cap of its kernel in
    MiB, and the token its processes carry (:func:`kill_leftovers`)."""

    timeout: int = 600
    memory_mb: int = 8192
    token: str = ""


def new_token() -> str:
    """A fresh token for one grading run."""
    return uuid.uuid4().hex


def read_log(log: Path) -> tuple[list[dict], bool]:
    """The check records the kernel logged since the last call, and whether the log was cut
    at :data:`LOG_BYTES`. The log is moved aside first (so a cell cannot swap it while it is
    read), refused unless it is a regular file, read with a bound, then deleted."""
    taken = log.with_name(f".{log.name}.{uuid.uuid4().hex}")
    try:
        os.rename(log, taken)
    except FileNotFoundError:
        return [], False
    except OSError:
        return [], False
    try:
        data = read_bytes(taken, LOG_BYTES + 1, "the grade log")
    except StyleTransferError:  # a pipe, a device, a folder: no records
        return [], False
    finally:
        _remove(taken)
    records = []
    for line in data[:LOG_BYTES].decode("utf-8", "replace").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records, len(data) > LOG_BYTES


def _remove(path: Path) -> None:
    """Delete a file or folder the kernel may have put in the log's place."""
    import shutil

    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
    except OSError:
        pass


def _client_class() -> type:
    """A kernel client refusing messages over :data:`MESSAGE_BYTES` (ZeroMQ drops them)."""
    import zmq
    import zmq.asyncio
    from jupyter_client import AsyncKernelClient

    class CappedClient(AsyncKernelClient):
        def _context_default(self) -> zmq.asyncio.Context:
            self._created_context = True
            context = zmq.asyncio.Context()
            context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
            return context

    return CappedClient


def _notebook_client(nb: Any, km: Any, workdir: Path, timeout: int) -> Any:
    """An nbclient NotebookClient keeping only error outputs (tracebacks cut)."""
    from nbclient import NotebookClient

    class ErrorsOnly(NotebookClient):
        def output(self, outs: list, msg: dict, display_id: Any, cell_index: int) -> Any:
            if msg["msg_type"] != "error":
                return None
            content = msg["content"]
            content["evalue"] = str(content.get("evalue", ""))[:TRACEBACK_CHARS]
            content["traceback"] = [str(t)[:TRACEBACK_CHARS]
                                    for t in content.get("traceback", [])[-20:]]
            return super().output(outs, msg, display_id, cell_index)

    return ErrorsOnly(nb, timeout=timeout, allow_errors=True, km=km,
                      shutdown_kernel="immediate", iopub_timeout=4,
                      resources={"metadata": {"path": str(workdir)}})


def kernel_manager(kernel_dir: Path, settings: RunSettings) -> Any:
    """A kernel manager for the capped kernel of :mod:`helpers.exercises.kernel`."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager

    spec = kernel_dir / "nst-grade"
    spec.mkdir(parents=True, exist_ok=True)
    write_text(spec / "kernel.json", json.dumps({
        "argv": [sys.executable, "-m", "helpers.exercises.kernel", "--memory-mb",
                 str(settings.memory_mb), "-f", "{connection_file}"],
        "display_name": "nst grading", "language": "python"}))
    km = AsyncKernelManager(kernel_name="nst-grade", kernel_spec_manager=KernelSpecManager(
        kernel_dirs=[str(kernel_dir)]))
    km.client_factory = _client_class()
    return km


def _kernel_pid(km: Any) -> int | None:
    process = getattr(getattr(km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


def run_notebook(nb: Any, workdir: Path, log: Path, settings: RunSettings
                 ) -> tuple[str, list[str]]:
    """Run every cell (errors do not stop it) in a fresh capped kernel with NST_FAST=1 and
    cwd ``workdir``; each code cell gets ``metadata["nst_records"]`` (its check records).
    Return what stopped the notebook ("" when it finished) and notes (a log cut short)."""
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    env = {**os.environ, "NST_FAST": "1", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
           "NST_GRADE_LOG": str(log), "PYTHONPATH": _pythonpath(), TOKEN_ENV: settings.token}
    env.pop("NST_PARTIAL_CREDIT", None)
    km = kernel_manager(log.parent / "kernels", settings)
    client = _notebook_client(nb, km, workdir, settings.timeout)
    deadline, notes, pid = time.monotonic() + settings.timeout, [], None
    try:  # cleanup_kc: the kernel is shut down (its process group killed) however it ends
        with client.setup_kernel(env=env, cwd=str(workdir), cleanup_kc=True,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL):
            pid = _kernel_pid(km)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                client.timeout = max(1, int(deadline - time.monotonic()))
                client.execute_cell(cell, index)
                cell.metadata["nst_records"], cut = read_log(log)
                if cut:
                    notes.append(f"the grade log of cell {index} was over {LOG_BYTES} bytes; "
                                 "only its start was read")
    except CellTimeoutError:
        return f"timed out: the notebook did not finish within {settings.timeout} s", notes
    except DeadKernelError:
        return ("the kernel died (a crash, os._exit, or memory exhausted below the "
                f"{settings.memory_mb} MiB limit)"), notes
    except RuntimeError as exc:  # e.g. the kernel did not start
        return f"could not run the notebook: {str(exc)[:200]}", notes
    finally:
        kill_group(pid)
        kill_leftovers(settings.token)
    return "", notes


def _pythonpath() -> str:
    """PYTHONPATH for the kernel: this checkout's ``helpers`` first."""
    root = str(Path(__file__).resolve().parent.parent.parent)
    rest = os.environ.get("PYTHONPATH", "")
    return os.pathsep.join([root, *([rest] if rest else [])])


def kill_group(pid: int | None) -> None:
    """SIGKILL the process group (the kernel's own session) led by ``pid``."""
    if pid:
        try:
            os.killpg(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            pass


def kill_leftovers(token: str) -> int:
    """SIGKILL every process of this user whose environment carries ``token`` (processes a
    graded notebook started, detached or not); return how many."""
    import psutil

    if not token:
        return 0
    me, killed = os.getpid(), 0
    for _ in range(3):  # a process may fork while the others are killed
        found = 0
        for proc in psutil.process_iter(["pid", "uids"]):
            try:
                if proc.pid == me or proc.info["uids"].real != os.getuid():
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
