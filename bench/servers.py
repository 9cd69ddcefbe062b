"""Start a local Jupyter server (JupyterLab or Voila), wait until it listens, stop it after.

Shared by tests/test_browser.py and bench/bench_notebooks.py --lab (bench/ is not a package:
the test loads this file by path, the bench imports it as a sibling module).
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator


class ServerError(RuntimeError):
    """The server exited, or did not listen in time (the message ends with its log)."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(server: subprocess.Popen, port: int, log: Path, seconds: float = 60) -> None:
    """Wait until ``server`` listens on ``port``; raise ServerError (with the end of its log)
    if it exits first or never does."""
    deadline = time.monotonic() + seconds
    while True:
        if server.poll() is not None:
            raise ServerError(f"the server exited:\n{log.read_text()[-3000:]}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if time.monotonic() > deadline:
            raise ServerError(f"the server did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def serving(command: list[str], cwd: Path, env: dict, port: int, log: Path,
            seconds: float = 60) -> Iterator[None]:
    """Run the server ``command`` (output to ``log``) until it listens on ``port``; stop it
    on the way out."""
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=cwd, env=env, stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        wait_for_port(server, port, log, seconds)
        yield
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def lab_command(root: Path, port: int, token: str, workspaces: Path) -> list[str]:
    """`jupyter lab` as `make lab` starts it, but on 127.0.0.1:``port`` with ``token``, serving
    ``root``, no browser, and its workspace state kept in ``workspaces`` (so that no earlier
    layout of the learner's own JupyterLab is restored)."""
    return [sys.executable, "-m", "jupyter", "lab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
            f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={workspaces}",
            *(["--allow-root"] if os.geteuid() == 0 else [])]
