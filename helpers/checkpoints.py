"""Checkpoints: a run's best image and loss history, saved every few iterations so that an
interrupted run can be resumed (``checkpoint_every``, ``checkpoint_dir``, ``resume`` of
:func:`helpers.stylize`; ``--checkpoint-every`` and ``--resume`` on the command line; no
notebook teaches it).

A checkpoint folder holds ``checkpoint.npz`` (the preprocessed image ``x``, the history as JSON
and the run's fingerprint: which photo, paintings, backbone and size it paints) and
``latest.png`` (the same image, to look at). A checkpoint of another run is refused unless the
user asks for it (``force_resume``).
"""

from __future__ import annotations

import hashlib
import json
import numbers
import os
import stat
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from helpers import images
from helpers.errors import StyleTransferError
from helpers.files import atomic_together, check_input

History = list[dict[str, float]]

#: The files a checkpoint folder holds.
FILES = ("checkpoint.npz", "latest.png")
#: The most bytes a checkpoint's arrays may unpack to: the largest image in float32, and the
#: history (a checkpoint is a zip: a small file could otherwise unpack to gigabytes).
MAX_BYTES = {"x.npy": 4 * 3 * images.MAX_SIDE**2 + 4096, "history.npy": 64 << 20,
             "fingerprint.npy": 1 << 16}
#: What each history entry holds, and which of it counts whole numbers.
NUMBERS = ("iteration", "size", "total", "content", "style", "tv", "seconds")
WHOLE = ("iteration", "size", "evaluations")


@dataclass
class Checkpoint:
    """A loaded checkpoint: the preprocessed (1, H, W, 3) image, the history, the run's
    fingerprint (:func:`fingerprint`; ``None`` if an older version wrote it) and its file."""

    x: np.ndarray
    history: History
    fingerprint: dict[str, Any] | None
    file: Path


def fingerprint(content: np.ndarray, styles: Sequence[np.ndarray], backbone: str, size: int
                ) -> dict[str, Any]:
    """What a run must share with a checkpoint to resume from it: the SHA-256 of the photo's
    and of the paintings' pixels (shapes included), the backbone and the size."""

    def digest(arrays: Sequence[np.ndarray]) -> str:
        h = hashlib.sha256()
        for a in arrays:
            a = np.ascontiguousarray(a)
            h.update(f"{a.shape}{a.dtype}".encode())
            h.update(a.tobytes())
        return h.hexdigest()[:16]

    return {"content": digest([content]), "styles": digest(list(styles)), "backbone": backbone,
            "size": int(size)}


def checkpoint_file(path: str | Path) -> Path:
    """The ``checkpoint.npz`` of folder ``path`` (or the file ``path``), checked to be a regular
    file (a pipe would hang the read), or one line saying what is wrong."""
    if not isinstance(path, (str, os.PathLike)):
        raise StyleTransferError(f"resume must be the path of a checkpoint folder, not "
                                 f"{type(path).__name__} {path!r:.40}")
    try:
        is_dir = stat.S_ISDIR(os.stat(path).st_mode)
    except FileNotFoundError:
        raise StyleTransferError(f"no checkpoint at {images.short_path(path)}: it does not "
                                 "exist; give the folder written by checkpoint_every "
                                 "(--checkpoint-every)") from None
    except (OSError, ValueError) as exc:
        raise StyleTransferError(f"cannot read the checkpoint {images.short_path(path)}: "
                                 f"{getattr(exc, 'strerror', None) or exc}") from None
    return check_input(Path(path) / "checkpoint.npz" if is_dir else Path(path), "checkpoint")


class _Damaged(ValueError):
    """What is wrong with a checkpoint's contents, in words."""


def load(path: str | Path) -> Checkpoint:
    """The checkpoint in folder ``path`` (or the ``.npz`` file ``path``), checked: a finite
    image and a history of iterations with numeric counters."""
    file = checkpoint_file(path)
    try:
        with zipfile.ZipFile(file) as z:
            for info in z.infolist():
                if info.file_size > MAX_BYTES.get(info.filename, 0):
                    raise _Damaged(f"{info.filename} is no part of a checkpoint or too large")
        with np.load(file, allow_pickle=False) as data:
            x, history = data["x"], json.loads(str(data["history"]))
            recorded = (json.loads(str(data["fingerprint"])) if "fingerprint" in data.files
                        else None)
        _check(x, history)
    except _Damaged as exc:
        reason = str(exc)
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        reason = f"{type(exc).__name__}: it does not hold a checkpoint's arrays"
    else:
        return Checkpoint(x, history, recorded if isinstance(recorded, dict) else None, file)
    raise StyleTransferError(
        f"cannot read the checkpoint {images.short_path(file)}: it is damaged or not a "
        f"checkpoint ({reason}); resume from a folder written by checkpoint_every "
        "(--checkpoint-every), or start again without resume")


def _check(x: np.ndarray, history: History) -> None:
    """Raise _Damaged unless ``x`` is a finite (1, H, W, 3) image and ``history`` a list of
    entries with whole-number iteration and size and numeric loss terms and times."""
    if (x.ndim != 4 or x.shape[0] != 1 or x.shape[-1] != 3 or not np.issubdtype(
            x.dtype, np.floating) or not np.all(np.isfinite(x))):
        raise _Damaged("the image is not a finite (1, H, W, 3) array")
    if not isinstance(history, list) or not history:
        raise _Damaged("the history is not a list of iterations")
    for entry in history:
        if not isinstance(entry, dict) or not set(NUMBERS) <= entry.keys():
            raise _Damaged(f"a history entry lacks one of {', '.join(NUMBERS)}")
        for key, value in entry.items():
            _check_number(key, value)


def _check_number(key: str, value: Any) -> None:
    """Raise _Damaged unless a history entry's ``value`` at ``key`` is a number (a whole one
    for :data:`WHOLE`); keys that hold no number are not checked."""
    if key not in NUMBERS + WHOLE + ("eval_seconds",):
        return
    whole = key in WHOLE
    if isinstance(value, bool) or not isinstance(value, numbers.Integral if whole
                                                 else numbers.Real):
        raise _Damaged(f"the history's {key} is {value!r}, not a "
                       f"{'whole number' if whole else 'number'}")


def check_fingerprint(checkpoint: Checkpoint, expected: dict[str, Any],
                      backbones: Sequence[str] = ()) -> None:
    """Refuse to resume from a checkpoint of another photo, painting, backbone or size
    (``expected``: :func:`fingerprint` of this run; ``backbones``: the backbones it may use,
    default the expected one); a checkpoint that records none is refused too."""
    where = images.short_path(checkpoint.file)
    recorded = checkpoint.fingerprint
    if recorded is None:
        raise StyleTransferError(
            f"the checkpoint {where} does not record which photo, painting, backbone and size "
            "it paints (an older version wrote it); pass force_resume=True (--force-resume) to "
            "resume from it anyway")
    differs = [word for key, word in (("content", "photo"), ("styles", "painting"),
                                      ("size", "size")) if recorded.get(key) != expected[key]]
    if recorded.get("backbone") not in (backbones or [expected["backbone"]]):
        differs.append(f"backbone ({recorded.get('backbone')})")
    if differs:
        raise StyleTransferError(
            f"the checkpoint {where} was painted with another {' and '.join(differs)}; resume "
            "with the same content image and size, style images and backbone, or pass "
            "force_resume=True (--force-resume) to resume from it anyway")


def save(folder: Path, x: np.ndarray, history: History,
         run_fingerprint: dict[str, Any] | None = None) -> None:
    """Write the preprocessed image ``x``, ``history`` and the run's fingerprint into
    ``folder`` (replacing any earlier checkpoint there), and ``latest.png``: both files are
    the new ones, or (a full disk, a folder gone) both the old ones and a StyleTransferError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StyleTransferError(f"cannot write a checkpoint into {images.short_path(folder)}: "
                                 f"{exc.strerror or exc}") from None
    arrays = {"x": x.astype(np.float32), "history": json.dumps(history)}
    if run_fingerprint is not None:
        arrays["fingerprint"] = json.dumps(run_fingerprint)
    with atomic_together(folder / "checkpoint.npz", folder / "latest.png") as (npz, png):
        np.savez(npz, **arrays)
        Image.fromarray(images.deprocess(x)).save(png)
