"""The tuning app (notebook 06; ``make app`` serves ``notebooks/app.ipynb``): every knob of
:func:`helpers.stylize` as a widget, a live preview, a history.

``tuning_app()`` returns a :class:`TuningApp`, an ipywidgets ``VBox`` to show in JupyterLab or
Voila. Run paints at the preview size in a background thread (the kernel stays responsive);
the preview and the loss plot update after every iteration; Stop ends the run within one
iteration and keeps the best picture. Changing a control during a run restarts it, from the
current picture (warm start, the default) or from scratch. Render paints at the full size.
Every run lands in the history strip; Save writes picture + JSON (never over a file, never
over an input); "Copy as code" shows the ``helpers.stylize(...)`` call and the command line
that reproduce it. Uploaded images are kept in a temporary folder of the session.

Its parts live in :mod:`helpers.app`: the controls <-> settings, the background runner, the
view (pictures, loss plot, status words, history) and the uploads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as w
import numpy as np

from helpers import data, images
from helpers.app import view
from helpers.app.code import cli_command, run_settings, sources, stylize_code, stylize_kwargs
from helpers.app.controls import Controls, image_choices
from helpers.app.engine import stylize_function, warm_up
from helpers.app.runner import Runner
from helpers.app.saving import bundled_files, save_path
from helpers.app.uploads import Uploads
from helpers.app.view import (
    HISTORY_LENGTH,
    PANEL_WIDTH,
    PREVIEW_WIDTH,
    History,
    outcome_line,
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


def load_choice(source: str) -> np.ndarray:
    """The (H, W, 3) uint8 image of a picker source (a bundled image's name or a file)."""
    return data.bundled_image(source) if source in data.BUNDLED else images.load_image(source)


class TuningApp(w.VBox):
    """The tuning app (see the module docstring). ``controls`` maps setting names to widgets;
    ``history`` holds the last runs as dicts with ``settings``, ``result`` and ``warm``.
    ``folder``: where Save writes; ``uploads``: where uploads are kept (default: a temporary
    folder of this app); ``runner``: the function that paints (default :func:`helpers.stylize`)."""

    def __init__(
        self,
        *,
        backbone: str = "auto",
        preview_size: int = 256,
        render_size: int = 512,
        iterations: int = 100,
        folder: str | Path = DEFAULT_FOLDER,
        uploads: str | Path | None = None,
        runner: Callable[..., Result] | None = None,
    ) -> None:
        self.backbone = resolve_name(backbone)
        self.folder = Path(folder)
        self.runner = runner  # None: helpers.stylize (TensorFlow loads at the first run)
        self.uploads = Uploads(uploads)
        self.current: dict[str, Any] | None = None  # the history entry on show
        self._applying = False
        self._images: dict[str, np.ndarray] = {}
        self._live: list[dict[str, float]] = []
        self.panel = Controls(self.backbone, preview_size, render_size, iterations)
        self.controls = self.panel.widgets
        self.layer_boxes, self.layer_weights = self.panel.layer_boxes, self.panel.layer_weights
        self.warm_toggle = self.panel.warm_toggle
        self._make_outputs()
        self._runs = Runner(self._say)
        self._history = History(lambda entry: self.restore(
            next(i for i, item in enumerate(self.history) if item is entry)))
        self.strip = self._history.strip
        self._connect()
        super().__init__(self._layout(), layout=w.Layout(width="1010px"))

    # -- building the panel ----------------------------------------------------------------
    def _make_outputs(self) -> None:
        """The buttons, the Save name box, the status line, the preview, the loss plot and the
        code box."""
        self.buttons = {name: w.Button(description=name, icon=icon, button_style=kind,
                                       layout=w.Layout(width="140px" if name == "Copy as code"
                                                       else "100px"))
                        for name, icon, kind in (("Run", "play", "success"),
                                                 ("Stop", "stop", "danger"),
                                                 ("Render", "image", ""),
                                                 ("Save", "save", ""),
                                                 ("Copy as code", "code", ""))}
        self.save_name = w.Text(placeholder="file name (optional)",
                                tooltip="Save's file name in the save folder; empty: a new "
                                        "nst-<date>-<n>.png", layout=w.Layout(width="190px"))
        self.status = w.HTML(value="Ready: press <b>Run</b> for a preview.",
                             layout=w.Layout(min_height="24px"))
        self.preview = w.Image(value=png_bytes(load_choice("chelsea"), PREVIEW_WIDTH),
                               format="png", layout=w.Layout(width=f"{PREVIEW_WIDTH}px"))
        self.plot = w.Image(value=view.blank_plot_png(), format="png",
                            layout=w.Layout(width=f"{PANEL_WIDTH}px"))
        self.code = w.Textarea(layout=w.Layout(width="100%", height="230px", display="none"))

    def _connect(self) -> None:
        """Buttons to their actions, every control to a restart of a running run, uploads to
        the pickers; CSS classes (nst-app, nst-preview, nst-<control>) for browser tests."""
        actions = {"Run": self.run, "Stop": self.stop, "Save": self.save,
                   "Copy as code": self.show_code,
                   "Render": lambda: self.run(size=self.controls["render_size"].value)}
        for name, button in self.buttons.items():
            button.add_class(f"nst-{name.split()[0].lower()}")
            button.on_click(lambda _, act=actions[name]: act())
        for key, widget in self.controls.items():
            widget.add_class(f"nst-{key.replace('_', '-')}")
        self.panel.observe(self._changed)
        for key, upload in self.panel.upload_buttons.items():
            upload.observe(lambda change, key=key: self._uploaded(key, change), names="value")
            upload.add_class(f"nst-upload-{key}")
        for widget, name in ((self, "app"), (self.preview, "preview"), (self.status, "status"),
                             (self.strip, "history"), (self.save_name, "save-name")):
            widget.add_class(f"nst-{name}")

    def _layout(self) -> list[w.Widget]:
        """The panel: buttons and status; tabs and loss plot beside the preview; history."""
        return [
            w.HBox([*self.buttons.values(), self.save_name]), self.status,
            w.HBox([w.VBox([self.panel.tabs(), self.plot]), self.preview],
                   layout=w.Layout(align_items="flex-start", justify_content="space-between")),
            w.HTML("<b>History</b> <small>(newest first; Restore brings back the settings)"
                   "</small>"),
            self.strip, self.code,
        ]

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
        self._applying = True
        try:
            notes = self.panel.apply(settings)
        except StyleTransferError as exc:
            self._say(f"Settings not applied: {exc}", error=True)
            return
        finally:
            self._applying = False
        self._changed(None)
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
        return self._runs.start(lambda runner: self._work(runner, size))

    def stop(self) -> None:
        """End the run after the current iteration, keeping its best picture."""
        self._runs.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True if none is going afterwards."""
        return self._runs.wait(timeout)

    def _changed(self, change: dict[str, Any] | None) -> None:
        """A control moved: ask a running run to restart with the new settings."""
        if not self._applying:
            self._runs.request_restart()

    def _work(self, runner: Runner, size: int | None) -> None:
        """The background job: paint, then repeat while a change asked for a restart."""
        init: np.ndarray | None = None
        while True:
            settings = self.settings(size)
            self._live = []
            result = self._paint(settings, init)
            self._remember(settings, result, warm=init is not None)
            if not runner.next_round(lambda r=result: self._say(
                    outcome_line(r, runner.stop_requested))):
                return
            same_photo = self.controls["content"].value == settings["content"]
            init = result.image if self.warm_toggle.value and same_photo else None

    def _image(self, source: str) -> np.ndarray:
        """The (H, W, 3) uint8 image of a picker source, loaded once."""
        if source not in self._images:
            self._images[source] = load_choice(source)
        return self._images[source]

    def _paint(self, settings: dict[str, Any], init: np.ndarray | None) -> Result:
        """One ``stylize`` run with ``settings``, from ``init`` (a warm start) if given."""
        kwargs = stylize_kwargs(settings)  # bad settings: one line before anything loads
        content = self._image(settings["content"])
        style: Any = self._image(settings["style"])
        if settings.get("style2"):
            style = [style, self._image(settings["style2"])]
        if init is not None:
            kwargs["init"] = init
        self._say(f"Painting at {settings['size']} px: preparing the photo and the painting "
                  "...")
        paint = self.runner or stylize_function()
        return paint(content, style, **kwargs, callback=self._iteration, progress=False)

    def _iteration(self, state: dict[str, Any]) -> bool:
        """stylize's callback: update preview, plot and status; True asks it to stop."""
        self._live.append({k: state[k] for k in ("iteration", "total", "content", "style", "tv")})
        self.preview.value = png_bytes(state["image"], PREVIEW_WIDTH)
        self.plot.value = view.loss_plot_png(self._live)
        if not self._runs.stop_requested:
            self._say(f"Iteration {state['iteration']} · {state['seconds']:.1f} s · "
                      f"loss {state['total']:.4g}")
        return self._runs.interrupted()

    # -- history, save, code ---------------------------------------------------------------
    def _remember(self, settings: dict[str, Any], result: Result, warm: bool) -> None:
        """Put a finished run first in the history and show its best picture."""
        entry = {"settings": settings, "result": result, "warm": warm}
        self._history.add(entry)
        self.current = entry
        self.preview.value = png_bytes(result.image, PREVIEW_WIDTH)

    def restore(self, index: int) -> None:
        """Bring back the settings (and picture) of ``history[index]`` (0 = newest)."""
        entry = self.history[index]
        self.current = entry
        self.apply(entry["settings"])
        self.preview.value = png_bytes(entry["result"].image, PREVIEW_WIDTH)
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
        result = self.current["result"]
        meta = {**result.settings, **self.current["settings"], "warm_start": self.current["warm"]}
        try:
            inputs = [*self.uploads.files(), *sources(self.current["settings"])]
            path = save_path(Path(folder or self.folder), name.strip(), inputs)
            out = dataclasses.replace(result, settings=meta).save(path)
        except StyleTransferError as exc:
            self._say(f"Not saved: {exc}", error=True)
            return None
        self._say(f"Saved {out} and {out.with_suffix('.json').name}")
        return out

    def code_text(self) -> str:
        """The Python call and the command line that reproduce the picture on show (or, before
        any run, the current settings)."""
        entry = self.current
        settings = entry["settings"] if entry else self.settings()
        uploaded = any(Path(s) in self.uploads.files() for s in sources(settings))
        note = ("# Uploaded images live in a temporary folder of this app session: copy them "
                "elsewhere\n# and change their paths below to keep this code working.\n"
                if uploaded else "")
        return (note + stylize_code(settings, warm=bool(entry and entry["warm"]))
                + "\n# The same on the command line:\n" + cli_command(settings))

    def show_code(self) -> None:
        """Show :meth:`code_text` in the text box under the history."""
        self.code.value = self.code_text()
        self.code.layout.display = ""

    def _uploaded(self, key: str, change: dict[str, Any]) -> None:
        """Keep an uploaded image (:class:`~helpers.app.uploads.Uploads`) and choose it; a bad
        file or name: one line on the status, the pickers unchanged."""
        if not change["new"]:
            return
        item = change["new"][0]
        name = str(item.get("name", ""))
        try:
            path = self.uploads.add(name, bytes(item["content"]))
        except StyleTransferError as exc:
            self._say(f"Upload {name[:60]!r} not used: {exc}", error=True)
            return
        finally:
            self.panel.upload_buttons[key].value = ()  # the same file may be picked again
        self._images.pop(str(path), None)
        self._applying = True  # offering a choice moves no setting: no restart
        try:
            self.panel.offer(str(path), self._upload_label(path))
        finally:
            self._applying = False
        self.controls[key].value = str(path)
        dropped = "" if path.name == name else f" (from {name[:60]!r}, without its folder)"
        self._say(f"Using {path.name}{dropped} as the {key.replace('2', ' (second)')} image.")

    def _upload_label(self, path: Path) -> str:
        """The pickers' label of an upload: ``upload: NAME``, numbered when another upload
        has that name."""
        label = f"upload: {path.name}"
        listed = [text for text, value in self.controls["content"].options if value != str(path)]
        count = sum(text == label or text.startswith(f"{label} (") for text in listed)
        return f"{label} ({count + 1})" if count else label

    def _say(self, text: str, error: bool = False) -> None:
        """Show ``text`` on the status line, as one line (red for an error)."""
        self.status.value = view.status_html(text, error)


def tuning_app(**kwargs: Any) -> TuningApp:
    """Build the tuning app; keyword arguments as for :class:`TuningApp`."""
    return TuningApp(**kwargs)
