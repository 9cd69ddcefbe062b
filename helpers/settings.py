"""The settings of a style-transfer run, checked in one place: :class:`Settings`.

Notebook 00 shows a run's settings (``result.settings``); notebooks 02-05 and 07 teach what each
one does. :func:`helpers.stylize`, the command line (``python -m helpers stylize``) and the
tuning app all build a :class:`Settings`, so they share one list of choices (:data:`CHOICES`),
one set of defaults (the field defaults, and :data:`DEFAULTS` per backbone) and one "copy as
code" (:meth:`Settings.changed`). This module imports no TensorFlow: a bad setting is refused
in a fraction of a second.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from helpers import backbones, style_losses
from helpers.backbones import vgg
from helpers.errors import StyleTransferError
from helpers.files import check_input

#: The allowed values of every setting that is a choice (the backbones and style losses: the
#: names registered in :mod:`helpers.backbones` and :mod:`helpers.style_losses` now).
CHOICES: dict[str, Sequence[str]] = {
    "backbone": backbones.NAMES,
    "pooling": ("avg", "max"),
    "precision": ("auto", "float32", "bfloat16"),
    "padding": ("zero", "reflect"),
    "init": ("content", "gradient_map", "color_matched", "noise", "style"),
    "optimizer": ("lbfgs", "adam"),
    "lbfgs_mode": ("single", "restart"),
    "preserve_color": ("none", "luminance", "histogram", "swap"),
    "style_loss": style_losses.NAMES,
    "tv_form": ("power", "abs"),
}

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


def shown(value: Any) -> str:
    """``value`` as a message shows it: its repr when short and on one line, else its type
    (an array's repr would fill the screen)."""
    text = repr(value)
    return text if len(text) <= 60 and "\n" not in text else f"a {type(value).__name__}"


def check_choice(name: str, value: Any) -> str:
    """``value`` if it is one of ``CHOICES[name]``, else a StyleTransferError naming them."""
    if not isinstance(value, str) or value not in CHOICES[name]:
        raise StyleTransferError(
            f"unknown {name} {shown(value)}; choose one of {', '.join(CHOICES[name])}"
        )
    return value


def check_weight(name: str, value: Any) -> float:
    """``value`` as a float if it is a finite number >= 0 (and not absurdly large)."""
    if isinstance(value, (bool, str)) or not isinstance(value, numbers.Real):
        raise StyleTransferError(f"{name} must be a number, not {shown(value)}")
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise StyleTransferError(f"{name} must be a finite number >= 0, not {value}")
    if value > 1e12:
        raise StyleTransferError(f"{name} = {value:g} is absurdly large; try a value below 1e6")
    return value


def check_whole(name: str, value: Any, minimum: int, hint: str = "") -> int:
    """``value`` as an int if it is a whole number (int or NumPy integer) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise StyleTransferError(f"{name} must be a whole number >= {minimum}{hint}, "
                                 f"not {shown(value)}")
    return int(value)


def _items(name: str, value: Any, what: str) -> list[Any]:
    """The items of a list setting, or one line when ``value`` is no list (a bare number,
    string or other object): ``scale_iterations=5`` is not ``[5]``."""
    if isinstance(value, (str, bytes, numbers.Number)) or not isinstance(value, Iterable):
        example = f"; write [{value!r}]" if isinstance(value, (str, numbers.Number)) else ""
        kind = "the string " if isinstance(value, str) else ""
        raise StyleTransferError(f"{name} must be a list of {what}, not {kind}{shown(value)}"
                                 f"{example}")
    return list(value)


def _names(name: str, value: Any) -> tuple[str, ...] | None:
    """A list of layer names as a tuple (``None`` stays ``None``); a bare string is refused."""
    if value is None:
        return None
    return tuple(str(v) for v in _items(name, value, "layer names"))


def _numbers(name: str, value: Any) -> tuple[float, ...] | None:
    """A list of weights >= 0 as a tuple of floats (``None`` stays ``None``)."""
    if value is None:
        return None
    return tuple(check_weight(name.rstrip("s").replace("_", " "), v)
                 for v in _items(name, value, "numbers"))


def check_weights_file(weights: Any, backbone: str = "auto") -> Any:
    """``weights``: ``"imagenet"``, ``None`` or the path of a readable file (not a folder,
    pipe or device, not a name too long for the file system); a file only with a backbone
    that takes one (VGG19: ``vgg16-hed`` brings its own weights)."""
    if weights in ("imagenet", None):
        return weights
    if not isinstance(weights, (str, os.PathLike)):
        raise StyleTransferError(f"weights must be 'imagenet', None or the path of a VGG19 .h5 "
                                 f"weights file, not {shown(weights)}")
    try:
        check_input(weights, "weights file")
    except StyleTransferError as exc:
        if "not found" not in str(exc):
            raise
        raise StyleTransferError(f"{exc}; give the path of a VGG19 .h5 weights file, or "
                                 "'imagenet'") from None
    if backbone == "vgg16-hed":
        raise StyleTransferError("a weights file is for vgg19; vgg16-hed brings its own "
                                 "weights: drop weights (--weights), or use backbone vgg19")
    return os.fspath(weights)


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
    checkpoint_every: int = 0
    scales: int | None = None
    scale_iterations: tuple[int, ...] | None = None
    pyramid_levels: int | None = None

    def __post_init__(self) -> None:
        for name, value in self._checked().items():
            object.__setattr__(self, name, value)

    def _checked(self) -> dict[str, Any]:
        """Every field checked and normalised (tuples, ints, floats)."""
        out: dict[str, Any] = {}
        if not isinstance(self.init, str):
            raise StyleTransferError(
                f"Settings(init=...) takes one of {', '.join(CHOICES['init'])}, not "
                f"{shown(self.init)}; an image to start from goes to helpers.stylize(init=...)")
        for name in CHOICES:
            value = getattr(self, name)
            if (value is not None or not field_kind(name)[2]) and not (
                    name == "init" and value == "image"):
                out[name] = check_choice(name, value)  # None only where it means the default
        out["size"] = check_whole("size", self.size, 1)
        out["iterations"] = check_whole("iterations", self.iterations, 1)
        out["seed"] = check_whole("seed", self.seed, 0)
        out["maxfun"] = check_whole("maxfun", self.maxfun, 1)
        if self.pyramid_levels is not None:
            out["pyramid_levels"] = check_whole("pyramid_levels", self.pyramid_levels, 1)
            if out["pyramid_levels"] > MAX_SCALES:
                raise StyleTransferError(f"pyramid_levels must be at most {MAX_SCALES}, not "
                                         f"{self.pyramid_levels}")
        out["checkpoint_every"] = check_whole("checkpoint_every", self.checkpoint_every, 0,
                                              " (0: never)")
        for name in ("content_weight", "style_weight", "tv_weight", "style_scale"):
            if getattr(self, name) is not None:
                out[name] = check_weight(name, getattr(self, name))
        out["learning_rate"] = check_weight("learning_rate", self.learning_rate)
        if out["learning_rate"] == 0:
            raise StyleTransferError("learning_rate must be above 0 (Adam's step, in grey "
                                     "levels; 5 is the default), not 0")
        if out.get("style_scale") is not None and not 0.1 <= out["style_scale"] <= 4.0:
            raise StyleTransferError(
                f"style_scale must be between 0.1 and 4, not {out['style_scale']}")
        if self.scales is not None and (isinstance(self.scales, bool) or not isinstance(
                self.scales, numbers.Integral) or not 1 <= self.scales <= MAX_SCALES):
            raise StyleTransferError(
                f"scales must be a whole number from 1 to {MAX_SCALES}, not {self.scales!r}")
        if self.scales is not None:
            out["scales"] = int(self.scales)
        out["weights"] = check_weights_file(self.weights, self.backbone)
        out["style_layers"] = _names("style_layers", self.style_layers)
        out["style_layer_weights"] = _numbers("style_layer_weights", self.style_layer_weights)
        out["style_blend_weights"] = _numbers("style_blend_weights", self.style_blend_weights)
        if self.scale_iterations is not None:
            out["scale_iterations"] = tuple(check_whole("scale_iterations", v, 1) for v in _items(
                "scale_iterations", self.scale_iterations, "whole numbers, one per scale"))
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
        out._check_together()
        return out

    def _check_together(self) -> None:
        """The checks that need several (resolved) settings."""
        if self.content_weight == 0 and self.style_weight == 0:
            raise StyleTransferError(
                "content_weight and style_weight are both 0, so there is nothing to optimise; "
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
        sizes = coarse_to_fine_sizes(self.size, self.scales)
        iterations = self.scale_iterations or default_scale_iterations(self.iterations,
                                                                       len(sizes))
        return list(zip(sizes, iterations, strict=True))


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
    Tübingen's houses where a 384 px one kept them (README, "Choosing defaults")."""
    if not DEFAULTS[backbone]["coarse_to_fine"]:
        return 1
    return max([1] + [scales for scales, start in SCALE_STEPS.items() if size >= start])


def default_scale_iterations(iterations: int, scales: int) -> tuple[int, ...]:
    """The iterations of each scale where ``scale_iterations`` is not given, smallest first.

    One scale runs ``iterations``. Coarse-to-fine, the coarsest scale, which paints the large
    marks, runs 3/5 of them and each finer scale a sixth of the one before (at least 1): a
    finer scale costs four times as much per iteration and only adds detail to a picture that
    is already painted (README, "Choosing defaults"). 100 iterations at 512 px: 60 at 256 px,
    then 10 at 512 px."""
    if scales == 1:
        return (iterations,)
    first = max(1, round(iterations * 3 / 5))
    return tuple(max(1, round(first / 6**k)) for k in range(scales))


def coarse_to_fine_sizes(size: int, scales: int) -> list[int]:
    """The sizes of a coarse-to-fine schedule, smallest first: size / 2**(scales-1) ... size."""
    return [max(1, round(size / 2**k)) for k in range(scales - 1, -1, -1)]


def candidate_backbones(backbone: str, weights: Any = "imagenet") -> tuple[str, ...]:
    """The backbones a run may use, known without TensorFlow or the network: the one named,
    VGG19 for ``"auto"`` with a local weights file, else every backbone (``"auto"`` takes VGG19
    only when its weights can be had, :func:`helpers.backbone.resolve_name`)."""
    if backbone != "auto":
        return (backbone,)
    return ("vgg19",) if weights not in ("imagenet", None) else tuple(DEFAULTS)


def _fits(shape: tuple[int, int], size: int) -> bool:
    """Whether a ``shape`` image scaled to ``size`` px is one the network takes."""
    from helpers.images import target_shape

    try:
        target_shape(shape, size=size)
    except StyleTransferError:
        return False
    return True


def check_layers(settings: Settings, backbone: str) -> None:
    """Refuse a content or style layer the ``backbone`` does not have, naming the ones it has
    (its table of conv layers, :func:`helpers.backbones.layer_names`: no TensorFlow)."""
    valid = backbones.layer_names(backbone)
    used = [settings.content_layer] if settings.content_weight else []
    for layer in (*used, *(settings.style_layers if settings.style_weight else ())):
        if layer not in valid:
            raise StyleTransferError(f"unknown layer {layer!r} for {backbone}; valid layers: "
                                     f"{', '.join(valid)}")


def for_images(settings: Settings, backbone: str, content_shape: tuple[int, int],
               style_shapes: Sequence[tuple[int, int]] = (), resume: bool = False) -> Settings:
    """``settings`` resolved for ``backbone`` (:meth:`Settings.resolved`) and fitted to the
    images of the run: a default coarse-to-fine schedule loses the coarse scales that would be
    too small for the photo (a panorama's short side), and the photo and every painting are
    checked at every scale's size. No TensorFlow: a run that cannot work is refused at once."""
    from helpers.images import style_side, target_shape

    out = settings.resolved(backbone, resume=resume)
    check_layers(out, backbone)
    if settings.scales is None and not resume:
        scales = out.scales
        while scales > 1 and not _fits(content_shape, coarse_to_fine_sizes(out.size, scales)[0]):
            scales -= 1
        out = dataclasses.replace(out, scales=scales)
        out._check_together()
    for size in coarse_to_fine_sizes(out.size, out.scales):
        target_shape(content_shape, size=size)
        for shape in style_shapes:
            try:
                target_shape(shape, size=style_side(size, out.style_scale))
            except StyleTransferError as exc:
                raise StyleTransferError(f"the style image {shape[0]}x{shape[1]}: {exc} (or "
                                         "crop the painting to a less extreme aspect)") from None
    return out


def check_run(settings: Settings, content_shape: tuple[int, int],
              style_shapes: Sequence[tuple[int, int]] = (), resume: bool = False
              ) -> dict[str, Settings]:
    """Every check of a run that needs neither TensorFlow nor the network (weights all zero,
    count mismatches, empty layer lists, sizes), for each backbone the run may use
    (:func:`candidate_backbones`): their settings (:func:`for_images`) by name, or the first
    error when no backbone would run."""
    fitted: dict[str, Settings] = {}
    errors = []
    for name in candidate_backbones(settings.backbone, settings.weights):
        try:
            fitted[name] = for_images(settings, name, content_shape, style_shapes, resume)
        except StyleTransferError as exc:
            errors.append(exc)
    if not fitted:
        raise errors[0]
    return fitted


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


def flag(name: str) -> str:
    """The command-line flag of setting ``name``: ``style_weight`` -> ``--style-weight``."""
    return "--" + name.replace("_", "-")


def setting_text(value: Any) -> str:
    """A setting's value as the command line writes it (lists comma-separated)."""
    if isinstance(value, tuple):
        return ",".join(setting_text(v) for v in value)
    return "none" if value is None else str(value)


def command_line_flags(settings: Settings) -> list[str]:
    """The ``python -m helpers stylize`` flags that give ``settings``: one per setting that
    differs from its default (``--no-balance-style-layers`` for a switched-off switch)."""
    out: list[str] = []
    for name, value in settings.changed().items():
        if isinstance(value, bool):
            out.append(flag(name) if value else "--no-" + flag(name)[2:])
        else:
            out += [flag(name), setting_text(value)]
    return out


def python_arguments(settings: Settings) -> str:
    """The keyword arguments of a :func:`helpers.stylize` call that give ``settings``, one per
    line (each setting that differs from its default)."""
    return "".join(f"    {name}={value!r},\n" for name, value in settings.changed().items())
