"""helpers.losses against an independent NumPy implementation: values AND gradients,
plus property tests (symmetry, zero at the target, scaling laws)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from helpers import fast_ops, losses

RNG = np.random.default_rng(0)


# --- independent NumPy references (float64) -------------------------------------------

def np_gram(f):
    f = f.reshape(-1, f.shape[-1])
    return f.T @ f


def np_content(f, p):
    return np.mean((f - p) ** 2)


def np_style_layer(f, a):
    n = f.shape[-1]
    m = f.size // n  # positions: B·H·W (a batch counts as one map of all its positions)
    return np.sum((np_gram(f) - a) ** 2) / (4.0 * n**2 * m**2)


def np_tv(x, form="power", beta=1.25):
    x = x[0] if x.ndim == 4 else x
    if form == "power":  # every pixel; a missing neighbour past the edge counts as equal
        h, w = x.shape[:2]
        total = 0.0
        for i in range(h):
            for j in range(w):
                a = (x[i + 1, j] - x[i, j]) ** 2 if i + 1 < h else 0.0
                b = (x[i, j + 1] - x[i, j]) ** 2 if j + 1 < w else 0.0
                total += np.sum((a + b) ** beta)
        return total / x.size
    dy, dx = np.abs(x[1:] - x[:-1]), np.abs(x[:, 1:] - x[:, :-1])
    return (dy.mean() if dy.size else 0.0) + (dx.mean() if dx.size else 0.0)  # none: 0


def numeric_grad(fn, x, eps=1e-4):
    """Central finite differences of a float64 NumPy function."""
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (fn(x + d) - fn(x - d)) / (2 * eps)
    return g


def tf_value_and_grad(fn, x):
    x = tf.constant(x, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = fn(x)
    return float(y), tape.gradient(y, x).numpy()


# --- values and gradients ----------------------------------------------------------------

def test_gram_matrix_value_and_gradient():
    f = RNG.normal(size=(1, 4, 5, 3))
    np.testing.assert_allclose(losses.gram_matrix(f).numpy(), np_gram(f), rtol=1e-5)
    r = RNG.normal(size=(3, 3))  # gradient of <G, R> is F (R + R^T)
    _, g = tf_value_and_grad(lambda x: tf.reduce_sum(losses.gram_matrix(x) * r), f)
    expected = (f.reshape(-1, 3) @ (r + r.T)).reshape(f.shape)
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-5)


def test_content_loss_value_and_gradient():
    f, p = RNG.normal(size=(1, 3, 4, 5)), RNG.normal(size=(1, 3, 4, 5))
    value, g = tf_value_and_grad(lambda x: losses.content_loss(x, p), f)
    np.testing.assert_allclose(value, np_content(f, p), rtol=1e-5)
    np.testing.assert_allclose(g, 2 * (f - p) / f.size, rtol=1e-4, atol=1e-7)


def test_style_layer_loss_value_and_gradient():
    f = RNG.normal(size=(1, 3, 4, 5))
    a = np_gram(RNG.normal(size=(1, 3, 4, 5)))
    value, g = tf_value_and_grad(lambda x: losses.style_layer_loss(x, a), f)
    np.testing.assert_allclose(value, np_style_layer(f, a), rtol=1e-5)
    # Gatys et al., eq. 6: dE/dF = F (G - A) / (N² M²)
    n, m = 5, 12
    expected = (f.reshape(-1, n) @ (np_gram(f) - a) / (n**2 * m**2)).reshape(f.shape)
    np.testing.assert_allclose(g, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(g, numeric_grad(lambda x: np_style_layer(x, a), f), rtol=1e-3,
                               atol=1e-6)


def test_style_loss_weights_layers_and_rescales_targets_by_m():
    feats = {"a": RNG.normal(size=(1, 4, 4, 3)), "b": RNG.normal(size=(1, 2, 2, 6))}
    style = {"a": RNG.normal(size=(1, 8, 8, 3)), "b": RNG.normal(size=(1, 4, 4, 6))}
    # Targets are normalised Gram matrices (G / M of the style image, at its own size).
    targets = {k: np_gram(v) / (v.shape[1] * v.shape[2]) for k, v in style.items()}
    weights = {"a": 0.25, "b": 2.0}
    expected = sum(
        weights[k] * np_style_layer(feats[k], targets[k] * feats[k].shape[1] * feats[k].shape[2])
        for k in feats
    )
    got = losses.style_loss({k: tf.constant(v, tf.float32) for k, v in feats.items()}, targets,
                            weights)
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)
    default = losses.style_loss(feats, targets)  # default: 1/L per layer
    np.testing.assert_allclose(
        float(default), sum(0.5 * np_style_layer(feats[k], targets[k] * feats[k].shape[1]
                                                 * feats[k].shape[2]) for k in feats), rtol=1e-5)


def test_style_and_total_loss_gradients_over_several_layers():
    """The weighted sum over layers, and α·content + β·style + γ·TV of one image, against
    finite differences of the NumPy references; the style loss is 0 at its own targets."""
    x0 = RNG.uniform(0, 2, size=(1, 3, 4, 3))
    p = RNG.normal(size=x0.shape)
    m = 12  # positions per layer (both "layers" below keep the image's 3x4)
    targets = {"a": np_gram(RNG.normal(size=(1, 5, 5, 3))) / 25,
               "b": np_gram(RNG.normal(size=(1, 5, 5, 3))) / 25}
    weights = {"a": 0.3, "b": 1.7}
    alpha, beta, gamma = 0.5, 20.0, 0.1

    def np_total(x):
        style = (weights["a"] * np_style_layer(x, targets["a"] * m)
                 + weights["b"] * np_style_layer(2 * x, targets["b"] * m))
        return alpha * np_content(x, p) + beta * style + gamma * np_tv(x)

    def tf_total(x):
        style = losses.style_loss({"a": x, "b": 2 * x}, targets, weights)
        return (alpha * losses.content_loss(x, p) + beta * style
                + gamma * losses.total_variation_loss(x))

    value, g = tf_value_and_grad(tf_total, x0)
    np.testing.assert_allclose(value, np_total(x0), rtol=1e-5)
    np.testing.assert_allclose(g, numeric_grad(np_total, x0), rtol=1e-3, atol=1e-5)
    own = {"a": np_gram(x0) / m, "b": np_gram(2 * x0) / m}
    at_target = losses.style_loss({"a": x0, "b": 2 * x0}, own, weights)
    assert float(at_target) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("form", ["power", "abs"])
def test_total_variation_value_and_gradient(form):
    x = RNG.uniform(0, 5, size=(1, 4, 5, 3))
    value, g = tf_value_and_grad(lambda t: losses.total_variation_loss(t, form), x)
    np.testing.assert_allclose(value, np_tv(x, form), rtol=1e-5)
    np.testing.assert_allclose(g, numeric_grad(lambda t: np_tv(t, form), x), rtol=1e-3, atol=1e-5)


def test_total_variation_gradient_is_finite_on_a_flat_image():
    _, g = tf_value_and_grad(losses.total_variation_loss, np.ones((1, 6, 6, 3)))
    assert np.all(np.isfinite(g)) and np.all(g == 0)


@pytest.mark.parametrize("shape", [(1, 5, 1, 3), (1, 1, 6, 3), (1, 1, 1, 3)])
@pytest.mark.parametrize("form", ["power", "abs"])
def test_total_variation_of_one_pixel_wide_or_high_images_is_finite(shape, form):
    x = RNG.uniform(0, 5, size=shape)
    value, g = tf_value_and_grad(lambda t: losses.total_variation_loss(t, form), x)
    assert np.isfinite(value) and np.all(np.isfinite(g))
    np.testing.assert_allclose(value, np_tv(x, form), rtol=1e-5)
    np.testing.assert_allclose(g, numeric_grad(lambda t: np_tv(t, form), x), rtol=1e-3, atol=1e-5)


def test_style_layer_loss_of_a_batch_counts_all_its_positions():
    """A batch of B maps is one map of B·H·W positions: value and gradient against NumPy,
    and a batch of copies of one map has that map's loss (it was B² too large)."""
    f = RNG.normal(size=(3, 3, 4, 5))
    a = np_gram(RNG.normal(size=(3, 3, 4, 5)))
    value, g = tf_value_and_grad(lambda x: losses.style_layer_loss(x, a), f)
    np.testing.assert_allclose(value, np_style_layer(f, a), rtol=1e-5)
    np.testing.assert_allclose(g, numeric_grad(lambda x: np_style_layer(x, a), f), rtol=1e-3,
                               atol=1e-6)
    one = f[:1]
    target = {"x": np_gram(RNG.normal(size=(1, 6, 6, 5))) / 36}  # normalised: G / M
    single = float(losses.style_loss({"x": one}, target))
    copies = float(losses.style_loss({"x": np.repeat(one, 3, axis=0)}, target))
    np.testing.assert_allclose(copies, single, rtol=1e-5)
    np.testing.assert_allclose(float(losses.style_layer_loss(np.repeat(one, 4, axis=0),
                                                             4 * np_gram(one))), 0.0, atol=1e-9)



def test_unknown_tv_form():
    with pytest.raises(ValueError, match="unknown TV form"):
        losses.total_variation_loss(np.zeros((4, 4, 3)), form="square")


# --- properties -------------------------------------------------------------------------

feature_maps = arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 5),
                                            st.integers(1, 6)),
                      elements=st.floats(-50, 50))


@settings(max_examples=40, deadline=None)
@given(feature_maps)
def test_gram_is_symmetric_positive_semidefinite(f):
    g = losses.gram_matrix(f).numpy().astype(np.float64)
    np.testing.assert_allclose(g, g.T, rtol=1e-5, atol=1e-3)
    assert np.linalg.eigvalsh(g).min() >= -1e-4 * max(1.0, np.abs(g).max())


@settings(max_examples=30, deadline=None)
@given(feature_maps, st.floats(0.1, 10))
def test_each_loss_is_zero_at_its_target_and_scales_as_expected(f, k):
    f32 = f.astype(np.float32)
    assert float(losses.content_loss(f32, f32)) == 0.0
    gram = losses.gram_matrix(f32)
    assert float(losses.style_layer_loss(f32, gram)) == 0.0
    # Scaling laws: content ~ k², Gram ~ k², style ~ k⁴.
    p = np.zeros_like(f32)
    np.testing.assert_allclose(float(losses.content_loss(k * f32, p)),
                               k**2 * float(losses.content_loss(f32, p)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(losses.gram_matrix(k * f32).numpy(), k**2 * gram.numpy(),
                               rtol=1e-4, atol=1e-2)
    a = np.eye(f.shape[-1], dtype=np.float32)
    e1 = float(losses.style_layer_loss(f32, a))
    np.testing.assert_allclose(float(losses.style_layer_loss(k * f32, k**2 * a)), k**4 * e1,
                               rtol=1e-3, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.integers(2, 8), st.floats(-100, 100), st.floats(0.1, 10))
def test_total_variation_zero_on_constant_images_and_scaling(h, w, c, k):
    assert float(losses.total_variation_loss(np.full((1, h, w, 3), c))) == 0.0
    assert float(losses.total_variation_loss(np.full((1, h, w, 3), c), "abs")) == 0.0
    x = np.random.default_rng(h * w).uniform(0, 1, (1, h, w, 3)).astype(np.float32)
    np.testing.assert_allclose(float(losses.total_variation_loss(k * x)),
                               k**2.5 * float(losses.total_variation_loss(x)), rtol=1e-3)
    np.testing.assert_allclose(float(losses.total_variation_loss(k * x, "abs")),
                               k * float(losses.total_variation_loss(x, "abs")), rtol=1e-4)


def test_losses_do_not_depend_on_image_size():
    """The same texture at twice the size gives (nearly) the same style and TV loss."""
    small = np.random.default_rng(1).normal(size=(1, 16, 16, 4)).astype(np.float32)
    big = np.tile(small, (1, 2, 2, 1))
    a = np.eye(4, dtype=np.float32)
    targets = {"x": a}
    s_small = float(losses.style_loss({"x": small}, targets))
    s_big = float(losses.style_loss({"x": big}, targets))
    np.testing.assert_allclose(s_big, s_small, rtol=1e-4)
    np.testing.assert_allclose(float(losses.content_loss(big, 0 * big)),
                               float(losses.content_loss(small, 0 * small)), rtol=1e-5)


# --- the Wasserstein-2 style loss -----------------------------------------------------------

def np_stats(f, mask_weights=None):
    """float64 mean and (weighted) covariance of a feature map's channels."""
    f = np.asarray(f, np.float64).reshape(-1, np.shape(f)[-1])
    w = np.ones(len(f)) if mask_weights is None else mask_weights.reshape(-1)
    mean = w @ f / w.sum()
    return mean, (f - mean).T @ ((f - mean) * w[:, None]) / w.sum()


def np_w2_layer(f, style):
    """W₂² / N between the Gaussians of two feature maps, with SciPy's matrix square root."""
    m1, c1 = np_stats(f)
    m2, c2 = np_stats(style)
    with warnings.catch_warnings():  # dead (all-zero) ReLU channels make Σ singular
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        root2 = scipy.linalg.sqrtm(c2).real
        cross = scipy.linalg.sqrtm(root2 @ c1 @ root2).real
    w2 = np.sum((m1 - m2) ** 2) + np.trace(c1) + np.trace(c2) - 2 * np.trace(cross)
    return w2 / len(m1)


def test_feature_stats_against_numpy_with_and_without_a_mask():
    f = RNG.normal(size=(1, 4, 6, 3)) + 100.0  # large means: Fᵀ F / M - μ μᵀ would cancel
    for mask in (None, RNG.uniform(0, 1, size=(4, 6))):
        mean, cov = losses.feature_stats(tf.constant(f, tf.float32), mask)
        ref_mean, ref_cov = np_stats(f, mask)
        np.testing.assert_allclose(mean.numpy(), ref_mean, rtol=1e-6)
        np.testing.assert_allclose(cov.numpy(), ref_cov, rtol=1e-4, atol=1e-4)


def test_w2_layer_loss_gradient_matches_finite_differences():
    f = RNG.normal(size=(1, 4, 5, 3))
    style = RNG.normal(size=(1, 6, 6, 3)) * [1.0, 2.0, 0.5] + 1.0
    target = losses.w2_target(style)
    x = tf.constant(f, tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        value = losses.w2_layer_loss(x, target)
    g64 = tape.gradient(value, x).numpy()
    np.testing.assert_allclose(float(value), np_w2_layer(f, style), rtol=1e-9)
    np.testing.assert_allclose(g64, numeric_grad(lambda t: np_w2_layer(t, style), f, eps=1e-6),
                               rtol=1e-5, atol=1e-8)
    value32, g32 = tf_value_and_grad(lambda t: losses.w2_layer_loss(t, target), f)
    np.testing.assert_allclose(value32, np_w2_layer(f, style), rtol=1e-5)
    np.testing.assert_allclose(g32, g64, rtol=1e-3, atol=1e-5)


@pytest.fixture(scope="module")
def hed_features(hed):
    """Features of two real pictures (the bundled photo and painting) at two hed layers."""
    from helpers import data, images
    from helpers.backbone import feature_extractor

    extract = feature_extractor(hed, ["block1_conv1", "block3_conv1"], [])
    photo = images.load_image(data.default_content(), size=128)
    painting = images.load_image(data.default_style(), size=128)
    return extract(images.preprocess(photo)), extract(images.preprocess(painting))


@pytest.mark.parametrize("layer", ["block1_conv1", "block3_conv1"])
def test_w2_layer_loss_matches_a_float64_scipy_reference_on_network_features(
    hed_features, layer
):
    """It was 0.07-0.14 % off: a float32 eigen-decomposition that also dropped eigenvalues
    below 1e-7·λmax (13 of 256 at block3_conv1)."""
    photo, painting = (f[layer] for f in hed_features)
    target = losses.w2_target(painting)
    got = float(losses.w2_layer_loss(photo, target))
    np.testing.assert_allclose(got, np_w2_layer(photo, painting), rtol=1e-4)
    # As the optimiser builds it: moments (mean, Fᵀ F / M) of the style, then the target.
    flat = tf.reshape(tf.cast(painting, tf.float64), (-1, painting.shape[-1]))
    mean = tf.reduce_mean(flat, 0)
    second = tf.matmul(flat, flat, transpose_a=True) / float(flat.shape[0])
    from_moments = losses.gaussian_target(mean, second - mean[:, None] * mean[None, :])
    np.testing.assert_allclose(float(losses.w2_layer_loss(photo, from_moments)), got, rtol=1e-5)


@pytest.mark.parametrize("layer", ["block1_conv1", "block3_conv1"])
def test_w2_layer_loss_against_its_own_statistics_is_zero_not_negative(hed_features, layer):
    painting = hed_features[1][layer]
    own = float(losses.w2_layer_loss(painting, losses.w2_target(painting)))
    other = float(losses.w2_layer_loss(hed_features[0][layer], losses.w2_target(painting)))
    assert 0.0 <= own <= 1e-6 * other


# --- the sliced Wasserstein loss -----------------------------------------------------------

def np_sliced_layer(f, style, directions):
    """Heitz et al.'s SW written out: sort both projections, compare at the same quantile
    levels (the style's quantile function linearly interpolated at (i + ½) / M)."""
    p = f.reshape(-1, f.shape[-1]) @ directions
    s = np.sort(style.reshape(-1, style.shape[-1]) @ directions, axis=0)
    m, ms = p.shape[0], s.shape[0]
    levels = (np.arange(m) + 0.5) / m * ms - 0.5
    q = np.stack([np.interp(levels, np.arange(ms), s[:, k]) for k in range(s.shape[1])], 1)
    return np.mean((np.sort(p, axis=0) - q) ** 2)


def test_sliced_layer_loss_value_and_gradient():
    f = RNG.normal(size=(1, 4, 5, 3))
    style = RNG.normal(size=(1, 6, 7, 3)) * [1.0, 2.0, 0.5] + 1.0  # another size: resampled
    directions = losses.sliced_directions(3, 5, seed=1)
    d64 = directions.numpy().astype(np.float64)
    target = losses.sliced_target(style, directions)
    value, grad = tf_value_and_grad(lambda t: losses.sliced_layer_loss(t, target, directions), f)
    np.testing.assert_allclose(value, np_sliced_layer(f, style, d64), rtol=1e-5)
    numeric = numeric_grad(lambda t: np_sliced_layer(t, style, d64), f, eps=1e-5)
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-6)


def test_sliced_directions_are_fixed_unit_vectors():
    a, b = losses.sliced_directions(8, seed=3), losses.sliced_directions(8, seed=3)
    assert a.shape == (8, 8)
    np.testing.assert_array_equal(a.numpy(), b.numpy())  # the same loss at every evaluation
    np.testing.assert_allclose(np.linalg.norm(a.numpy(), axis=0), 1.0, rtol=1e-6)
    assert not np.allclose(a.numpy(), losses.sliced_directions(8, seed=4).numpy())


def test_quantiles_resample_a_sorted_row_and_keep_it_at_its_own_length():
    row = tf.constant([[0.0, 1.0, 2.0, 3.0]])
    np.testing.assert_allclose(losses.quantiles(row, 4).numpy(), row.numpy())
    np.testing.assert_allclose(losses.quantiles(row, 2).numpy(), [[0.5, 2.5]])
    np.testing.assert_allclose(losses.quantiles(row, 8).numpy(),  # clamped at both ends
                               [[0.0, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.0]])


@settings(max_examples=25, deadline=None)
@given(arrays(np.float64, (1, 3, 4, 2), elements=st.floats(-10, 10)))
def test_sliced_loss_is_zero_at_its_target_and_ignores_where_features_are(f):
    directions = losses.sliced_directions(2, 4)
    target = losses.sliced_target(f, directions)
    assert float(losses.sliced_layer_loss(f, target, directions)) <= 1e-9 * (1 + np.abs(f).max()
                                                                            ) ** 2
    shuffled = RNG.permutation(f.reshape(-1, 2)).reshape(f.shape)  # same distribution
    other = losses.sliced_target(f * 2 + 1, directions)
    np.testing.assert_allclose(float(losses.sliced_layer_loss(shuffled, other, directions)),
                               float(losses.sliced_layer_loss(f, other, directions)), rtol=1e-5)


@settings(max_examples=50, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 200)),
              elements=st.sampled_from([0.0, -0.0, 1.5, -2.25, 3e-38, -1e30, 7.0])
              | st.floats(-1e6, 1e6, width=32)))
def test_the_fast_argsort_is_numpys_stable_argsort_along_each_row(values):
    np.testing.assert_array_equal(fast_ops.argsort(values),
                                  np.argsort(values, axis=-1, kind="stable"))
    np.testing.assert_array_equal(fast_ops.argsort(values[0]), np.argsort(values[0], kind="stable"))


@pytest.mark.parametrize("rows", [1, 2, 3, 7])
def test_each_projection_is_matched_to_the_target_of_its_rank_in_its_row(rows):
    """Rows are sorted in blocks, one per thread: every row must still get its own targets."""
    proj = RNG.normal(size=(rows, 50)).astype(np.float32)
    proj[:, 10] = proj[:, 20]  # a tie: the earlier position takes the lower rank
    target = np.sort(RNG.normal(size=(rows, 50)), axis=-1).astype(np.float32)
    expected = np.empty_like(proj)
    for k in range(rows):
        expected[k, np.argsort(proj[k], kind="stable")] = target[k]
    np.testing.assert_array_equal(fast_ops.matched(proj, target), expected)


def test_style_quantiles_are_resampled_while_tracing_not_at_every_evaluation():
    """A graph traced for one image size holds the style's quantiles at that size as a
    constant (no gather left to run per evaluation); traced for any size, it resamples in the
    graph. Both give the eager value."""
    f = tf.constant(RNG.normal(size=(1, 6, 8, 4)), tf.float32)
    directions = losses.sliced_directions(4)
    target = losses.sliced_target(tf.constant(RNG.normal(size=(1, 9, 7, 4)), tf.float32),
                                  directions)
    expected = float(losses.sliced_layer_loss(f, target, directions))
    fixed = tf.function(lambda x: losses.sliced_layer_loss(x, target, directions))
    graph = fixed.get_concrete_function(f).graph
    assert not [op for op in graph.get_operations() if op.type == "GatherV2"]
    any_size = tf.function(lambda x: losses.sliced_layer_loss(x, target, directions),
                           input_signature=[tf.TensorSpec((1, None, None, 4), tf.float32)])
    graph = any_size.get_concrete_function().graph
    assert [op for op in graph.get_operations() if op.type == "GatherV2"]
    assert float(fixed(f)) == pytest.approx(expected, rel=1e-6)
    assert float(any_size(f)) == pytest.approx(expected, rel=1e-6)


# --- a new style loss is one module (here: one class in this file) and one register line ----

class MeanLoss:
    """A toy style loss written here alone: match each filter's mean (inside a mask, the mean
    over the positions it covers). Registered only by the fixture below."""

    NAME = "toy-mean"
    STYLE_WEIGHT = 7.0
    BYTES_AT_RESULT = 3
    BYTES_AT_PAINTING = 0
    calls = {"layer_loss": 0, "painting_stats": 0}

    @staticmethod
    def default_layer_weights(layers, channels):
        return tuple(0.5 / len(layers) for _ in layers)

    @staticmethod
    def painting_stats(features, layers):
        MeanLoss.calls["painting_stats"] += 1
        return {n: losses.feature_stats(tf.cast(features[n], tf.float32))[0] for n in layers}

    @staticmethod
    def blended_targets(stats, blend):
        return {n: sum(b * s[n] for b, s in zip(blend, stats, strict=True)) for n in stats[0]}

    @staticmethod
    def layer_loss(features, target, mask):
        MeanLoss.calls["layer_loss"] += 1
        mean, _ = losses.feature_stats(features, mask)
        return tf.reduce_mean(tf.square(mean - target))

    @staticmethod
    def blank_loss(target):
        return float(tf.reduce_mean(tf.square(target)))


@pytest.fixture
def toy_loss():
    from helpers import style_losses, stylizing

    style_losses.register(MeanLoss)
    yield MeanLoss
    style_losses.unregister(MeanLoss.NAME)
    stylizing.clear_cache()


@pytest.mark.slow
def test_a_style_loss_registered_from_a_test_file_runs_in_stylize(toy_loss, photo, painting):
    """Settings, the command line, the defaults, the memory estimate, the targets and the
    objective all take the toy loss from the registry, with no other file changed."""
    from helpers import backbone as bb
    from helpers import cli, stylizing
    from helpers.settings import Settings

    resolved = Settings(style_loss=toy_loss.NAME, balance_style_layers=False).resolved("vgg16-hed")
    assert resolved.style_weight == toy_loss.STYLE_WEIGHT
    assert resolved.style_layer_weights == (0.1,) * 5
    args = cli.build_parser().parse_args(["stylize", "--style-loss", toy_loss.NAME])
    assert cli.settings_from_args(args)["style_loss"] == toy_loss.NAME
    net = bb.load_backbone("vgg16-hed", pooling="max")
    layers = ["block1_conv1", "block2_conv1"]
    extra = (stylizing.estimate_memory(net, (64, 48), layers, toy_loss.NAME, layers)
             - stylizing.estimate_memory(net, (64, 48), layers, "gram", layers))
    assert extra == 3 * bb.layer_values(net, (64, 48), layers)
    result = stylizing.stylize(photo, painting, size=64, iterations=3, backbone="vgg16-hed",
                              precision="float32", style_loss=toy_loss.NAME, init="noise",
                              scales=1, progress=False)
    assert result.settings["style_loss"] == toy_loss.NAME
    assert toy_loss.calls["painting_stats"] >= 1 and toy_loss.calls["layer_loss"] >= 5
    style = [h["style"] for h in result.history]
    assert style[0] > 0 and style[-1] < style[0], style


def test_an_unregistered_style_loss_is_refused_in_one_line():
    from helpers import style_losses
    from helpers.errors import StyleTransferError
    from helpers.settings import Settings

    with pytest.raises(StyleTransferError, match="unknown style_loss 'toy-mean'; choose one of "
                                                 "gram, w2, sliced"):
        Settings(style_loss="toy-mean")
    with pytest.raises(StyleTransferError, match="registered already"):
        style_losses.register(type("Other", (MeanLoss,), {"NAME": "gram"}))
    assert style_losses.STYLE_LOSSES["gram"].NAME == "gram"  # the refusal changed nothing
