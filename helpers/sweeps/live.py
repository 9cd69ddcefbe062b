"""The notebook's live grid (notebook 09): one tile per run of a sweep, filled in as runs
finish (pass :meth:`LiveGrid.add` as ``sweep(..., on_result=...)``). Clicking a tile's button
shows its settings, its final losses (:func:`helpers.report.loss_line`) and its "copy as code"
(Python and command line, written by :mod:`helpers.code` as for the tuning app) and can load
them into a tuning app (:meth:`helpers.widgets.TuningApp.load_run`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ipywidgets as w

from helpers import code
from helpers.errors import StyleTransferError
from helpers.files import read_bytes
from helpers.report import loss_line
from helpers.settings import Settings
from helpers.sweeps.checks import saved_row
from helpers.sweeps.grid import Run, Source


def _image(source: Source) -> code.ImageName:
    """How :mod:`helpers.code` names a sweep's image: a file as a Path, else its bundled name."""
    return Path(source.path) if source.path else source.name


def python_code(run: Run) -> str:
    """The ``helpers.stylize`` call that paints ``run`` on its own."""
    return code.python_code(_image(run.content), [_image(run.style)],
                            Settings.from_options(**run.options), f"build/{run.name}.png")


def command_line(run: Run) -> str:
    """The ``python -m helpers stylize`` line that paints ``run`` on its own."""
    return code.command_line(_image(run.content), [_image(run.style)],
                             Settings.from_options(**run.options), f"build/{run.name}.png")


class LiveGrid(w.VBox):
    """A grid of the runs of a sweep (``runs`` from :func:`helpers.sweeps.plan`), ``ncols``
    tiles a row in plan order, filled in from ``out`` as runs land. ``app``: a tuning app to
    load a clicked tile's settings into (optional)."""

    def __init__(self, runs: list[Run], out: str | Path, ncols: int, app: Any = None,
                 width: int = 150) -> None:
        self.out, self.app, self.width = Path(out), app, width
        self.runs = {r.name: r for r in runs}
        self.images = {r.name: w.Image(format="png", layout=w.Layout(width=f"{width}px"))
                       for r in runs}
        self.buttons = {r.name: w.Button(description=", ".join(r.swept.values()),
                                         tooltip=r.name, layout=w.Layout(width=f"{width}px"))
                        for r in runs}
        for name, button in self.buttons.items():
            button.on_click(lambda _, name=name: self.select(name))
        self.details = w.Output()
        self.load_button = w.Button(description="Load into the tuning app", disabled=True)
        self.load_button.on_click(lambda _: self.load_into_app())
        self.selected: str | None = None
        tiles = [w.VBox([self.images[n], self.buttons[n]]) for n in self.runs]
        grid = w.GridBox(tiles, layout=w.Layout(
            grid_template_columns=f"repeat({ncols}, {width + 6}px)"))
        super().__init__([grid, self.load_button, self.details])

    def add(self, row: dict[str, Any]) -> None:
        """Show a finished run (an index row): its picture in its tile, its loss on its
        button."""
        name = row.get("name")
        if name not in self.images:
            return
        try:
            self.images[name].value = read_bytes(self.out / str(row.get("image")), IMAGE_LIMIT,
                                                 "a run's picture")
        except StyleTransferError:  # gone or damaged: the tile stays empty
            return
        total = _number(row.get("total"))
        if total is not None:
            self.buttons[name].description += f" | {total:.3g}"
        self.buttons[name].button_style = "info"

    def select(self, name: str) -> None:
        """What a click does: show the run's settings (as its JSON recorded them) and its
        copy-as-code."""
        self.selected = name
        run = self.runs[name]
        meta = self.out / f"{name}.json"
        self.details.clear_output()
        with self.details:
            print(f"{name}\nswept: {run.swept}")
            saved = _saved(meta)
            if saved is not None and saved_row(saved) is not None:
                last = saved["history"][-1]
                print(f"final loss: {loss_line(last)}")
            print("\nCopy as code (Python):\n" + python_code(run))
            print("Copy as code (command line):\n" + command_line(run))
        self.load_button.disabled = self.app is None or not isinstance(
            (saved or {}).get("settings"), dict)

    def recorded_settings(self, name: str) -> dict[str, Any]:
        """The settings run ``name`` recorded in its JSON (as :attr:`helpers.result.Result.
        settings` holds them)."""
        saved = (_saved(self.out / f"{name}.json") or {}).get("settings")
        if not isinstance(saved, dict):
            raise StyleTransferError(f"{self.out / name}.json holds no settings; paint the run "
                                     "again (rerun the sweep)")
        return saved

    def load_into_app(self) -> None:
        """Load the selected run's settings and images into the tuning app (through its public
        :meth:`~helpers.widgets.TuningApp.load_run`)."""
        if self.app is not None and self.selected is not None:
            run = self.runs[self.selected]
            self.app.load_run(self.recorded_settings(self.selected), run.content.text,
                              run.style.text)


#: The largest picture a tile shows.
IMAGE_LIMIT = 200 << 20


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _saved(meta: Path) -> dict[str, Any] | None:
    """A run's JSON, or ``None`` if it is missing or damaged."""
    from helpers.sweeps.checks import JSON_LIMIT

    try:
        saved = json.loads(read_bytes(meta, JSON_LIMIT, "a run's JSON"))
    except (StyleTransferError, ValueError):
        return None
    return saved if isinstance(saved, dict) else None
