"""The kernel the grader runs each submitted notebook in (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): an ordinary IPython kernel whose address space is capped
first (``resource.setrlimit(RLIMIT_AS)``), so a notebook that allocates without end gets a
``MemoryError`` instead of taking the machine down, and whose printed output is capped
(:data:`OUTPUT_BYTES` per stream; the rest is dropped with one note), so a cell printing
hundreds of MB sends the grader almost nothing.

Before anything else (while the process still has one thread), the kernel moves into a user
and mount namespace of its own where the folders the grader names with ``--hide`` (the
instructor's notebooks, the submissions, the grader's own files) are covered by an empty
read-only tmpfs: a student's notebook cannot read the solutions or another student's work,
nor touch the grader's answers (:func:`hide`). Where the system refuses user namespaces the
folders stay visible: the grader probes first (``--probe``, :func:`probe`) and says so on
stderr and in summary.html. Not a sandbox otherwise: see the README.

``python helpers/exercises/kernel.py --memory-mb 8192 [--hide DIR]... -f CONNECTION_FILE``
(run as a script, so no package and no thread is loaded first).
"""

from __future__ import annotations

import ctypes
import os
import resource
import sys
from typing import Any

#: Printed output (stdout, stderr) a graded notebook may send, per stream.
OUTPUT_BYTES = 2**20


def limit_memory(megabytes: int) -> None:
    """Cap this process's virtual memory at ``megabytes`` (its children inherit the cap)."""
    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def cap_stream(stream: Any, limit: int = OUTPUT_BYTES) -> None:
    """Let ``stream`` (the kernel's stdout or stderr) pass at most ``limit`` characters;
    after that one note, then nothing."""
    write, used = stream.write, [0]

    def capped(text: str) -> int:
        room = limit - used[0]
        if room > 0:
            write(text[:room])
            if len(text) > room:
                write(f"\n[output cut at {limit} characters by the grader]\n")
        used[0] += len(text)
        return len(text)

    stream.write = capped


_CLONE_NEWUSER, _CLONE_NEWNS = 0x10000000, 0x00020000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REC, _MS_PRIVATE = 1 << 14, 1 << 18


def _proc_write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def hide(folders: list[str], private: str = "", keep: str = "") -> bool:
    """Cover ``folders`` with an empty read-only tmpfs in a user and mount namespace of this
    process's own (this process and its children only; the working folder stays usable
    through relative paths), and ``private`` with a writable one holding only the file
    ``keep`` (its connection file: no other kernel's key is readable). False when the system
    refuses (then nothing is hidden)."""
    folders = [f for f in folders if os.path.isdir(f)]
    if not folders and not private:
        return True
    data = b""
    if keep:
        with open(keep, "rb") as f:
            data = f.read()
    if not _unshare():
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    flags = _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC
    covered: list[str] = []
    for folder in sorted(folders):  # a folder before those inside it (covered with it)
        if not any(folder.startswith(c.rstrip("/") + "/") for c in covered) and libc.mount(
                b"tmpfs", folder.encode(), b"tmpfs", flags, b"size=4k") == 0:
            covered.append(folder)
    hidden = all(any(f == c or f.startswith(c.rstrip("/") + "/") for c in covered)
                 for f in folders)
    if private and libc.mount(b"tmpfs", private.encode(), b"tmpfs", flags & ~_MS_RDONLY,
                              b"size=64k,mode=0700") == 0 and keep:
        fd = os.open(keep, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.close(fd)
    return hidden


def _unshare() -> bool:
    """Enter a user and mount namespace of this process's own, mapped to the same user,
    every mount private to it."""
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) != 0:
        return False
    try:
        _proc_write("/proc/self/setgroups", "deny")
        _proc_write("/proc/self/uid_map", f"{uid} {uid} 1")
        _proc_write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        return False
    return libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0


#: What a template kernel imports before it forks kernels (no module of the project: nothing
#: that reads the kernel's own environment when imported).
PRELOAD = ("numpy", "tensorflow", "ipykernel.kernelapp")
_PR_SET_PDEATHSIG, _PR_SET_DUMPABLE = 1, 4


def template(fd: int) -> None:
    """Serve as a template kernel (``--template FD``): import :data:`PRELOAD` once, then for
    each request read from the socket ``fd`` (a JSON line: argv, env, cwd) start a fresh
    kernel as a copy of this process (fork, twice: the kernel is adopted by the grading
    process, a child subreaper) and answer its process id. Each kernel runs :func:`main`
    with the request's arguments in a session of its own; no kernel is ever reused. The
    template is not dumpable: a kernel cannot trace it or read its memory."""
    import importlib
    import json
    import signal
    import socket

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0)  # no kernel may trace it (or read its memory)
    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    sock = socket.socket(fileno=fd)
    lines = sock.makefile("rb")
    sock.sendall(b"ready\n")
    for line in lines:
        request = json.loads(line)
        sock.sendall(f"{_fork_kernel(request, fd)}\n".encode())


def _fork_kernel(request: dict, fd: int) -> int:
    """Fork a kernel for ``request`` through a short-lived middle process; its pid."""
    read, write = os.pipe()
    middle = os.fork()
    if middle == 0:
        try:
            os.close(read)
            pid = os.fork()
            if pid == 0:
                os.close(write)
                _become_kernel(request, fd)
            os.write(write, str(pid).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(middle, 0)
    return int(answer or b"0")


def _become_kernel(request: dict, fd: int) -> None:
    """In the forked kernel: a session, working folder, environment and standard streams of
    its own, then :func:`main`; never returns."""
    status = 1
    try:
        os.close(fd)
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_DUMPABLE, 1, 0, 0, 0)  # its own /proc
        os.setsid()
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        _fresh_state()
        null = os.open(os.devnull, os.O_RDWR)
        for stream in (0, 1, 2):
            os.dup2(null, stream)
        main(request["argv"])
        status = 0
    finally:
        os._exit(status)


def _fresh_state() -> None:
    """What a kernel started from scratch would have that a fork of the template does not:
    the temporary folder found anew from this kernel's environment (TensorFlow's import
    cached the template's; it may lie in a covered folder) and NumPy's global random state
    drawn afresh (a fork copies it: every kernel of a template would draw the same)."""
    import tempfile

    tempfile.tempdir = None
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def probe(folder: str) -> int:
    """Whether this system lets a kernel hide folders: cover ``folder`` (holding a file) as
    :func:`hide` does, then look; 0 when it came out empty, 1 when it did not."""
    if not hide([folder]):
        return 1
    try:
        return 0 if not os.listdir(folder) else 1
    except OSError:
        return 1


def main(argv: list[str]) -> None:
    """Set the limit given by ``--memory-mb N``, hide every ``--hide DIR``, then start
    ipykernel with the rest, its stdout and stderr capped (:func:`cap_stream`).
    ``--probe DIR`` only says (exit status 0) whether hiding works here."""
    if len(argv) == 2 and argv[0] == "--probe":
        raise SystemExit(probe(argv[1]))
    if len(argv) == 2 and argv[0] == "--template":
        template(int(argv[1]))
        return
    hidden: list[str] = []
    private = ""
    while len(argv) >= 2 and argv[0] in ("--memory-mb", "--hide", "--private"):
        if argv[0] == "--memory-mb":
            limit_memory(int(argv[1]))
        elif argv[0] == "--hide":
            hidden.append(argv[1])
        else:
            private = argv[1]
        argv = argv[2:]
    keep = argv[argv.index("-f") + 1] if "-f" in argv[:-1] and private else ""
    os.environ["NST_HIDDEN"] = "yes" if hide(hidden, private, keep) else "no"
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)
    cap_stream(sys.stdout)
    cap_stream(sys.stderr)
    app.start()


if __name__ == "__main__":
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # run as a script: this folder must not shadow other modules
    main(sys.argv[1:])
