"""The resources a grading kernel may use (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`; applied by :mod:`helpers.exercises.kernel` around the world
:mod:`helpers.exercises.jail` builds). ``RLIMIT_AS`` caps each process's address space, but
not memory that no process maps (a ``memfd``'s pages, System V shared memory, message queues
and semaphores) nor the number of processes; this module closes those gaps:

- where a cgroup can be made (cgroup v1 as root, or a delegated cgroup v2 subtree:
  :class:`Group`), each kernel lives in one of its own whose memory limit is its budget
  (every page its processes hold: tmpfs, memfd and shared memory included) and whose
  ``pids.max`` is :func:`processes`; its keeper removes it when the kernel ends;
- always, without privilege, in the kernel's own namespaces before it gives up its
  capabilities (:func:`cap_namespaces`): its IPC namespace's System V limits (at most an
  eighth of its budget) and, since Linux 6.14, its PID namespace's ``pid_max``;
- always (:func:`limit_process`): ``RLIMIT_FSIZE`` (:func:`file_mb`), no core files, 1024
  open files, ``RLIMIT_NPROC`` (binding per kernel in its user namespace since Linux 5.14,
  never for a kernel mapped to root), and a seccomp filter refusing ``memfd_create`` and
  ``memfd_secret`` (and System V IPC where its limits could not be set) with ``ENOSYS``.

Each step returns what it applied, in words, for the instructor
(:func:`helpers.exercises.hiding.kernel_limits`). Loaded from its file, like the jail (no
package is imported before the kernel's world is built).
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import resource
import struct

#: Open files a kernel may hold (the usual default: pipes and sockets hold kernel memory).
OPEN_FILES = 1024
#: The System V IPC limits of a kernel's IPC namespace besides shared memory: 16 message
#: queues (of 16 KiB each, as by default) and 128 semaphore sets of 250 (Linux's old defaults).
_IPC = {"kernel/msgmni": "16", "kernel/msgmnb": "16384", "kernel/msgmax": "8192",
        "kernel/sem": "250 32000 32 128", "kernel/shmmni": "4096",
        "kernel/shm_rmid_forced": "1", "fs/mqueue/queues_max": "16"}
#: What a kernel's cgroup limits, in words.
_CGROUP_SAYS = {"memory": "memory cgroup {version} (--memory-mb for all its processes, tmpfs, "
                          "shared memory and memfd included)",
                "pids": "pids cgroup {version} ({n} processes and threads)"}
#: Process ids below this are not handed out again once a PID namespace's ids wrap.
_RESERVED_PIDS = 300
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
#: Each architecture's audit number and its numbers of memfd_create, memfd_secret, and of
#: shmget, semget, msgget (and ipc: i386) - x32's are x86_64's with bit 30 set.
_X32 = 0x40000000
_SYSCALLS = {
    0xC000003E: ((319, 447, _X32 | 319, _X32 | 447), (29, 64, 68, _X32 | 29, _X32 | 64,
                                                      _X32 | 68)),   # x86_64, x32
    0x40000003: ((356, 447), (395, 393, 399, 117)),                   # i386
    0xC00000B7: ((279, 447), (194, 190, 186)),                       # aarch64
    0x40000028: ((385, 447), (307, 299, 303)),                       # arm (EABI)
}


def processes() -> int:
    """The processes and threads one kernel may have at once: 8 per core, at least 256
    (TensorFlow starts a few threads per core; a notebook a handful of processes)."""
    return max(256, 8 * (os.cpu_count() or 1))


def file_mb(memory_mb: int) -> int:
    """The largest file a kernel may write, MiB: a quarter of its ``memory_mb`` (the size
    of its ``/tmp``), at least 128 (the grader's answer files take up to 64); 0 (no limit)
    without a memory cap."""
    return max(128, memory_mb // 4) if memory_mb > 0 else 0


def shm_mb(memory_mb: int) -> int:
    """The System V shared memory a kernel may hold, MiB: an eighth of ``memory_mb`` (as its
    ``/dev/shm``), at least 16; 1024 without a memory cap."""
    return max(16, memory_mb // 8) if memory_mb > 0 else 1024


def _linux(at_least: tuple[int, int]) -> bool:
    """Whether this Linux is at least ``at_least`` (major, minor)."""
    try:
        found = tuple(int(p) for p in platform.release().split("-")[0].split(".")[:2])
    except ValueError:
        return False
    return found >= at_least


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def cap_namespaces(memory_mb: int) -> tuple[list[str], bool]:
    """In the kernel's new IPC and PID namespaces (their PID 1, capabilities not yet given
    up, ``/proc/sys`` naming its own namespaces): System V shared memory capped at
    :func:`shm_mb`, few message queues and semaphores (:data:`_IPC`), and from Linux 6.14
    (where ``pid_max`` is per PID namespace; never before: it was the machine's)
    :func:`processes` ids after PID 1. What applied, and whether every IPC limit was set
    (a kernel not mapped to root cannot: its IPC namespace's files are root's)."""
    done, page = [], os.sysconf("SC_PAGE_SIZE")
    size = shm_mb(memory_mb) << 20
    ipc = {"kernel/shmmax": str(size), "kernel/shmall": str(size // page), **_IPC}
    try:
        for name, value in ipc.items():
            _write(f"/proc/sys/{name}", value)
        done.append(f"System V IPC capped (shared memory: an eighth of --memory-mb; "
                    f"{_IPC['kernel/msgmni']} message queues, 128 semaphore sets)")
        sysv = True
    except OSError:
        sysv = False
    if _linux((6, 14)) and os.getpid() == 1:
        try:  # ids below 300 are never reused: start above them, allow processes() more
            _write("/proc/sys/kernel/ns_last_pid", str(_RESERVED_PIDS))
            _write("/proc/sys/kernel/pid_max", str(_RESERVED_PIDS + processes()))
            done.append(f"PID namespace: {processes()} processes and threads")
        except OSError:
            pass
    return done, sysv


def limit_process(memory_mb: int, sysv: bool, jailed: bool) -> list[str]:
    """Limits of this process, inherited by every process it starts: file size
    (:func:`file_mb`), no core files, :data:`OPEN_FILES`, in a user namespace of its own
    (``jailed``, Linux 5.14 or later: counted per namespace) :func:`processes`, and the
    seccomp filter (:func:`refuse_calls`: memfd, and System V IPC unless ``sysv``, its
    limits set). What applied."""
    done = []
    if file_mb(memory_mb):
        size = file_mb(memory_mb) << 20
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
        done.append("files of at most a quarter of --memory-mb (128 MiB at least)")
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    files = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))
    done.append(f"{files} open files, no core files")
    if jailed and os.getuid() != 0 and _linux((5, 14)):
        resource.setrlimit(resource.RLIMIT_NPROC, (processes(), processes()))
        done.append(f"RLIMIT_NPROC: {processes()} processes and threads")
    if refuse_calls(sysv):
        done.append("memfd_create refused" + ("" if sysv else ", and System V IPC"))
    return done


def refuse_calls(sysv: bool) -> bool:
    """Install a seccomp filter on this (single-threaded) process and all it starts:
    ``memfd_create`` and ``memfd_secret`` (memory no ``RLIMIT_AS`` counts, in no
    filesystem of a capped size), and unless ``sysv`` System V ``shmget``, ``semget`` and
    ``msgget``, fail with ``ENOSYS`` (as on a kernel without them: libraries fall back).
    Sets no-new-privileges (required). False where the system refuses."""
    code = _filter(sysv)
    filters = ctypes.create_string_buffer(code, len(code))
    program = ctypes.create_string_buffer(
        struct.pack("@HP", len(code) // 8, ctypes.addressof(filters)))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, program, 0, 0) == 0


def _filter(sysv: bool) -> bytes:
    """The classic BPF program of :func:`refuse_calls`: per architecture, the refused call
    numbers return ``ENOSYS``; everything else is allowed."""
    load, jeq, ret = 0x20, 0x15, 0x06  # BPF_LD|W|ABS, BPF_JMP|JEQ|K, BPF_RET|K
    allow, refuse = 0x7FFF0000, 0x00050000 | errno.ENOSYS  # SECCOMP_RET_ALLOW, _ERRNO
    code: list[tuple[int, int | None, int, int]] = []  # jump None: to the refusal
    for arch, (memfd, ipc) in _SYSCALLS.items():
        numbers = memfd + (() if sysv else ipc)
        code += [(load, 0, 0, 4), (jeq, 0, len(numbers) + 2, arch), (load, 0, 0, 0)]
        code += [(jeq, None, 0, number) for number in numbers]
        code.append((ret, 0, 0, allow))
    code += [(ret, 0, 0, allow), (ret, 0, 0, refuse)]
    last = len(code) - 1
    return b"".join(struct.pack("HBBI", op, last - at - 1 if jt is None else jt, jf, k)
                    for at, (op, jt, jf, k) in enumerate(code))


class Group:
    """A kernel's own cgroup in each hierarchy where one can be made (:func:`_places`):
    made by the kernel's process before it enters its namespaces (:meth:`make`), joined by
    the kernel (:meth:`join`), removed by its keeper once it ended (:meth:`remove`); one a
    keeper killed before that left (the grader kills with SIGKILL) is removed by the next
    kernel made there, or by :func:`sweep`."""

    def __init__(self, made: dict[str, list[str]]) -> None:
        self.made = made  # folder -> what it limits, in words

    @classmethod
    def make(cls, memory_mb: int) -> Group:
        """Make the groups, their limits set: memory ``memory_mb`` MiB (no swap; none
        without a cap) and :func:`processes` plus the kernel's first."""
        name = f"nst-kernel-{os.getpid()}-{os.urandom(4).hex()}"
        made: dict[str, list[str]] = {}
        for base, version, controllers in _places():
            _sweep(base)
            folder = os.path.join(base, name)
            wanted = [c for c in controllers if c != "memory" or memory_mb > 0]
            try:
                os.mkdir(folder, 0o755)
            except OSError:
                continue
            try:
                for controller in wanted:
                    _settings(folder, version, controller, memory_mb)
            except OSError:
                _remove(folder)
                continue
            made[folder] = [_CGROUP_SAYS[c].format(version=version, n=processes())
                            for c in wanted]
        return cls(made)

    def join(self) -> list[str]:
        """Move this process (and what it starts later) into the groups; what applied."""
        joined = []
        for folder, labels in self.made.items():
            try:
                _write(os.path.join(folder, "cgroup.procs"), "0")
                joined += labels
            except OSError:
                continue
        return joined

    def remove(self) -> None:
        """Kill what is left in the groups and remove them."""
        for folder in self.made:
            _remove(folder)


def _settings(folder: str, version: str, controller: str, memory_mb: int) -> None:
    """Write ``controller``'s limits into the group ``folder`` (cgroup ``version``)."""
    size = str(memory_mb << 20)
    if controller == "pids":
        _write(os.path.join(folder, "pids.max"), str(processes() + 1))
        return
    required, optional = (("memory.limit_in_bytes", size), [("memory.memsw.limit_in_bytes",
                                                              size)]) if version == "v1" else (
        ("memory.max", size), [("memory.swap.max", "0"), ("memory.oom.group", "1")])
    _write(os.path.join(folder, required[0]), required[1])
    for file, value in optional:
        try:
            _write(os.path.join(folder, file), value)
        except OSError:
            continue


def _places() -> list[tuple[str, str, list[str]]]:
    """Where this process may make a kernel's group: (folder, "v1" or "v2", controllers).
    cgroup v1: its own group in the memory and pids hierarchies, when writable; cgroup v2
    (for controllers v1 does not hold): the nearest group at or above its own, inside the
    same mount, that is writable and hands both memory and pids down to its children (a
    delegated subtree; a group holding processes cannot)."""
    try:
        own = _own_groups()
        with open("/proc/self/mountinfo", encoding="utf-8") as table:
            mounts = [line.split() for line in table]
    except (OSError, ValueError):
        return []
    places, wanted = [], ["memory", "pids"]
    for fields in mounts:
        kind, options = fields[-3], fields[-1].split(",")
        for controller in [c for c in wanted if kind == "cgroup" and c in options]:
            folder = _inside(fields[4], fields[3], own.get(controller))
            if folder and os.access(folder, os.W_OK):
                places.append((folder, "v1", [controller]))
                wanted.remove(controller)
    places = [(f, v, [c for g, _, cs in places if g == f for c in cs])
              for f, v in dict((f, v) for f, v, _ in places).items()]
    for fields in mounts:
        if fields[-3] == "cgroup2" and wanted:
            folder = _delegated(fields[4], _inside(fields[4], fields[3], own.get("(v2)")), wanted)
            if folder:
                places.append((folder, "v2", wanted))
                wanted = []
    return places


def _own_groups() -> dict[str, str]:
    """This process's cgroup in each hierarchy, by controller ("(v2)": cgroup v2's)."""
    own = {}
    with open("/proc/self/cgroup", encoding="utf-8") as table:
        for line in table:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(",") if controllers else ["(v2)"]:
                own[controller] = path
    return own


def _inside(mountpoint: str, root: str, path: str | None) -> str | None:
    """The folder of the cgroup ``path`` in a hierarchy mounted at ``mountpoint`` (showing
    its ``root``); None when it does not show it."""
    if path is None or not (path + "/").startswith(root.rstrip("/") + "/"):
        return None
    return os.path.join(mountpoint, path[len(root.rstrip("/")):].lstrip("/"))


def _delegated(mountpoint: str, folder: str | None, controllers: list[str]) -> str | None:
    """The nearest cgroup v2 folder at or above ``folder`` (inside ``mountpoint``) that hands
    ``controllers`` down and whose processes this process may move (writable)."""
    while folder and (folder + "/").startswith(mountpoint.rstrip("/") + "/"):
        try:
            with open(os.path.join(folder, "cgroup.subtree_control"), encoding="utf-8") as f:
                handed = f.read().split()
        except OSError:
            handed = []
        if set(controllers) <= set(handed) and os.access(folder, os.W_OK) and os.access(
                os.path.join(folder, "cgroup.procs"), os.W_OK):
            return folder
        folder = None if folder.rstrip("/") == mountpoint.rstrip("/") else os.path.dirname(
            folder.rstrip("/"))
    return None


def sweep() -> None:
    """Remove the kernels' groups whose keeper is gone (killed before it could: the grader
    ends kernels with SIGKILL), in every place this process would make one."""
    for base, _, _ in _places():
        _sweep(base)


def _sweep(base: str) -> None:
    """Remove the kernels' groups in ``base`` whose maker (a keeper) is gone."""
    try:
        entries = [e.name for e in os.scandir(base) if e.name.startswith("nst-kernel-")]
    except OSError:
        return
    for name in entries:
        try:
            os.kill(int(name.split("-")[2]), 0)
        except ProcessLookupError:
            _remove(os.path.join(base, name), wait=0)
        except (OSError, ValueError, IndexError):
            continue


def _remove(folder: str, wait: float = 2.0) -> None:
    """Kill every process left in the group ``folder``, then remove it (retried for up to
    ``wait`` seconds while its processes end)."""
    import signal
    import time

    deadline = time.monotonic() + wait
    while True:
        try:
            with open(os.path.join(folder, "cgroup.procs"), encoding="utf-8") as procs:
                for pid in procs.read().split():
                    os.kill(int(pid), signal.SIGKILL)
            os.rmdir(folder)
            return
        except FileNotFoundError:
            return
        except OSError:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


#: The largest output message a kernel sends (the grader receives at most 16 MiB: a larger
#: message cuts the kernel's output channel, and every later cell waits for its output).
MESSAGE_BYTES = 8 * 2**20
_OUTPUTS = ("display_data", "execute_result", "update_display_data", "stream")
_CUT = 20_000  # characters of an error's value and of each traceback line (the grader's)


def cap_messages(limit: int = MESSAGE_BYTES) -> None:
    """In the kernel (after ipykernel is imported): an output message (a figure, a display,
    printed text) over ``limit`` bytes is sent as a one-line note instead, an error's (and
    its reply's) with its value and traceback cut."""
    from jupyter_client.session import Session

    serialize = Session.serialize

    def capped(self: Session, msg: dict, ident: object = None) -> list:
        frames = serialize(self, msg, ident)
        size = sum(len(frame) for frame in frames)
        kind = msg.get("msg_type")
        if size <= limit or kind not in (*_OUTPUTS, "error", "execute_reply"):
            return frames
        note = (f"[an output of {size / 2**20:.0f} MiB was not sent: the grader takes at "
                f"most {limit >> 20} MiB]\n")
        content = dict(msg.get("content") or {})
        if kind in ("error", "execute_reply"):  # an error's value and traceback, cut
            content.update(evalue=str(content.get("evalue", ""))[:_CUT], traceback=[
                str(line)[:_CUT] for line in list(content.get("traceback") or [])[-20:]])
        else:
            content.update({"text": note} if kind == "stream" else {
                "data": {"text/plain": note}, "metadata": {}})
        return serialize(self, {**msg, "content": content}, ident)

    Session.serialize = capped  # type: ignore[method-assign]
