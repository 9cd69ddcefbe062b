"""Students' exercise notebooks (notebooks/exercises/ex*.ipynb) graded in a process apart
from the grader's, for :mod:`helpers.exercises.batch`: ``python -P helpers/exercises/worker.py``
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

What a notebook writes cannot fill the grader's disk: first thing (:func:`own_mounts`, while
this process is still single-threaded: it runs as a script, ``python -P worker.py``, and
imports NumPy and the judge only later), the worker enters a user and mount namespace of its
own, mapping its own user and group to themselves (every file it makes is the grader's
user's), and each notebook then runs in a fresh tmpfs mounted for it alone
(:func:`notebook_folder`: :func:`folder_mb` MiB, :data:`FOLDER_FILES` files), holding the
kernel's working folder and its connection folder; the kernel's own namespaces nest inside
(it sees the tmpfs, cannot unmount it). The results go to the task's folder, on the disk.
Where the system refuses user namespaces the worker runs as before, its folders uncapped,
and says so on its stderr (the grader warns that nothing can be hidden there).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

# light imports only here (no NumPy: its threads would forbid own_mounts' unshare)
from helpers.errors import StyleTransferError
from helpers.files import read_bytes, write_text
from helpers.signals import exit_status, stop_on_signals

if TYPE_CHECKING:
    from helpers.exercises.runner import RunSettings

TASK_BYTES = 2**20
#: When set (by bench/bench_grading.py), a folder where each notebook's seconds per step go
#: (``TIMES_ENV/<token>-<pid>-<ns>-N.json``, one per notebook: kernel start, cells,
#: answers, judging, the worker's start).
TIMES_ENV = "NST_GRADE_TIMES"
_PR_SET_CHILD_SUBREAPER, _PR_SET_DUMPABLE = 36, 4
_CLONE_NEWUSER, _CLONE_NEWNS = 0x10000000, 0x00020000
_MS_NOSUID, _MS_NODEV, _MS_REC, _MS_PRIVATE, _MNT_DETACH = 2, 4, 1 << 14, 1 << 18, 2
#: The files (inodes) one notebook's folder may hold: the kernel's and the grader's few
#: dozen and a student's saved pictures, not a million empty files.
FOLDER_FILES = 8192


def folder_mb(memory_mb: int) -> int:
    """The size in MiB of one notebook's folder (its kernel's working folder and connection
    folder; memory the tmpfs holds is not counted by the kernel's ``RLIMIT_AS``): a quarter
    of the kernel's ``memory_mb``, at least 256 (room for the hidden inputs and the answers,
    each read back up to 64 MiB), 1024 when no cap is given."""
    return max(256, memory_mb // 4) if memory_mb > 0 else 1024


def own_mounts() -> bool:
    """Enter a user and mount namespace of this process's own (Linux; the process must still
    be single-threaded), its user and group mapped to themselves and every mount private to
    it: what it mounts (:func:`notebook_folder`) only it and its kernels see. False where
    the system refuses (nothing is capped then); StyleTransferError when the namespace was
    entered but this user could not be mapped in it (no file could be made)."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS) != 0:
        return False
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):
        try:
            fd = os.open(f"/proc/self/{name}", os.O_WRONLY)
            try:
                os.write(fd, text.encode())
            finally:
                os.close(fd)
        except OSError as exc:
            raise StyleTransferError("the grading process could not map its user in its own "
                                     f"namespace ({name}: {exc.strerror})") from None
    return libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0


@contextlib.contextmanager
def notebook_folder(parent: Path, settings: RunSettings, capped: bool) -> Iterator[Path]:
    """A fresh folder in ``parent`` for one notebook's run (its kernel's working folder and
    connection folder are made in it), removed afterwards. With ``capped`` (this process has
    mounts of its own: :func:`own_mounts`) it is a tmpfs of :func:`folder_mb` MiB and
    :data:`FOLDER_FILES` files (``settings.folder_mb`` says so), seen by this process and
    its kernels only, unmounted afterwards; else a folder on the disk, as before. It is the
    kernels' ``TMPDIR`` meanwhile (a hidden kernel has its own ``/tmp``)."""
    place = _short(parent)
    folder = Path(tempfile.mkdtemp(dir=place, prefix="nb-" if place == parent else
                                   f"nb-{parent.parent.parent.name[-8:]}-"))
    megabytes, libc = folder_mb(settings.memory_mb), ctypes.CDLL(None, use_errno=True)
    options = f"size={megabytes}m,nr_inodes={FOLDER_FILES},mode=0700".encode()
    mounted = capped and libc.mount(b"tmpfs", bytes(folder), b"tmpfs",
                                    _MS_NOSUID | _MS_NODEV, options) == 0
    settings.folder_mb = megabytes if mounted else 0
    previous, os.environ["TMPDIR"] = os.environ.get("TMPDIR"), str(folder)  # a kernel's
    try:
        yield folder
    finally:
        settings.folder_mb = 0
        os.environ.pop("TMPDIR", None)
        os.environ.update({} if previous is None else {"TMPDIR": previous})
        if mounted:  # detached: whatever still holds it, its memory goes with the last user
            libc.umount2(bytes(folder), _MNT_DETACH)
        shutil.rmtree(folder, ignore_errors=True)


#: Bytes a kernel's socket file's path takes below its notebook's folder (``/k`` and 12
#: characters, ``/kernel-ipc-N``; runner.kernel_manager), and the most a path may hold.
_BELOW, _SOCKET_PATH = 27, 107


def _short(parent: Path) -> Path:
    """Where a notebook's folder (``nb-`` and 8 characters) is made: ``parent``, unless that
    would make the kernel's socket paths longer than a Unix socket allows (a deep TMPDIR),
    then the system's ``/tmp`` (on the tmpfs mounted there for it, as anywhere)."""
    if len(os.fsencode(parent)) + 12 + _BELOW <= _SOCKET_PATH or not os.access("/tmp", os.W_OK):
        return parent
    return Path("/tmp")


def sweep_short(run: Path) -> None:
    """Remove the empty notebook folders made in ``/tmp`` (:func:`_short`) for the run whose
    folder is ``run`` that its workers, killed, could not remove."""
    for folder in Path("/tmp").glob(f"nb-{run.name[-8:]}-*"):
        with contextlib.suppress(OSError):
            folder.rmdir()


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
        print("usage: python -P helpers/exercises/worker.py  (tasks on standard input)",
              file=sys.stderr)
        return 2
    state: dict = {}
    try:
        state["capped"] = own_mounts()  # first: the process is single-threaded yet
        if not state["capped"]:
            print("note: this system refuses user namespaces: the notebooks' folders are not "
                  "size-capped", file=sys.stderr, flush=True)
        become_subreaper()
        not_dumpable()  # after own_mounts: /proc/self/uid_map is then no longer ours
        die_with_parent()
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
    from helpers.exercises.forking import Template
    from helpers.exercises.judge import start_run
    from helpers.exercises.runner import RunSettings, kernel_env

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
            with notebook_folder(Path(task["tmp"]), settings, state.get("capped", False)) as tmp:
                rows = _grade(item, tmp, settings, times)
                # nothing the notebook started may outlive it and touch its result
                kill_descendants(keep=settings.template.proc.pid)
            write_text(folder / f"result-{index}.json", json.dumps([asdict(r) for r in rows]))
            _write_times(settings.token, index, item, times)
    finally:
        kill_descendants(keep=settings.template.proc.pid)


def _grade(item: dict, tmp: Path, settings: RunSettings, times: dict[str, float]) -> list:
    """The rows of one notebook of the task (``times``: the seconds of its steps)."""
    from helpers.exercises.custom import register
    from helpers.exercises.grading import grade_notebook, read_notebook

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


if __name__ == "__main__":  # python -P helpers/exercises/worker.py (-P: no script folder)
    raise SystemExit(main(sys.argv[1:]))
