"""The three loss terms of Gatys et al. (notebook 02: content, notebook 03: style, notebook 04:
total variation); their weighted sum is one line of :mod:`helpers.objective`. Notebook 07
teaches the two other style losses: Wasserstein-2 (W2) and sliced Wasserstein (SW, the
offline backbone's default).

All functions take and return TensorFlow tensors (NumPy arrays work too) and are
differentiable. Feature maps have shape (1, H, W, C) or (H, W, C); write N = C (number of
filters) and M = H*W (positions), as in the paper.

Normalisation: no term grows with the pixel count (each is a mean), so the same weights stay
in range from 256 px to 1024 px; each still changes with the resolution (the same scene has
finer detail per position at 1024 px). The content loss is the *mean* squared difference
(the Keras example summed); the style loss uses Gatys' 1/(4 N² M²) (W2 and SW are means
too); the TV loss is a mean over pixels.

What makes some of them fast (a Gram gradient in one matmul, the sliced loss's sort, a cheaper
power) lives beside them in :mod:`helpers.fast_ops`; this module holds only the formulas.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import numpy as np

from helpers import fast_ops
from helpers._tf import tf


def content_loss(features: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Mean squared difference of two feature maps: (1/(N·M)) Σ (F - P)². Scalar."""
    f = tf.cast(features, tf.float32)
    return tf.reduce_mean(tf.square(f - tf.cast(target, tf.float32)))


def gram_matrix(features: tf.Tensor) -> tf.Tensor:
    """Gram matrix G = Fᵀ F of a (1, H, W, C) or (H, W, C) feature map; shape (C, C), float32.

    F is the feature map flattened to (M, N) = (H*W, C); G[i, j] sums the product of
    filters i and j over all positions (no normalisation: see :func:`style_layer_loss`).
    The product runs in the features' own dtype: bfloat16 features (``precision="bfloat16"``)
    are multiplied as they are, with float32 sums, and G is rounded to bfloat16 (3 significant
    digits, like every value the bfloat16 network computes) before it becomes float32; the
    backward pass stays bfloat16 too. That skips two float32 copies of every feature map.
    The product and its gradient are :func:`helpers.fast_ops.gram` (one matmul backwards).
    """
    return tf.cast(fast_ops.gram(tf.reshape(features, (-1, tf.shape(features)[-1]))), tf.float32)


def _positions(features: tf.Tensor) -> tf.Tensor:
    """M, the number of positions of a (B, H, W, N) or (H, W, N) feature map: B·H·W (the
    positions :func:`gram_matrix` sums over), as a float32 scalar."""
    shape = tf.shape(features)
    return tf.cast(tf.size(features) // shape[-1], tf.float32)


def style_layer_loss(features: tf.Tensor, target_gram: tf.Tensor) -> tf.Tensor:
    """One layer's style loss, Gatys' E_l = 1/(4 N² M²) Σ (G - A)². Scalar, float32.

    ``target_gram`` is the (N, N) Gram matrix A of the style image's features at this layer
    (computed at the style image's own size, so normalise it by its own M first: pass
    ``A_style / M_style * M`` — :func:`style_loss` does this for you). A batch of B maps
    counts as one map of M = B·H·W positions, as in :func:`gram_matrix`.
    """
    n = tf.cast(tf.shape(features)[-1], tf.float32)
    m = _positions(features)
    g = gram_matrix(features)
    return tf.reduce_sum(tf.square(g - tf.cast(target_gram, tf.float32))) / (4.0 * n * n * m * m)


def style_loss(
    features: Mapping[str, tf.Tensor],
    targets: Mapping[str, tf.Tensor],
    layer_weights: Mapping[str, float] | Sequence[float] | tf.Tensor | None = None,
) -> tf.Tensor:
    """Weighted sum over layers of :func:`style_layer_loss`. Scalar.

    ``targets[layer]`` is the style image's *normalised* Gram matrix Fᵀ F / M, shape (N, N),
    so the style image may have any size; it is rescaled by this image's M. ``layer_weights``
    (default 1/L each, as in Gatys et al.) is a mapping or a sequence in ``targets`` order.
    """
    names = list(targets)
    if layer_weights is None:
        weights = [1.0 / len(names)] * len(names)
    elif isinstance(layer_weights, Mapping):
        weights = [layer_weights[name] for name in names]
    else:
        weights = layer_weights
    total = tf.constant(0.0)
    for i, name in enumerate(names):
        f = features[name]
        m = _positions(f)
        total += tf.cast(weights[i], tf.float32) * style_layer_loss(f, targets[name] * m)
    return total


def _flat(features: tf.Tensor, mask: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """F as (M, N) float32 (float64 if it is float64), the per-position weights m as (M, 1)
    (all 1 without a mask) and Σm. A (h, w) mask is resized (area average) to the feature
    map's height and width."""
    dtype = tf.float64 if tf.as_dtype(features.dtype) == tf.float64 else tf.float32
    f = tf.cast(features, dtype)
    shape = tf.shape(f)
    flat = tf.reshape(f, (-1, shape[-1]))
    if mask is None:
        m = tf.ones((tf.shape(flat)[0], 1), dtype)
    else:
        resized = tf.image.resize(tf.cast(mask, tf.float32)[..., None], shape[-3:-1],
                                  method="area")
        m = tf.cast(tf.reshape(resized, (-1, 1)), dtype)
    return flat, m, tf.maximum(tf.reduce_sum(m), 1e-6)


def masked_gram_loss(features: tf.Tensor, target: tf.Tensor, mask: tf.Tensor | None) -> tf.Tensor:
    """Style loss of one layer inside a region: (1/(4N²)) Σ (Ĝ - A)². Scalar.

    Ĝ = Fᵀ diag(m) F / Σm is the Gram matrix of the positions the (h, w) ``mask`` m (values
    in 0..1, any size) selects, normalised by its area; ``target`` A is the style image's
    normalised Gram matrix Fᵀ F / M. With an all-ones mask this equals
    :func:`style_layer_loss`'s 1/(4 N² M²) Σ (G - A·M)².
    """
    flat, m, area = _flat(features, mask)
    n = tf.cast(tf.shape(flat)[1], tf.float32)
    g = fast_ops.gram(flat * tf.sqrt(m)) / area
    return tf.reduce_sum(tf.square(g - target)) / (4.0 * n * n)


def feature_stats(
    features: tf.Tensor, mask: tf.Tensor | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Mean μ (N,) and covariance Σ = (F - μ)ᵀ diag(m) (F - μ) / Σm (N, N) of a feature map's
    N filters over its positions (weighted by ``mask``, as in :func:`masked_gram_loss`).

    Centred before the product: Fᵀ F / M - μ μᵀ, its algebraic twin, loses the small
    variances to cancellation in float32. float64 features give float64 statistics.
    """
    flat, m, area = _flat(features, mask)
    mean = tf.reduce_sum(flat * m, axis=0) / area
    return mean, fast_ops.gram((flat - mean) * tf.sqrt(m)) / area


@tf.custom_gradient
def trace_sqrtm(a: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """tr(A^½) = Σ √λᵢ for a symmetric positive semi-definite (N, N) matrix A. Scalar.

    The eigenvalues are computed in float64 whatever A's dtype: √λ magnifies the rounding
    error of a small λ (float32's 1e-7·λmax becomes 3e-4·√λmax), and VGG layers have dozens
    of small eigenvalues: in float32 the W2 loss was about 0.1 % off. Negative
    eigenvalues (rounding noise of a singular A) count as 0. Differentiable and stable: the
    gradient U diag(1/(2√λ)) Uᵀ needs only the eigenvalues' derivatives (not the
    eigenvectors', which blow up where eigenvalues repeat); eigenvalues below 1e-7·λmax get
    no gradient (there 1/√λ is mostly noise). The result has A's dtype.
    """
    a64 = tf.cast(a, tf.float64)
    e, u = tf.linalg.eigh((a64 + tf.transpose(a64)) / 2.0)
    live = e > 1e-7 * tf.reduce_max(tf.abs(e)) + 1e-30
    root = tf.sqrt(tf.maximum(e, 0.0))

    def grad(dy: tf.Tensor) -> tf.Tensor:
        d = tf.where(live, 0.5 / tf.where(live, root, 1.0), 0.0)
        g = tf.matmul(u * d[None, :], u, transpose_b=True)
        return tf.cast(dy, a.dtype) * tf.cast(g, a.dtype)

    return tf.cast(tf.reduce_sum(root), a.dtype), grad


def w2_distance(
    mean: tf.Tensor, cov: tf.Tensor, target_mean: tf.Tensor, target_cov: tf.Tensor,
    target_cov_sqrt: tf.Tensor,
) -> tf.Tensor:
    """Squared Wasserstein-2 distance between two Gaussians N(μ, Σ) and N(μₛ, Σₛ). Scalar.

    W₂² = ‖μ - μₛ‖² + tr Σ + tr Σₛ - 2 tr( (Σₛ^½ Σ Σₛ^½)^½ ), with ``target_cov_sqrt`` = Σₛ^½
    computed once (the style side is a constant). Unlike the Gram loss, it compares the
    filters' means and covariances separately, the loss crowsonkb/style-transfer-pytorch uses.

    Computed in float64 (the (N, N) matrices are small next to the feature maps): W₂² is a
    small difference of large traces, which float32 rounding swamps, even to below 0. What
    float64 rounding leaves below 0 (1e-9 of the traces, for identical Gaussians) is
    returned as 0. The result has ``cov``'s dtype.
    """
    dtype = tf.as_dtype(cov.dtype)
    mean, cov, target_mean, target_cov, root = (
        tf.cast(t, tf.float64) for t in (mean, cov, target_mean, target_cov, target_cov_sqrt))
    cross = tf.matmul(root, tf.matmul(cov, root))
    w2 = (tf.reduce_sum(tf.square(mean - target_mean)) + tf.linalg.trace(cov)
          + tf.linalg.trace(target_cov) - 2.0 * trace_sqrtm(cross))
    return tf.cast(tf.maximum(w2, 0.0), dtype)


def w2_layer_loss(
    features: tf.Tensor, target: tuple[tf.Tensor, tf.Tensor, tf.Tensor],
    mask: tf.Tensor | None = None,
) -> tf.Tensor:
    """One layer's Wasserstein-2 style loss, W₂² / N. Scalar. ``target`` = (μₛ, Σₛ, Σₛ^½)
    of the style image's features (see :func:`w2_target`)."""
    mean, cov = feature_stats(features, mask)
    n = tf.cast(tf.shape(mean)[0], cov.dtype)
    return w2_distance(mean, cov, *target) / n


def w2_target(features: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(μ, Σ, Σ^½) of a style image's (1, H, W, N) features, for :func:`w2_layer_loss`;
    the statistics are taken in float64 (once per run, so the cost does not matter)."""
    return gaussian_target(*feature_stats(tf.cast(features, tf.float64)))


def gaussian_target(mean: tf.Tensor, cov: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """(μ, Σ, Σ^½) in float64 for a mean (N,) and covariance (N, N): the W2 target, with the
    symmetric square root of Σ from its eigenvalues, all kept (negative rounding noise
    counts as 0). Computed once per run, so float64 costs nothing here; float32 inputs work
    (float32 moments of VGG features, Σ = E[F Fᵀ] - μ μᵀ, gave the same loss to 1e-6)."""
    mean, cov = tf.cast(mean, tf.float64), tf.cast(cov, tf.float64)
    e, u = tf.linalg.eigh((cov + tf.transpose(cov)) / 2.0)
    root = tf.matmul(u * tf.sqrt(tf.maximum(e, 0.0))[None, :], u, transpose_b=True)
    return mean, cov, root


def sliced_directions(n: int, k: int | None = None, seed: int = 0) -> tf.Tensor:
    """K random unit vectors in the space of N filters, the columns of an (N, K) float32
    matrix (K = N by default, as Heitz et al. 2021). Fixed by ``seed``: L-BFGS needs the same
    loss at every evaluation."""
    v = np.random.default_rng(seed).standard_normal((n, k or n))
    return tf.constant(v / np.linalg.norm(v, axis=0, keepdims=True), tf.float32)


def _projections(features: tf.Tensor, directions: tf.Tensor,
                 mask: tf.Tensor | None = None) -> tf.Tensor:
    """(K, M) float32: row k holds the M feature vectors projected on direction vₖ; with a
    ``mask``, only the positions it covers at least half (as :func:`masked_gram_loss` resizes
    it)."""
    flat, m, _ = _flat(tf.cast(features, tf.float32), mask)
    if mask is not None:
        flat = tf.boolean_mask(flat, m[:, 0] >= 0.5)
    return tf.matmul(directions, flat, transpose_a=True, transpose_b=True)


def sliced_target(features: tf.Tensor, directions: tf.Tensor) -> tf.Tensor:
    """The style image's sorted projections, (K, Mₛ): row k holds F vₖ in increasing order,
    the quantile function of the style's features along direction vₖ. Computed once per run,
    eagerly, with NumPy's sort (faster than TensorFlow's on CPU)."""
    return tf.constant(np.sort(_projections(features, directions).numpy(), axis=-1))


def quantiles(sorted_rows: tf.Tensor, m: int | tf.Tensor) -> tf.Tensor:
    """(K, Mₛ) rows sorted in increasing order, resampled to (K, m): each row's quantile
    function, linearly interpolated at the levels (i + ½) / m, i = 0 … m-1."""
    ms = tf.shape(sorted_rows)[-1]
    pos = (tf.cast(tf.range(m), tf.float32) + 0.5) * tf.cast(ms, tf.float32) / tf.cast(
        m, tf.float32) - 0.5
    pos = tf.clip_by_value(pos, 0.0, tf.cast(ms - 1, tf.float32))
    lo = tf.cast(tf.floor(pos), tf.int32)
    t = pos - tf.cast(lo, tf.float32)
    hi = tf.minimum(lo + 1, ms - 1)
    return (1.0 - t) * tf.gather(sorted_rows, lo, axis=-1) + t * tf.gather(sorted_rows, hi,
                                                                           axis=-1)


def sliced_layer_loss(features: tf.Tensor, target: tf.Tensor, directions: tf.Tensor,
                      mask: tf.Tensor | None = None) -> tf.Tensor:
    """One layer's sliced Wasserstein style loss (Heitz et al. 2021). Scalar, float32.

    SW = (1/(K·M)) Σₖ Σᵢ (sort(F vₖ)ᵢ - qₖᵢ)²: along each of K fixed directions vₖ
    (:func:`sliced_directions`), the squared distance between this image's M projections in
    increasing order and the style's quantiles qₖᵢ at the same levels (``target`` from
    :func:`sliced_target`, resampled by :func:`quantiles`). Unlike the Gram matrix, which
    matches only second moments, it matches the whole 1-D distribution of the features along
    each of the K directions: K one-dimensional marginals (K = the layer's channels N by
    default), not the N-dimensional distribution itself. The directions are drawn once and
    kept for the whole run, so L-BFGS sees one fixed loss; Heitz et al. redraw them after every
    L-BFGS call, which over many calls covers more directions (two distributions that agree
    along these K may still differ along others).
    The sum is computed unsorted, as Σ (pᵢ - q_rank(pᵢ))², whose gradient 2 (pᵢ - q_rank(pᵢ))
    (ranks held fixed) is the exact one wherever no two projections are equal. With a
    ``mask``, M counts the positions inside it (see :func:`_projections`); a mask too small to
    cover one position of a coarse layer gives that layer 0. The ranks come from a fast sort
    outside the graph, and the quantiles are resampled once per traced image size
    (:func:`helpers.fast_ops.rank_matched`, :func:`helpers.fast_ops.quantiles_once`).
    """
    proj = _projections(features, directions, mask)
    q = fast_ops.quantiles_once(quantiles, target, proj)  # resampled once per traced size
    squares = tf.square(proj - fast_ops.rank_matched(proj, q))
    return tf.math.divide_no_nan(tf.reduce_sum(squares), tf.cast(tf.size(squares), tf.float32))


def total_variation_loss(image: tf.Tensor, form: str = "power", beta: float = 1.25) -> tf.Tensor:
    """Total variation of a (1, H, W, C) or (H, W, C) image, a mean over pixels. Scalar.

    ``form="power"``: mean((a + b) ** beta), a and b the squared differences of each value to
    the one below and the one to the right, as in the Keras example (β = 1.25). Unlike that
    example, the last row and column count too (their missing neighbour is taken as equal),
    so no edge pixel is left free to flicker. (a + b) ** 1.25 is computed as
    :func:`helpers.fast_ops.pow_1_25`, several times faster.
    ``form="abs"``: mean(|Δx|) + mean(|Δy|), the plain (anisotropic) total variation; an
    image one pixel high or wide has no Δy or Δx, and that mean counts as 0.
    """
    x = tf.cast(image, tf.float32)
    if form == "power":
        pad_rows = [[0, 0]] * (x.shape.rank - 3) + [[0, 1], [0, 0], [0, 0]]
        pad_cols = [[0, 0]] * (x.shape.rank - 3) + [[0, 0], [0, 1], [0, 0]]
        a = tf.pad(tf.square(x[..., 1:, :, :] - x[..., :-1, :, :]), pad_rows)
        b = tf.pad(tf.square(x[..., :, 1:, :] - x[..., :, :-1, :]), pad_cols)
        return tf.reduce_mean(fast_ops.pow_1_25(a + b) if beta == 1.25 else tf.pow(a + b, beta))
    if form == "abs":
        dy = tf.abs(x[..., 1:, :, :] - x[..., :-1, :, :])
        dx = tf.abs(x[..., :, 1:, :] - x[..., :, :-1, :])
        return _mean_or_0(dy) + _mean_or_0(dx)
    raise ValueError(f"unknown TV form {form!r}; choose 'power' or 'abs'")


def _mean_or_0(x: tf.Tensor) -> tf.Tensor:
    """Mean of ``x``, 0 if it is empty (``tf.reduce_mean`` would give 0/0 = NaN)."""
    count = tf.cast(tf.maximum(tf.size(x), 1), x.dtype)
    return tf.reduce_sum(x) / count
