"""What this system refuses of the namespaces a grading kernel hides in (notebooks/exercises,
graded by :mod:`helpers.exercises.grading`; asked by :func:`helpers.exercises.kernel.probe`
when :func:`helpers.exercises.jail.enter` fails), in words for the grader's warning: user
namespaces (and why: none left, or a container's profile), or the mount, PID, network or
IPC namespace, the limit on nested user namespaces, private mounts. Loaded from its file,
like the jail (Linux only, ``ctypes`` system calls).
"""

from __future__ import annotations

import ctypes
import errno
import os

_CLONE_NEWUSER, _CLONE_NEWNS, _CLONE_NEWPID = 0x10000000, 0x00020000, 0x20000000
_CLONE_NEWNET, _CLONE_NEWIPC = 0x40000000, 0x08000000
_MS_REC, _MS_PRIVATE = 1 << 14, 1 << 18
#: Each namespace a kernel enters (with a user namespace of its own), in words, with its
#: flag and the name of the limit on it (``/proc/sys/user/max_NAME_namespaces``).
_KINDS = (("user namespaces", 0, "user"), ("mount namespaces", _CLONE_NEWNS, "mnt"),
          ("PID namespaces", _CLONE_NEWPID, "pid"), ("network namespaces", _CLONE_NEWNET, "net"),
          ("IPC namespaces", _CLONE_NEWIPC, "ipc"))


def refused() -> str:
    """What this system refuses of what a kernel's namespaces need, in words (tried step by
    step in a child process): "user namespaces (…)", "network namespaces (…)", …; ""
    when it refuses nothing of it."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(read)
            os.write(write, _first_refused().encode())
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        said = pipe.read().decode(errors="replace")
    os.waitpid(pid, 0)
    return said


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _attempt(flags: int) -> int:
    """0 when a new process may enter new namespaces ``flags`` (one made to try), else the
    error number it was refused with."""
    pid = os.fork()
    if pid == 0:
        code = 0
        try:
            if ctypes.CDLL(None, use_errno=True).unshare(flags) != 0:
                code = ctypes.get_errno() or 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _first_refused() -> str:
    """The first step of entering a kernel's namespaces this (forked, expendable) process
    is refused, in words (each namespace tried alone with a user namespace, in a process of
    its own, then all of them here as a kernel enters them); "" when none is."""
    for what, flag, limit in _KINDS:
        code = _attempt(_CLONE_NEWUSER | flag)
        if code:
            why = {errno.ENOSPC: f"max_{limit}_namespaces is 0 or used up",
                   errno.EPERM: "not permitted, e.g. by a container's seccomp profile or "
                                "kernel.unprivileged_userns_clone=0"}.get(code)
            return f"{what} ({why or os.strerror(code)})"
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET
                    | _CLONE_NEWIPC) != 0:
        return f"these namespaces together ({os.strerror(ctypes.get_errno())})"
    uid, gid = os.getuid(), os.getgid()
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError as exc:
        return f"user namespaces (mapping this user: {exc.strerror})"
    try:
        _write("/proc/sys/user/max_user_namespaces", "0")
    except OSError as exc:
        return f"a limit on nested user namespaces ({exc.strerror})"
    if libc.mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) != 0:
        return f"private mounts ({os.strerror(ctypes.get_errno())})"
    return ""
