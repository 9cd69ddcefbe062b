"""Fresh grading kernels without paying TensorFlow's import each time (notebooks/exercises,
graded by :mod:`helpers.exercises.grading`): a template process
(``kernel.py --template FD``, :func:`helpers.exercises.kernel.template`) imports NumPy,
TensorFlow and ipykernel once, ahead of the notebooks, then forks a new kernel for every
notebook. Each notebook still gets a kernel of its own that no other notebook ever ran in:
a copy of the template, which never runs a cell; it applies its memory cap and hides the
folders (:func:`helpers.exercises.kernel.main`) as a kernel started from scratch does.

The template talks to the grading process through a socket pair only (no path a kernel
could reach), dies with it (``PR_SET_PDEATHSIG``), and carries no grading token (the
leftovers of a notebook are killed by token and by process tree, never the template). Each
kernel is forked through a middle process that exits at once, so the grading process (a
child subreaper: :func:`helpers.exercises.worker.become_subreaper`) adopts it and can wait
for it, signal its session and kill it as jupyter_client does a kernel it started.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

from helpers.exercises.kernel import HIDE_FAILED

Leftovers = Callable[[dict], Any]  # kills the processes carrying the token of an environment

#: Seconds the template may take to import (before its first kernel), and to fork a kernel
#: (a template that does not answer within them is ended and replaced: never 120 s lost).
READY_SECONDS, FORK_SECONDS = 120, 10


class Forked:
    """A forked kernel as jupyter_client's provisioner sees a ``Popen``: the grading process
    adopted it, so it can wait for it."""

    def __init__(self, pid: int) -> None:
        self.pid, self.returncode = pid, None
        self.stdin = self.stdout = self.stderr = None

    def poll(self) -> int | None:
        """Its exit status, or None while it runs."""
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:  # not ours (no subreaper): alive while it exists
                if not _exists(self.pid):
                    self.returncode = -signal.SIGKILL
                return self.returncode
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for it to end (polling), at most ``timeout`` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(str(self.pid), timeout or 0)
            time.sleep(0.05)
        return int(self.returncode)

    def send_signal(self, signum: int) -> None:
        """Signal the kernel."""
        if self.poll() is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        """SIGKILL the kernel."""
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM the kernel."""
        self.send_signal(signal.SIGTERM)


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Template:
    """The template process of one grading process: started at once (its imports overlap
    with other work), asked for a kernel per notebook (:meth:`fork`)."""

    def __init__(self, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair()
        kernel = Path(__file__).with_name("kernel.py")
        self.proc = subprocess.Popen(
            [sys.executable, str(kernel), "--template", str(theirs.fileno())],
            pass_fds=[theirs.fileno()], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        theirs.close()
        self.sock, self.lock, self.ready = ours, threading.Lock(), False
        self.env = env  # its token: every kernel it forks shows it
        self.lines = ours.makefile("rb")

    def fork(self, argv: list[str], env: dict[str, str], cwd: str,
             leftovers: Leftovers | None = None) -> int | None:
        """A new kernel running ``kernel.py ARGV`` (its pid), or None when the template is
        gone or does not answer (then it is ended, with any kernel it forked for the
        request, found by ``leftovers``; the caller starts the kernel from scratch)."""
        with self.lock:
            pid = 0
            try:
                if not self.ready and self.alive():
                    self.sock.settimeout(READY_SECONDS)
                    self.ready = self.lines.readline().strip() == b"ready"
                if self.ready and self.alive():
                    self.sock.settimeout(FORK_SECONDS)
                    request = {"argv": argv, "env": env, "cwd": cwd}
                    self.sock.sendall(json.dumps(request).encode() + b"\n")
                    pid = int(self.lines.readline().strip() or b"0")
            except (OSError, ValueError):  # a timeout too (stopped, or too slow)
                pid = 0
            if not pid:
                self._end([env, self.env], leftovers)
        return pid or None

    def _end(self, envs: list[dict], leftovers: Leftovers | None) -> None:
        """End a template that did not answer, and any kernel it forked for the request
        (``leftovers`` of each of ``envs``: its kernels show the template's token, their
        requests the run's): it would hold the ports of the kernel started from scratch
        instead."""
        self.ready = False
        self.proc.kill()
        self.proc.wait()
        for env in envs if leftovers else []:
            leftovers(env)

    def alive(self) -> bool:
        """Whether the template still runs."""
        return self.proc.poll() is None

    def close(self) -> None:
        """End the template (its kernels are ended by their own runs)."""
        self.sock.close()
        self.proc.kill()
        self.proc.wait()


def manager_class(template: Template | None, leftovers: Leftovers | None = None) -> type:
    """An AsyncKernelManager whose kernels are forked by ``template`` (jupyter_client's own
    launch when there is none or it is gone; ``leftovers`` as :meth:`Template.fork`). Its
    ``hide_failed`` says whether its kernel ended with
    :data:`helpers.exercises.kernel.HIDE_FAILED` (told to hide, it could not)."""
    from jupyter_client import AsyncKernelManager

    class ForkingKernelManager(AsyncKernelManager):
        process: Any = None

        @property
        def hide_failed(self) -> bool:
            return getattr(self.process, "returncode", None) == HIDE_FAILED

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            script = str(Path(__file__).with_name("kernel.py"))
            pid = None
            if template is not None and kernel_cmd[1:2] == [script]:
                pid = template.fork(kernel_cmd[2:], dict(kw.get("env") or os.environ),
                                    str(kw.get("cwd") or os.getcwd()), leftovers)
            provisioner: Any = self.provisioner
            if pid is None:
                await super()._async_launch_kernel(kernel_cmd, **kw)
                self.process = provisioner.process
                return
            self.process = Forked(pid)
            provisioner.process, provisioner.pid, provisioner.pgid = self.process, pid, pid
            provisioner.cwd = kw.get("cwd")
            self._reconcile_connection_info(provisioner.connection_info)

    return ForkingKernelManager
