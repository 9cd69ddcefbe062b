"""Checks ``content_loss`` of notebooks/exercises/ex03_content.ipynb."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import Spec, feature_cases, gram_np, real_case, scalar_shape
from helpers.exercises.ex02_gram import FLOAT16, INT32
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


def content_program(f: Any, p: Any, diff: str = "f-p", power: str = "square",
                    reduce: str = "mean", dtype: str = "float32") -> np.ndarray:
    """The content loss with knobs: what is compared, the power of the difference, the
    reduction and the arithmetic's dtype (the reference: F − P, squared, mean, float32)."""
    f, p = np.asarray(f, np.float64), np.asarray(p, np.float64)
    cast = {"float16": float16, "int32": np.trunc}.get(dtype, np.asarray)
    f, p = cast(f), cast(p)
    if diff == "pairs":
        return _pairs(f, p) if power == "square" else np.asarray(np.nan)
    d = {"f-p": lambda: f - p, "f": lambda: f, "p_mean": lambda: f - np.mean(p),
         "gram": lambda: gram_np(f) - gram_np(p)}[diff]()
    if reduce in ("norm", "norm_over_nm"):
        return np.sqrt(np.sum(d**2)) / (1 if reduce == "norm" else d.size)
    if reduce == "norm_per_position":  # tf.norm(…, axis=-1), then the mean
        return np.mean(np.sqrt(np.sum(d**2, axis=-1)))
    if reduce == "square_of_sum":  # (Σ F − Σ P)²
        return np.sum({"abs": np.abs(d)}.get(power, d)) ** 2
    if reduce == "square_of_mean":  # mean first, squared after
        return np.mean({"abs": np.abs(d)}.get(power, d)) ** 2
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


CONTENT_OPS = [
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
    watch=lambda args: [args[0]],
    success="the mean squared difference 1/(N·M) Σ (F − P)², the gradient flows",
    library=_library,
    mutations=Mutations(content_program, CONTENT_OPS),
    # `/ N * M` is the right result times M²: named before the factor (which reads "an extra
    # factor M²")
    diagnose=lambda outs, refs, cases: search(CONTENT.mutations, outs, cases,
                                              family="operator precedence"),
)
