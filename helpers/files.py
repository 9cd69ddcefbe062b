"""Safe file writes: a file is either the old one or the complete new one, never half-written
(no notebook: the library and the command line save through it).

No maintained library does this small job (``atomicwrites`` was archived by its author in
2022), so it is written out here: write to a temporary file in the target's folder, then
rename it over the target with :func:`os.replace`, which is atomic on POSIX and Windows
within one file system.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

_UMASK = os.umask(0o022)
os.umask(_UMASK)  # read the process umask (there is no call that only reads it)


@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces ``path`` in one step.

    The temporary file sits in ``path``'s folder (so the rename never crosses file
    systems), has a unique name (``tempfile.mkstemp``: two writers never share it) and keeps
    ``path``'s suffix (so writers that choose a format by suffix, such as Pillow or
    ``np.savez``, still work). If the ``with`` body raises, the temporary file is removed and
    ``path`` is left as it was. A kill at any moment leaves either the old file or the new
    one at ``path`` (at worst a stray ``.<name>.*.tmp<suffix>`` file beside it). The new file
    gets the old one's permissions, or the usual ones (0o666 less the umask)::

        with atomic_write("out.png") as tmp:
            Image.fromarray(img).save(tmp)
    """
    path = Path(path)
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.",
                                suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # on disk before the rename, so a crash cannot leave
            os.fsync(f.fileno())      # the new name pointing at an empty file
        mode = path.stat().st_mode & 0o7777 if path.exists() else 0o666 & ~_UMASK
        os.chmod(tmp, mode)  # mkstemp makes it 0o600, readable by its owner only
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
