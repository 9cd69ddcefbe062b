"""Checks ``total_variation_loss`` of notebooks/exercises/ex05_total_variation.ipynb."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import Case, Spec, rng, scalar_shape
from helpers.exercises.mutations import Mutations, Op, float16


def _tv_cases() -> list[Case]:
    """Random images (not symmetric, so misaligned differences show), with a flat patch."""
    from helpers._tf import tf

    gen = rng(7)
    cases = []
    for h, w, c in [(5, 7, 3), (9, 6, 3), (6, 10, 2)]:
        x = gen.uniform(-120, 130, (1, h, w, c))
        x[0, 1:3, 1:3] = x[0, 1, 1]  # a flat patch: some differences are exactly 0
        cases.append(Case((tf.constant(x, tf.float32),), {"N": c, "M": h * w},
                          f"a hidden image of shape {x.shape}"))
    cases.append(_real_tv_case())
    for h, w in [(1, 8), (7, 1)]:  # one pixel high, one pixel wide: after the others
        x = gen.uniform(-120, 130, (1, h, w, 3))
        what = "one pixel high" if h == 1 else "one pixel wide"
        cases.append(Case((tf.constant(x, tf.float32),), {"N": 3, "M": h * w},
                          f"a hidden image of shape {x.shape}, {what}", thin=True))
    return cases


def _real_tv_case() -> Case:
    """A crop of the bundled photo, preprocessed (values −124 … 152, real edges)."""
    from helpers._tf import tf
    from helpers.exercises.real_inputs import real
    from helpers.images import preprocess

    x = preprocess(real("photo_image"))
    return Case((tf.constant(x),), {"N": 3, "M": x.shape[1] * x.shape[2]},
                f"a preprocessed real photo of shape {x.shape}", real=True)


def _tv_ref(x: Any) -> np.ndarray:
    from helpers.losses import total_variation_loss

    return total_variation_loss(x).numpy()


def _library() -> Callable:
    from helpers.losses import total_variation_loss

    return total_variation_loss


def _squared_steps(x: Any, crop: bool = False, pad: str = "after", step: int = 1
                   ) -> tuple[np.ndarray, np.ndarray]:
    """a = (x[i+step, j] − x[i, j])², b = (x[i, j+step] − x[i, j])², zero-padded to (H, W)
    (``pad``: "after" as it should be, "before" at the top/left, or "rows-before" /
    "cols-before" for one of them), or with ``crop`` the Keras example's (H−1, W−1) crop."""
    x = np.asarray(x, np.float64)[0]
    if crop:
        return ((x[1:, :-1] - x[:-1, :-1]) ** 2, (x[:-1, 1:] - x[:-1, :-1]) ** 2)
    da, db = (x[step:] - x[:-step]) ** 2, (x[:, step:] - x[:, :-step]) ** 2
    a, b = np.zeros_like(x), np.zeros_like(x)
    if pad in ("before", "rows-before"):
        a[step:] = da
    else:
        a[:-step] = da
    if pad in ("before", "cols-before"):
        b[:, step:] = db
    else:
        b[:, :-step] = db
    return a, b


def _tv_np(x: Any, beta: float = 1.25, **steps: Any) -> float:
    a, b = _squared_steps(x, **steps)
    return float(np.mean((a + b) ** beta))


def _tf_image_tv(x: Any) -> float:
    """What tf.image.total_variation returns: the SUM of absolute differences."""
    x = np.asarray(x, np.float64)[0]
    return float(np.sum(np.abs(x[1:] - x[:-1])) + np.sum(np.abs(x[:, 1:] - x[:, :-1])))


def _abs_form(x: Any) -> float:
    x = np.asarray(x, np.float64)[0]
    return float(np.mean(np.abs(x[1:] - x[:-1])) + np.mean(np.abs(x[:, 1:] - x[:, :-1])))


def _tv_shape(got: tuple, expected: tuple, case: Case) -> str | None:
    if got == (1,):
        return ("your result has shape (1,), one value per image (tf.image.total_variation "
                "does that, and it is the sum of absolute differences, not this loss): return "
                "one number, shape (), mean((a + b) ** 1.25)")
    return scalar_shape(got, expected, case)


_ONE_WAY = ("only the differences between {} count in your loss ({}); those between {} "
            "({}) are missing. If one of your differences is x[1:] − x[:-1], it runs along "
            "the batch axis (empty for one image): rows are axis 1, columns axis 2")

_MISALIGNED = ("your squared differences are misaligned: a is padded with its zero row at "
               "the {} and b with its zero column at the {}, so a[i, j] + b[i, j] adds "
               "differences of two different pixels. Pad both after the last row / column "
               "([[0, 0], [0, 1], [0, 0], [0, 0]] for a, [[0, 0], [0, 0], [0, 1], [0, 0]] for "
               "b) so both belong to pixel (i, j)")

_AXES = {"h": 0, "w": 1, "c": 2, "d": 0}


def _delta(x: np.ndarray, axis: int, diff: str, pad: str, first: bool) -> np.ndarray:
    """One difference of ``x`` (H, W, C) along ``axis``, the same shape as ``x``."""
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
    if axes[0] == "d":  # a diagonal difference, x[i+1, j+1] − x[i, j], zero-padded after
        dy = np.zeros_like(x)
        dy[:-1, :-1] = x[1:, 1:] - x[:-1, :-1]
    dx = _delta(x, _AXES[axes[1]], diff, pad, False)
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
    s = {"sum": lambda: dy**2 + dx**2, "abs_sum": lambda: (np.abs(dy) + np.abs(dx)) ** 2,
         "abs_sum_beta": lambda: (np.abs(dy) + np.abs(dx)) ** 2,
         "unit": lambda: (dy**2 + dx**2 > 0).astype(np.float64),
         "diff_sum": lambda: (dy + dx) ** 2, "sum_channels": lambda: dy**2 + dx**2}[combine]()
    if beta == "5/4":  # s ** 5/4 is (s ** 5) / 4
        return np.mean(s**5 / 4)
    power = beta / 2 if combine == "abs_sum_beta" else beta
    s = s.sum(axis=-1) if combine == "sum_channels" else s
    v = float16(float16(s) ** power) if dtype == "float16" else s**power
    if count != "all":  # the padded sum over a count of the cropped differences
        h, w, c = x.shape
        return np.sum(v) / {"cropped": (h - 1) * (w - 1) * c, "rows_cropped": (h - 1) * w * c,
                            "cols_cropped": h * (w - 1) * c}[count]
    return np.mean(v)


def _power_of(base: np.ndarray, target: float) -> float | None:
    """p with mean(base ** p) = target, by bisection (the mean grows with p when every
    non-zero value of base is at least 1), or None."""
    if not np.isfinite(target) or target <= 0 or np.any((base > 0) & (base < 1)):
        return None
    lo, hi = 0.05, 5.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if np.mean(base**mid) < target else (lo, mid)
    return round(lo, 3)


_BASES = {"(a + b)": (lambda a, b: a + b, "the power form uses β = 1.25, "
                                          "mean((a + b) ** 1.25)"),
          "(|dy| + |dx|)": (lambda a, b: np.sqrt(a) + np.sqrt(b), "TV adds the SQUARED "
                            "differences and raises their sum to β = 1.25, (dy² + dx²)^1.25")}


def _fitted_power(outs: list, refs: list, cases: list) -> str | None:
    """mean((a + b)^p) or mean((|dy| + |dx|)^p) for some p on every hidden input: p found
    by bisection on the first input, checked on the others. Powers the operators name
    (TV_OPS) are left to them."""
    steps = [_squared_steps(c.memo.setdefault("numeric_x", np.asarray(c.args[0], np.float64)))
             for c in cases]
    named = {"(a + b)": [1.25] + [op.value for op in TV_OPS
                                     if op.knob == "beta" and isinstance(op.value, float)],
             "(|dy| + |dx|)": [2.5, 1.25]}
    for text, (base_of, right) in _BASES.items():
        bases = [base_of(*ab) for ab in steps]
        p = _power_of(bases[0], float(outs[0]))
        if p is None or any(abs(p - q) < 1e-2 for q in named[text]):
            continue
        if all(math.isclose(float(o), float(np.mean(b**p)), rel_tol=2e-3)
               for o, b in zip(outs, bases, strict=True)):
            return f"you raised {text} to the power {p:g}; {right}"
    return None


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

TV_OPS = [
    Op("axes", "hc", "axes", "channels for columns", _CHANNELS.format("second")),
    Op("axes", "cw", "axes", "channels for rows", _CHANNELS.format("first")),
    Op("axes", "hh", "axes", "rows twice", _SAME.format("rows")),
    Op("axes", "dw", "axes", "a diagonal difference for the rows", "one of your differences "
       "runs diagonally, x[:, 1:, 1:] − x[:, :-1, :-1] (both indices moved): TV compares "
       "each pixel with the one below, x[:, 1:] − x[:, :-1], and with the one to its right, "
       "x[:, :, 1:] − x[:, :, :-1]"),
    Op("axes", "ww", "axes", "columns twice", _SAME.format("columns")),
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
    Op("scale", 1 / 255, "scale", "image ÷ 255 first", "you scaled the image to 0..1 (x / "
       "255) first: TV works on the image as it is given, in the network's units"),
    Op("scale", 1 / 127.5, "scale", "image ÷ 127.5 first", "you scaled the image by 1/127.5 "
       "first (the 'tf' range −1..1): TV works on the image as it is given, in the "
       "network's units"),
]

TV = Spec(
    what="the total-variation loss",
    cases=_tv_cases,
    reference=_tv_ref,
    returns="tensor",
    candidates=[
        ("you left out the last row and column (the Keras example's crop to (H−1, W−1)): pad "
         "the squared differences with a zero row / column so every pixel counts",
         lambda x: _tv_np(x, crop=True)),
        (_MISALIGNED.format("top", "left"), lambda x: _tv_np(x, pad="before")),
        (_MISALIGNED.format("top", "right"), lambda x: _tv_np(x, pad="rows-before")),
        (_MISALIGNED.format("bottom", "left"), lambda x: _tv_np(x, pad="cols-before")),
        ("your differences skip a pixel (x[:, 2:] − x[:, :-2]): take each pixel's difference "
         "to its direct neighbour, x[:, 1:] − x[:, :-1]", lambda x: _tv_np(x, step=2)),
        ("you left out the power: raise (a + b) to β = 1.25", lambda x: _tv_np(x, beta=1.0)),
        ("you raised the mean to the power 1.25 (mean(a + b) ** 1.25, the same as mean(a) + "
         "mean(b) raised to 1.25): raise each (a + b) to 1.25 first, then take the mean, "
         "mean((a + b) ** 1.25)",
         lambda x: float(np.mean(np.add(*_squared_steps(x))) ** 1.25)),
        ("you raised (a + b) to the power 2; use β = 1.25", lambda x: _tv_np(x, beta=2.0)),
        ("you took the square root of (a + b); raise it to β = 1.25",
         lambda x: _tv_np(x, beta=0.5)),
        ("you raised a and b to 1.25 separately: add the two squared differences first, then "
         "raise the sum", lambda x: float(np.mean(np.sum(
             [s**1.25 for s in _squared_steps(x)], axis=0)))),
        (_ONE_WAY.format("rows", "x[:, 1:] − x[:, :-1]", "columns", "x[:, :, 1:] − "
                         "x[:, :, :-1]"), lambda x: float(np.mean(_squared_steps(x)[0] ** 1.25))),
        (_ONE_WAY.format("columns", "x[:, :, 1:] − x[:, :, :-1]", "rows", "x[:, 1:] − "
                         "x[:, :-1]"), lambda x: float(np.mean(_squared_steps(x)[1] ** 1.25))),
        ("that is the 'abs' form, mean |Δx| + mean |Δy|; this exercise asks for the power "
         "form, mean((a + b)^1.25) with squared differences", _abs_form),
        ("that is tf.image.total_variation: the SUM of absolute differences. This exercise "
         "asks for mean((a + b) ** 1.25) with squared differences", _tf_image_tv),
    ],
    divisor=(1.0, {"N": 1, "M": 1}),
    factor_hints={"1": "Take the mean over all H·W·C values, not the sum, so the loss does not "
                       "grow with the image",
                  "M": "Take the mean over the channels too"},
    shape_hint=_tv_shape,
    watch=lambda args: [args[0]],
    dim_names="N = channels, M = H·W pixels",
    success="mean((a + b)^1.25) over every pixel, the gradient flows and is finite",
    library=_library,
    mutations=Mutations(tv_program, TV_OPS),
    diagnose=_fitted_power,
)
