"""The instructor's exercise folder (notebooks/exercises in the repository: the notebooks with
their solutions and ``look_target.json``, the hidden settings of ex07_match_the_look.ipynb).

None of it is in the installed package: a student's ``pip install`` of the wheel holds no
solution, no target setting and no path to the instructor's copies. Commands find the folder
from ``--source DIR``, or, when the library runs from a checkout of the repository, in that
checkout (:func:`find_source`). The ex07 target reaches students as pictures
(``look_target.png`` and ``look_target_fast.png`` beside the student notebooks, painted by
:func:`helpers.exercises.ex07_match_the_look.paint_look_pictures`); grading reads the settings
with :func:`look_target`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import read_bytes

#: The file in the instructor's folder holding the ex07 target's settings (never handed out).
LOOK_TARGET_FILE = "look_target.json"
#: The handed-out target pictures: full size, and the small one of NST_FAST=1.
LOOK_PICTURES = {False: "look_target.png", True: "look_target_fast.png"}
#: The settings a student (and the target) may choose in ex07; everything else is fixed.
LOOK_SETTINGS = ("content_weight", "style_weight", "tv_weight", "content_layer",
                 "style_layers", "style_layer_weights")


def checkout_source() -> Path | None:
    """notebooks/exercises of the repository this package is imported from, or None when it
    runs from an install (a wheel holds neither the folder nor the project file beside it)."""
    root = Path(__file__).resolve().parent.parent.parent
    folder = root / "notebooks" / "exercises"
    try:
        if (root / "pyproject.toml").is_file() and (root / "helpers").is_dir() and \
                folder.is_dir() and os.access(folder, os.R_OK | os.X_OK):
            return folder
    except OSError:  # hidden from this process (a grading kernel)
        pass
    return None


def find_source(source: str | Path | None) -> Path:
    """The instructor's folder: ``source`` when given, else the checkout's (one line saying to
    pass ``--source`` when the library is installed without it)."""
    if source is not None:
        return Path(source)
    found = checkout_source()
    if found is None:
        raise StyleTransferError("no instructor's exercise folder here (the library is "
                                 "installed, not run from the repository): pass --source DIR, "
                                 "the folder of ex01_preprocess.ipynb … and look_target.json")
    return found


def look_target(source_dir: str | Path) -> dict[str, Any]:
    """The hidden settings of the ex07 target, read from ``source_dir/look_target.json`` (a
    JSON object of :data:`LOOK_SETTINGS` keys); one
    line if missing or not such an object. The grader calls this; students never get it."""
    path = Path(source_dir) / LOOK_TARGET_FILE
    if not path.exists():
        raise StyleTransferError(f"{path} not found: the ex07 target's settings are kept in the "
                                 f"instructor's folder (pass --source DIR)")
    try:
        settings = json.loads(read_bytes(path, 1 << 16, "the ex07 target's settings"))
    except ValueError as exc:
        raise StyleTransferError(f"{path} is not JSON ({exc})") from None
    if not isinstance(settings, dict) or not settings:
        raise StyleTransferError(f"{path} must hold a JSON object of settings, e.g. "
                                 '{"style_weight": 30}')
    unknown = sorted(set(settings) - set(LOOK_SETTINGS))
    if unknown:
        raise StyleTransferError(f"{path}: unknown setting {unknown[0]!r}; choose from "
                                 f"{', '.join(LOOK_SETTINGS)}")
    from helpers.settings import Settings

    try:
        Settings(**settings)  # the values' types, as stylize checks them
    except StyleTransferError as exc:
        raise StyleTransferError(f"{path}: {exc}") from None
    return settings


def needs_look_target(source_dir: str | Path) -> str:
    """The name of the first exercise notebook in ``source_dir`` whose checks include
    ``look`` (it needs :data:`LOOK_TARGET_FILE`), or ""."""
    from helpers.exercises.metadata import checks_in
    from helpers.exercises.nbio import read_notebook

    for path in sorted(Path(source_dir).glob("ex*.ipynb")):
        nb = read_notebook(path, "the instructor's notebook")
        if any(c.cell_type == "code" and "look" in checks_in(c.source) for c in nb.cells):
            return path.name
    return ""
