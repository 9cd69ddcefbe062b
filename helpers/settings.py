"""The settings of a style-transfer run, checked in one place: :class:`Settings`.

Notebook 00 shows a run's settings (``result.settings``); notebooks 02-05 and 07 teach what each
one does. :func:`helpers.stylize`, the command line (``python -m helpers stylize``) and the
tuning app all build a :class:`Settings`, so they share one list of choices (:data:`CHOICES`),
one set of defaults (the field defaults, and :data:`DEFAULTS` per backbone) and one parser of a
setting written as text (:func:`parse_value`). Beside this module: the checks of one value
alone (:mod:`helpers.setting_checks`), the settings written back as code or flags ("copy as
code", :mod:`helpers.code`), and a run's plan (:mod:`helpers.run_plan`: the settings fitted to
the images, each scale's). This module imports no TensorFlow: a bad setting is refused in a
fraction of a second.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from helpers import backbones, style_losses
from helpers.backbones import vgg
from helpers.errors import StyleTransferError
from helpers.setting_checks import (
    CHOICES,
    check_choice,
    check_list,
    check_names,
    check_numbers,
    check_weight,
    check_weights_file,
    check_whole,
    shown,
)

#: Default layers, weights, style loss, pooling, style scale and coarse-to-fine policy per
#: backbone (used where a setting is ``None``): each backbone's own ``DEFAULTS``
#: (:mod:`helpers.backbones`; why ``vgg16-hed`` differs: :mod:`helpers.backbones.vgg16_hed`).
DEFAULTS: dict[str, dict[str, Any]] = backbones.DEFAULTS
#: The default style weight of each style loss (:mod:`helpers.style_losses`; why: each loss's
#: ``STYLE_WEIGHT``).
STYLE_WEIGHTS: dict[str, float] = style_losses.STYLE_WEIGHTS
#: Channels of the conv layers of each block of VGG16 and VGG19 (``blockK_convJ``).
VGG_CHANNELS = backbones.VGG_CHANNELS
#: The most coarse-to-fine scales a run may have.
MAX_SCALES = 6
#: The sizes (px) from which :func:`default_scales` paints 2 and 3 scales.
SCALE_STEPS = {2: 384, 3: 1536}


@dataclass(frozen=True)
class Settings:
    """Every setting of a run; ``None`` means "the default of the backbone that runs"
    (:data:`DEFAULTS`, filled in by :meth:`resolved`). Checked when made: a bad value raises
    :class:`~helpers.errors.StyleTransferError` with one line saying what to do.

    Images, masks, the callback and checkpoint folders are not settings: they are the
    arguments of :func:`helpers.stylize` itself.
    """

    size: int = 384
    iterations: int = 100
    content_weight: float | None = None
    style_weight: float | None = None
    tv_weight: float | None = None
    content_layer: str | None = None
    style_layers: tuple[str, ...] | None = None
    style_layer_weights: tuple[float, ...] | None = None
    balance_style_layers: bool | None = None
    style_scale: float | None = None
    style_blend_weights: tuple[float, ...] | None = None
    preserve_color: str = "none"
    style_loss: str | None = None
    backbone: str = "auto"
    weights: str | None = "imagenet"
    pooling: str | None = None
    precision: str = "auto"
    padding: str | None = None
    init: str = "gradient_map"
    seed: int = 0
    optimizer: str = "lbfgs"
    lbfgs_mode: str = "single"
    maxfun: int = 20
    learning_rate: float = 5.0
    tv_form: str = "power"
    content_detail: float = 0.0
    sliced_redraw: int = 0
    checkpoint_every: int = 0
    scales: int | None = None
    scale_iterations: tuple[int, ...] | None = None
    scale_step: float = 2.0
    scale_content_weight: float = 1.0
    pyramid_levels: int | None = None

    def __post_init__(self) -> None:
        for name, value in self._checked().items():
            object.__setattr__(self, name, value)

    def _checked(self) -> dict[str, Any]:
        """Every field checked and normalised (tuples, ints, floats)."""
        return {**self._checked_choices(), **self._checked_counts(), **self._checked_numbers(),
                "weights": check_weights_file(self.weights, self.backbone),
                "style_layers": check_names("style_layers", self.style_layers),
                "style_layer_weights": check_numbers("style_layer_weights",
                                                     self.style_layer_weights),
                "style_blend_weights": check_numbers("style_blend_weights",
                                                     self.style_blend_weights)}

    def _checked_choices(self) -> dict[str, Any]:
        """The settings that are choices (:data:`CHOICES`), each one of its choices (``None``
        only where it means the default; ``init`` may say ``"image"``, set by stylize)."""
        if not isinstance(self.init, str):
            raise StyleTransferError(
                f"Settings(init=...) takes one of {', '.join(CHOICES['init'])}, not "
                f"{shown(self.init)}; an image to start from goes to helpers.stylize(init=...)")
        out = {}
        for name in CHOICES:
            value = getattr(self, name)
            default = value is None and field_kind(name)[2]
            if not default and not (name == "init" and value == "image"):
                out[name] = check_choice(name, value)
        return out

    def _checked_counts(self) -> dict[str, Any]:
        """The whole numbers: size, iterations, seed, evaluations, the iterations between
        redraws of the sliced loss's directions, checkpoints, scales, the pyramid's levels and
        each scale's iterations."""
        out = {"size": check_whole("size", self.size, 1),
               "iterations": check_whole("iterations", self.iterations, 1),
               "seed": check_whole("seed", self.seed, 0),
               "maxfun": check_whole("maxfun", self.maxfun, 1),
               "sliced_redraw": check_whole("sliced_redraw", self.sliced_redraw, 0,
                                            " (0: the directions are drawn once)"),
               "checkpoint_every": check_whole("checkpoint_every", self.checkpoint_every, 0,
                                               " (0: never)")}
        for name in ("pyramid_levels", "scales"):
            value = getattr(self, name)
            if value is not None:
                out[name] = _check_up_to_max_scales(name, value)
        if self.scale_iterations is not None:
            out["scale_iterations"] = tuple(
                check_whole("scale_iterations", v, 1) for v in check_list(
                    "scale_iterations", self.scale_iterations, "whole numbers, one per scale"))
        return out

    def _checked_numbers(self) -> dict[str, Any]:
        """The weights, the style scale (0.1 to 4), Adam's learning rate (above 0), the
        content term's detail weighting (0 to 1) and the coarse-to-fine scales' size ratio
        (1.1 to 4) and content weight factor (above 0, at most 4)."""
        out = {name: check_weight(name, getattr(self, name))
               for name in ("content_weight", "style_weight", "tv_weight", "style_scale")
               if getattr(self, name) is not None}
        out["learning_rate"] = check_weight("learning_rate", self.learning_rate)
        out["content_detail"] = check_weight("content_detail", self.content_detail)
        if out["content_detail"] > 1:
            raise StyleTransferError("content_detail must be from 0 (off) to 1, not "
                                     f"{out['content_detail']}")
        out.update(_checked_scale_steps(self.scale_step, self.scale_content_weight))
        if out["learning_rate"] == 0:
            raise StyleTransferError("learning_rate must be above 0 (Adam's step, in grey "
                                     "levels; 5 is the default), not 0")
        if out.get("style_scale") is not None and not 0.1 <= out["style_scale"] <= 4.0:
            raise StyleTransferError(
                f"style_scale must be between 0.1 and 4, not {out['style_scale']}")
        return out

    @classmethod
    def from_options(cls, **options: Any) -> Settings:
        """A Settings from keyword arguments; an unknown name is refused with the closest
        known one (``style_weights`` -> ``style_weight``)."""
        known = [f.name for f in dataclasses.fields(cls)]
        for name in options:
            if name not in known:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise StyleTransferError(f"unknown setting {name!r}{hint}")
        return cls(**options)

    def resolved(self, backbone: str, resume: bool = False) -> Settings:
        """These settings for ``backbone`` (a resolved name, not ``"auto"``): every ``None``
        filled from :data:`DEFAULTS`, and the settings that depend on each other checked."""
        d = DEFAULTS[backbone]
        style_loss = self.style_loss or d["style_loss"]
        layers = tuple(d["style_layers"] if self.style_layers is None else self.style_layers)
        balance = (d["balance_style_layers"] if self.balance_style_layers is None
                   else self.balance_style_layers)
        out = dataclasses.replace(
            self, backbone=backbone, style_loss=style_loss,
            style_weight=(STYLE_WEIGHTS[style_loss] if self.style_weight is None
                          else self.style_weight),
            **{k: d[k] for k in ("content_weight", "tv_weight", "pooling", "padding",
                                 "content_layer", "style_scale") if getattr(self, k) is None},
            style_layers=layers, balance_style_layers=balance,
            style_layer_weights=(self.style_layer_weights if self.style_layer_weights
                                 is not None else default_layer_weights(layers, balance,
                                                                        style_loss, backbone)),
            scales=1 if resume else (self.scales or default_scales(self.size, backbone)),
            # a resumed run refines the pixels at the final size
            pyramid_levels=1 if resume else (self.pyramid_levels or d["pyramid_levels"]),
        )
        out.check_together()
        return out

    def check_together(self) -> None:
        """The checks that need several (resolved) settings."""
        if self.content_weight == 0 and self.style_weight == 0:
            raise StyleTransferError(
                "content_weight and style_weight are both 0, so there is nothing to optimize; "
                "set at least one above 0")
        if not self.style_layers and self.style_weight > 0:
            raise StyleTransferError(
                "no style layers were given but style_weight > 0; give at least one style "
                "layer, or set style_weight=0 to reconstruct the content alone")
        if len(self.style_layer_weights) != len(self.style_layers):
            raise StyleTransferError(
                f"{len(self.style_layer_weights)} style layer weights for "
                f"{len(self.style_layers)} style layers; give one weight per layer")
        if self.style_weight > 0 and not any(self.style_layer_weights):
            raise StyleTransferError(
                "every style layer weight is 0, so the style would do nothing; give at least "
                "one above 0, or set style_weight=0")
        if self.sliced_redraw and self.style_loss != "sliced":
            raise StyleTransferError(
                f"sliced_redraw redraws the sliced loss's directions, but style_loss is "
                f"{self.style_loss!r}; set style_loss='sliced', or sliced_redraw=0")
        if self.scale_iterations is not None and len(self.scale_iterations) != self.scales:
            raise StyleTransferError(
                f"{len(self.scale_iterations)} scale_iterations for {self.scales} scales; give "
                "one per scale")

    def changed(self) -> dict[str, Any]:
        """The settings that differ from the defaults, in field order (for "copy as code")."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                if getattr(self, f.name) != f.default}

    def scale_schedule(self) -> list[tuple[int, int]]:
        """(size, iterations) of each coarse-to-fine scale, smallest first (resolved settings)."""
        sizes = coarse_to_fine_sizes(self.size, self.scales, self.scale_step)
        iterations = self.scale_iterations or default_scale_iterations(
            self.iterations, len(sizes), self.scale_step)
        return list(zip(sizes, iterations, strict=True))


def _checked_scale_steps(step: Any, content: Any) -> dict[str, float]:
    """``scale_step`` and ``scale_content_weight`` checked (docs/paintings.md), one message each."""
    ranges = {"scale_step": (step, 1.1, "from 1.1 to 4 (2 is the default)"),
              "scale_content_weight": (content, 0, "above 0, at most 4 (0.5 halves it per scale)")}
    for name, (value, low, said) in ranges.items():
        real = isinstance(value, numbers.Real) and not isinstance(value, bool)
        if not (real and low <= value <= 4 and value > 0):
            what = said if real else 'a number'
            raise StyleTransferError(f"{name} must be {what}, not {value!r}")
    return {"scale_step": float(step), "scale_content_weight": float(content)}


def _check_up_to_max_scales(name: str, value: Any) -> int:
    """``value`` as an int if it is a whole number from 1 to :data:`MAX_SCALES`."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 1 <= value <= MAX_SCALES):
        raise StyleTransferError(
            f"{name} must be a whole number from 1 to {MAX_SCALES}, not {shown(value)}")
    return int(value)


#: Each setting's type annotation, as written (``"float | None"``): :func:`parse_value` reads it.
_FIELD_TYPES: dict[str, str] = {f.name: str(f.type) for f in dataclasses.fields(Settings)}

#: The settings that are on/off switches (``--balance-style-layers`` / ``--no-...``).
SWITCHES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(Settings)
                                  if str(f.type).startswith("bool"))


def channel_layer_weights(layers: Sequence[str], backbone: str | None = None
                          ) -> tuple[float, ...]:
    """4 / C² for each layer, C its channels: jcjohnson/neural-style's weighting in our terms.

    neural-style divides each Gram matrix by C·H·W and averages the squared difference over
    its C² entries: (1/C²) Σ((G - A)/(C M))², which is 4/C² times our
    E_l = Σ(G - A)² / (4 C² M²) (:func:`helpers.losses.style_layer_loss`). So shallow layers,
    with few channels, weigh most (block1: 4/64², block5: 4/512²). C is the ``backbone``'s
    (:mod:`helpers.backbones`; ``None``: VGG's, :data:`VGG_CHANNELS`)."""
    return style_losses.get("gram").default_layer_weights(layers, _channels(backbone))


def _channels(backbone: str | None) -> Any:
    """The ``channels(layer)`` function of a registered backbone (VGG's for ``None``)."""
    return vgg.channels if backbone is None else backbones.get(backbone).channels


def default_layer_weights(layers: Sequence[str], balance: bool, style_loss: str = "gram",
                          backbone: str | None = None) -> tuple[float, ...]:
    """The style layer weights where none are given: equal (1/L each) when the layers are
    balanced by their blank-image loss, else the style loss's own (its
    ``default_layer_weights``, :mod:`helpers.style_losses`: :func:`channel_layer_weights` for
    the Gram and W2 losses, which follows from the Gram matrix's normalisation; equal for the
    sliced loss), with the ``backbone``'s channels (``None``: VGG's)."""
    if balance:
        return tuple(1.0 / len(layers) for _ in layers)
    return style_losses.get(style_loss).default_layer_weights(layers, _channels(backbone))


def default_scales(size: int, backbone: str) -> int:
    """How many coarse-to-fine scales a ``size`` px result gets by default, for backbones whose
    :data:`DEFAULTS` enable ``coarse_to_fine``: 1 below 384 px; 2 up to 1535 px (the coarsest
    at 192-767 px); 3 from 1536 px (the coarsest at 384 px or more). The coarsest scale lays
    out the picture and the finer ones do not redraw it: at 768 px, a 192 px first scale lost
    Tübingen's houses where a 384 px one kept them (docs/choosing_defaults.md)."""
    if not DEFAULTS[backbone]["coarse_to_fine"]:
        return 1
    return max([1] + [scales for scales, start in SCALE_STEPS.items() if size >= start])


def default_scale_iterations(iterations: int, scales: int, step: float = 2.0
                             ) -> tuple[int, ...]:
    """The iterations of each scale where ``scale_iterations`` is not given, smallest first.

    One scale runs ``iterations``. Coarse-to-fine, the coarsest scale, which paints the large
    marks, runs 3/5 of them and each finer scale a sixth of the one before (at least 1): a
    finer scale costs four times as much per iteration and only adds detail to a picture that
    is already painted (docs/choosing_defaults.md). 100 iterations at 512 px: 60 at 256 px,
    then 10 at 512 px. With scales ``step`` apart in size (``scale_step``, 2 by default) the
    factor is 6 ** log2(step): √2 steps divide by √6."""
    if scales == 1:
        return (iterations,)
    first = max(1, round(iterations * 3 / 5))
    factor = 6 ** math.log2(step)
    return tuple(max(1, round(first / factor**k)) for k in range(scales))


def coarse_to_fine_sizes(size: int, scales: int, step: float = 2.0) -> list[int]:
    """The sizes of a coarse-to-fine schedule, smallest first: size / step**(scales-1) ...
    size (``step`` 2 by default: each scale twice the size of the one before)."""
    return [max(1, round(size / step**k)) for k in range(scales - 1, -1, -1)]


def field_kind(name: str) -> tuple[type, bool, bool]:
    """(item type, is a list, may be None) of setting ``name``, read from the field's type
    annotation: ``tuple[float, ...] | None`` -> (float, True, True)."""
    text = _FIELD_TYPES.get(name)
    if text is None:
        close = difflib.get_close_matches(name, list(_FIELD_TYPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise StyleTransferError(f"unknown setting {name!r}{hint}")
    optional = text.endswith("| None")
    base = text.removesuffix(" | None")
    is_list = base.startswith("tuple[")
    item = base.removeprefix("tuple[").removesuffix(", ...]")
    return {"int": int, "float": float, "str": str, "bool": bool}[item], is_list, optional


#: The words a switch takes on the command line, in sweeps and in the app.
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def _parse_item(name: str, kind: type, text: str) -> Any:
    """One item of setting ``name`` as ``kind`` (int, float, bool or str), or one line."""
    if kind is bool:
        if text.lower() not in _TRUE + _FALSE:
            raise StyleTransferError(f"{name} must be true or false, not {text!r}")
        return text.lower() in _TRUE
    try:
        return kind(text)
    except ValueError:
        what = "a whole number" if kind is int else "a number"
        raise StyleTransferError(f"{name} must be {what}, not {text!r}") from None


def parse_value(name: str, text: str, sep: str = ",") -> Any:
    """The value of setting ``name`` written as ``text`` (on the command line, in a sweep, in
    the app), by the type of its :class:`Settings` field: ``"1e-3"`` -> 0.001 for a weight,
    ``"2"`` -> 2 for a count, ``"a,b"`` -> ``("a", "b")`` for a list (items split at ``sep``),
    ``"none"`` -> None where the setting may be None, ``"true"``/``"false"`` for a switch.
    Only the type is read here; the value itself is checked by :class:`Settings`."""
    kind, is_list, optional = field_kind(name)
    text = text.strip()
    if optional and text.lower() == "none":
        return None
    if is_list:
        items = [t.strip() for t in text.split(sep) if t.strip()]
        if not items:
            raise StyleTransferError(f"{name} has no values; give e.g. a{sep}b")
        return tuple(_parse_item(name, kind, t) for t in items)
    if not text:
        raise StyleTransferError(f"{name} is empty; give a value")
    return _parse_item(name, kind, text)


def whole_number(text: str, what: str, minimum: int = 1) -> int:
    """A count that is not a setting (``--jobs``, ``--workers``, ``--timeout``) read from the
    command line: a whole number >= ``minimum``, or one StyleTransferError line naming it."""
    try:
        value = int(str(text).strip())
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise StyleTransferError(f"{what} must be a whole number >= {minimum}, not {text!r}")
    return value
