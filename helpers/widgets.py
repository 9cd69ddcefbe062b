"""The tuning app (notebook 06): every knob of :func:`helpers.stylize` as a widget, a live
preview, a history.

``tuning_app()`` returns a :class:`TuningApp`, an ipywidgets ``VBox`` to show in JupyterLab or
Voila. Run paints at the preview size in a background thread (the kernel stays responsive);
the preview and the loss plot update after every iteration; Stop ends the run within one
iteration and keeps the best picture. Changing a control during a run restarts it, from the
current picture (warm start, the default) or from scratch. Render paints at the full size.
Every run lands in the history strip; Save writes picture + JSON; "Copy as code" shows the
``helpers.stylize(...)`` call and the command line that reproduce it.

*App settings* are a JSON-able dict: the image sources (a bundled image's name from
:data:`helpers.data.BUNDLED`, else a file path), ``style2``/``style_blend`` for a second
style, and the :class:`~helpers.settings.Settings` the controls show (:func:`run_settings`).
"""

from __future__ import annotations

import dataclasses
import io
import shlex
import threading
import time
from html import escape
from pathlib import Path
from typing import Any, Callable

import ipywidgets as w
import numpy as np
from PIL import Image

from helpers import backbone as bb
from helpers import data, images, optimize
from helpers.errors import StyleTransferError
from helpers.settings import (
    CHOICES,
    DEFAULTS,
    STYLE_WEIGHTS,
    Settings,
    command_line_flags,
    default_layer_weights,
    python_arguments,
)

PREVIEW_WIDTH = 512  # px on screen; a 256 px preview is shown at twice its size
PANEL_WIDTH = 470  # px: the control tabs, and the loss plot under them
HISTORY_LENGTH = 6
#: Where Save writes (and uploads are kept) unless the app is given another folder.
DEFAULT_FOLDER = data.DATA_DIR.parent / "build" / "tuning"
_FIELDS = tuple(f.name for f in dataclasses.fields(Settings))
_ROW = {"description_width": "120px"}


def _note(text: str) -> w.HTML:
    """A small grey explanatory line under a group of controls."""
    return w.HTML(f"<div style='line-height:1.3;font-size:12px;color:#555;margin:4px 0'>"
                  f"{text}</div>")


def image_choices(data_dir: Path = data.DATA_DIR) -> dict[str, str]:
    """Picker options, label -> source: the bundled images by name, then every other image
    file under ``data_dir`` (by absolute path)."""
    choices = {"chelsea (content)": "chelsea", "swirls (style)": "swirls", "mosaic": "mosaic"}
    bundled = {data.SWIRLS_FILE, data.MOSAIC_FILE}
    for path in sorted(data_dir.rglob("*")):
        if path.suffix.lower() in images.IMAGE_SUFFIXES and path not in bundled:
            choices[str(path.relative_to(data_dir))] = str(path)
    return choices


def load_choice(source: str) -> np.ndarray:
    """The (H, W, 3) uint8 image of a picker source (a bundled image's name or a file)."""
    return data.bundled_image(source) if source in data.BUNDLED else images.load_image(source)


def png_bytes(image: np.ndarray, width: int | None = None) -> bytes:
    """PNG file bytes of an (H, W, 3) uint8 image, resized to ``width`` px if given."""
    pic = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if width is not None:
        pic = pic.resize((width, max(1, round(pic.height * width / pic.width))), Image.LANCZOS)
    buffer = io.BytesIO()
    pic.save(buffer, format="png")
    return buffer.getvalue()


def loss_plot_png(history: list[dict[str, float]], size: tuple[int, int] = (PANEL_WIDTH, 180)
                  ) -> bytes:
    """PNG bytes of a log-scale plot of each loss term against the iteration; ``size`` in px."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = [h["iteration"] for h in history]
    for key, colour in (("total", "black"), ("content", "tab:blue"), ("style", "tab:orange"),
                        ("tv", "tab:green")):
        values = [h[key] for h in history]
        if any(v > 0 for v in values):
            ax.plot(steps, values, label=key, color=colour, lw=1.5)
    if ax.lines:
        ax.set_yscale("log")
        ax.legend(fontsize=7, ncol=4, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                  frameon=False, borderaxespad=0.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration", fontsize=8)
    ax.set_title("Loss (log scale)", fontsize=9, loc="left")
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    fig.tight_layout(pad=0.4)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def run_settings(settings: dict[str, Any]) -> Settings:
    """The :class:`Settings` of app settings: the controls that are settings, and blend
    weights ``[1 - blend, blend]`` when there is a second style."""
    kwargs = {key: settings[key] for key in _FIELDS if key in settings}
    if settings.get("style2"):
        blend = float(settings.get("style_blend", 0.5))
        kwargs["style_blend_weights"] = [1.0 - blend, blend]
    return Settings(**kwargs)


def stylize_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """The :func:`helpers.stylize` keyword arguments of app settings (images excluded)."""
    return run_settings(settings).changed()


def _python_source(source: str) -> str:
    """The Python expression for a picker source: ``helpers.data.<loader>()`` for a bundled
    image, else the quoted file path."""
    return f"helpers.data.{data.BUNDLED[source].__name__}()" if source in data.BUNDLED \
        else repr(source)


def _sources(settings: dict[str, Any]) -> list[str]:
    """The content, style and (if chosen) second style sources of app settings."""
    return [settings["content"], settings["style"], *filter(None, [settings.get("style2")])]


def stylize_code(settings: dict[str, Any], warm: bool = False) -> str:
    """Python source that reproduces a run: ``import helpers`` and one ``helpers.stylize`` call."""
    content, *styles = [_python_source(s) for s in _sources(settings)]
    style = styles[0] if len(styles) == 1 else f"[{', '.join(styles)}]"
    note = ("# The app warm-started this picture from the previous one; this call starts from\n"
            "# `init` instead, so its picture differs a little.\n" if warm else "")
    return (f"import helpers\n\n{note}result = helpers.stylize(\n    {content},\n    {style},\n"
            f"{python_arguments(run_settings(settings))})\n"
            "result.save('build/tuning/result.png')\n")


def cli_command(settings: dict[str, Any], output: str = "build/tuning/result.png") -> str:
    """The ``python -m helpers stylize ...`` line that reproduces app settings (bundled images
    by name), shell-quoted."""
    content, style, *more = _sources(settings)
    parts = ["python", "-m", "helpers", "stylize", content, style, "-o", output]
    for extra in more:
        parts += ["--style", extra]
    return shlex.join(parts + command_line_flags(run_settings(settings)))


def _close_tree(widget: w.Widget) -> None:
    """Close ``widget``, its children and their layouts and styles: ipywidgets keeps every
    widget (and its comm) alive until it is closed."""
    for child in getattr(widget, "children", ()):
        _close_tree(child)
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(part, w.Widget):
            part.close()
    widget.close()


def settings_summary(settings: dict[str, Any]) -> str:
    """One short line: the weights, size, iterations and images of ``settings``."""
    style = Path(settings["style"]).stem
    if settings.get("style2"):
        style += f"+{Path(settings['style2']).stem} ({settings['style_blend']:.2f})"
    return (f"c {settings['content_weight']:.2g} · s {settings['style_weight']:.2g} · "
            f"tv {settings['tv_weight']:.1e} · {settings['size']} px · "
            f"{settings['iterations']} it · {settings['init']} · "
            f"{Path(settings['content']).stem} / {style}")


class TuningApp(w.VBox):
    """The tuning app (see the module docstring). ``controls`` maps setting names to widgets;
    ``history`` holds the last runs as dicts with ``settings``, ``result`` and ``warm``."""

    def __init__(
        self,
        *,
        backbone: str = "auto",
        preview_size: int = 256,
        render_size: int = 512,
        iterations: int = 100,
        folder: str | Path = DEFAULT_FOLDER,
        runner: Callable[..., optimize.Result] | None = None,
    ) -> None:
        self.backbone = bb.resolve_name(backbone)
        self.folder = Path(folder)
        self.runner = runner or optimize.stylize
        self.history: list[dict[str, Any]] = []
        self._cards: list[w.VBox] = []  # the history strip's cards, one per history entry
        self.current: dict[str, Any] | None = None  # the history entry on show
        self._state = threading.RLock()  # guards _running and _restart (RLock: see _work)
        self._running = False
        self._restart = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._applying = False
        self._images: dict[str, np.ndarray] = {}
        self._live: list[dict[str, float]] = []

        layers = bb.load_backbone(self.backbone, pooling="avg").layer_names
        self.controls = self._make_controls(layers, preview_size, render_size, iterations)
        self._make_layer_controls(layers)
        self._make_buttons()
        self._make_outputs()
        self._connect()
        super().__init__(self._layout(), layout=w.Layout(width="1010px"))

    # -- building the panel ----------------------------------------------------------------
    def _make_controls(self, layers: list[str], preview_size: int, render_size: int,
                       iterations: int) -> dict[str, w.Widget]:
        """One widget per setting the panel offers, at the backbone's defaults."""
        defaults, choices = DEFAULTS[self.backbone], image_choices()

        def slider(kind: type, label: str, value: float, **range_: Any) -> w.Widget:
            return kind(value=value, description=label, continuous_update=False, style=_ROW,
                        layout=w.Layout(width="430px"), **range_)

        def log_slider(label: str, value: float, low: int, high: int) -> w.Widget:
            return slider(w.FloatLogSlider, label, value, base=10, min=low, max=high, step=0.05,
                          readout_format=".2e")

        def dropdown(label: str, options: Any, value: Any, width: str = "") -> w.Dropdown:
            return w.Dropdown(options=options, value=value, description=label, style=_ROW,
                              layout=w.Layout(width=width) if width else w.Layout())

        pictures = list(choices.items())
        return {
            "content_weight": log_slider("content weight", defaults["content_weight"], -3, 3),
            "style_weight": log_slider("style weight", STYLE_WEIGHTS[defaults["style_loss"]],
                                       -2, 5),
            "tv_weight": log_slider("TV weight", defaults["tv_weight"], -8, -1),
            "content_layer": dropdown("content layer", layers, defaults["content_layer"]),
            "content": dropdown("content image", pictures, "chelsea", "330px"),
            "style": dropdown("style image", pictures, "swirls", "330px"),
            "style2": dropdown("second style", [("none", ""), *pictures], "", "330px"),
            "style_blend": slider(w.FloatSlider, "blend (2nd)", 0.5, min=0.0, max=1.0,
                                  step=0.05),
            "style_scale": slider(w.FloatSlider, "style scale", defaults["style_scale"],
                                  min=0.5, max=2.0, step=0.05),
            "preserve_color": dropdown("keep colours", CHOICES["preserve_color"], "none"),
            "size": slider(w.IntSlider, "preview size", preview_size, min=64, max=512, step=32),
            "render_size": slider(w.IntSlider, "render size", render_size, min=128, max=1024,
                                  step=64),
            "iterations": slider(w.IntSlider, "iterations", iterations, min=1, max=500),
            "init": dropdown("start from", CHOICES["init"], Settings.init),
            "balance_style_layers": w.Checkbox(
                value=defaults["balance_style_layers"], indent=False,
                description="balance the layers by their all-zero loss (else "
                            f"{'1/L' if defaults['style_loss'] == 'sliced' else '4/C²'} each)"),
            "pooling": dropdown("pooling", CHOICES["pooling"], defaults["pooling"]),
            "precision": dropdown("precision", CHOICES["precision"], "auto"),
        }

    def _make_layer_controls(self, layers: list[str]) -> None:
        """A checkbox and a relative-weight slider per ``_conv1`` layer (style layers)."""
        chosen = DEFAULTS[self.backbone]["style_layers"]
        candidates = [n for n in layers if n.endswith("_conv1")]
        self.layer_boxes = {n: w.Checkbox(value=n in chosen, description=n, indent=False,
                                          layout=w.Layout(width="130px")) for n in candidates}
        self.layer_weights = {n: w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05,
                                               continuous_update=False, readout_format=".2f",
                                               layout=w.Layout(width="290px"))
                              for n in candidates}

    def _make_buttons(self) -> None:
        """Run, Stop, Render, Save and Copy as code; the upload buttons; the warm toggle."""
        self.buttons = {name: w.Button(description=name, icon=icon, button_style=kind,
                                       layout=w.Layout(width="140px" if name == "Copy as code"
                                                       else "100px"))
                        for name, icon, kind in (("Run", "play", "success"),
                                                 ("Stop", "stop", "danger"),
                                                 ("Render", "image", ""),
                                                 ("Save", "save", ""),
                                                 ("Copy as code", "code", ""))}
        self.uploads = {key: w.FileUpload(accept="image/*", description="upload",
                                          layout=w.Layout(width="100px"))
                        for key in ("content", "style", "style2")}
        self.warm_toggle = w.Dropdown(
            options=[("continue from picture", True), ("start from scratch", False)],
            value=True, description="on a change", style=_ROW,
            tooltip="what a change of settings during a run does: keep painting the current "
                    "picture (warm start) or start again from the chosen start image")

    def _make_outputs(self) -> None:
        """The status line, the preview, the loss plot, the history strip and the code box."""
        self.status = w.HTML(value="Ready: press <b>Run</b> for a preview.",
                             layout=w.Layout(min_height="24px"))
        self.preview = w.Image(value=png_bytes(load_choice("chelsea"), PREVIEW_WIDTH),
                               format="png", layout=w.Layout(width=f"{PREVIEW_WIDTH}px"))
        self.plot = w.Image(value=loss_plot_png([]), format="png",
                            layout=w.Layout(width=f"{PANEL_WIDTH}px"))
        self.strip = w.HBox(layout=w.Layout(min_height="40px", flex_flow="row wrap"))
        self.code = w.Textarea(layout=w.Layout(width="100%", height="230px", display="none"))

    def _connect(self) -> None:
        """Buttons to their actions, every control to a restart of a running run, uploads to
        the pickers; CSS classes (nst-app, nst-preview, nst-<control>) for browser tests."""
        c = self.controls
        actions = {"Run": self.run, "Stop": self.stop, "Save": self.save,
                   "Copy as code": self.show_code,
                   "Render": lambda: self.run(size=c["render_size"].value)}
        for name, button in self.buttons.items():
            button.add_class(f"nst-{name.split()[0].lower()}")
            button.on_click(lambda _, act=actions[name]: act())
        for key, widget in c.items():
            widget.add_class(f"nst-{key.replace('_', '-')}")
            if key != "render_size":
                widget.observe(self._changed, names="value")
        for widget in (*self.layer_boxes.values(), *self.layer_weights.values()):
            widget.observe(self._changed, names="value")
        for key, upload in self.uploads.items():
            upload.observe(lambda change, key=key: self._uploaded(key, change), names="value")
        self.add_class("nst-app")
        self.preview.add_class("nst-preview")
        self.status.add_class("nst-status")
        self.strip.add_class("nst-history")

    def _layout(self) -> list[w.Widget]:
        """The panel: buttons and status; tabs and loss plot beside the preview; history."""
        c, up = self.controls, self.uploads
        tabs = w.Tab(children=[
            w.VBox([c["content_weight"], c["style_weight"], c["tv_weight"],
                    _note("Log-scale sliders. Only the ratios matter: scaling all three together "
                          "paints the same picture.")]),
            w.VBox([c["content_layer"], c["balance_style_layers"],
                    w.HTML("<b>style layers</b> and their weights (1 = the default)"),
                    *(w.HBox([box, self.layer_weights[n]])
                      for n, box in self.layer_boxes.items())]),
            w.VBox([w.HBox([c["content"], up["content"]]), w.HBox([c["style"], up["style"]]),
                    w.HBox([c["style2"], up["style2"]]),
                    c["style_blend"], c["style_scale"], c["preserve_color"]]),
            w.VBox([c["size"], c["render_size"], c["iterations"], c["init"], c["pooling"],
                    c["precision"], self.warm_toggle,
                    _note("A change during a run restarts it: from the picture so far (warm start) "
                          "or from the start image.")]),
        ], titles=("Weights", "Layers", "Images", "Run"), layout=w.Layout(width=f"{PANEL_WIDTH}px"))
        return [
            w.HBox(list(self.buttons.values())), self.status,
            w.HBox([w.VBox([tabs, self.plot]), self.preview],
                   layout=w.Layout(align_items="flex-start", justify_content="space-between")),
            w.HTML("<b>History</b> <small>(newest first; Restore brings back the settings)"
                   "</small>"),
            self.strip, self.code,
        ]

    # -- settings --------------------------------------------------------------------------
    def settings(self, size: int | None = None) -> dict[str, Any]:
        """The settings the controls show now (at the preview size unless ``size`` is given)."""
        c = self.controls
        chosen = [n for n, box in self.layer_boxes.items() if box.value]
        raw = [self.layer_weights[n].value for n in chosen]
        mean, base = (sum(raw) / len(raw) if raw else 0.0), self._base_weights(chosen)
        values = {key: widget.value for key, widget in c.items()}
        return {**values, "size": size or c["size"].value, "rendered": size is not None,
                "backbone": self.backbone,
                "style_layers": chosen,  # each slider scales its layer's default weight
                "style_layer_weights": [v / mean * b if mean else 0.0
                                        for v, b in zip(raw, base, strict=True)]}

    def _base_weights(self, layers: list[str]) -> tuple[float, ...]:
        """The default weights of ``layers`` for this backbone (what a slider at 1 gives)."""
        return default_layer_weights(layers, self.controls["balance_style_layers"].value,
                                     DEFAULTS[self.backbone]["style_loss"])

    def apply(self, settings: dict[str, Any]) -> None:
        """Set the controls to ``settings`` (a running run restarts once, with them)."""
        self._applying = True
        try:
            for key in ("content", "style", "style2"):
                if settings.get(key):  # e.g. a file from a saved JSON that no picker lists
                    self._offer(settings[key], f"file: {Path(settings[key]).name}")
            for key, widget in self.controls.items():
                if key in settings and key != "size":
                    widget.value = settings[key]
            if not settings.get("rendered"):
                self.controls["size"].value = settings["size"]
            chosen = list(settings["style_layers"])
            base = self._base_weights(chosen)
            for name, box in self.layer_boxes.items():
                box.value = name in chosen
                if name in chosen:  # a slider is its layer's weight / the default weight
                    i = chosen.index(name)
                    self.layer_weights[name].value = settings["style_layer_weights"][i] / base[i]
        finally:
            self._applying = False
        self._changed(None)

    # -- running ---------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a run is going."""
        return self._running

    def run(self, size: int | None = None) -> bool:
        """Start a run in a background thread; False (and nothing starts) if one is going."""
        with self._state:
            if self._running:
                self._say("The last run is still stopping: press Run again in a moment."
                          if self._stop.is_set() else "A run is already going: press Stop first.")
                return False
            self._running, self._restart = True, False
            self._stop.clear()
        self._thread = threading.Thread(target=self._work, args=(size,), daemon=True,
                                        name="nst-tuning-run")
        self._thread.start()
        return True

    def stop(self) -> None:
        """End the run after the current iteration, keeping its best picture."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True if none is going afterwards."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self._running

    def _changed(self, change: dict[str, Any] | None) -> None:
        """A control moved: ask a running run to restart with the new settings."""
        if self._applying:
            return
        with self._state:
            if self._running:
                self._restart = True

    def _work(self, size: int | None) -> None:
        """The background thread: paint, then repeat while a change asked for a restart."""
        init: np.ndarray | None = None
        try:
            while True:
                settings = self.settings(size)
                self._live = []
                result = self._paint(settings, init)
                self._remember(settings, result, warm=init is not None)
                with self._state:
                    if not self._restart or self._stop.is_set():
                        # Say "Done" before the flag drops: once run() may start a new run,
                        # this one must not write the status any more. (_state is an RLock,
                        # so a status observer that calls back into the app cannot deadlock.)
                        last = result.history[-1]
                        self._say(f"Done: {last['iteration']} iterations in "
                                  f"{last['seconds']:.1f} s ({result.stop_reason}).")
                        self._running = False
                        break
                    self._restart = False
                same_photo = self.controls["content"].value == settings["content"]
                init = result.image if self.warm_toggle.value and same_photo else None
        except StyleTransferError as exc:
            self._say(str(exc), error=True)
        except Exception as exc:  # shown in the app, not as a traceback in the kernel log
            self._say(f"Unexpected error: {type(exc).__name__}: {exc}", error=True)
        finally:
            with self._state:
                self._running = False

    def _image(self, source: str) -> np.ndarray:
        """The (H, W, 3) uint8 image of a picker source, loaded once."""
        if source not in self._images:
            self._images[source] = load_choice(source)
        return self._images[source]

    def _paint(self, settings: dict[str, Any], init: np.ndarray | None) -> optimize.Result:
        """One ``stylize`` run with ``settings``, from ``init`` (a warm start) if given."""
        content = self._image(settings["content"])
        style: Any = self._image(settings["style"])
        if settings.get("style2"):
            style = [style, self._image(settings["style2"])]
        kwargs = stylize_kwargs(settings)
        if init is not None:
            kwargs["init"] = init
        self._say(f"Running at {settings['size']} px ...")
        return self.runner(content, style, **kwargs, callback=self._iteration, progress=False)

    def _iteration(self, state: dict[str, Any]) -> bool:
        """stylize's callback: update preview, plot and status; True asks it to stop."""
        self._live.append({k: state[k] for k in ("iteration", "total", "content", "style", "tv")})
        self.preview.value = png_bytes(state["image"], PREVIEW_WIDTH)
        self.plot.value = loss_plot_png(self._live)
        self._say(f"Iteration {state['iteration']} · {state['seconds']:.1f} s · "
                  f"loss {state['total']:.4g}")
        return self._stop.is_set() or self._restart

    # -- history, save, code ---------------------------------------------------------------
    def _remember(self, settings: dict[str, Any], result: optimize.Result, warm: bool) -> None:
        """Put a finished run first in the history (and its card first in the strip); the
        card of a run that drops out is closed."""
        entry = {"settings": settings, "result": result, "warm": warm}
        self.history = [entry, *self.history]
        self._cards = [self._card(entry), *self._cards]
        dropped = self._cards[HISTORY_LENGTH:]
        self.history, self._cards = self.history[:HISTORY_LENGTH], self._cards[:HISTORY_LENGTH]
        self.current = entry
        self.preview.value = png_bytes(result.image, PREVIEW_WIDTH)
        self.strip.children = self._cards
        for card in dropped:
            _close_tree(card)

    def _card(self, entry: dict[str, Any]) -> w.VBox:
        """The history card of ``entry``: a 150 px thumbnail, a summary and a Restore button."""
        last = entry["result"].history[-1]
        settings = entry["settings"]
        summary = settings_summary(settings)
        button = w.Button(description="Restore", tooltip=summary, icon="undo",
                          layout=w.Layout(width="150px"))
        button.on_click(lambda _: self.restore(
            next(i for i, item in enumerate(self.history) if item is entry)))
        return w.VBox([
            w.Image(value=png_bytes(entry["result"].image, 150), format="png",
                    layout=w.Layout(width="150px")),
            w.HTML(f"<div style='line-height:1.35;font-size:11px;height:45px;"
                   f"overflow:hidden' title='{escape(summary, quote=True)}'>"
                   f"{last['iteration']} it · {last['seconds']:.1f} s"
                   f"{' · warm' if entry['warm'] else ''}<br>"
                   f"content {settings['content_weight']:.3g} · "
                   f"style {settings['style_weight']:.3g}<br>"
                   f"tv {settings['tv_weight']:.0e} · {settings['size']} px</div>"),
            button], layout=w.Layout(width="156px", margin="0 6px 0 0"))

    def restore(self, index: int) -> None:
        """Bring back the settings (and picture) of ``history[index]`` (0 = newest)."""
        entry = self.history[index]
        self.current = entry
        self.apply(entry["settings"])
        self.preview.value = png_bytes(entry["result"].image, PREVIEW_WIDTH)
        self._say(f"Restored: {settings_summary(entry['settings'])}")

    def save(self, folder: str | Path | None = None) -> Path | None:
        """Write the picture on show and a JSON of its settings side by side; the PNG's path."""
        if self.current is None:
            self._say("Nothing to save yet: press Run first.", error=True)
            return None
        folder = Path(folder or self.folder)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = folder / f"nst-{stamp}-{len(list(folder.glob('nst-*.png'))) + 1:03d}.png"
        result = self.current["result"]
        meta = {**result.settings, **self.current["settings"], "warm_start": self.current["warm"]}
        try:
            out = dataclasses.replace(result, settings=meta).save(path)
        except (OSError, StyleTransferError) as exc:
            self._say(f"Could not save into {folder}: {exc}", error=True)
            return None
        self._say(f"Saved {out} and {out.with_suffix('.json').name}")
        return out

    def code_text(self) -> str:
        """The Python call and the command line that reproduce the picture on show (or, before
        any run, the current settings)."""
        entry = self.current
        settings = entry["settings"] if entry else self.settings()
        return (stylize_code(settings, warm=bool(entry and entry["warm"]))
                + "\n# The same on the command line:\n" + cli_command(settings))

    def show_code(self) -> None:
        """Show :meth:`code_text` in the text box under the history."""
        self.code.value = self.code_text()
        self.code.layout.display = ""

    def _uploaded(self, key: str, change: dict[str, Any]) -> None:
        """Save an uploaded image under ``folder/uploads`` and choose it; bad files: a message."""
        if not change["new"]:
            return
        item = change["new"][0]
        path = self.folder / "uploads" / Path(item["name"]).name
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(bytes(item["content"]))
            images.load_image(path)
        except (OSError, StyleTransferError) as exc:
            path.unlink(missing_ok=True)
            self._say(f"Upload {item['name']!r} not used: {exc}", error=True)
            return
        self._images.pop(str(path), None)
        self._offer(str(path), f"upload: {path.name}")
        self.controls[key].value = str(path)
        self._say(f"Using {path.name} as the {key.replace('2', ' (second)')} image.")

    def _offer(self, source: str, label: str) -> None:
        """Add ``source`` (an image file path) to the three image pickers unless they list it."""
        for name in ("content", "style", "style2"):
            picker = self.controls[name]
            if source not in [value for _, value in picker.options]:
                picker.options = [*picker.options, (label, source)]

    def _say(self, text: str, error: bool = False) -> None:
        """Show ``text`` on the status line (red for an error); HTML-escaped."""
        colour = "#b00020" if error else "#333"
        self.status.value = f"<span style='color:{colour}'>{escape(text)}</span>"


def tuning_app(**kwargs: Any) -> TuningApp:
    """Build the tuning app; keyword arguments as for :class:`TuningApp`."""
    return TuningApp(**kwargs)
