"""Where the tuning app's Save writes (notebook 06): a name checked before anything is
written, through :func:`helpers.files.check_output` (never over an input, a folder, a pipe or
a device), and never over an existing file; the writing itself is atomic
(:meth:`helpers.result.Result.save`).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

from helpers import data, files, images
from helpers.app.code import sources
from helpers.errors import StyleTransferError


def bundled_files() -> list[Path]:
    """The files behind the bundled images (Save must never write over one)."""
    return [data.bundled_file(name) for name in data.BUNDLED]


def save_path(folder: Path, name: str, inputs: list[str | Path]) -> Path:
    """The picture's path for a Save as ``name`` in ``folder`` (empty: a new
    ``nst-<date>-<n>.png``; no suffix: ``.png``), checked against ``inputs`` (the images
    the run read; the bundled images are added) before anything is written; its JSON's
    name is checked too."""
    reads = [p for p in (*bundled_files(), *inputs) if Path(p).exists()]
    if name:
        path = files.check_output(folder / name, reads, what="Save")  # the name as typed
        path = path if path.suffix else path.with_suffix(".png")
        if path.suffix.lower() not in images.IMAGE_SUFFIXES:
            raise StyleTransferError(f"{path.name} is not an image name; end it in .png or "
                                     ".jpg")
    else:
        stamp, n = time.strftime("%Y%m%d-%H%M%S"), 1
        while (path := folder / f"nst-{stamp}-{n:03d}.png").exists() or \
                path.with_suffix(".json").exists():
            n += 1
    for target in (path, path.with_suffix(".json")):
        files.check_output(target, reads, what="Save")
        if target.exists():
            raise StyleTransferError(f"{target} already exists; choose another name (Save "
                                     "never replaces a file)")
    return path


def save_entry(entry: dict[str, Any], folder: Path, name: str, uploads: list[Path]) -> Path:
    """Write a history ``entry``'s picture and a JSON of its settings (the run's, the app's
    and whether it was warm-started) as ``name`` in ``folder`` (:func:`save_path`; the
    uploads and the run's images are never written over); the PNG's path."""
    result = entry["result"]
    meta = {**result.settings, **entry["settings"], "warm_start": entry["warm"]}
    path = save_path(folder, name.strip(), [*uploads, *sources(entry["settings"])])
    return dataclasses.replace(result, settings=meta).save(path)
