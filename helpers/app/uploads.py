"""Uploaded images for the tuning app (notebook 06): kept in a temporary folder of this
session, outside the repository, a new sub-folder per upload, so that two uploads with
one name never replace each other and a rejected upload never touches an earlier one.

An upload is written atomically (:func:`helpers.files.write_bytes`), then read back as an
image; one that is not an image, too large or badly named is refused with one line and its
own sub-folder removed.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from helpers import files, images
from helpers.errors import StyleTransferError

if TYPE_CHECKING:
    from helpers.app.controls import Controls

#: The largest upload the app takes (bytes): a 50 MB photo is far beyond what it paints.
MAX_UPLOAD_BYTES = 50 * 2**20


def upload_name(name: str) -> str:
    """The file name to keep an upload under: the last part of ``name`` (a browser sends a
    bare name; ``../x.png`` or ``a/b.png`` keep ``x.png``, ``b.png``), or one line saying why
    the name cannot be used (empty, ``..``, a NUL character, too long)."""
    text = str(name)
    if "\0" in text:
        raise StyleTransferError("its name holds a NUL character; rename the file and upload "
                                 "it again")
    base = text.replace("\\", "/").rsplit("/", 1)[-1].strip()
    if base in ("", ".", ".."):
        raise StyleTransferError(f"its name {text[:40]!r} is not a file name; rename the file "
                                 "and upload it again")
    files.check_name(base, "the upload")
    return base


class Uploads:
    """The session's uploads: :meth:`add` keeps one and returns its path. ``folder``: where
    (default: a new temporary folder, removed when the app is garbage-collected or the kernel
    exits)."""

    def __init__(self, folder: str | Path | None = None) -> None:
        self._given = Path(folder) if folder is not None else None
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self._count = 0
        self._by_digest: dict[str, Path] = {}

    @property
    def folder(self) -> Path:
        """The folder the uploads are kept in (made on first use)."""
        if self._given is not None:
            return self._given
        if self._temporary is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="nst-uploads-")
        return Path(self._temporary.name)

    def files(self) -> list[Path]:
        """Every upload kept so far."""
        return sorted(set(self._by_digest.values()))

    def add(self, name: str, content: bytes) -> Path:
        """Keep the upload ``name`` with bytes ``content``; its path. The same bytes uploaded
        again give the earlier file. Raises a one-line StyleTransferError (nothing kept) for
        an empty, oversized or unreadable file or an unusable name."""
        base = upload_name(name)
        if not content:
            raise StyleTransferError("the file is empty; upload an image file")
        if len(content) > MAX_UPLOAD_BYTES:
            raise StyleTransferError(f"the file is {len(content) / 2**20:.0f} MB; the app takes "
                                     f"at most {MAX_UPLOAD_BYTES // 2**20} MB: shrink it first")
        digest = hashlib.sha256(content).hexdigest()
        known = self._by_digest.get(digest)
        if known is not None and known.name == base and known.is_file():
            return known
        self._count += 1
        files.check_folder(self.folder, "the uploads folder")
        try:
            slot = Path(tempfile.mkdtemp(prefix=f"{self._count}-", dir=self.folder))  # new
        except OSError as exc:
            raise StyleTransferError(f"cannot keep it: {exc.strerror or exc}") from None
        path = slot / base
        try:
            files.write_bytes(path, content)
            images.load_image(path)
        except StyleTransferError as exc:
            shutil.rmtree(slot, ignore_errors=True)  # this upload's own folder only
            raise StyleTransferError(str(exc).replace(str(path), "it")) from None
        self._by_digest[digest] = path
        return path


def receive(uploads: Uploads, panel: Controls, key: str, item: dict[str, Any]) -> str:
    """Keep the uploaded ``item`` (an entry of a FileUpload's value) in ``uploads``, offer it
    in ``panel``'s three pickers and choose it in picker ``key``; the status line that says
    so. A bad file or name raises one StyleTransferError line (``Upload 'NAME' not used:
    ...``), the pickers unchanged. The upload button is emptied either way (the same file may
    be picked again)."""
    name = str(item.get("name", ""))
    try:
        path = uploads.add(name, bytes(item["content"]))
    except StyleTransferError as exc:
        raise StyleTransferError(f"Upload {name[:60]!r} not used: {exc}") from None
    finally:
        panel.upload_buttons[key].value = ()
    panel.offer(str(path), upload_label(panel, path))
    panel.widgets[key].value = str(path)  # a setting moved: a running run restarts
    dropped = "" if path.name == name else f" (from {name[:60]!r}, without its folder)"
    return f"Using {path.name}{dropped} as the {key.replace('2', ' (second)')} image."


def upload_label(panel: Controls, path: Path) -> str:
    """The pickers' label of an uploaded file: ``upload: NAME``, numbered when another upload
    has that name."""
    label = f"upload: {path.name}"
    listed = [text for text, value in panel.widgets["content"].options if value != str(path)]
    count = sum(text == label or text.startswith(f"{label} (") for text in listed)
    return f"{label} ({count + 1})" if count else label
