"""What a sweep keeps in its output folder (notebook 09; used by :mod:`helpers.sweeps.engine`):
``OUT/index.csv`` (:class:`Index`, one row per finished run, replaced whole each time), the
runs already on disk that a rerun skips (:func:`done_on_disk`), and the folder's lock
(:func:`folder_lock`: one sweep at a time writes into a folder). No Dask here."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import check_input, read_bytes, write_text
from helpers.sweeps.checks import INDEX_LIMIT, JSON_LIMIT, LOCK, saved_row
from helpers.sweeps.grid import Run

#: The index's columns after the pair and the swept settings.
#: ``iterations_done``, not ``iterations``: that name is a setting, and may be swept.
RESULT_COLUMNS = ("total", "content_loss", "style_loss", "tv_loss", "iterations_done",
                  "seconds", "worker", "stop_reason", "image")
#: The result columns of an index written before that (resumed under the new names).
OLD_COLUMNS = tuple("iterations" if c == "iterations_done" else c for c in RESULT_COLUMNS)


@dataclass
class Index:
    """``OUT/index.csv``: one row per finished run, kept by the client alone (one writer) and
    replaced whole (:func:`helpers.files.write_text`) each time a row is added, so a kill at
    any moment leaves the old index or the new one. A name is listed once."""

    path: Path
    columns: list[str]
    names: set[str] = field(default_factory=set)
    found: list[dict[str, Any]] = field(default_factory=list)

    def open(self) -> Index:
        """Read the runs already listed (one line for an index that is not one); refuse an
        index written with other columns."""
        if not self.path.exists():
            return self
        try:
            text = read_bytes(self.path, INDEX_LIMIT + 1, "the sweep index").decode(
                "utf-8-sig")  # a spreadsheet may have saved it with a byte-order mark
            reader = csv.DictReader(io.StringIO(text, newline=""))
            fieldnames, rows = reader.fieldnames, list(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise StyleTransferError(f"{self.path} is not a sweep index ({exc}); move it away "
                                     "or give another output folder") from None
        if len(text) > INDEX_LIMIT:
            raise StyleTransferError(f"{self.path} is over {INDEX_LIMIT >> 20} MB, not a "
                                     "sweep index; move it away or give another folder")
        if fieldnames == [*self.columns[:-len(RESULT_COLUMNS)], *OLD_COLUMNS]:
            renamed = list(zip(self.columns, fieldnames, strict=True))
            rows = [{c: r.get(o) for c, o in renamed} for r in rows]
        elif fieldnames is not None and fieldnames != self.columns:
            raise StyleTransferError(
                f"{self.path} lists other settings ({', '.join(fieldnames)}); resume with the "
                "same grid, or give another output folder")
        for row in rows:
            if row.get("name") and row["name"] not in self.names:
                self.names.add(row["name"])
                self.found.append(row)
        if fieldnames is not None and fieldnames != self.columns:
            self._write()  # the old header's rows under the new one
        return self

    def append(self, row: dict[str, Any]) -> None:
        """Add ``row`` (once per run name) and replace the file with every row."""
        if row["name"] in self.names:
            return
        self.found.append({c: row.get(c) for c in self.columns})
        self.names.add(row["name"])
        self._write()

    def _write(self) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.found)
        write_text(self.path, text.getvalue())

    def rows(self) -> list[dict[str, Any]]:
        """Every row, in the order the runs finished."""
        return list(self.found)


def index_row(run: Run, results: dict[str, Any]) -> dict[str, Any]:
    """``run``'s row of the index: its name, pair and swept settings, then ``results``."""
    return {"name": run.name, "content": run.content.text, "style": run.style.text,
            **run.swept, **results}


def done_on_disk(out: Path, run: Run, index: Index) -> bool:
    """True when the run's PNG loads whole and its JSON is a finished run's (a damaged
    picture or JSON means: paint it again); its index row is added if a crash came between
    the files and the row. Loading the picture is cheap at a sweep's sizes."""
    png, meta = out / f"{run.name}.png", out / f"{run.name}.json"
    try:
        _check_picture(check_input(png))
        row = saved_row(json.loads(read_bytes(meta, JSON_LIMIT, "a run's JSON")))
    except (StyleTransferError, ValueError, OSError, SyntaxError, EOFError):  # Pillow's too
        return False
    if row is None:
        return False
    index.append(index_row(run, {**row, "worker": "", "image": png.name}))
    return True


def _check_picture(png: Path) -> None:
    """Raise (OSError, SyntaxError, ...) unless ``png`` is a whole picture: Pillow's
    ``verify`` checks every chunk's checksum and the end chunk, a full load the pixels."""
    from PIL import Image

    from helpers.images import load_image

    with Image.open(png) as image:
        image.verify()
    load_image(png)


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.sweep.lock`` (an advisory ``flock``, released when the process ends, even
    killed) while inside; a second sweep into the same folder is refused in one line."""
    import fcntl

    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StyleTransferError(f"cannot write into {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StyleTransferError(f"another sweep is writing into {out}; wait for it to end "
                                     "(then rerun to resume), or give another folder") from None
        yield
    finally:
        os.close(fd)

