"""Checks ``content_loss`` of notebooks/exercises/ex03_content.ipynb."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import (
    Spec,
    feature_cases,
    gram_np,
    real_case,
    scalar_shape,
    scalar_values,
)
from helpers.exercises.ex02_gram import FLOAT16, INT32, unit
from helpers.exercises.ex04_mistakes import WRONG_M
from helpers.exercises.mutations import Mutations, Op, float16, search


def _content_ref(f: Any, p: Any) -> np.ndarray:
    from helpers.losses import content_loss

    return content_loss(f, p).numpy()


def _library() -> Callable:
    from helpers.losses import content_loss

    return content_loss


def _diff(f: Any, p: Any) -> np.ndarray:
    return np.asarray(f, np.float64) - np.asarray(p, np.float64)


def _pairs(f: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Mean of (f_i − p_j)² over every pair of values (what broadcasting (K, 1) − (1, K)
    averages), in closed form."""
    return np.mean(f**2) - 2 * np.mean(f) * np.mean(p) + np.mean(p**2)


def _rescaled(x: np.ndarray, how: str) -> np.ndarray:
    if how == "raw":
        return x
    flat = x.reshape(-1, x.shape[-1])
    return unit(flat, how).reshape(x.shape)


def content_program(f: Any, p: Any, diff: str = "f-p", power: str = "square",
                    reduce: str = "mean", dtype: str = "float32", features: str = "raw",
                    relative: str = "none") -> np.ndarray:
    """The content loss with knobs: what is compared, the power of the difference, the
    reduction, the arithmetic's dtype, both maps rescaled first (:func:`unit`) and a
    division by a size of the target (the reference: F − P, squared, mean, float32, raw
    maps, no such division)."""
    f, p = _rescaled(np.asarray(f, np.float64), features), _rescaled(
        np.asarray(p, np.float64), features)
    if relative != "none":  # Σ (F − P)² or its mean over a size of P (or F): "relative"
        return _relative(f, p, relative)
    cast = {"float16": float16, "int32": np.trunc}.get(dtype, np.asarray)
    f, p = cast(f), cast(p)
    if diff == "pairs":
        return _pairs(f, p) if power == "square" else np.asarray(np.nan)
    d = {"f-p": lambda: f - p, "f": lambda: f, "f+p": lambda: f + p,
         "p_mean": lambda: f - np.mean(p), "first_channel": lambda: f[..., :1] - p[..., :1],
         "last_channel": lambda: f[..., -1:] - p[..., -1:],
         "gram": lambda: gram_np(f) - gram_np(p)}[diff]()
    whole = _whole(d, f, p, power, reduce)
    if whole is not None:
        return whole
    e = {"square": lambda: d**2, "abs": lambda: np.abs(d), "none": lambda: d,
         "huber": lambda: np.where(np.abs(d) <= 1, d**2 / 2, np.abs(d) - 0.5)}[power]()
    e = float16(e) if dtype == "float16" else e
    n, m = f.shape[-1], f.size // f.shape[-1]
    if reduce.startswith("m:"):  # sum / (N · a mistyped M)
        return np.sum(e) / (n * WRONG_M[reduce[2:]](f.shape))
    if reduce in ("n_times_m", "m_times_n"):  # sum / N * M, sum / M * N: no parentheses
        return np.sum(e) / n * m if reduce == "n_times_m" else np.sum(e) / m * n
    loss = float16(np.mean(e)) if dtype == "float16" else np.mean(e)
    return np.floor(loss) if reduce == "floor" or dtype == "int32" else loss  # int mean: floor


def _whole(d: np.ndarray, f: np.ndarray, p: np.ndarray, power: str, reduce: str
           ) -> Any:
    """The reductions that do not sum a power of each difference (a norm, a maximum, a
    cosine distance, a square of the sum or mean), or None."""
    signed = np.abs(d) if power == "abs" else d
    ways = {"norm": lambda: np.sqrt(np.sum(d**2)),
            "norm_over_nm": lambda: np.sqrt(np.sum(d**2)) / d.size,
            "norm_per_position": lambda: np.mean(np.sqrt(np.sum(d**2, axis=-1))),
            "square_of_sum": lambda: np.sum(signed) ** 2,
            "square_of_mean": lambda: np.mean(signed) ** 2,
            "max": lambda: np.max(d**2),
            "cosine": lambda: 1 - np.sum(f * p) / np.sqrt(np.sum(f**2) * np.sum(p**2))}
    return ways[reduce]() if reduce in ways else None


def _relative(f: np.ndarray, p: np.ndarray, how: str) -> np.ndarray:
    """The squared difference relative to a size of the target (or of F): ``how`` is
    "top/bottom", top "sum" or "mean" of (F − P)² or "norm" ‖F − P‖, bottom one of
    :data:`SIZES`."""
    top, bottom = how.split("/")
    d2 = (f - p) ** 2
    num = {"sum": np.sum(d2), "mean": np.mean(d2), "norm": np.sqrt(np.sum(d2))}[top]
    with np.errstate(all="ignore"):
        return num / SIZES[bottom][1](f, p)


#: Sizes of the target (or of F) a student may divide by: label, value.
SIZES: dict[str, tuple[str, Callable]] = {
    "ΣP²": ("Σ P², the target's energy (tf.reduce_sum(tf.square(target)))",
            lambda f, p: np.sum(p**2)),
    "‖P‖": ("‖P‖, the target's norm (tf.norm(target))", lambda f, p: np.sqrt(np.sum(p**2))),
    "mean P²": ("mean(P²), the target's mean square", lambda f, p: np.mean(p**2)),
    "Σ|P|": ("Σ |P|, the sum of the target's values", lambda f, p: np.sum(np.abs(p))),
    "ΣF²": ("Σ F², the features' own energy", lambda f, p: np.sum(f**2)),
    "‖F‖": ("‖F‖, the features' own norm (tf.norm(features))", lambda f, p: np.sqrt(np.sum(f**2))),
}
_TOPS = {"sum": "the sum of the squared differences", "mean": "the mean squared difference",
         "norm": "the norm ‖F − P‖"}


def _relative_ops() -> list[Op]:
    ops = []
    for top, text in _TOPS.items():
        for bottom, (label, _) in SIZES.items():
            if (top, bottom) == ("mean", "mean P²"):  # the same numbers as sum ÷ Σ P²
                continue
            ops.append(Op("relative", f"{top}/{bottom}", "relative to the target",
                          f"{top} ÷ {bottom}", f"you divided {text} by {label}: an error "
                          "relative to the target's size. The content loss divides by the "
                          "number of values only, N·M: mean((F − P)²) (tf.reduce_mean)"))
    return ops


_FEATURES = ("you rescaled both maps before comparing them: {}. The content loss compares "
             "the features as they are, mean((F − P)²), so a change of brightness or "
             "contrast in a channel counts too")

CONTENT_OPS = [
    Op("diff", "f+p", "what is compared", "F + P for F − P", "you added the maps, (F + P)², "
       "where the loss takes their difference, (F − P)²: a sign slip (features + target)"),
    Op("reduce", "max", "reduction", "maximum, not the mean", "you took the LARGEST squared "
       "difference (tf.reduce_max): the loss is the mean over every value, "
       "tf.reduce_mean(tf.square(F − P))"),
    Op("reduce", "cosine", "reduction", "cosine distance 1 − cos(F, P)", "you took the "
       "cosine distance 1 − ⟨F, P⟩ / (‖F‖·‖P‖), which ignores how strong the features are: "
       "the content loss is the mean squared difference, mean((F − P)²)"),
    *[Op("diff", f"{which}_channel", "what is compared", f"{which} channel only", "you "
         f"compared the {which} channel only (F[..., {0 if which == 'first' else -1}] − "
         "P[…]: an index where a slice of every channel belongs): every channel counts, "
         "mean((F − P)²) over the whole map") for which in ("first", "last")],
    Op("features", "centred", "rescaled maps", "each channel's mean subtracted",
       _FEATURES.format("each channel's mean over the positions subtracted (tf.reduce_mean("
                        "…, axis=[1, 2], keepdims=True))")),
    Op("features", "centred_all", "rescaled maps", "the map's mean subtracted",
       _FEATURES.format("the mean of the whole map subtracted")),
    Op("features", "rows", "rescaled maps", "positions normalised to length 1",
       _FEATURES.format("each position's feature vector divided by its length "
                        "(tf.math.l2_normalize(…, axis=-1))")),
    Op("features", "columns", "rescaled maps", "channels normalised to length 1",
       _FEATURES.format("each channel divided by its length over the positions "
                        "(tf.math.l2_normalize over axes 1 and 2)")),
    Op("features", "all", "rescaled maps", "maps ÷ their norm", _FEATURES.format(
        "each map divided by its own norm (tf.math.l2_normalize without an axis, x / tf.norm(x))")),
    Op("features", "standardised", "rescaled maps", "channels standardised",
       _FEATURES.format("each channel centred and divided by its standard deviation")),
    *_relative_ops(),
    Op("diff", "f", "what is compared", "target ignored", "your loss ignores the target: it "
       "is the mean of F², not of (F − P)²"),
    Op("diff", "pairs", "what is compared", "every pair (broadcasting)", "your difference "
       "compares every value of F with every value of P (broadcasting shapes like (K, 1) − "
       "(1, K)); subtract matching values, F − P, of the same shape"),
    Op("diff", "p_mean", "what is compared", "F − mean(P)", "you compared F with the MEAN "
       "of the target (one number): the content loss compares each value with the target's "
       "value at the same place, mean((F − P)²)"),
    Op("diff", "gram", "what is compared", "Gram matrices compared", "you compared Gram "
       "matrices, as the style loss does; the content loss compares the features "
       "themselves, mean((F − P)²)"),
    Op("power", "abs", "power", "|F − P|", "you used the absolute difference |F − P|; "
       "square it: (F − P)²"),
    Op("power", "huber", "power", "Huber loss", "that is the Huber loss "
       "(tf.keras.losses.Huber): past |F − P| = 1 it grows like |F − P|, not its square; "
       "the content loss is the plain mean squared difference, mean((F − P)²)"),
    Op("power", "none", "power", "no square", "you forgot to square: positive and negative "
       "differences cancel"),
    Op("reduce", "norm", "reduction", "unsquared norm ‖F − P‖", "you took the norm ‖F − P‖ "
       "(tf.norm) without squaring it: the loss is the mean of the SQUARED differences, "
       "‖F − P‖² / (N·M)"),
    Op("reduce", "norm_over_nm", "reduction", "‖F − P‖ / (N·M)", "you divided the norm "
       "‖F − P‖ (tf.norm) by N·M, but the norm is not squared: the loss is the mean of the "
       "SQUARED differences, ‖F − P‖² / (N·M) = mean((F − P)²)"),
    *[Op("reduce", f"m:{text}", "operand size", f"÷ N·({text.split(' (')[0]})", "you "
         f"divided the sum by N times {text} where M is the number of positions H·W "
         "(features.shape[1] * features.shape[2]; the hidden maps are not square), or take "
         "tf.reduce_mean") for text in WRONG_M],
    Op("reduce", "norm_per_position", "reduction", "mean of the norms per position", "you took "
       "the norm over the channels at each position (tf.norm(…, axis=-1)) and averaged "
       "those: the loss is the mean of the SQUARED differences of every value, "
       "mean((F − P)²)"),
    Op("reduce", "square_of_sum", "reduction", "square of the sum", "you squared the SUM of "
       "the differences (Σ F − Σ P)²: square each difference first, then take the mean, "
       "mean((F − P)²)"),
    Op("reduce", "square_of_mean", "reduction", "square of the mean", "you squared the mean "
       "of the differences: square each difference first, then take the mean, "
       "mean((F − P)²)"),
    Op("reduce", "n_times_m", "operator precedence", "/ N * M (no parentheses)", "you wrote "
       "`/ N * M` without parentheses: Python divides by N and then MULTIPLIES by M; write "
       "`/ (N * M)`, or take tf.reduce_mean"),
    Op("reduce", "m_times_n", "operator precedence", "/ M * N (no parentheses)", "you wrote "
       "`/ M * N` without parentheses: Python divides by M and then MULTIPLIES by N; write "
       "`/ (M * N)`, or take tf.reduce_mean"),
    Op("reduce", "floor", "reduction", "// (floor division)", "you divided with // (floor "
       "division), which rounds the loss down to a whole number; divide with /"),
    Op("dtype", "float16", "dtype", "float16 arithmetic",
       FLOAT16.format("the squared differences"), rtol=2e-2),
    Op("dtype", "int32", "dtype", "int32 features (decimals cut)", INT32 + " (the mean of "
       "int32 values is an int32 too, rounded down)"),
]

CONTENT = Spec(
    what="the content loss",
    cases=lambda: [*feature_cases(4, with_target="features", thin=True),
                   real_case("features", "block2_conv1", crop=(6, 8))],
    reference=_content_ref,
    returns="tensor",
    candidates=[
        ("you used the absolute difference |F − P|; square it: (F − P)²",
         lambda f, p: np.mean(np.abs(_diff(f, p)))),
        ("you forgot to square: the mean of F − P lets positive and negative differences "
         "cancel", lambda f, p: np.mean(_diff(f, p))),
        ("you took the square root of the mean (that is the RMS distance); the loss is the "
         "mean squared difference itself", lambda f, p: np.sqrt(np.mean(_diff(f, p) ** 2))),
        ("you squared F and P separately: square the difference, (F − P)²",
         lambda f, p: np.mean(np.square(f) - np.square(p))),
    ],
    divisor=(1.0, {"N": 1, "M": 1}),
    factor_hints={"1": "You summed: take the mean (tf.reduce_mean) so the loss does not grow "
                       "with the image",
                  "2": "Gatys et al. write ½ Σ (F − P)²; our convention is the mean, "
                       "1/(N·M) Σ (F − P)²"},
    shape_hint=scalar_shape,
    shape_values=scalar_values,
    watch=lambda args: [args[0]],
    success="the mean squared difference 1/(N·M) Σ (F − P)², the gradient flows",
    library=_library,
    mutations=Mutations(content_program, CONTENT_OPS, unpaired=("relative",)),
    # `/ N * M` is the right result times M²: named before the factor (which reads "an extra
    # factor M²")
    diagnose=lambda outs, refs, cases: search(CONTENT.mutations, outs, cases,
                                              family="operator precedence"),
)
