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
    if value.size == 1 and n > 1 and np.isclose(float(value.ravel()[0]), float(np.trace(ref)),
                                                 rtol=1e-3):
        return (f"your result has shape {value.shape}, one number, where the Gram matrix is "
                f"({n}, {n}): its value is the sum of ALL squared features, so your F has a "
                "single column — N taken from shape[0] (the batch size, 1), or the whole map "
                "flattened into one row (batch_flatten) and F Fᵀ. Channels are the last axis: "
                f"N = features.shape[-1], F = tf.reshape(features, (-1, N)), G = Fᵀ F")
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


def unit(flat: np.ndarray, how: str) -> np.ndarray:
    """(M, N) features rescaled as ``how`` says: "columns" each channel to length 1 over the
    positions (tf.math.l2_normalize(F, axis=0)), "rows" each position's vector to length 1,
    "all" the whole map to length 1, "centred" / "centred_all" minus each channel's / the
    map's mean, "standardised" each channel to mean 0 and standard deviation 1."""
    with np.errstate(all="ignore"):
        if how == "columns":
            return flat / np.maximum(np.linalg.norm(flat, axis=0, keepdims=True), 1e-12)
        if how == "rows":
            return flat / np.maximum(np.linalg.norm(flat, axis=-1, keepdims=True), 1e-12)
        if how == "all":
            return flat / np.linalg.norm(flat)
        if how == "centred":
            return flat - flat.mean(axis=0)
        if how == "centred_all":
            return flat - flat.mean()
        if how == "standardised":
            return (flat - flat.mean(axis=0)) / flat.std(axis=0)
    return flat


def gram_program(f: Any, positions: str = "all", part: str = "full",
                 dtype: str = "float32", features: str = "raw", norm: str = "none"
                 ) -> np.ndarray:
    """The Gram matrix with knobs: which positions are summed, which part of G is kept,
    the arithmetic's dtype, the features rescaled first (:func:`unit`) and G divided by a
    number from its values (the reference: every position, all of G, float32, raw
    features, no normalisation)."""
    flat = unit(np.asarray(f, np.float64).reshape(-1, np.shape(f)[-1]), features)
    if positions in ("sums", "means"):  # one channel statistic, then the outer product
        s = flat.sum(axis=0) if positions == "sums" else flat.mean(axis=0)
        return np.outer(s, s)
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
    g = g / {"none": 1.0, "trace": np.trace(g), "fro_g": np.linalg.norm(g),
             "max": np.max(np.abs(g)), "sum": np.sum(g), "fro_f": np.linalg.norm(flat),
             "diag": np.sqrt(np.outer(np.diag(g), np.diag(g)))}[norm]
    return {"upper": np.triu(g), "lower": np.tril(g), "diag": np.diag(np.diag(g)),
            "offdiag": g - np.diag(np.diag(g)), "full": g}[part]


_ONE = ("your Gram matrix holds one position only, the outer product of the {} position's "
        "features{}: G sums that outer product over all H·W positions, Fᵀ F")
_HALF = ("you kept only the {} triangle of G (tf.linalg.band_part): the Gram matrix is "
         "symmetric and both halves count, G = Fᵀ F")

_SCALAR = ("your result is the right one divided by a number that changes from input to "
           "input: {}. The Gram matrix here is the plain sum G = Fᵀ F, no normalisation "
           "(the style loss normalises later)")
_RESCALED = ("you rescaled the features before the product: {}. The Gram matrix uses the "
             "raw features, G = Fᵀ F: no normalisation, no centring")

#: Normalisations computed from the values: (features, norm) knob values, label, sentence.
NORMALISED = [
    ("features", "columns", "channels normalised to length 1 (cosine)", _RESCALED.format(
        "each channel divided by its length over the positions (tf.math.l2_normalize(F, "
        "axis=0)), so G holds cosines, 1 on the diagonal")),
    ("norm", "diag", "G ÷ √(G_ii G_jj) (cosine)", "you divided each entry G_ij by "
     "√(G_ii · G_jj), the lengths of channels i and j: that is a cosine-similarity matrix "
     "(1 on the diagonal). The Gram matrix here is the plain sum G = Fᵀ F, no normalisation"),
    ("features", "rows", "positions normalised to length 1", _RESCALED.format(
        "each position's feature vector divided by its length (tf.math.l2_normalize(F, "
        "axis=-1))")),
    ("features", "centred_all", "the map's mean subtracted", _RESCALED.format(
        "the mean of the whole map subtracted from every value")),
    ("features", "standardised", "channels standardised", _RESCALED.format(
        "each channel centred and divided by its standard deviation (a correlation "
        "matrix times M)")),
    ("norm", "trace", "G ÷ trace(G) = ‖F‖² (or F ÷ ‖F‖ first)", _SCALAR.format(
        "‖F‖², the sum of all squared features — G divided by its trace "
        "(tf.linalg.trace(G)), or the features divided by their norm ‖F‖ before the "
        "product: the same numbers")),
    ("norm", "fro_g", "G ÷ ‖G‖", _SCALAR.format("its own norm ‖G‖ (tf.norm(G))")),
    ("norm", "fro_f", "G ÷ ‖F‖", _SCALAR.format("the norm of the features ‖F‖ "
                                               "(tf.norm(features))")),
    ("norm", "max", "G ÷ max |G|", _SCALAR.format("its largest entry (tf.reduce_max)")),
    ("norm", "sum", "G ÷ Σ G", _SCALAR.format("the sum of its entries (tf.reduce_sum(G))")),
]

GRAM_OPS = [
    Op("positions", "sums", "positions summed", "outer product of the channel sums", "you "
       "summed each channel over the positions first and then took the outer product, "
       "(Σ_k F_ki)(Σ_k F_kj): the Gram matrix sums the products, G_ij = Σ_k F_ki F_kj = "
       "Fᵀ F — multiply first, then sum (tf.matmul(F, F, transpose_a=True))"),
    Op("positions", "means", "positions summed", "outer product of the channel means",
       "you averaged each channel over the positions first and then took the outer product "
       "of the means: the Gram matrix sums the products, G_ij = Σ_k F_ki F_kj = Fᵀ F — "
       "multiply first, then sum (tf.matmul(F, F, transpose_a=True))"),
    *[Op(knob, value, "normalised", label, says) for knob, value, label, says in NORMALISED],
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
    observe=lambda outs, refs, cases: _where_wrong(outs, refs, cases),
)


def _where_wrong(outs: list, refs: list, cases: list) -> str | None:
    """Where a wrong Gram matrix is wrong, as observed: not symmetric, or right on the
    diagonal only, or right off it only (the diagonal counted twice)."""
    pairs = [(np.asarray(o), np.asarray(r)) for o, r in zip(outs, refs, strict=True)
             if np.shape(o) == np.shape(r) and np.ndim(r) == 2]
    if len(pairs) < len(outs) or not all(np.all(np.isfinite(o)) for o, _ in pairs):
        return None

    def ok(a: np.ndarray, b: np.ndarray) -> bool:
        return bool(np.allclose(a, b, rtol=1e-3, atol=1e-4 * max(np.abs(b).max(), 1e-12)))

    if not all(ok(o, o.T) for o, _ in pairs):
        return ("your matrix is not symmetric, and G = Fᵀ F always is (G_ij = G_ji): the "
                "two operands of your product are not the same F — one is reshaped, "
                "transposed or sliced differently from the other")
    off = [~np.eye(len(r), dtype=bool) for _, r in pairs]
    diag_ok = all(ok(np.diag(o), np.diag(r)) for o, r in pairs)
    off_ok = all(ok(o[m], r[m]) for (o, r), m in zip(pairs, off, strict=True))
    if diag_ok and not off_ok:
        return ("the diagonal of your G (each channel with itself) is right, the entries "
                "between two different channels are not: look at how your code pairs "
                "channel i with channel j")
    if off_ok and not diag_ok:
        twice = all(ok(np.diag(o), 2 * np.diag(r)) for o, r in pairs)
        return ("your entries between two different channels are right, the diagonal is "
                + ("twice what it should be: mirroring one triangle onto the other (G + Gᵀ of "
                   "a triangle) adds the diagonal twice" if twice else "not (each channel "
                   "with itself): look at what your code does where i = j"))
    return None
