"""The tuning app's controls (notebook 06): one widget per setting the app offers, at the
defaults of the backbone that runs, and the two ways between widgets and the app's settings:
:meth:`Controls.settings` reads them, :meth:`Controls.apply` sets them (text values, as a
saved JSON or a sweep's table may hold them, are read by :func:`helpers.settings.parse_value`).

*App settings* are a JSON-able dict: the image sources (a bundled image's name from
:data:`helpers.data.BUNDLED`, else a file path), ``style2``/``style_blend`` for a second
style, ``render_size``, and the :class:`~helpers.settings.Settings` fields the controls show.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import ipywidgets as w

from helpers import data, images
from helpers.app.view import PANEL_WIDTH, note
from helpers.backbones import layer_names
from helpers.errors import StyleTransferError
from helpers.settings import (
    CHOICES,
    DEFAULTS,
    MAX_SCALES,
    STYLE_WEIGHTS,
    Settings,
    default_layer_weights,
    parse_value,
)

#: App settings that are not Settings fields, and the field whose type their text has.
_APP_ONLY = {"render_size": "size", "style_blend": "style_scale"}
_FIELDS = tuple(f.name for f in dataclasses.fields(Settings))
_ROW = {"description_width": "120px"}
#: The start images (``init``) in the user's words, as the status line names them ...
START_LABELS = {"gradient_map": "the photo in the painting's colours",
                "content": "the photo as it is", "color_matched": "the photo, colours matched",
                "detail_matched": "the photo, colours matched where it has detail",
                "noise": "noise", "style": "the painting"}
#: ... and as the start control lists them (short enough for its box).
START_CHOICES = {"gradient_map": "photo in painting's colours", "content": "photo as it is",
                 "color_matched": "photo, colours matched",
                 "detail_matched": "photo, detail colours matched", "noise": "noise",
                 "style": "the painting"}


def image_choices(data_dir: Path = data.DATA_DIR) -> dict[str, str]:
    """Picker options, label -> source: the bundled images by name, then every other image
    file under ``data_dir`` (by absolute path)."""
    choices = {"chelsea (content)": "chelsea", "swirls (style)": "swirls", "mosaic": "mosaic"}
    bundled = {data.SWIRLS_FILE, data.MOSAIC_FILE}
    for path in sorted(data_dir.rglob("*")):
        if path.suffix.lower() in images.IMAGE_SUFFIXES and path not in bundled:
            choices[str(path.relative_to(data_dir))] = str(path)
    return choices


def setting_value(key: str, value: Any) -> Any:
    """An app setting's value; text (``"1e3"``, ``"true"``, ``"a,b"``) read by
    :func:`helpers.settings.parse_value` by the type of its Settings field."""
    if not isinstance(value, str) or key in ("content", "style", "style2"):
        return value
    field = _APP_ONLY.get(key, key)
    if field not in _FIELDS:
        return value
    try:
        parsed = parse_value(field, value)
    except StyleTransferError as exc:
        raise StyleTransferError(str(exc).replace(field, key, 1)) from None
    if isinstance(parsed, float) and not math.isfinite(parsed):
        raise StyleTransferError(f"{key} must be a finite number, not {value!r}")
    return list(parsed) if isinstance(parsed, tuple) else parsed


def _slider(kind: type, label: str, value: float, **range_: Any) -> w.Widget:
    return kind(value=value, description=label, continuous_update=False, style=_ROW,
                layout=w.Layout(width="430px"), **range_)


def _log_slider(label: str, value: float, low: int, high: int) -> w.Widget:
    return _slider(w.FloatLogSlider, label, value, base=10, min=low, max=high, step=0.05,
                   readout_format=".2e")


def _dropdown(label: str, options: Any, value: Any, width: str = "") -> w.Dropdown:
    return w.Dropdown(options=options, value=value, description=label, style=_ROW,
                      layout=w.Layout(width=width) if width else w.Layout())


def setting_widgets(backbone: str, preview_size: int, render_size: int, iterations: int
                    ) -> dict[str, w.Widget]:
    """One widget per setting the panel offers, at ``backbone``'s defaults."""
    defaults, pictures = DEFAULTS[backbone], list(image_choices().items())
    return {
        "content_weight": _log_slider("content weight", defaults["content_weight"], -3, 3),
        "style_weight": _log_slider("style weight", STYLE_WEIGHTS[defaults["style_loss"]],
                                    -2, 5),
        "tv_weight": _log_slider("TV weight", defaults["tv_weight"], -8, -1),
        "content_layer": _dropdown("content layer", list(layer_names(backbone)),
                                   defaults["content_layer"]),
        "content": _dropdown("content image", pictures, "chelsea", "300px"),
        "style": _dropdown("style image", pictures, "swirls", "300px"),
        "style2": _dropdown("second style", [("none", ""), *pictures], "", "300px"),
        "style_blend": _slider(w.FloatSlider, "blend (2nd)", 0.5, min=0.0, max=1.0,
                               step=0.05),
        "style_scale": _slider(w.FloatSlider, "style scale", defaults["style_scale"],
                               min=0.5, max=2.0, step=0.05),
        "preserve_color": _dropdown("keep colours", CHOICES["preserve_color"], "none"),
        "size": _slider(w.IntSlider, "preview size", preview_size, min=64, max=512, step=32),
        "render_size": _slider(w.IntSlider, "render size", render_size, min=128, max=1024,
                               step=64),
        "iterations": _slider(w.IntSlider, "iterations", iterations, min=1, max=500),
        "pyramid_levels": _slider(w.IntSlider, "pyramid levels",
                                  defaults["pyramid_levels"], min=1, max=MAX_SCALES),
        "init": _dropdown("start from", [  # the default first, then the photo
            (START_CHOICES.get(v, v) + (" (default)" if v == Settings.init else ""), v)
            for v in sorted(CHOICES["init"], key=lambda v: (v != Settings.init, v != "content"))],
            Settings.init, "430px"),
        "balance_style_layers": w.Checkbox(value=defaults["balance_style_layers"],
                                           indent=False,
                                           description="balance the layers' losses"),
        "pooling": _dropdown("pooling", CHOICES["pooling"], defaults["pooling"]),
        "precision": _dropdown("precision", CHOICES["precision"], "auto"),
    }


class Controls:
    """The control widgets of a tuning app for ``backbone`` ("vgg19" or "vgg16-hed"), each at
    that backbone's default: ``widgets`` (setting name -> widget), ``layer_boxes`` and
    ``layer_weights`` (per ``_conv1`` layer), ``warm_toggle`` and ``upload_buttons``."""

    def __init__(self, backbone: str, preview_size: int, render_size: int,
                 iterations: int) -> None:
        self.backbone = backbone
        self._quiet = False
        self.widgets = setting_widgets(backbone, preview_size, render_size, iterations)
        chosen = DEFAULTS[backbone]["style_layers"]
        candidates = [n for n in layer_names(backbone) if n.endswith("_conv1")]
        self.layer_boxes = {n: w.Checkbox(value=n in chosen, description=n, indent=False,
                                          layout=w.Layout(width="130px")) for n in candidates}
        self.layer_weights = {n: w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05,
                                               continuous_update=False, readout_format=".2f",
                                               layout=w.Layout(width="290px"))
                              for n in candidates}
        self.upload_buttons = {key: w.FileUpload(accept="image/*", description="upload",
                                                 layout=w.Layout(width="130px"))
                               for key in ("content", "style", "style2")}
        self.warm_toggle = w.Dropdown(
            options=[("continue from picture", True), ("start from scratch", False)],
            value=True, description="on a change", style=_ROW,
            tooltip="what a change of settings during a run does: keep painting the current "
                    "picture (warm start) or start again from the chosen start image")

    def observe(self, changed: Callable[[Any], None]) -> None:
        """Call ``changed`` whenever a control that is part of a run's settings moves (not
        while :meth:`apply` or :meth:`offer` move them)."""
        def heard(change: Any) -> None:
            if not self._quiet:
                changed(change)

        for key, widget in self.widgets.items():
            if key != "render_size":
                widget.observe(heard, names="value")
        for widget in (*self.layer_boxes.values(), *self.layer_weights.values()):
            widget.observe(heard, names="value")

    def tag(self) -> None:
        """CSS classes for browser tests: ``nst-<setting>`` and ``nst-upload-<picker>``."""
        for key, widget in self.widgets.items():
            widget.add_class(f"nst-{key.replace('_', '-')}")
        for key, upload in self.upload_buttons.items():
            upload.add_class(f"nst-upload-{key}")

    @contextlib.contextmanager
    def _quietly(self) -> Iterator[None]:
        """Controls moved inside this block call no observer."""
        self._quiet, before = True, self._quiet
        try:
            yield
        finally:
            self._quiet = before

    def base_weights(self, layers: list[str]) -> tuple[float, ...]:
        """The default weights of ``layers`` for this backbone (what a slider at 1 gives)."""
        return default_layer_weights(layers, self.widgets["balance_style_layers"].value,
                                     DEFAULTS[self.backbone]["style_loss"], self.backbone)

    def settings(self, size: int | None = None) -> dict[str, Any]:
        """The app settings the controls show (at the preview size unless ``size`` is given)."""
        chosen = [n for n, box in self.layer_boxes.items() if box.value]
        raw = [self.layer_weights[n].value for n in chosen]
        mean, base = (sum(raw) / len(raw) if raw else 0.0), self.base_weights(chosen)
        values = {key: widget.value for key, widget in self.widgets.items()}
        return {**values, "size": size or values["size"], "rendered": size is not None,
                "backbone": self.backbone,
                "style_layers": chosen,  # each slider scales its layer's default weight
                "style_layer_weights": [v / mean * b if mean else 0.0
                                        for v, b in zip(raw, base, strict=True)]}

    def offer(self, source: str, label: str) -> None:
        """Add ``source`` (an image file path) to the three image pickers unless they list it
        (no setting moves: observers are not called)."""
        with self._quietly():
            for name in ("content", "style", "style2"):
                picker = self.widgets[name]
                if source not in [value for _, value in picker.options]:
                    chosen = picker.value  # new options reset a Dropdown to its first one
                    picker.options = [*picker.options, (label, source)]
                    picker.value = chosen

    def apply(self, settings: dict[str, Any]) -> list[str]:
        """Set the controls to app ``settings`` (text values read by ``parse_value``: text that
        is no value raises one StyleTransferError line before any control moves); returns a note for
        each value a control could not take as it is (outside a slider's range). Observers
        are not called: the caller says the settings changed, once."""
        values = {key: setting_value(key, v) for key, v in settings.items()}
        with self._quietly():
            return self._apply(values)

    def _apply(self, values: dict[str, Any]) -> list[str]:
        """:meth:`apply` with the values read (a run that started from an image file, init
        ``"image"``: the start control, which offers no file, is left as it is, and said)."""
        kept = [] if values.get("init") != "image" else [
            "the run started from an image file, which the app does not offer: start from "
            f"stays {self.widgets['init'].label}"]
        values = {k: v for k, v in values.items() if not (k == "init" and v == "image")}
        for key in ("content", "style", "style2"):
            if values.get(key):  # e.g. a file from a saved JSON that no picker lists
                self.offer(values[key], f"file: {Path(values[key]).name}")
        notes = [self._set(key, widget, values[key]) for key, widget in self.widgets.items()
                 if key in values and not (key == "size" and values.get("rendered"))]
        if values.get("style_layers") is not None:
            notes += self._apply_layers(list(values["style_layers"]),
                                        values.get("style_layer_weights"))
        return [n for n in [*kept, *notes] if n]

    def _apply_layers(self, chosen: list[str], weights: list[float] | None) -> list[str]:
        """Tick the ``chosen`` style layers and set their sliders to ``weights`` (default:
        each layer's default weight)."""
        base = self.base_weights(chosen)
        weights = list(base if weights is None else weights)
        notes = []
        for name, box in self.layer_boxes.items():
            box.value = name in chosen
            if name in chosen:  # a slider is its layer's weight / the default weight
                i = chosen.index(name)
                notes.append(self._set(name, self.layer_weights[name], weights[i] / base[i]))
        return notes

    @staticmethod
    def _set(key: str, widget: w.Widget, value: Any) -> str:
        """Set ``widget`` to ``value``; a note if it took another value (a slider's bound)."""
        try:
            widget.value = value
        except Exception:  # a traitlets TraitError, or a value a dropdown does not list
            raise StyleTransferError(f"{key} cannot be {value!r} in the app") from None
        if isinstance(widget, (w.FloatLogSlider, w.FloatSlider, w.IntSlider)) and \
                widget.value != value:
            return (f"{key.replace('_', ' ')} {value:g} is beyond its slider: set to "
                    f"{widget.value:g}")
        return ""


def control_tabs(panel: Controls) -> w.Tab:
    """The four tabs of ``panel``'s controls: Weights (with the start image beside the
    weights), Layers, Images, Run."""
    c, up = panel.widgets, panel.upload_buttons
    unbalanced = "1/L" if DEFAULTS[panel.backbone]["style_loss"] == "sliced" else "4/C²"
    return w.Tab(children=[
        w.VBox([c["content_weight"], c["style_weight"], c["tv_weight"], c["init"],
                note("The start decides the colours: from the photo in the painting's "
                     "colours the picture has the painting's palette at any weight; from "
                     "the photo as it is, the style weight must pull the colours over. The "
                     "weights decide the marks and the structure: more style weight, "
                     "bolder marks; more content weight, more of the photo's shapes. "
                     "Only their ratios matter (log-scale sliders).")]),
        w.VBox([c["content_layer"], c["balance_style_layers"],
                note(f"Balanced: each layer's loss of an all-zero image weighs the same; "
                     f"else each layer weighs {unbalanced}."),
                w.HTML("<b>style layers</b> and their weights (1 = the default)"),
                *(w.HBox([box, panel.layer_weights[n]])
                  for n, box in panel.layer_boxes.items())]),
        w.VBox([w.HBox([c["content"], up["content"]]), w.HBox([c["style"], up["style"]]),
                w.HBox([c["style2"], up["style2"]]),
                c["style_blend"], c["style_scale"], c["preserve_color"]]),
        w.VBox([c["size"], c["render_size"], c["iterations"], c["pyramid_levels"],
                c["pooling"], c["precision"], panel.warm_toggle,
                note("Pyramid levels paint the first of several scales (a Render at 384 px "
                     "or more) as blurred levels, for larger marks. A change during a run "
                     "restarts it: from the picture so far (warm start) or from the start "
                     "image.")]),
    ], titles=("Weights", "Layers", "Images", "Run"),
        layout=w.Layout(width=f"{PANEL_WIDTH}px"))
