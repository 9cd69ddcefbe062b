"""The contact sheet of a sweep (notebook 09): ``OUT/sheet.png``, one tile per run, rows and
columns by two swept settings, each tile titled with its values and final losses.
"""

from __future__ import annotations

import csv
import io
import itertools
import textwrap
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import StyleTransferError
from helpers.report import loss_line

#: The index columns that are not swept settings.
FIXED = ("name", "content", "style", "total", "content_loss", "style_loss", "tv_loss",
         "iterations_done", "seconds", "worker", "stop_reason", "image")


def _order(values: list[str]) -> list[str]:
    """Distinct values, numbers by size, others as text (conv1, conv1-2, ...)."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def read_index(out: str | Path, names: Collection[str] | None = None) -> list[dict[str, str]]:
    """The rows of ``OUT/index.csv`` (those of the runs ``names`` only, if given), each with
    a ``pair`` column (content × style: the file names without their suffix, with it where
    two differ only there)."""
    from helpers.files import read_bytes
    from helpers.sweeps.checks import INDEX_LIMIT

    try:
        text = read_bytes(Path(out) / "index.csv", INDEX_LIMIT, "the sweep index")
        text = text.decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text, newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise StyleTransferError(f"{Path(out) / 'index.csv'} is not a sweep index ({exc})"
                                 ) from None
    rows = [{k: v or "" for k, v in r.items() if k is not None} for r in rows
            if names is None or r.get("name") in names]  # a short row's missing cells: ""
    label = {}
    for key in ("content", "style"):
        paths = {r.get(key, "") for r in rows}
        stems = [Path(p).stem for p in paths]
        label[key] = {p: Path(p).stem if stems.count(Path(p).stem) == 1 else Path(p).name
                      for p in paths}
    for row in rows:
        row["pair"] = (f"{label['content'][row.get('content', '')]} x "
                       f"{label['style'][row.get('style', '')]}")
    return rows


def check_axes(swept: list[str], rows: str | None, cols: str | None) -> None:
    """Refuse contact sheet rows or columns that are not a swept setting or ``pair`` (or
    both the same), before the sweep starts."""
    for key, flag in ((rows, "--rows"), (cols, "--cols")):
        if key is not None and key not in (*swept, "pair"):
            raise StyleTransferError(f"{flag} {key}: not a swept setting; choose one of "
                                     f"{', '.join((*swept, 'pair'))}")
    if rows is not None and rows == cols:
        raise StyleTransferError(f"--rows and --cols are both {rows}; choose two")


def axes(rows: list[dict[str, str]], row_key: str | None = None, col_key: str | None = None
         ) -> tuple[str | None, str, list[str]]:
    """(row setting, column setting, the other swept settings, which stack as bands of rows).

    By default the last two settings that vary are the rows and the columns, and the pair
    (content x style) joins the bands; with one such setting the pairs are the rows; with
    none the pairs are the columns of a single row (row setting ``None``)."""
    if not rows:
        raise StyleTransferError("the sweep has no finished runs to draw")
    swept = [k for k in rows[0] if k not in FIXED]
    check_axes(swept, row_key, col_key)
    varying = [k for k in swept if len({r[k] for r in rows}) > 1]
    settings = [k for k in varying if k != "pair"]
    if col_key is None:
        col_key = settings[-1] if settings else "pair"
    if row_key is None:
        rest = [k for k in settings if k != col_key]
        row_key = rest[-1] if rest else ("pair" if col_key != "pair" else None)
    others = [k for k in (*settings, *varying) if k not in (row_key, col_key)]  # pair last
    return row_key, col_key, list(dict.fromkeys(others))


def tile_title(row: dict[str, str], keys: list[str], width: int = 200) -> str:
    """A tile's title: its swept values, then its final losses, in lines of at most
    ``width`` characters."""
    values = ", ".join(f"{k}={row[k]}" for k in keys)
    losses = loss_line({"total": row["total"], "content": row["content_loss"],
                        "style": row["style_loss"], "tv": row["tv_loss"]}, short=True)
    return "\n".join(textwrap.fill(line, width, break_on_hyphens=False)
                     for line in (values, losses))


def _chars(inches: float, fontsize: float) -> int:
    """About how many characters of a ``fontsize`` font fit in ``inches``."""
    return max(12, int(inches * 72 / (0.55 * fontsize)))


def draw_sheet(out: str | Path, rows: str | None = None, cols: str | None = None,
               tile: float = 2.4, names: Collection[str] | None = None) -> Any:
    """The contact sheet of the sweep in ``out`` as a Matplotlib figure: one tile per
    finished run, rows x columns by the swept settings ``rows`` and ``cols`` (other swept
    settings stack as bands of rows), each tile titled with its values and final losses
    (``names``: the runs to draw, default all)."""
    from matplotlib.figure import Figure

    out = Path(out)
    found = read_index(out, names)
    row_key, col_key, others = axes(found, rows, cols)
    keys = [k for k in (row_key, col_key) if k]
    col_values = _order([r[col_key] for r in found])
    bands = list(itertools.product(*(_order([r[k] for r in found]) for k in others)))
    row_values = _order([r[row_key] for r in found]) if row_key else [None]
    row_labels = [(band, v) for band in bands for v in row_values]
    by_key = {(tuple(r[k] for k in others), r[row_key] if row_key else None, r[col_key]): r
              for r in found}
    width = _chars(tile - 0.1, 7.5)
    lines = max(tile_title(r, keys, width).count("\n") + 1 for r in found)
    first = next((t for t in map(lambda r: _picture(out, r), found) if t is not None), None)
    aspect = first.shape[0] / first.shape[1] if first is not None else 1.0
    title = textwrap.fill(f"Sweep {out.name}: {len(found)} runs, rows {row_key or '-'}, "
                          f"columns {col_key}" + (f", bands {', '.join(others)}" if others
                                                  else ""), _chars(tile * len(col_values), 10))
    fig = Figure(figsize=(tile * len(col_values) + 0.5,
                          (tile * aspect + 0.15 * lines + 0.1) * len(row_labels)
                          + 0.2 * (title.count("\n") + 1) + 0.3))
    grid = fig.subplots(len(row_labels), len(col_values), squeeze=False)
    for (i, (band, rv)), (j, cv) in itertools.product(enumerate(row_labels),
                                                      enumerate(col_values)):
        ax = grid[i, j]
        ax.set_xticks([])
        ax.set_yticks([])
        row = by_key.get((band, rv, cv))
        picture = None if row is None else _picture(out, row)
        if picture is None:
            ax.set_title("not painted (yet)", fontsize=7)
            continue
        ax.imshow(picture)
        ax.set_title(tile_title(row, keys, width), fontsize=7.5)
        if j == 0:
            ax.set_ylabel("\n".join([*band, *([f"{row_key}={rv}"] if row_key else [])]),
                          fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def contact_sheet(out: str | Path, rows: str | None = None, cols: str | None = None,
                  path: str | Path | None = None, tile: float = 2.4,
                  names: Collection[str] | None = None) -> Path:
    """Draw the contact sheet of the sweep in ``out`` (:func:`draw_sheet`; ``names``: the
    runs to draw) and save it, whole or not at all, to ``path`` (default ``OUT/sheet.png``);
    returns the path."""
    from helpers.files import save_figure

    path = Path(path) if path else Path(out) / "sheet.png"
    return save_figure(draw_sheet(out, rows, cols, tile, names), path, dpi=90)


def _picture(out: Path, row: dict[str, Any]) -> np.ndarray | None:
    """A run's picture, or ``None`` if it is missing or unreadable (then it is repainted)."""
    from helpers.images import load_image

    image = row.get("image") or ""
    if not image or Path(image).name != image:  # only files of this folder
        return None
    try:
        return load_image(out / image)
    except StyleTransferError:
        return None


def tile_image(out: str | Path, row: dict[str, Any]) -> np.ndarray:
    """The picture of one index row."""
    from helpers.images import load_image

    return load_image(Path(out) / row["image"])
