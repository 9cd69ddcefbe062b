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


def read_bytes(path: PathLike, limit: int, what: str = "input") -> bytes:
    """At most ``limit`` bytes of the regular file ``path`` (checked by :func:`check_input`),
    read in bounded chunks: a file that grows or lies about its size cannot exhaust memory."""
    path = check_input(path, what)
    out = bytearray()
    try:
        with open(path, "rb") as f:
            while len(out) < limit:
                chunk = f.read(min(1 << 20, limit - len(out)))
                if not chunk:
                    break
                out += chunk
    except OSError as exc:
        raise StyleTransferError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    return bytes(out)


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
    old one's permissions, or the usual ones (0o666 less the umask). A target that is a folder,
    a pipe or a device is refused (renaming over ``/dev/null`` would replace the device)::

        with atomic_write("out.png") as tmp:
            Image.fromarray(img).save(tmp)
    """
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
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        _commit(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise StyleTransferError(f"cannot write {path}: {exc.strerror or exc}; "
                                 "the previous file (if any) is kept") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
            with open(tmp, "rb+") as f:  # is replaced
                os.fsync(f.fileno())
        with held_signals() as arrived:  # the renames happen together, or none of them
            stack.close()
    if arrived:
        raise_for(arrived[0])


def _commit(tmp: Path, path: Path) -> None:
    """Flush ``tmp`` to disk, give it ``path``'s permissions and rename it over ``path``."""
    with open(tmp, "rb+") as f:  # on disk before the rename, so a crash cannot leave
        os.fsync(f.fileno())      # the new name pointing at an empty file
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK
    os.chmod(tmp, mode)  # mkstemp makes it 0o600, readable by its owner only
    os.replace(tmp, path)


def write_bytes(path: PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (:func:`atomic_write`); return the path."""
    with atomic_write(path) as tmp:
        tmp.write_bytes(data)
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
