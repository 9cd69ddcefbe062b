"""The checks of one setting's value, alone (notebook 00 shows the messages they give; the
settings themselves: :mod:`helpers.settings`): a choice among :data:`CHOICES`, a weight (a
finite number >= 0), a whole number, a list of layer names or of weights, a weights file. Each
refuses a bad value with one :class:`~helpers.errors.StyleTransferError` line saying what to
do. No TensorFlow.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Sequence
from typing import Any

from helpers import backbones, style_losses
from helpers.errors import StyleTransferError
from helpers.files import check_input

#: The allowed values of every setting that is a choice (the backbones and style losses: the
#: names registered in :mod:`helpers.backbones` and :mod:`helpers.style_losses` now).
CHOICES: dict[str, Sequence[str]] = {
    "backbone": backbones.NAMES,
    "pooling": ("avg", "max"),
    "precision": ("auto", "float32", "bfloat16"),
    "padding": ("zero", "reflect"),
    "init": ("content", "gradient_map", "color_matched", "detail_matched", "noise", "style"),
    "optimizer": ("lbfgs", "adam"),
    "lbfgs_mode": ("single", "restart"),
    "preserve_color": ("none", "luminance", "histogram", "swap"),
    "style_loss": style_losses.NAMES,
    "tv_form": ("power", "abs"),
}


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


def check_list(name: str, value: Any, what: str) -> list[Any]:
    """The items of a list setting, or one line when ``value`` is no list (a bare number,
    string or other object): ``scale_iterations=5`` is not ``[5]``."""
    if isinstance(value, (str, bytes, numbers.Number)) or not isinstance(value, Iterable):
        example = f"; write [{value!r}]" if isinstance(value, (str, numbers.Number)) else ""
        kind = "the string " if isinstance(value, str) else ""
        raise StyleTransferError(f"{name} must be a list of {what}, not {kind}{shown(value)}"
                                 f"{example}")
    return list(value)


def check_names(name: str, value: Any) -> tuple[str, ...] | None:
    """A list of layer names as a tuple (``None`` stays ``None``); a bare string is refused."""
    if value is None:
        return None
    return tuple(str(v) for v in check_list(name, value, "layer names"))


def check_numbers(name: str, value: Any) -> tuple[float, ...] | None:
    """A list of weights >= 0 as a tuple of floats (``None`` stays ``None``)."""
    if value is None:
        return None
    return tuple(check_weight(name.rstrip("s").replace("_", " "), v)
                 for v in check_list(name, value, "numbers"))


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
