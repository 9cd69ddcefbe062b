"""Checks ``total_variation_loss`` of notebooks/exercises/ex05_total_variation.ipynb."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import Case, Spec, rng, scalar_shape, scalar_values
from helpers.exercises.ex05_mistakes import TV_OPS, tv_program
from helpers.exercises.mutations import Mutations


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
    shape_values=scalar_values,
    watch=lambda args: [args[0]],
    dim_names="N = channels, M = H·W pixels",
    success="mean((a + b)^1.25) over every pixel, the gradient flows and is finite",
    library=_library,
    mutations=Mutations(tv_program, TV_OPS),
    diagnose=_fitted_power,
)
