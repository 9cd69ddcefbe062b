"""The contact sheet of a sweep (notebook 09): ``OUT/sheet.png``, one tile per run, rows and
columns by two swept settings, each tile titled with its values and final losses.
"""

from __future__ import annotations

import csv
import itertools
from pathlib import Path
from typing import Any

import numpy as np

#: The index columns that are not swept settings.
FIXED = ("name", "content", "style", "total", "content_loss", "style_loss", "tv_loss",
         "iterations", "seconds", "worker", "stop_reason", "image")


def _order(values: list[str]) -> list[str]:
    """Distinct values, numbers by size, others as text (conv1, conv1-2, ...)."""
    distinct = list(dict.fromkeys(values))
    try:
        return sorted(distinct, key=float)
    except ValueError:
        return sorted(distinct)


def read_index(out: str | Path) -> list[dict[str, str]]:
    """The rows of ``OUT/index.csv``, each with a ``pair`` column (content × style)."""
    with open(Path(out) / "index.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row["pair"] = f"{Path(row['content']).stem} x {Path(row['style']).stem}"
    return rows


def axes(rows: list[dict[str, str]], row_key: str | None = None, col_key: str | None = None
         ) -> tuple[str, str, list[str]]:
    """(row setting, column setting, the other swept settings): by default the last two
    settings that vary (the pair counts as one)."""
    swept = [k for k in rows[0] if k not in FIXED]
    varying = [k for k in swept if len({r[k] for r in rows}) > 1] or ["pair"]
    col_key = col_key or varying[-1]
    rest = [k for k in varying if k != col_key]
    row_key = row_key or (rest[-1] if rest else "pair")
    return row_key, col_key, [k for k in varying if k not in (row_key, col_key)]


def tile_title(row: dict[str, str], keys: list[str]) -> str:
    """A tile's title: its swept values, then its final losses."""
    def short(v: str) -> str:
        try:
            return f"{float(v):.2g}"
        except ValueError:
            return v

    values = ", ".join(f"{k}={row[k]}" for k in keys)
    return (f"{values}\ntotal {short(row['total'])} (c {short(row['content_loss'])}, "
            f"s {short(row['style_loss'])}, tv {short(row['tv_loss'])})")


def contact_sheet(out: str | Path, rows: str | None = None, cols: str | None = None,
                  path: str | Path | None = None, tile: float = 2.4) -> Path:
    """Draw every finished run of the sweep in ``out`` as a grid (rows × columns by the
    swept settings ``rows`` and ``cols``; other swept settings stack as bands of rows) and
    save it to ``path`` (default ``OUT/sheet.png``); returns the path."""
    from matplotlib.figure import Figure

    from helpers.images import load_image

    out = Path(out)
    found = read_index(out)
    row_key, col_key, others = axes(found, rows, cols)
    col_values = _order([r[col_key] for r in found])
    bands = list(itertools.product(*(_order([r[k] for r in found]) for k in others)))
    row_labels = [(band, v) for band in bands for v in _order([r[row_key] for r in found])]
    by_key = {(tuple(r[k] for k in others), r[row_key], r[col_key]): r for r in found}
    first = load_image(out / found[0]["image"])
    aspect = first.shape[0] / first.shape[1]
    fig = Figure(figsize=(tile * len(col_values), (tile * aspect + 0.45) * len(row_labels) + 0.6))
    grid = fig.subplots(len(row_labels), len(col_values), squeeze=False)
    for (i, (band, rv)), (j, cv) in itertools.product(enumerate(row_labels),
                                                      enumerate(col_values)):
        ax = grid[i, j]
        ax.set_xticks([])
        ax.set_yticks([])
        row = by_key.get((band, rv, cv))
        if row is None or not (out / row["image"]).exists():
            ax.set_title("not painted (yet)", fontsize=7)
            continue
        ax.imshow(load_image(out / row["image"]))
        ax.set_title(tile_title(row, [row_key, col_key]), fontsize=7.5)
        if j == 0:
            ax.set_ylabel("\n".join([*band, f"{row_key}={rv}"]), fontsize=8)
    fig.suptitle(f"Sweep {out.name}: {len(found)} runs, rows {row_key}, columns {col_key}"
                 + (f", bands {', '.join(others)}" if others else ""), fontsize=10)
    fig.tight_layout()
    path = Path(path) if path else out / "sheet.png"
    fig.savefig(path, dpi=90)
    return path


def tile_image(out: str | Path, row: dict[str, Any]) -> np.ndarray:
    """The picture of one index row."""
    from helpers.images import load_image

    return load_image(Path(out) / row["image"])
