"""Checks ``gram_matrix`` of notebooks/exercises/ex02_gram.ipynb."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import Case, Spec, feature_cases, gram_np
from helpers.exercises.mutations import Mutations, Op, float16, int32_wrap


def _gram_ref(f: Any) -> np.ndarray:
    from helpers.losses import gram_matrix

    return gram_matrix(f).numpy()


def _library() -> Callable:
    from helpers.losses import gram_matrix

    return gram_matrix


def _gram_values(value: np.ndarray, ref: np.ndarray, case: Case) -> str | None:
    """A vector where the N × N matrix belongs, read from its values."""
    n = case.dims["N"]
    if value.shape != (n,):
        return None
    flat = np.asarray(case.args[0], np.float64).reshape(-1, n)
    head = (f"your result has shape {value.shape}, one number per channel, where the Gram "
            f"matrix is ({n}, {n}), one for every PAIR of channels")
    fix = ("G = Fᵀ F, a matrix product (tf.matmul(F, F, transpose_a=True)), not an "
           "element-wise product")
    if np.allclose(value, np.diag(ref), rtol=1e-3, atol=1e-6 * np.abs(ref).max()):
        return (f"{head}: your values are its diagonal, Σ F², each channel with itself only "
                f"(F * F summed over positions); {fix}")
    if np.allclose(value, flat.sum(axis=0), rtol=1e-3, atol=1e-6):
        return f"{head}: your values are each channel summed over the positions, Σ F; {fix}"
    return f"{head}; {fix}"


def _gram_shape(got: tuple, expected: tuple, case: Case) -> str | None:
    n, m = case.dims["N"], case.dims["M"]
    h, w = (int(s) for s in case.args[0].shape[1:3])
    side = {h: ("H", "shape[1], the height"), w: ("W", "shape[2], the width")}
    if len(got) == 2 and got[0] == got[1] and got[0] in side and got[0] not in (n, m):
        letter, axis = side[got[0]]
        return (f"your result has shape {got} = ({letter}, {letter}), not ({n}, {n}) = (N, N): "
                f"your channel count came from {axis}; channels are the LAST axis, "
                f"N = features.shape[-1], so F is (H·W, N) = ({m}, {n})")
    if got == (m, m):
        return (f"your result has shape {got}, positions × positions: you computed F Fᵀ; the "
                f"Gram matrix is Fᵀ F, channels × channels, shape {expected} "
                f"(F is (M, N) = ({m}, {n}))")
    if got in ((m, n), (n, m)):
        what = "F itself" if got == (m, n) else "Fᵀ"
        return (f"your result has shape {got}, the flattened map ({what}), not the ({n}, {n}) "
                "Gram matrix: multiply, G = Fᵀ F (tf.matmul(F, F, transpose_a=True))")
    if got == (1, n, n):
        return (f"your result has shape {got}: drop the batch axis; flattening the map to "
                f"(H·W, C) = ({m}, {n}) first removes it")
    if len(got) > 2 and got[-2:] == expected:
        return (f"your result has shape {got}, not {expected}: flatten the spatial dimensions "
                f"first, reshaping the (1, H, W, C) map to (H·W, C) = ({m}, {n}), then Fᵀ F")
    return None


def _gram_scrambled(f: Any) -> np.ndarray:
    f = np.asarray(f, np.float64)
    flat = f.reshape(f.shape[-1], -1)  # (C, H·W) straight from channels-last memory
    return flat @ flat.T


def _centred(f: Any) -> np.ndarray:
    flat = np.asarray(f, np.float64).reshape(-1, np.shape(f)[-1])
    flat = flat - flat.mean(axis=0)
    return flat.T @ flat


_COVARIANCE = ("you subtracted each channel's mean first: that is a covariance matrix "
               "(tfp.stats.covariance, np.cov){}. The Gram matrix uses the raw features, "
               "G = Fᵀ F, no centring and no normalisation")


def _covariance_candidates() -> list[tuple[str, Callable]]:
    def m_of(f: Any) -> int:
        return int(np.prod(np.shape(f)[1:3]))

    return [(_COVARIANCE.format(""), _centred),
            (_COVARIANCE.format(", divided by M"), lambda f: _centred(f) / m_of(f)),
            (_COVARIANCE.format(", divided by M − 1"), lambda f: _centred(f) / (m_of(f) - 1))]


FLOAT16 = ("you computed in float16 (tf.cast(…, tf.float16)): it stops at 65504, and on "
           "real VGG features, activations in the hundreds, {} overflow to inf. Keep the "
           "features float32")
INT32 = ("you cast the features to int32 (or another integer type): that cuts off their "
         "decimals (0.97 becomes 0), and int32 sums past 2³¹ wrap around; keep them float32")


def gram_program(f: Any, positions: str = "all", part: str = "full",
                 dtype: str = "float32") -> np.ndarray:
    """The Gram matrix with knobs: which positions are summed, which part of G is kept,
    and the arithmetic's dtype (the reference: every position, all of G, float32)."""
    flat = np.asarray(f, np.float64).reshape(-1, np.shape(f)[-1])
    flat = {"float16": float16, "int32": np.trunc}.get(dtype, np.asarray)(flat)
    if positions in ("first_row", "first_column"):  # features[:, :1] or [:, :, :1]
        f4 = np.asarray(f, np.float64)
        strip = f4[:, :1] if positions == "first_row" else f4[:, :, :1]
        flat = {"float16": float16, "int32": np.trunc}.get(dtype, np.asarray)(
            strip.reshape(-1, flat.shape[1]))
    flat = {"first": flat[:1], "last": flat[-1:]}.get(positions, flat)
    left = flat.T
    if positions == "half_scrambled":  # reshape(f, (C, -1)) @ reshape(f, (-1, C))
        left = np.reshape(flat, (flat.shape[1], -1))
    if positions == "channels_first":  # (1, C, H, W) memory reshaped to (H·W, C)
        flat = np.transpose(np.asarray(f, np.float64), (0, 3, 1, 2)).reshape(flat.shape)
        flat = {"float16": float16, "int32": np.trunc}.get(dtype, np.asarray)(flat)
        left = flat.T
    g = left @ flat
    g = {"float16": float16, "int32": int32_wrap}.get(dtype, np.asarray)(g)
    return {"upper": np.triu(g), "lower": np.tril(g), "diag": np.diag(np.diag(g)),
            "offdiag": g - np.diag(np.diag(g)), "full": g}[part]


_ONE = ("your Gram matrix holds one position only, the outer product of the {} position's "
        "features{}: G sums that outer product over all H·W positions, Fᵀ F")
_HALF = ("you kept only the {} triangle of G (tf.linalg.band_part): the Gram matrix is "
         "symmetric and both halves count, G = Fᵀ F")

GRAM_OPS = [
    Op("positions", "half_scrambled", "positions summed", "reshape to (C, H·W) for Fᵀ",
       "your Fᵀ is the map reshaped straight to (C, H·W) (tf.reshape(f, (C, -1))), which "
       "is not the transpose: channels are the LAST axis, so that mixes positions and "
       "channels. Reshape to (H·W, C) once and transpose it, tf.matmul(F, F, "
       "transpose_a=True)"),
    Op("positions", "channels_first", "positions summed", "channels first, then "
       "reshaped to (H·W, C)", "you moved the channels first (tf.transpose to (1, C, H, W)) "
       "and then reshaped to (H·W, C): that reads the channels-first memory in rows of C, "
       "which mixes positions and channels. Either reshape the channels-LAST map to "
       "(H·W, C) directly, or, channels first, reshape to (C, H·W) and take F Fᵀ"),
    Op("positions", "first", "positions summed", "first position only", _ONE.format(
        "first", " (F[0]ᵀ F[0])")),
    Op("positions", "last", "positions summed", "last position only (G = … for G += …)",
       _ONE.format("last", "; in a loop over positions, did you write `G = …` instead of "
                   "`G += …`?")),
    Op("positions", "first_row", "positions summed", "first row of the map only", "your "
       "Gram matrix sums over the first ROW of the map only (features[:, :1] or "
       "features[0, 0]): G sums over all H·W positions, every row"),
    Op("positions", "first_column", "positions summed", "first column of the map only",
       "your Gram matrix sums over the first COLUMN of the map only (features[:, :, :1]): "
       "G sums over all H·W positions"),
    Op("part", "offdiag", "part of G", "diagonal left out", "you left out the diagonal of "
       "G (each channel with itself): it belongs to the Gram matrix too, G = Fᵀ F"),
    Op("part", "upper", "part of G", "upper triangle", _HALF.format("upper")),
    Op("part", "lower", "part of G", "lower triangle", _HALF.format("lower")),
    Op("part", "diag", "part of G", "diagonal only", "you kept only the diagonal of G (each "
       "channel with itself); the Gram matrix also holds every pair of channels, Fᵀ F"),
    Op("dtype", "float16", "dtype", "float16 arithmetic",
       FLOAT16.format("the sums over positions"), rtol=2e-2),
    Op("dtype", "int32", "dtype", "int32 features (decimals cut)", INT32),
]

GRAM = Spec(
    what="the Gram matrix",
    cases=lambda: feature_cases(3, real=True, thin=True),
    reference=_gram_ref,
    returns="tensor",
    candidates=[
        ("you reshaped straight to (C, H·W): channels are the LAST axis, so that mixes "
         "positions and channels. Reshape to (H·W, C) and compute Fᵀ F (or transpose "
         "before reshaping)", _gram_scrambled),
        ("you squared the entries before multiplying (F² in place of F)",
         lambda f: gram_np(np.square(f))),
        *_covariance_candidates(),
    ],
    divisor=(1.0, {}),
    factor_hints={"M": "The Gram matrix here is the plain sum Fᵀ F; the style loss "
                       "normalises later", "N·M": "The Gram matrix here is the plain sum Fᵀ F"},
    shape_hint=_gram_shape,
    shape_values=_gram_values,
    watch=lambda args: [args[0]],
    success="G = Fᵀ F, shape (N, N), the gradient flows",
    library=_library,
    mutations=Mutations(gram_program, GRAM_OPS),
)
