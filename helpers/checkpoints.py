"""Checkpoints: a run's best image and loss history, saved every few iterations so that an
interrupted run can be resumed (``checkpoint_every``, ``checkpoint_dir``, ``resume`` of
:func:`helpers.stylize`; ``--checkpoint-every`` and ``--resume`` on the command line; no
notebook teaches it).

A checkpoint folder holds ``checkpoint.npz`` (the preprocessed image ``x`` and the history as
JSON) and ``latest.png`` (the same image, to look at).
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from helpers import images
from helpers.errors import StyleTransferError
from helpers.files import atomic_write

History = list[dict[str, float]]


def load(path: str | Path) -> tuple[np.ndarray, History]:
    """(x, history) of the checkpoint in folder ``path`` (or the ``.npz`` file ``path``)."""
    path = Path(path)
    file = path / "checkpoint.npz" if path.is_dir() else path
    if not file.is_file():
        raise StyleTransferError(f"no checkpoint at {path}; give a checkpoint folder or .npz file")
    try:
        with np.load(file) as data:
            x, history = data["x"], json.loads(str(data["history"]))
        _check(x, history)
        return x, history
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as exc:
        raise StyleTransferError(
            f"cannot read the checkpoint {file}: it is damaged or not a checkpoint "
            f"({exc if isinstance(exc, ValueError) else type(exc).__name__}); resume from a "
            "folder written by "
            "checkpoint_every (--checkpoint-every), or start again without resume"
        ) from None


def _check(x: np.ndarray, history: History) -> None:
    """Raise ValueError unless ``x`` is a finite (1, H, W, 3) image and ``history`` a list of
    entries with an iteration number and the loss terms."""
    if x.ndim != 4 or x.shape[0] != 1 or x.shape[-1] != 3 or not np.all(np.isfinite(x)):
        raise ValueError("the image is not a finite (1, H, W, 3) array")
    if not isinstance(history, list) or not history or not all(
            isinstance(h, dict) and {"iteration", "total", "seconds"} <= h.keys()
            for h in history):
        raise ValueError("the history is not a list of iterations")


def save(folder: Path, x: np.ndarray, history: History) -> None:
    """Write the preprocessed image ``x`` and ``history`` into ``folder`` (replacing any
    earlier checkpoint there), and ``latest.png``."""
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / "checkpoint.npz") as tmp:
        np.savez(tmp, x=x.astype(np.float32), history=json.dumps(history))
    images.save_image(images.deprocess(x), folder / "latest.png")
