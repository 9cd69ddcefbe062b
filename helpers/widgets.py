"""The tuning app (notebook 06; ``make app`` serves ``notebooks/app.ipynb``): every knob of
:func:`helpers.stylize` as a widget, a live preview, a history.

``tuning_app()`` returns a :class:`TuningApp`, an ipywidgets ``VBox`` to show in JupyterLab or
Voila. Run paints at the preview size in a background thread (the kernel stays responsive);
the preview shows the first step as soon as it is chosen, then every iteration, the loss plot
about once a second; Stop ends the run within one iteration and keeps the best picture.
Changing a control during a run restarts it, from the current picture (warm start, the
default) or from scratch. Render paints at the full size.
Every run lands in the history strip; Save writes picture + JSON (never over a file, never
over an input); "Copy as code" shows the ``helpers.stylize(...)`` call and the command line
that reproduce it. Uploaded images are kept in a temporary folder of the session. Beside the
weights sits the start image (``init``): the start decides the colours, the weights the marks
and the structure.

Its parts live in :mod:`helpers.app`: the controls <-> settings (``controls``), the
background run (``runner``: one thread, Stop, restart; ``painter``: what the run does), the
view (``view``: buttons, status words, pictures, loss plot, history), the uploads, saving and
copy as code. :class:`TuningApp` only wires them together.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as w

from helpers import data
from helpers.app.code import cli_command, code_text, run_settings, stylize_code, stylize_kwargs
from helpers.app.controls import Controls, control_tabs, image_choices
from helpers.app.engine import warm_up
from helpers.app.painter import Painter, load_choice
from helpers.app.runner import Runner
from helpers.app.saving import bundled_files, save_entry
from helpers.app.uploads import Uploads, receive
from helpers.app.view import (
    HISTORY_LENGTH,
    PANEL_WIDTH,
    PREVIEW_WIDTH,
    History,
    Outputs,
    panel_layout,
    png_bytes,
    settings_summary,
)
from helpers.backbone import resolve_name
from helpers.backbones import layer_names
from helpers.errors import StyleTransferError

if TYPE_CHECKING:
    from helpers.result import Result

__all__ = ["HISTORY_LENGTH", "PANEL_WIDTH", "PREVIEW_WIDTH", "TuningApp", "bundled_files",
           "cli_command", "image_choices", "layer_names",
           "load_choice", "png_bytes", "run_settings", "settings_summary",
           "stylize_code", "stylize_kwargs", "tuning_app", "warm_up"]

#: Where Save writes unless the app is given another folder (uploads go elsewhere: a
#: temporary folder of the session, see :mod:`helpers.app.uploads`).
DEFAULT_FOLDER = data.DATA_DIR.parent / "build" / "tuning"


class TuningApp(w.VBox):
    """The tuning app (see the module docstring). ``controls`` maps setting names to widgets;
    ``history`` holds the last runs as dicts with ``settings``, ``result`` and ``warm``.
    ``folder``: where Save writes; ``uploads``: where uploads are kept (default: a temporary
    folder of this app); ``runner``: the function that paints (default :func:`helpers.stylize`)."""

    def __init__(self, *, backbone: str = "auto", preview_size: int = 256,
                 render_size: int = 512, iterations: int = 100,
                 folder: str | Path = DEFAULT_FOLDER, uploads: str | Path | None = None,
                 runner: Callable[..., Result] | None = None) -> None:
        self.backbone = resolve_name(backbone)
        self.folder = Path(folder)
        self.runner = runner  # None: helpers.stylize (TensorFlow loads at the first run)
        self.uploads = Uploads(uploads)
        self.current: dict[str, Any] | None = None  # the history entry on show
        self.panel = Controls(self.backbone, preview_size, render_size, iterations)
        self.controls = self.panel.widgets
        self.layer_boxes, self.layer_weights = self.panel.layer_boxes, self.panel.layer_weights
        self.warm_toggle = self.panel.warm_toggle
        self.outputs = out = Outputs(load_choice("chelsea"))
        self.buttons, self.save_name, self.status = out.buttons, out.save_name, out.status
        self.preview, self.plot, self.code = out.preview, out.plot, out.code
        self._say = out.say
        self._painter = Painter(self, out)
        self._runs = Runner(out.say)
        self._history = History(lambda entry: self.restore(
            next(i for i, item in enumerate(self.history) if item is entry)))
        self.strip = self._history.strip
        self._connect()
        super().__init__(panel_layout(out, control_tabs(self.panel), self.strip),
                         layout=w.Layout(width="1010px"))

    def _connect(self) -> None:
        """Buttons to their actions, every control to a restart of a running run, uploads to
        the pickers; CSS classes (nst-app, nst-preview, nst-<control>) for browser tests."""
        actions = {"Run": self.run, "Stop": self.stop, "Save": self.save,
                   "Copy as code": self.show_code,
                   "Render": lambda: self.run(size=self.controls["render_size"].value)}
        for name, button in self.buttons.items():
            button.on_click(lambda _, act=actions[name]: act())
        self.panel.observe(lambda _: self._runs.request_restart())
        for key, upload in self.panel.upload_buttons.items():
            upload.observe(lambda change, key=key: self._uploaded(key, change), names="value")
        self.outputs.tag()
        self.panel.tag()
        self.add_class("nst-app")
        self.strip.add_class("nst-history")

    # -- settings --------------------------------------------------------------------------
    @property
    def history(self) -> list[dict[str, Any]]:
        """The last runs, newest first."""
        return self._history.entries

    def settings(self, size: int | None = None) -> dict[str, Any]:
        """The settings the controls show now (at the preview size unless ``size`` is given)."""
        return self.panel.settings(size)

    def apply(self, settings: dict[str, Any]) -> None:
        """Set the controls to ``settings`` (a running run restarts once, with them); text
        values are read as the command line reads them; a problem is said on the status."""
        try:
            notes = self.panel.apply(settings)  # moves the controls quietly ...
        except StyleTransferError as exc:
            self._say(f"Settings not applied: {exc}", error=True)
            return
        self._runs.request_restart()  # ... then a running run restarts once
        if notes:
            text = "; ".join(notes)
            self._say(text[0].upper() + text[1:] + ".")

    def load_run(self, settings: dict[str, Any], content: str, style: str) -> None:
        """Set the controls to a run's recorded ``settings`` (as
        :attr:`helpers.result.Result.settings` and its JSON hold them; a sweep's run, say)
        and its ``content`` and ``style`` images (a bundled name or a file); the preview size
        takes the run's size. As :meth:`apply` otherwise."""
        self.apply({**settings, "content": content, "style": style, "rendered": False})

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a run is going."""
        return self._runs.running

    def run(self, size: int | None = None) -> bool:
        """Start a run in a background thread; False (and nothing starts) if one is going."""
        return self._runs.start(lambda runner: self._painter.job(runner, size))

    def stop(self) -> None:
        """End the run after the current iteration, keeping its best picture."""
        self._runs.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True if none is going afterwards."""
        return self._runs.wait(timeout)

    # -- history, save, code, uploads ------------------------------------------------------
    def remember(self, settings: dict[str, Any], result: Result, warm: bool,
                 show: bool = True) -> None:
        """Put a finished run first in the history and (``show``) show its best picture."""
        entry = {"settings": settings, "result": result, "warm": warm}
        self._history.add(entry)
        self.current = entry
        if show:  # not when a change restarts the run: its first step comes at once
            self.outputs.show(result.image)

    def restore(self, index: int) -> None:
        """Bring back the settings (and picture) of ``history[index]`` (0 = newest)."""
        entry = self.history[index]
        self.current = entry
        self.apply(entry["settings"])
        self.outputs.show(entry["result"].image)
        self._say(f"Restored: {settings_summary(entry['settings'])}")

    def save(self, folder: str | Path | None = None, name: str | None = None) -> Path | None:
        """Write the picture on show and a JSON of its settings side by side, as ``name`` (by
        default the Save box's text; empty: a new ``nst-<date>-<n>.png``) in ``folder`` (by
        default the app's); the PNG's path, or None with the reason on the status. Never
        replaces a file, never writes over an image the app reads."""
        if self.current is None:
            self._say("Nothing to save yet: press Run first.", error=True)
            return None
        name = self.save_name.value if name is None else name
        try:
            out = save_entry(self.current, Path(folder or self.folder), name,
                             self.uploads.files())
        except StyleTransferError as exc:
            self._say(f"Not saved: {exc}", error=True)
            return None
        self._say(f"Saved {out} and {out.with_suffix('.json').name}")
        return out

    def code_text(self) -> str:
        """The Python call and the command line that reproduce the picture on show (or, before
        any run, the current settings)."""
        entry = self.current
        return code_text(entry["settings"] if entry else self.settings(),
                         bool(entry and entry["warm"]), self.uploads.files())

    def show_code(self) -> None:
        """Show :meth:`code_text` in the text box under the history."""
        self.code.value = self.code_text()
        self.code.layout.display = ""

    def _uploaded(self, key: str, change: dict[str, Any]) -> None:
        """An upload for picker ``key``: kept, offered and chosen
        (:func:`helpers.app.uploads.receive`); a bad file or name: one line on the status."""
        if change["new"]:
            try:
                self._say(receive(self.uploads, self.panel, key, change["new"][0]))
            except StyleTransferError as exc:
                self._say(str(exc), error=True)


def tuning_app(**kwargs: Any) -> TuningApp:
    """Build the tuning app; keyword arguments as for :class:`TuningApp`."""
    return TuningApp(**kwargs)
