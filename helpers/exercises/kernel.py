"""The kernel the grader runs each submitted notebook in (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): an ordinary IPython kernel whose address space is capped
first (``resource.setrlimit(RLIMIT_AS)``), so a notebook that allocates without end gets a
``MemoryError`` instead of taking the machine down, and whose printed output is capped
(:data:`OUTPUT_BYTES` per stream; the rest is dropped with one note), so a cell printing
hundreds of MB sends the grader almost nothing.

Told ``--must-hide`` (the grader found that hiding works here), before anything else (while
the process still has one thread) the kernel moves into namespaces of its own and a root
built from an allow-list (:func:`isolate`, :mod:`helpers.exercises.jail`): read-only system,
Python and ``helpers``, its working folder and a private ``/tmp`` writable, nothing else (no
instructor's folder, submissions, results, grades, other checkouts or connection keys), a
network and IPC namespace of its own (the grader reaches it over ``ipc://`` socket files in
its own folder; no other kernel can), and every process it starts dies with it, as it dies
with its keeper, and the keeper with the grading process. A kernel that cannot do so exits
at once with :data:`HIDE_FAILED`, never running a cell unhidden. Where the system refuses user
namespaces the grader probes first (``--probe``, :func:`probe`), says so on stderr and in
summary.html, and kernels run without ``--must-hide``, seeing everything. See the README.

``python helpers/exercises/kernel.py --memory-mb 8192 [--hide DIR]... [--must-hide]
--private DIR -f DIR/CONNECTION_FILE`` (run as a script: no package, no thread loaded first).
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
    """Cap this process's virtual memory at ``megabytes`` (its children inherit the cap), the
    hard limit too: a cell cannot raise it."""
    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


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


#: The exit status of a kernel told to hide (``--must-hide``) that could not.
HIDE_FAILED = 97
_PR_SET_PDEATHSIG = 1


def isolate(hidden: list[str], private: str, memory_mb: int = 0) -> list[str]:
    """Run the rest of this kernel in a world of its own (:mod:`helpers.exercises.jail`)
    and within its limits (:mod:`helpers.exercises.limits`): this process makes the
    kernel's cgroups (where it can), then stays outside as the kernel's keeper (it waits,
    passes on its exit status, kills it when ended or when its own parent is gone, and
    removes its cgroups: :func:`_keep`); its child, PID 1 of a new PID namespace, joins the
    cgroups, caps its namespaces, builds its root, limits itself, tells the keeper so (a
    byte on a pipe) and returns here what limits it. Exits with :data:`HIDE_FAILED` when
    any step of hiding fails."""
    import select
    import signal

    jail, limits = _load("jail"), _load("limits")
    parent = os.getppid()
    group = limits.Group.make(memory_mb)
    if not jail.enter():
        group.remove()
        os._exit(HIDE_FAILED)
    alive, keeper_end = os.pipe()
    built, built_end = os.pipe()
    child = os.fork()
    if child:
        os.close(alive)
        os.close(built_end)
        _keep(child, built, parent, group.remove)
    os.close(keeper_end)
    os.close(built)
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if select.select([alive], [], [], 0)[0]:  # the keeper died before that: so do we
            os._exit(HIDE_FAILED)
        os.close(alive)
        os.setsid()  # its own process group: kill(0, ...) reaches no process outside
        applied = group.join()
        capped, sysv = limits.cap_namespaces(memory_mb)
        jail.build(os.getcwd(), private, hidden, memory_mb)
        applied += capped + limits.limit_process(memory_mb, sysv, jailed=True)
        os.write(built_end, b"1")  # before any cell: a later exit is no failure to hide
        os.close(built_end)
    except BaseException:  # noqa: BLE001 - nothing may run half-hidden
        os._exit(HIDE_FAILED)
    return applied


def unhidden_limits(memory_mb: int) -> list[str]:
    """The limits of a kernel that cannot hide (the grader said so): its cgroups where they
    can be made (removed by a later kernel's, once this one is gone), its process limits
    (:func:`helpers.exercises.limits.limit_process`, System V IPC refused: the machine's
    own is all there is); what applied."""
    limits = _load("limits")
    return limits.Group.make(memory_mb).join() + limits.limit_process(memory_mb, False, False)


def _load(name: str) -> Any:
    """``helpers.exercises.<name>`` (jail, limits, refused), loaded from its file (no package
    is imported before the kernel's world is built: ``helpers`` sets environment variables
    when imported)."""
    import importlib.util

    module = f"helpers.exercises.{name}"
    if module not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module, os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py"))
        assert spec is not None and spec.loader is not None
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        sys.modules[module] = loaded
    return sys.modules[module]


def _keep(child: int, built: int, parent: int, cleanup: Any) -> None:
    """The keeper: wait for the kernel ``child``, passing on SIGINT (an interrupt) and
    killing it on SIGTERM or SIGHUP or once this process's ``parent`` is gone (the grader
    killed: no kernel left running), call ``cleanup()`` (its cgroups removed), then exit as
    it did, but with :data:`HIDE_FAILED` only when it never reported its world built on the
    pipe ``built`` (a cell's ``os._exit(97)`` is an ordinary death); never returns."""
    import select
    import signal

    def passing(signum: int, frame: Any) -> None:
        try:
            os.kill(child, signal.SIGINT if signum == signal.SIGINT else signal.SIGKILL)
        except ProcessLookupError:
            pass

    code = 1
    try:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, passing)
        code = os.waitstatus_to_exitcode(_wait(child, parent, passing))
        code = code if code >= 0 else 128 - code
        if code == HIDE_FAILED and select.select([built], [], [], 0)[0] and os.read(built, 1):
            code = 1
    except BaseException:  # noqa: BLE001 - the keeper never runs anything else
        passing(signal.SIGKILL, None)
    finally:
        try:
            cleanup()
        finally:
            os._exit(code)


def _wait(child: int, parent: int, kill: Any) -> int:
    """The wait status of ``child``, calling ``kill(SIGKILL, None)`` every half second
    once this process's ``parent`` is gone (it was adopted)."""
    import select
    import signal

    try:
        ended: int | None = os.pidfd_open(child)
    except (AttributeError, OSError):  # before Linux 5.3: polled
        ended = None
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            return status
        if ended is None:
            select.select([], [], [], 0.5)
        else:
            select.select([ended], [], [], 0.5)
        if os.getppid() != parent:
            kill(signal.SIGKILL, None)


#: What a template kernel imports before it forks kernels (no module of the project: nothing
#: that reads the kernel's own environment when imported).
PRELOAD = ("numpy", "tensorflow", "ipykernel.kernelapp")
_PR_SET_DUMPABLE = 4


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
            middle = os.getpid()
            pid = os.fork()
            if pid == 0:
                os.close(write)
                _adopted(middle)
                _become_kernel(request, fd)
            os.write(write, str(pid).encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        answer = pipe.read()
    os.waitpid(middle, 0)
    return int(answer or b"0")


def _adopted(middle: int) -> None:
    """Wait (5 s at most) until the ``middle`` process has exited and this kernel has its
    lasting parent (the grading process, a subreaper), whose end its keeper watches."""
    import time

    deadline = time.monotonic() + 5
    while os.getppid() == middle and time.monotonic() < deadline:
        time.sleep(0.002)


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
    """Whether this system lets a kernel hide what it must (0) or not (1): a kernel's world
    built as :func:`isolate` does, the ``folder`` (holding a file) absent from it, ``/``
    and Python's prefix read-only, this process PID 1 of its own namespace. Prints one
    JSON line: the limits a kernel gets here (``limits``, in words), or what the system
    refused (``refused``, in words: "" when hiding failed for another reason)."""
    import json

    for name in ("work", "private"):
        os.makedirs(os.path.join(folder, name), exist_ok=True)
    os.chdir(os.path.join(folder, "work"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            os.close(read)
            applied = isolate([folder], os.path.join(folder, "private"), PROBE_MB)
            status = 0 if _hidden_here(folder) else 1
            os.write(write, json.dumps({"limits": applied}).encode())
        finally:
            os._exit(status)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read()
    _, status = os.waitpid(pid, 0)
    hidden = os.waitstatus_to_exitcode(status) == 0
    print(said.decode() if hidden else json.dumps({"refused": _load("refused").refused()}),
          flush=True)
    return 0 if hidden else 1


#: The memory cap of the kernel :func:`probe` builds (its limits are described, not used).
PROBE_MB = 1024


def _hidden_here(folder: str) -> bool:
    """Whether this process sees what a jailed kernel must: not ``folder``, no write to
    ``/`` or Python's prefix, the working folder writable, PID 1."""
    import tempfile

    for place in ("/", sys.prefix):
        try:
            os.close(os.open(os.path.join(place, "nst-probe"), os.O_WRONLY | os.O_CREAT))
            return False
        except OSError:
            pass
    tempfile.TemporaryFile(dir=os.getcwd()).close()  # its own folder: writable (or OSError)
    return os.getpid() == 1 and not os.path.exists(os.path.join(folder, "seen"))


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
    private, must, memory_mb = "", False, 0
    while argv and argv[0] in ("--memory-mb", "--hide", "--private", "--must-hide"):
        if argv[0] == "--must-hide":
            must, argv = True, argv[1:]
            continue
        if argv[0] == "--memory-mb":
            memory_mb = int(argv[1])
            limit_memory(memory_mb)
        elif argv[0] == "--hide":
            hidden.append(argv[1])
        else:
            private = argv[1]
        argv = argv[2:]
    if must:  # else the grader found that nothing can be hidden here, and said so
        isolate(hidden, private, memory_mb)
    else:
        unhidden_limits(memory_mb)
    os.environ["NST_HIDDEN"] = "yes" if must else "no"
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)
    _load("limits").cap_messages()
    cap_stream(sys.stdout)
    cap_stream(sys.stderr)
    app.start()


if __name__ == "__main__":
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # run as a script: this folder must not shadow other modules
    main(sys.argv[1:])
