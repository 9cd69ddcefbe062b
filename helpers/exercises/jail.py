"""The world a grading kernel sees (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`; run inside the kernel by :mod:`helpers.exercises.kernel`):
built from an allow-list, not by covering what it must not see.

:func:`enter` moves the kernel's process into a user, mount, PID, network and IPC namespace
of its own; its first child is PID 1 of the new PID namespace (when it dies, every process
it started dies with it, however detached) and cannot name, signal or trace any process
outside, reach another kernel's sockets (the grader talks to it over ``ipc://`` socket
files in its own folder), share System V memory with one, or make a user namespace.
:func:`build` then gives that child a new root: an empty tmpfs holding read-only bind
mounts of only what a kernel needs (:func:`allowed`: the system's programs and libraries,
the few files of ``/etc`` they read (:data:`ETC`; its ``passwd`` and ``group`` name only
itself), Python's prefixes, the ``helpers`` package and the project's ``data/``), a fresh
``/proc`` of its own PID namespace, of ``/sys`` only its CPUs and memory nodes (:data:`SYS`:
no device, no network interface), a minimal ``/dev``, its working folder (read-write), a
private ``/tmp`` (its ``HOME``, where the grader's cached Keras weights are shown read-only)
and ``/dev/shm``, both capped by its memory budget, and its own folder (its connection
file and socket files).
Everything else is simply absent: the project's notebooks and git history, other
checkouts, the instructor's folder, the submissions, the grader's results and grades, the
other kernels' connection keys. Then it pivots into that root and gives up every capability:
no ``umount``, no read-write remount from a cell (in a user namespace a cell makes itself,
every mount is a locked copy).
Linux only (``ctypes`` system calls); :func:`enter` returns False where the system refuses.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat
import sys
from pathlib import Path

_CLONE_NEWUSER, _CLONE_NEWNS, _CLONE_NEWPID = 0x10000000, 0x00020000, 0x20000000
_CLONE_NEWNET, _CLONE_NEWIPC = 0x40000000, 0x08000000
_MS_RDONLY, _MS_NOSUID, _MS_NODEV, _MS_NOEXEC = 1, 2, 4, 8
_MS_REMOUNT, _MS_BIND, _MS_REC, _MS_PRIVATE = 32, 4096, 1 << 14, 1 << 18
_MS_NOATIME, _MS_NODIRATIME, _MS_RELATIME = 1024, 2048, 1 << 21
_MNT_DETACH = 2
_PR_CAPBSET_DROP, _PR_SET_NO_NEW_PRIVS, _CAPABILITY_VERSION_3 = 24, 38, 0x20080522
_SYS_PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "arm64": 41}
#: statvfs flags a read-only remount keeps (a mount made by a more privileged namespace has
#: them locked: leaving one out is refused), each with its mount flag.
_KEEP = ((os.ST_NOSUID, _MS_NOSUID), (os.ST_NODEV, _MS_NODEV), (os.ST_NOEXEC, _MS_NOEXEC),
         (os.ST_NOATIME, _MS_NOATIME), (os.ST_NODIRATIME, _MS_NODIRATIME),
         (os.ST_RELATIME, _MS_RELATIME))
_DEVICES = ("null", "zero", "full", "random", "urandom")
#: What a kernel sees of ``/etc`` (loader, time zone, name service, certificates, fonts...):
#: no ``shadow``, no keys; its ``passwd`` and ``group`` name only itself (:func:`_accounts`).
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "timezone", "nsswitch.conf",
       "hosts", "host.conf", "gai.conf", "protocols", "services", "mime.types", "locale.alias",
       "alternatives", "fonts", "ssl/certs", "ssl/openssl.cnf", "ca-certificates",
       "pki/tls/certs", "pki/ca-trust/extracted", "os-release", "matplotlibrc", "terminfo",
       "python3", f"python{sys.version_info[0]}.{sys.version_info[1]}")
#: What a kernel sees of ``/sys`` (CPUs, memory nodes): no device, no network interface.
SYS = ("devices/system/cpu", "devices/system/node", "kernel/mm/transparent_hugepage")
#: Environment variables naming folders of the grader's (a kernel uses its own HOME's).
_ELSEWHERE = ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
              "XDG_RUNTIME_DIR", "JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR",
              "JUPYTER_CONFIG_DIR", "IPYTHONDIR", "KERAS_HOME", "MPLCONFIGDIR")


class JailError(OSError):
    """The kernel's world could not be built (then it must not run a notebook)."""


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int,
           data: str | None = None) -> None:
    enc = [None if s is None else s.encode() for s in (source, target, fstype, data)]
    if _libc().mount(enc[0], enc[1], enc[2], flags, enc[3]) != 0:
        raise JailError(ctypes.get_errno(), f"mount {source or fstype} on {target} failed")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _unshare(flags: int) -> bool:
    """Enter new namespaces (``flags``, a user namespace among them) mapped to this user."""
    uid, gid = os.getuid(), os.getgid()
    if _libc().unshare(flags) != 0:
        return False
    try:
        _write("/proc/self/setgroups", "deny")
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    except OSError:
        return False
    return True


def enter() -> bool:
    """Move this (single-threaded) process into a user, mount, PID, network and IPC
    namespace of its own (:func:`_apart`), every mount private to it; its next child is
    PID 1 of the new PID namespace. False when the system refuses (nothing is hidden then)."""
    if not sys.platform.startswith("linux"):
        return False
    if not _unshare(_CLONE_NEWUSER | _CLONE_NEWNS | _CLONE_NEWPID | _CLONE_NEWNET
                    | _CLONE_NEWIPC) or not _apart():
        return False
    return _libc().mount(b"none", b"/", None, _MS_REC | _MS_PRIVATE, None) == 0


def _apart() -> bool:
    """What the network, IPC and user namespaces just entered need: no further user
    namespace may be made inside this one (``max_user_namespaces`` 0, per user namespace:
    a cell cannot use up the grader's own limit). The network namespace's loopback stays
    down: no interface at all, so no TCP or UDP socket can hold buffers (memory no cgroup
    counts; a review held 3.7 GB under a 3000 MiB cap through the loopback); the grader
    talks to the kernel over ``ipc://`` socket files. The IPC namespace holds the System V
    shared memory and message queues a cell makes; they die with the kernel. False when the
    limit cannot be set."""
    try:
        _write("/proc/sys/user/max_user_namespaces", "0")
    except OSError:
        return False
    return True


def allowed() -> list[str]:
    """What a kernel may read: the system's folders, Python's prefixes (the interpreter and
    its packages) and the other folders on ``sys.path`` (a ``.pth`` file's), the ``helpers``
    package and the project's ``data/`` (the bundled pictures). Never the project's root or
    a folder holding it: not its notebooks, nor its git folder."""
    package = Path(__file__).resolve().parent.parent
    prefixes = [sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix]
    places = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
              *[f"/etc/{name}" for name in ETC], *prefixes, str(package),
              str(package.parent / "data")]
    inside = [Path(p).resolve() for p in prefixes]
    for entry in sys.path:
        path = Path(entry or ".").resolve()
        if path.is_dir() and not (package.parent.is_relative_to(path) and not any(
                path.is_relative_to(p) for p in inside)):
            places.append(os.path.abspath(entry))  # both it and where it leads (below)
    found: list[str] = []
    for place in places:
        for path in (os.path.abspath(place), os.path.realpath(place)):
            if os.path.lexists(path) and path not in found and not any(  # nor twice
                    Path(path).is_relative_to(f) for f in found if not os.path.islink(f)):
                found.append(path)
    return found


def _mountpoints(under: str) -> list[str]:
    """The mount points at or under ``under`` (this process's mount table)."""
    points = []
    with open("/proc/self/mountinfo", encoding="utf-8") as table:
        for line in table:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)),
                           line.split(" ")[4])
            if point == under or point.startswith(under.rstrip("/") + "/"):
                points.append(point)
    return points


def _read_only(target: str, under: bool = True) -> None:
    """Remount ``target`` (and every mount under it, when ``under``) read-only, keeping the
    flags a more privileged namespace locked."""
    for point in _mountpoints(target) if under else [target]:
        try:
            have = os.statvfs(point).f_flag
        except OSError:
            continue
        keep = sum(flag for st, flag in _KEEP if have & st)
        _mount(None, point, None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | keep)


def _place(root: str, path: str, source: str | None = None, write: bool = False) -> None:
    """Show ``path`` (from ``source``, default itself) at the same path under ``root``:
    a symbolic link as the same link, a folder or file as a bind mount, read-only unless
    ``write``."""
    source = source or path
    target = root + path
    if os.path.islink(source):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.lexists(target):
            os.symlink(os.readlink(source), target)
        return
    if os.path.isdir(source):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            os.close(os.open(target, os.O_WRONLY | os.O_CREAT, 0o600))
    _mount(source, target, None, _MS_BIND | _MS_REC)
    if not write:
        _read_only(target)


def build(work: str, private: str, hidden: list[str], memory_mb: int = 0) -> None:
    """Give this process (PID 1 of :func:`enter`'s namespaces) its new root (see the module's
    docstring), mounted first on a folder in ``private`` (the kernel's own folder, holding
    its connection file and socket files): ``work`` read-write at its own path, ``private``
    too (:func:`_connection_folder`), every ``hidden`` folder that lies inside an allowed
    one covered, ``/tmp`` and ``/dev/shm`` capped by ``memory_mb`` (:func:`tmpfs_mb`); then
    pivot into it, lock it and move to ``work``. Raises :class:`JailError` when any step
    fails."""
    fonts, accounts = _font_cache(), _accounts()
    models = os.path.join(os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras"),
                          "models")
    _close_folders()
    root = os.path.join(private, ".root")
    os.makedirs(root, exist_ok=True)
    _mount("tmpfs", root, "tmpfs", _MS_NOSUID | _MS_NODEV, "size=1m,mode=0755")
    places = allowed()
    for path in places:
        _place(root, path)
    _special(root, *tmpfs_mb(memory_mb))
    _sys(root)
    for name, text in accounts.items():
        os.makedirs(root + "/etc", exist_ok=True)
        _create(f"{root}/etc/{name}", text)
    _place(root, work, write=True)
    _cover(root, hidden, [*places, work], work)
    home = "/tmp/home"
    os.makedirs(root + home + "/.cache/matplotlib")
    if os.path.isdir(models):  # cached network weights, where Keras looks in its HOME
        _place(root, home + "/.keras/models", source=models)
    _connection_folder(root, private)
    _pivot(root)
    _mount(None, "/", None, _MS_REMOUNT | _MS_BIND | _MS_RDONLY | _MS_NOSUID | _MS_NODEV)
    _drop_capabilities()  # nothing above may be undone from a cell
    os.chdir(work)
    for name, text in fonts.items():  # matplotlib's font list: no rebuild in each kernel
        _create(f"{home}/.cache/matplotlib/{name}", text)
    for name in _ELSEWHERE:  # folders of the grader's, absent here: their defaults in HOME
        os.environ.pop(name, None)
    os.environ.update(HOME=home, TMPDIR="/tmp", MPLCONFIGDIR=home + "/.cache/matplotlib")


def _connection_folder(root: str, private: str) -> None:
    """Show the kernel's own folder ``private`` (its connection file; with the ``ipc``
    transport its socket files, the grader's only way in: the network namespace has no
    other) read-write at its own path: not recursively (the new root is mounted in it)."""
    os.makedirs(root + private, exist_ok=True)
    _mount(private, root + private, None, _MS_BIND)


def tmpfs_mb(memory_mb: int) -> tuple[int, int]:
    """The sizes in MiB of a kernel's private ``/tmp`` and ``/dev/shm`` (memory they hold is
    not counted by its ``RLIMIT_AS``): a quarter and an eighth of its ``memory_mb`` (at least
    64 and 16), 1024 and 1024 when no cap is given."""
    if memory_mb <= 0:
        return 1024, 1024
    return max(64, memory_mb // 4), max(16, memory_mb // 8)


def _special(root: str, tmp_mb: int = 1024, shm_mb: int = 1024) -> None:
    """A private ``/tmp`` of ``tmp_mb`` MiB (and /dev/shm of ``shm_mb``; few files each), a
    fresh ``/proc`` (this PID namespace's only), a ``/dev`` of a few devices, the usual links."""
    for folder in ("/tmp", "/proc", "/dev"):
        os.makedirs(root + folder, exist_ok=True)
    _mount("tmpfs", root + "/tmp", "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={tmp_mb}m,nr_inodes=16384,mode=1777")
    _mount("proc", root + "/proc", "proc", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
    _mount("tmpfs", root + "/dev", "tmpfs", _MS_NOSUID | _MS_NOEXEC, "size=64k,mode=0755")
    for name in _DEVICES:
        if os.path.exists(f"/dev/{name}"):
            _create(f"{root}/dev/{name}", b"")
            _mount(f"/dev/{name}", f"{root}/dev/{name}", None, _MS_BIND)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                         ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{root}/dev/{name}")
    os.makedirs(root + "/dev/shm")
    _read_only(root + "/dev", under=False)
    _mount("tmpfs", root + "/dev/shm", "tmpfs", _MS_NOSUID | _MS_NODEV,
           f"size={shm_mb}m,nr_inodes=4096,mode=1777")


def _sys(root: str) -> None:
    """``/sys`` showing only :data:`SYS`, from a sysfs of the kernel's own network namespace
    (or the machine's, where mounting one is refused), read-only."""
    stage, source = root + "/.sys", "/sys"
    os.makedirs(stage)
    try:
        _mount("sysfs", stage, "sysfs", _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC)
        source = stage
    except JailError:
        pass
    try:
        for part in SYS:
            if os.path.isdir(f"{source}/{part}"):
                os.makedirs(f"{root}/sys/{part}")
                _mount(f"{source}/{part}", f"{root}/sys/{part}", None, _MS_BIND | _MS_REC)
                _read_only(f"{root}/sys/{part}")
    finally:
        if source == stage:
            _libc().umount2(stage.encode(), _MNT_DETACH)
        os.rmdir(stage)


def _accounts() -> dict[str, bytes]:
    """The kernel's ``/etc/passwd`` and ``/etc/group``: its own user and group (HOME its
    ``/tmp/home``) and ``nobody``, nothing of the machine's other accounts."""
    import grp
    import pwd

    uid, gid = os.getuid(), os.getgid()
    user = next((p.pw_name for p in pwd.getpwall() if p.pw_uid == uid), "student")
    group = next((g.gr_name for g in grp.getgrall() if g.gr_gid == gid), "student")
    users = {uid: f"{user}:x:{uid}:{gid}:{user}:/tmp/home:/bin/sh\n",
             65534: "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"}
    groups = {gid: f"{group}:x:{gid}:\n", 65534: "nogroup:x:65534:\n"}
    return {"passwd": "".join(users.values()).encode(),
            "group": "".join(groups.values()).encode()}


def _cover(root: str, hidden: list[str], places: list[str], work: str) -> None:
    """Cover with an empty read-only tmpfs each ``hidden`` folder that lies inside one of
    ``places`` (the rest are absent anyway) but holds no ``work``."""
    for folder in sorted({os.path.realpath(f) for f in hidden}):
        inside = any(folder.startswith(p.rstrip("/") + "/") for p in places) and not (
            work.startswith(folder.rstrip("/") + "/"))
        if inside and os.path.isdir(root + folder) and not os.path.islink(root + folder):
            _mount("tmpfs", root + folder, "tmpfs",
                   _MS_RDONLY | _MS_NOSUID | _MS_NODEV | _MS_NOEXEC, "size=4k")


def _pivot(root: str) -> None:
    """Make ``root`` this process's ``/``; the old root is detached (gone from its view)."""
    import platform

    number = _SYS_PIVOT_ROOT.get(platform.machine())
    os.chdir(root)
    if number is None or _libc().syscall(number, b".", b".") != 0:
        raise JailError(ctypes.get_errno(), "pivot_root failed")
    if _libc().umount2(b".", _MNT_DETACH) != 0:
        raise JailError(ctypes.get_errno(), "could not detach the old root")
    os.chdir("/")


def _drop_capabilities() -> None:
    """Give up every capability (in this user namespace, and after any ``exec``): a cell
    can neither unmount nor remount what was built; in a user namespace it makes itself,
    every mount is a locked copy."""
    libc = _libc()
    for capability in range(64):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0 and \
                ctypes.get_errno() != errno.EINVAL:
            raise JailError(ctypes.get_errno(), "could not drop a capability")
    header = (ctypes.c_uint32 * 2)(_CAPABILITY_VERSION_3, 0)
    data = (ctypes.c_uint32 * 6)()
    if libc.capset(header, data) != 0 or libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise JailError(ctypes.get_errno(), "could not drop the capabilities")


def _create(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def _close_folders() -> None:
    """Close every open folder descriptor (one would lead back to the old root)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if fd > 2 and stat.S_ISDIR(os.fstat(fd).st_mode):
                os.close(fd)
        except OSError:
            continue


def _font_cache() -> dict[str, bytes]:
    """matplotlib's font list files of this user (copied into the kernel's own HOME)."""
    folder = os.environ.get("MPLCONFIGDIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "matplotlib")
    found = {}
    try:
        for entry in os.scandir(folder):
            if entry.name.startswith("fontlist-") and entry.is_file(follow_symlinks=False) \
                    and entry.stat().st_size < 2**22:
                found[entry.name] = Path(entry.path).read_bytes()
    except OSError:
        pass
    return found
