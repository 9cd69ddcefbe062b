"""Reading and writing files safely, for every command and the app (no notebook: the library,
the command line, the sweeps, the grader and the tuning app all go through it).

Three promises, kept here once:

- **an input is never overwritten**: :func:`check_output` refuses, before any work starts, an
  output path that resolves to a file the run reads (by resolved path or by
  :func:`os.path.samefile`: symlinks, ``./`` and hard links included);
- **a file is either the old one or the complete new one**: :func:`atomic_write` (and
  :func:`write_text`, :func:`write_bytes`, :func:`save_figure` on top of it) writes a
  temporary file beside the target and renames it over the target; a write that fails (a
  full disk) leaves the previous file and raises one :class:`~helpers.errors.StyleTransferError`
  line saying so;
- **nothing hangs on a read**: :func:`check_input` refuses pipes, devices and sockets (reading
  a FIFO waits forever) and :func:`read_bytes` reads at most a given number of bytes.

No maintained library does this small job (``atomicwrites`` was archived by its author in
2022), so it is written out here.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Iterator

from helpers.errors import StyleTransferError
from helpers.signals import held_signals, raise_for

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask (there is no call that only reads it)

#: The longest file name most file systems take (bytes).
NAME_MAX = 255
#: What :func:`atomic_write` adds to a name for its temporary file (``.NAME.12345678.tmp``).
TEMP_EXTRA = len(".") + len(".12345678.tmp")

PathLike = str | os.PathLike


def _describe(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _mode(path: Path, what: str) -> int | None:
    """The ``st_mode`` of ``path`` (symlinks followed), ``None`` where nothing is there (a
    dangling link: the rename replaces the link), or one line where it cannot be told (a
    symlink loop, a name too long, a folder that cannot be searched)."""
    try:
        return path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):  # its folder's checks say the rest
        return None
    except OSError as exc:
        why = "is a symlink loop" if exc.errno == errno.ELOOP else f": {exc.strerror or exc}"
        raise StyleTransferError(f"{what} {path} {why}; choose another name") from None


def check_name(path: PathLike, what: str = "the file") -> Path:
    """``path`` as a Path if it is not empty and every part of it is a name the file system
    takes (with room for the temporary name :func:`atomic_write` uses), else a
    StyleTransferError saying which part is too long."""
    text = os.fspath(path)
    if not str(text).strip():
        raise StyleTransferError(f"{what} is empty; give a file name")
    if "\0" in str(text):
        raise StyleTransferError(f"{what} holds a NUL character; give a plain file name")
    path = Path(text)
    for part in path.parts:
        if len(part.encode("utf-8", "surrogateescape")) + TEMP_EXTRA > NAME_MAX:
            raise StyleTransferError(
                f"{what}: the name {part[:40]}... is too long ({len(part)} characters; at most "
                f"{NAME_MAX - TEMP_EXTRA}); choose a shorter name")
    return path


def check_input(path: PathLike, what: str = "input") -> Path:
    """``path`` if it names an existing regular file, else one line saying what it is
    (missing, a folder, a pipe, a device): reading a pipe would wait forever."""
    path = check_name(path, what)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StyleTransferError(f"{what} not found: {path} (check the path and spelling)"
                                 ) from None
    except OSError as exc:
        raise StyleTransferError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        raise StyleTransferError(f"{what} {path} is {_describe(mode)}, not a regular file; "
                                 "give a file")
    return path


def read_bytes(path: PathLike, limit: int, what: str = "input", *,
               follow_links: bool = True) -> bytes:
    """At most ``limit`` bytes of the regular file ``path``, read in bounded chunks: a file
    that grows or lies about its size cannot exhaust memory. What is checked is the file
    opened (``fstat``), not the name before it: a pipe swapped in after a check cannot make
    the read wait forever. ``follow_links=False`` is for a folder another process can write
    (a grading kernel's): a symbolic link at ``path`` is refused, never followed."""
    path = check_input(path, what) if follow_links else check_name(path, what)
    try:
        fd = _open_regular(path, follow_links, what)
    except FileNotFoundError:
        raise StyleTransferError(f"{what} not found: {path} (check the path and spelling)"
                                 ) from None
    except OSError as exc:
        why = ("is a symbolic link; it is not followed here" if exc.errno == errno.ELOOP
               else f"cannot be read: {exc.strerror or exc}")
        raise StyleTransferError(f"{what} {path} {why}") from None
    out = bytearray()
    try:
        with os.fdopen(fd, "rb") as f:
            while len(out) < limit:
                chunk = f.read(min(1 << 20, limit - len(out)))
                if not chunk:
                    break
                out += chunk
    except OSError as exc:
        raise StyleTransferError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return bytes(out)


def _open_regular(path: Path, follow_links: bool, what: str) -> int:
    """A read-only descriptor of the regular file ``path`` (opened without waiting on a
    pipe; ``follow_links=False``: the last part of the name relative to its folder's
    descriptor, never through a link: OSError ELOOP), else one line saying what it is."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow_links else os.O_NOFOLLOW)
    if follow_links:
        fd = os.open(path, flags)
    else:
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fd = os.open(path.name, flags, dir_fd=folder)
        finally:
            os.close(folder)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise StyleTransferError(f"{what} {path} is {_describe(mode)}, not a regular file; "
                                 "give a file")
    os.set_blocking(fd, True)
    return fd


def same_file(a: PathLike, b: PathLike) -> bool:
    """True when ``a`` and ``b`` are one file: the same resolved path (symlinks, ``..`` and
    ``./`` followed; the file need not exist yet) or the same inode (hard links)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def check_output(path: PathLike, inputs: Iterable[PathLike] = (), what: str = "-o") -> Path:
    """``path`` checked before any work starts, for a file the run will write: a usable name
    (:func:`check_name`), not a folder, pipe or device, not any of ``inputs`` (every file the
    run reads, including the ones it finds on its own), in a folder that can be written
    (created if missing). The name is returned as given, never changed."""
    trailing = os.fspath(path).endswith(("/", os.sep))  # Path() drops the slash
    path = check_name(path, what)
    mode = _mode(path, what)
    if trailing or (mode is not None and stat.S_ISDIR(mode)):
        raise StyleTransferError(f"{what} {path} is a folder; give a file name in it")
    if mode is not None and not stat.S_ISREG(mode):
        raise StyleTransferError(f"{what} {path} is {_describe(mode)}, not a file the "
                                 "project can replace; choose another name")
    for source in inputs:
        if source is not None and same_file(path, source):
            raise StyleTransferError(f"{what} {path} would overwrite the input {source}; "
                                     "choose another name")
    check_folder(path.parent, what)
    return path


def check_folder(folder: PathLike, what: str = "output folder") -> Path:
    """``folder`` created if missing and checked writable (a temporary file is made in it and
    removed), or one line saying why it cannot be written."""
    folder = Path(folder) if os.fspath(folder) else Path(".")
    check_name(folder, what)
    existing = next((p for p in (folder, *folder.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise StyleTransferError(f"cannot write into {folder}: {existing} is a file, not a "
                                 "folder; choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StyleTransferError(f"cannot write into {folder} ({what}): {exc.strerror or exc}"
                                 "; choose another folder") from None
    return folder


@contextlib.contextmanager
def atomic_write(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path`` in one step.

    The temporary file sits in ``path``'s folder (so the rename never crosses file
    systems), has a unique name (``tempfile.mkstemp``: two writers never share it) and keeps
    ``path``'s suffix (so writers that choose a format by suffix, such as Pillow or
    ``np.savez``, still work). If the ``with`` body raises, the temporary file is removed and
    ``path`` is left as it was; an ``OSError`` (a full disk, a folder gone) becomes one
    StyleTransferError line. A kill at any moment leaves either the old file or the new one at
    ``path`` (at worst a stray ``.<name>.*.tmp<suffix>`` file beside it). The new file gets the
    old one's read/write/execute permissions (never a setuid, setgid or sticky bit), or the
    usual ones (0o666 less the umask), set on the file opened, never through a link put in
    the temporary file's place. A target that is a folder, a pipe or a device is refused
    (renaming over ``/dev/null`` would replace the device)::

        with atomic_write("out.png") as tmp:
            Image.fromarray(img).save(tmp)

    The body writes by name; for a folder another process can write (a grading kernel's),
    use :func:`write_into`, which never reopens a name.
    """
    with _atomic(path) as (tmp, _):
        yield tmp


@contextlib.contextmanager
def _atomic(path: PathLike) -> Iterator[tuple[Path, int]]:
    """:func:`atomic_write`'s work: the temporary path and its open descriptor (write
    through it to be safe from a link swapped in for the name)."""
    path = check_name(path, "the file to write")
    mode = _mode(path, "cannot write")
    if mode is not None and not stat.S_ISREG(mode):
        raise StyleTransferError(f"cannot write {path}: it is {_describe(mode)}; choose "
                                 "another name")
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                    suffix=f".tmp{path.suffix}")
    except OSError as exc:
        raise StyleTransferError(f"cannot write {path}: {exc.strerror or exc}") from None
    tmp = Path(name)
    try:
        yield tmp, fd
        _commit(tmp, path, mode)
    except OSError as exc:
        tmp.unlink(missing_ok=True)  # a link put there: the link goes, never its target
        raise StyleTransferError(f"cannot write {path}: {exc.strerror or exc}; "
                                 "the previous file (if any) is kept") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_together(*paths: PathLike) -> Iterator[list[Path]]:
    """Temporary paths for files that belong together (an image and its JSON, a checkpoint
    and its picture), each written through :func:`atomic_write`: all are flushed to disk
    before the first replaces its target, so a full disk leaves every previous file, and one
    StyleTransferError line says so."""
    with contextlib.ExitStack() as stack:
        tmps = [stack.enter_context(atomic_write(path)) for path in paths]
        yield tmps
        for tmp in tmps:  # a full disk shows here (atomic_write says it), before any file
            fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)  # is replaced
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        with held_signals() as arrived:  # the renames happen together, or none of them
            stack.close()
    if arrived:
        raise_for(arrived[0])


def _commit(tmp: Path, path: Path, mode: int | None) -> None:
    """Flush ``tmp`` to disk, give it ``path``'s permissions (``mode``, its ``st_mode`` or
    None) less any setuid, setgid or sticky bit, and rename it over ``path``. ``tmp`` is
    opened without following a link and must be a regular file with one name: a link or a
    hard link put in its place is refused (nothing is written or changed through it)."""
    fd = os.open(tmp, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1:
            raise OSError(errno.EPERM, "its temporary file was replaced while it was written")
        os.fsync(fd)  # on disk before the rename: a crash cannot leave an empty new file
        os.fchmod(fd, (mode & 0o777) if mode is not None else 0o666 & ~_UMASK)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_into(folder: PathLike, name: str, data: bytes, mode: int = 0o644) -> Path:
    """Write ``data`` as ``name`` in ``folder`` atomically, for a folder another, untrusted
    process can write (a grading kernel's working folder): the folder is opened without
    following a link (a folder swapped for one is refused), then every step goes through
    the folder's descriptor and the new file's own (``O_CREAT | O_EXCL | O_NOFOLLOW``, write,
    fsync and ``fchmod`` to ``mode``, then a rename within the folder), so no link or file
    put there is followed, reopened or given its permissions. One StyleTransferError line
    when it cannot be done (the previous file is kept); returns ``folder / name``."""
    if not name or "/" in name or name in (".", "..") or "\0" in name:
        raise StyleTransferError(f"cannot write {name!r}: give a plain file name")
    where = Path(folder) / name
    try:  # not through a link: a folder swapped for one is refused
        dir_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        why = ("the folder is a symbolic link" if exc.errno in (errno.ELOOP, errno.ENOTDIR)
               and os.path.islink(folder) else exc.strerror or str(exc))
        raise StyleTransferError(f"cannot write {where}: {why}") from None
    tmp = f".{name[:NAME_MAX - TEMP_EXTRA]}.{secrets.token_hex(4)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dir_fd)
        try:
            _write_all(fd, data)
            os.fsync(fd)
            os.fchmod(fd, mode & 0o777)
            if not os.path.samestat(os.fstat(fd), os.stat(tmp, dir_fd=dir_fd,
                                                          follow_symlinks=False)):
                raise OSError(errno.EPERM, "its temporary file was replaced while it was "
                                           "written")
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):  # a name, never what a link there points to
            os.unlink(tmp, dir_fd=dir_fd)
        raise StyleTransferError(f"cannot write {where}: {exc.strerror or exc}; the previous "
                                 "file (if any) is kept") from None
    finally:
        os.close(dir_fd)
    return where


def _write_all(fd: int, data: bytes) -> None:
    """Write every byte of ``data`` to the descriptor ``fd``."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`); return the path."""
    with _atomic(path) as (_, fd):
        _write_all(fd, data)  # through the descriptor: a link put at the name is not followed
    return Path(path)


def write_text(path: PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically (:func:`atomic_write`); return the path."""
    return write_bytes(path, text.encode("utf-8"))


def save_figure(fig: Any, path: PathLike, **kwargs: Any) -> Path:
    """Save a matplotlib figure to ``path`` atomically (format from the suffix)."""
    path = Path(path)
    with atomic_write(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", **kwargs)
    return path
