"""The mutation operators of ``total_variation_loss``
(notebooks/exercises/ex05_total_variation.ipynb): the loss written with knobs
(:func:`tv_program`) and its table of :class:`~helpers.exercises.mutations.Op` (what to
turn, and what a student who did it is told); the check itself is
:mod:`helpers.exercises.ex05_total_variation`."""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.exercises.mutations import Op, float16

_AXES = {"h": 0, "w": 1, "c": 2, "d": 0, "a": 0, "D": 0, "A": 0}


def _slanted(x: np.ndarray, kind: str, diff: str = "forward") -> np.ndarray:
    """A difference to a slanted neighbour at (i, j), zero-padded after the last row and
    column: "d" x[i+1, j+1] − x[i, j] (diagonal), "a" x[i+1, j] − x[i, j+1] (the other
    diagonal, x[:, 1:, :-1] − x[:, :-1, 1:]), "D" x[i+1, j−1] − x[i, j] (padded on the
    left), "A" x[i+2, j] − x[i, j+1]; "sum" with ``diff``: x[i+1, j] + x[i, j] (a plus)."""
    d = np.zeros_like(x)
    if kind == "d":
        d[:-1, :-1] = x[1:, 1:] - x[:-1, :-1]
    elif kind == "a":
        d[:-1, :-1] = x[1:, :-1] - x[:-1, 1:]
    elif kind == "D":
        d[:-1, 1:] = x[1:, :-1] - x[:-1, 1:]
    return d


def _delta(x: np.ndarray, axis: int, diff: str, pad: str, first: bool) -> np.ndarray:
    """One difference of ``x`` (H, W, C) along ``axis``, the same shape as ``x``."""
    if diff == "plus":  # x[1:] + x[:-1]: a sign slip
        y = np.moveaxis(x, axis, 0)
        out = np.concatenate([y[1:] + y[:-1], np.zeros((1, *y.shape[1:]))])
        return np.moveaxis(out, 0, axis)
    if diff == "gradient":
        return np.gradient(x, axis=axis) if x.shape[axis] > 1 else np.zeros_like(x)
    if diff == "roll":
        return np.roll(x, -1, axis=axis) - x
    if diff == "roll_back":
        return x - np.roll(x, 1, axis=axis)
    step = 2 if diff == "skip" else 1
    y = np.moveaxis(x, axis, 0)
    d = y[step:] - y[:-step]
    if pad == "crop":  # not padded: (H−1, W, C) and (H, W−1, C)
        return np.moveaxis(d, 0, axis)
    fill = {"edge": d[-1:], "reflect": d[-2:-1] if len(d) > 1 else d[-1:],
            "zero_image": -y[-step:]}.get(pad, np.zeros((step, *d.shape[1:])))
    before = pad == "before" or pad == ("rows-before" if first else "cols-before")
    out = np.concatenate([fill, d] if before else [d, fill])
    return np.moveaxis(out, 0, axis)


def tv_program(x: Any, axes: str = "hw", diff: str = "forward", pad: str = "after",
               combine: str = "sum", beta: float = 1.25, dtype: str = "float32",
               scale: float = 1.0, count: str = "all", image: str = "as_given") -> np.ndarray:
    """The total-variation loss with knobs (the reference: forward differences along rows
    and columns, zero-padded after the last, mean((dy² + dx²)^1.25), float32)."""
    x = np.asarray(x, np.float64)[0] * scale
    x = {"gray": lambda: x.mean(axis=-1, keepdims=True), "relu": lambda: np.maximum(x, 0),
         "channel_sum": lambda: x.sum(axis=-1, keepdims=True),
         "clip": lambda: np.clip(x, 0, 255)}.get(image, lambda: x)()
    x = {"float16": float16, "int32": np.trunc}.get(dtype, np.asarray)(x)
    dy = _delta(x, _AXES[axes[0]], diff, pad, True)
    dx = _delta(x, _AXES[axes[1]], diff, pad, False)
    dy = _slanted(x, axes[0]) if axes[0] in "daD" else dy  # a slanted neighbour
    dx = _slanted(x, axes[1]) if axes[1] in "daD" else dx
    if combine == "separate":  # each direction unpadded, powered and averaged on its own
        return sum(np.mean(np.abs(np.diff(x, axis=_AXES[a])) ** (2 * beta)) for a in axes)
    if combine in ("means_power", "means_power_each"):  # averaged before the power
        means = np.array([np.mean(dy**2), np.mean(dx**2)])
        return np.sum(means**beta) if combine == "means_power_each" else np.sum(means) ** beta
    if dy.shape != dx.shape:  # unpadded: both cropped to (H−1, W−1), the Keras example
        rows, cols = min(dy.shape[0], dx.shape[0]), min(dy.shape[1], dx.shape[1])
        dy, dx = dy[:rows, :cols], dx[:rows, :cols]
    if combine == "precedence":  # a + b ** 1.25: only b raised
        return np.mean(dy**2 + (dx**2) ** beta)
    if combine == "precedence_a":  # a ** 1.25 + b: only a raised
        return np.mean((dy**2) ** beta + dx**2)
    s = {"sum": lambda: dy**2 + dx**2, "abs_sum": lambda: (np.abs(dy) + np.abs(dx)) ** 2,
         "abs_sum_beta": lambda: (np.abs(dy) + np.abs(dx)) ** 2,
         "unit": lambda: (dy**2 + dx**2 > 0).astype(np.float64),
         "diff_sum": lambda: (dy + dx) ** 2, "sum_channels": lambda: dy**2 + dx**2,
         "sum_channels_all": lambda: dy**2 + dx**2}[combine]()
    if beta == "5/4":  # s ** 5/4 is (s ** 5) / 4
        return np.mean(s**5 / 4)
    power = beta / 2 if combine == "abs_sum_beta" else beta
    s = s.sum(axis=-1) if combine.startswith("sum_channels") else s
    v = float16(float16(s) ** power) if dtype == "float16" else s**power
    if count != "all":  # the padded sum over a count of the cropped differences
        h, w, c = x.shape
        return np.sum(v) / {"cropped": (h - 1) * (w - 1) * c, "rows_cropped": (h - 1) * w * c,
                            "cols_cropped": h * (w - 1) * c}[count]
    return np.mean(v) / (x.shape[-1] if combine == "sum_channels_all" else 1)


_TV_F16 = ("you computed in float16 (tf.cast(…, tf.float16)): it stops at 65504, and "
           "(a + b)^1.25 passes it once neighbouring values differ by about 85 (preprocessed "
           "pixels span −124 … 152), so real photos overflow to inf. Keep the image float32")
_CHANNELS = ("your {} difference runs along the channel axis (x[..., 1:] − x[..., :-1]); TV "
             "compares neighbouring pixels: between rows (axis 1) and between columns (axis 2)")
_SAME = ("both your differences run between {}; one runs between rows, x[:, 1:] − x[:, :-1], "
         "the other between columns, x[:, :, 1:] − x[:, :, :-1]")
_WRAP = ("your differences wrap around (tf.roll / np.roll): the {} row and column are "
         "compared with the {}. A pixel on the last row or column has no neighbour there: "
         "pad its difference with 0 (tf.pad)")
_PADDED = ("you padded the differences {}: the last row and column have no neighbour, so "
           "their difference is 0 (tf.pad with zeros, constant mode)")

_TV_PAIR = ("TV compares each pixel with the one below, x[:, 1:] − x[:, :-1], and with the "
            "one to its right, x[:, :, 1:] − x[:, :, :-1]: one index moves, the other stays")
_SLANTS = {"d": ("the diagonal neighbour", "x[:, 1:, 1:] − x[:, :-1, :-1]: both indices "
                 "moved"),
           "a": ("the other diagonal", "x[:, 1:, :-1] − x[:, :-1, 1:]: both indices moved"),
           "D": ("the lower-left neighbour", "x[i+1, j−1] − x[i, j]: both indices moved")}

def _slant_label(axes: str, side: str) -> str:
    if side == "both":
        return " and ".join(dict.fromkeys(_SLANTS[k][0] for k in axes)) + " for both"
    return f"{_SLANTS[axes[1] if side == 'columns' else axes[0]][0]} for the {side}"


def _slant_says(axes: str, side: str) -> str:
    """What a student whose difference(s) run to a slanted neighbour is told."""
    if side == "both":
        shown = "; ".join(dict.fromkeys(f"{_SLANTS[k][0]}, {_SLANTS[k][1]}" for k in axes))
        return f"both of your differences run to slanted neighbours ({shown}). {_TV_PAIR}"
    what, how = _SLANTS[axes[1] if side == "columns" else axes[0]]
    return (f"the difference that should run between {side} runs to {what} instead, "
            f"{how}. {_TV_PAIR}")


TV_OPS = [
    Op("axes", "hc", "axes", "channels for columns", _CHANNELS.format("second")),
    Op("axes", "cw", "axes", "channels for rows", _CHANNELS.format("first")),
    Op("axes", "hh", "axes", "rows twice", _SAME.format("rows")),
    Op("axes", "dw", "axes", "a diagonal difference for the rows", "one of your differences "
       "runs diagonally, x[:, 1:, 1:] − x[:, :-1, :-1] (both indices moved): TV compares "
       "each pixel with the one below, x[:, 1:] − x[:, :-1], and with the one to its right, "
       "x[:, :, 1:] − x[:, :, :-1]"),
    Op("axes", "ww", "axes", "columns twice", _SAME.format("columns")),
    *[Op("axes", axes, "axes", _slant_label(axes, side), _slant_says(axes, side))
      for axes, side in (("hd", "columns"), ("ha", "columns"), ("aw", "rows"),
                         ("hD", "columns"), ("Dw", "rows"), ("dd", "both"), ("da", "both"),
                         ("ad", "both"))],
    Op("diff", "plus", "differences", "x[1:] + x[:-1] (a plus)", "your differences add "
       "neighbours, x[:, 1:] + x[:, :-1], where TV subtracts them, x[:, 1:] − x[:, :-1]: a "
       "sign slip"),
    Op("diff", "gradient", "differences", "np.gradient (central)", "you used np.gradient "
       "(central differences (x[i+1] − x[i−1]) / 2, one-sided at the border); TV takes each "
       "pixel's difference to its next neighbour, x[i+1] − x[i], and 0 past the last"),
    Op("diff", "roll", "padding", "wrap-around (roll by −1)", _WRAP.format("last", "first")),
    Op("diff", "roll_back", "padding", "wrap-around (roll by +1)", _WRAP.format("first",
                                                                               "last")),
    Op("pad", "edge", "padding", "last difference repeated (edge / symmetric, or the "
       "image reflected)", "in your loss the last row's and the last column's difference "
       "repeat the one before them (padding the differences in edge or symmetric mode does "
       "that, and so does padding the IMAGE in reflect mode, which mirrors x[H−2] past the "
       "last row): the last row and column have no neighbour, so their difference is 0 — "
       "pad the differences with zeros (constant mode), or the image in symmetric mode"),
    Op("pad", "reflect", "padding", "second-to-last difference repeated", "in your loss "
       "the last row's and column's difference repeat the one two before them (padding the "
       "differences in reflect mode does that): the last row and column have no neighbour, "
       "so their difference is 0 — pad the differences with zeros (constant mode)"),
    Op("pad", "zero_image", "padding", "image padded with zeros", "you padded the image "
       "with zeros before taking the differences, so the last row and column are compared "
       "with 0 (their difference is −x): pad the differences with 0 instead, after taking "
       "them"),
    Op("pad", "crop", "padding", "not padded (the Keras example's crop)", "you left out "
       "the last row and column (the differences are not padded): pad the squared "
       "differences with a zero row / column so every pixel counts, tf.pad(…, [[0, 0], "
       "[0, 1], [0, 0], [0, 0]]) for a"),
    Op("pad", "before", "padding", "other side (top and left)", "you padded the "
       "differences on the other side: the zero row and column go after the last row and "
       "column (a[i, j] is x[i+1, j] − x[i, j]), not before the first"),
    Op("diff", "skip", "differences", "step 2", "your differences skip a pixel "
       "(x[:, 2:] − x[:, :-2]): take each pixel's difference to its direct neighbour, "
       "x[:, 1:] − x[:, :-1]"),
    Op("combine", "abs_sum", "combination", "(|dy| + |dx|)^(2β)", "you added |dy| + |dx| "
       "and raised that to 2·β: TV adds the SQUARES, (dy² + dx²)^1.25"),
    Op("combine", "abs_sum_beta", "combination", "(|dy| + |dx|)^β", "you raised "
       "(|dy| + |dx|) to β = 1.25: TV adds the squared differences first, (dy² + dx²)^1.25"),
    Op("combine", "unit", "combination", "(dy, dx) normalised to length 1", "you "
       "normalised each pixel's difference vector (dy, dx) to length 1, so every pixel that "
       "changes counts the same; use the squared differences themselves, (dy² + dx²)^1.25"),
    Op("combine", "separate", "combination", "a^β and b^β averaged apart", "you raised a "
       "and b to 1.25 separately and averaged each over its own size: pad both to H×W, add "
       "them, then raise the sum, mean((a + b)^1.25)"),
    Op("combine", "means_power", "combination", "(mean a + mean b)^β", "you averaged a and b "
       "separately and raised the sum of the two means to 1.25: raise each pixel's a + b to "
       "1.25 first, then take one mean over every value, mean((a + b)^1.25)"),
    Op("combine", "means_power_each", "combination", "(mean a)^β + (mean b)^β", "you averaged "
       "a and b separately and raised each mean to 1.25: add a and b pixel by pixel, raise "
       "that to 1.25, then take one mean over every value, mean((a + b)^1.25)"),
    Op("combine", "diff_sum", "combination", "(dy + dx)² for dy² + dx²", "you added the "
       "differences themselves and squared the sum, (dy + dx)²: square each difference "
       "first and add the squares, a + b = dy² + dx², then raise to 1.25"),
    Op("combine", "precedence", "operator precedence", "a + b ** 1.25 (no parentheses)",
       "you wrote `a + b ** 1.25` without parentheses: Python raises only b to 1.25; "
       "write `(a + b) ** 1.25`"),
    Op("beta", 2.5, "power", "β = 2.5", "you raised (a + b) to 2.5 = 2·β: a and b are "
       "already squared, so the power is β = 1.25"),
    Op("beta", 0.625, "power", "β = 0.625", "you raised (a + b) to 0.625 = β/2: a and b "
       "are the squared differences, and their sum is raised to β = 1.25"),
    Op("beta", 1.0, "power", "β = 1", "you left out the power: raise (a + b) to β = 1.25"),
    Op("beta", 2.0, "power", "β = 2", "you raised (a + b) to the power 2; use β = 1.25"),
    Op("beta", "5/4", "operator precedence", "** 5/4 (no parentheses)", "you wrote "
       "`** 5/4` without parentheses: Python raises to the power 5, then divides by 4; "
       "write `** 1.25` or `** (5 / 4)`"),
    Op("count", "cropped", "reduction", "÷ (H−1)(W−1)C, the cropped count", "you summed "
       "over the padded H×W differences but divided by (H − 1)·(W − 1)·C, the count of the "
       "cropped ones: the padding's zeros count as pixels, so divide by H·W·C (tf.reduce_mean)"),
    Op("count", "rows_cropped", "reduction", "÷ (H−1)·W·C", "you summed over the padded "
       "H×W differences but divided by (H − 1)·W·C: divide by every value, H·W·C "
       "(tf.reduce_mean)"),
    Op("count", "cols_cropped", "reduction", "÷ H·(W−1)·C", "you summed over the padded "
       "H×W differences but divided by H·(W − 1)·C: divide by every value, H·W·C "
       "(tf.reduce_mean)"),
    Op("combine", "sum_channels", "combination", "channels summed before the power", "you "
       "added a + b over the channels before raising to 1.25 (one value per pixel): raise "
       "each channel's a + b to 1.25, then take the mean over every value, H·W·C"),
    Op("combine", "sum_channels_all", "combination", "channels summed before the power, "
       "÷ H·W·C", "you added a + b over the channels before raising to 1.25 (one value per "
       "pixel, then divided by H·W·C): raise each channel's own a + b to 1.25 first, then "
       "take the mean over every value — your divisor H·W·C is right"),
    Op("image", "gray", "image", "channels averaged first (grey)", "you averaged the "
       "channels first (a grey image): TV takes the differences of every channel on its "
       "own, and averages over H·W·C"),
    Op("image", "channel_sum", "image", "channels summed first", "you added the channels "
       "together first: TV takes the differences of every channel on its own"),
    Op("image", "relu", "image", "negative values dropped (relu)", "you dropped the "
       "negative values of the image first (tf.nn.relu / max(x, 0)): a preprocessed image "
       "is below 0 wherever a channel is darker than its mean, and TV takes it as given"),
    Op("image", "clip", "image", "image clipped to 0..255 first", "you clipped the image to "
       "0..255 first: a preprocessed image runs from about −124 to 152, and TV takes it as "
       "given"),
    Op("dtype", "float16", "dtype", "float16 arithmetic", _TV_F16, rtol=2e-2),
    Op("dtype", "int32", "dtype", "image cast to integers", "you converted the image to "
       "integers (tf.cast(x, tf.int32), .astype(int)): the decimals are cut off, so the "
       "differences are off; keep the image float32"),
    Op("combine", "precedence_a", "operator precedence", "a ** 1.25 + b (power on a only)",
       "only your first squared difference is raised to 1.25, a ** 1.25 + b: add them first "
       "and raise the sum, `(a + b) ** 1.25`"),
    Op("scale", 255.0, "scale", "image × 255 first", "you multiplied the image by 255 first "
       "(as if it ran 0..1): TV works on the image as it is given, in the network's units "
       "(already 0..255 minus the mean)"),
    Op("scale", 1 / 255, "scale", "image ÷ 255 first", "you scaled the image to 0..1 (x / "
       "255) first: TV works on the image as it is given, in the network's units"),
    Op("scale", 1 / 127.5, "scale", "image ÷ 127.5 first", "you scaled the image by 1/127.5 "
       "first (the 'tf' range −1..1): TV works on the image as it is given, in the "
       "network's units"),
]
