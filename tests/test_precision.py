"""bfloat16 compute path: agrees with float32, lowers the loss, auto-selection, no leaks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import backbone as bb
from helpers import stylizing
from helpers.errors import StyleTransferError
from helpers.images import preprocess, resize
from helpers.targets import build_targets

LAYERS = list(stylizing.DEFAULTS["vgg16-hed"]["style_layers"])
CONTENT = stylizing.DEFAULTS["vgg16-hed"]["content_layer"]


def terms_and_grad(precision, content, style, x):
    net = bb.load_backbone("vgg16-hed", pooling="avg", precision=precision)
    targets = build_targets(net, content, [style], [1.0], None, CONTENT, LAYERS, "gram",
                            "power")
    w = tf.constant([1.0, 1e-4, 1e-4] + [0.2] * 5, tf.float32)
    terms, grad = targets.loss_and_grad(tf.constant(x), w)
    return terms.numpy(), grad.numpy()


def test_bfloat16_loss_and_gradient_agree_with_float32(photo, painting):
    """Stated tolerance: each loss term within 5 %, gradients with cosine similarity > 0.97
    (bfloat16 keeps 8 bits of mantissa: about 2-3 significant digits per product). At 48 px:
    bfloat16 is emulated on CPUs without avx512_bf16, about 9x slower than float32."""
    content = resize(photo, size=48)
    x = preprocess(np.random.default_rng(0).uniform(0, 255, content.shape))
    t32, g32 = terms_and_grad("float32", content, painting, x)
    t16, g16 = terms_and_grad("bfloat16", content, painting, x)
    assert t16.dtype == np.float32 and g16.dtype == np.float32
    np.testing.assert_allclose(t16, t32, rtol=0.05)
    cosine = float(np.sum(g16 * g32) / np.linalg.norm(g16) / np.linalg.norm(g32))
    assert cosine > 0.97, cosine
    assert np.all(np.isfinite(g16))


def test_bfloat16_backbone_runs_in_bfloat16_with_float32_weights():
    net = bb.load_backbone("vgg16-hed", pooling="avg", precision="bfloat16")
    conv = net.model.get_layer("block1_conv1")
    assert conv.compute_dtype == "bfloat16" and conv.variable_dtype == "float32"
    assert "bfloat16" in net.description


def test_two_bfloat16_iterations_lower_the_loss_like_float32(photo, painting):
    # The smallest size the network takes (32x43) and 5 evaluations per iteration: bfloat16
    # is emulated (slow) on most CPUs, and this checks that it optimises, not how fast.
    runs = {p: stylizing.stylize(photo, painting, size=43, iterations=2, precision=p,
                                backbone="vgg16-hed", lbfgs_mode="restart", maxfun=5,
                                init="noise", progress=False, content_weight=1,
                                style_weight=30, balance_style_layers=True, pooling="avg")
            for p in ("float32", "bfloat16")}  # the recipe the thresholds were set for
    drops = {p: r.history[0]["total"] / r.history[-1]["total"] for p, r in runs.items()}
    assert drops["bfloat16"] > 3 and drops["float32"] > 3
    assert 0.5 < drops["bfloat16"] / drops["float32"] < 2.0, drops
    assert runs["bfloat16"].settings["precision"] == "bfloat16"


@pytest.mark.parametrize(
    "flags,gpu,expected",
    [
        ({"avx512_bf16", "avx2"}, False, "bfloat16"),
        ({"amx_bf16", "amx_tile"}, False, "bfloat16"),
        ({"avx2", "fma"}, False, "float32"),
        (set(), True, "bfloat16"),
        (set(), False, "float32"),
    ],
)
def test_auto_picks_bfloat16_only_where_it_is_native(monkeypatch, flags, gpu, expected):
    monkeypatch.setattr(bb, "cpu_flags", lambda: flags)
    monkeypatch.setattr(bb, "gpu_supports_bfloat16", lambda: gpu)
    precision, reason = bb.resolve_precision("auto")
    assert precision == expected and reason.startswith("auto")


def test_explicit_precision_and_bad_names():
    assert bb.resolve_precision("float32") == ("float32", "chosen")
    with pytest.raises(StyleTransferError, match="unknown precision 'float16'"):
        bb.resolve_precision("float16")


def test_the_keras_dtype_policy_does_not_leak(photo, painting):
    before = keras.config.dtype_policy().name
    stylizing.stylize(photo, painting, size=43, iterations=1, precision="bfloat16",
                     backbone="vgg16-hed", progress=False)
    assert keras.config.dtype_policy().name == before
    assert keras.layers.Dense(2).compute_dtype == "float32"
    net = bb.load_backbone("vgg16-hed", pooling="max", precision="float32")
    assert net.model.get_layer("block3_conv1").compute_dtype == "float32"


def test_bfloat16_gram_matrix_sums_in_float32_and_keeps_the_gradient_bfloat16():
    """Gram matrices of bfloat16 features are multiplied in bfloat16 (no float32 copy of the
    feature map), but over 60 200 positions the sums must still be float32 sums: a bfloat16
    accumulator would stop growing long before (its spacing near 1.5e4 is 64). The target is
    G/2, so that G's own bfloat16 rounding (2⁻⁹ relative) grows only twofold in G - A.
    (A quarter of block1 at 400x601: emulated bfloat16 is slow, and a bfloat16 sum stalls
    after a few hundred positions already.)"""
    from helpers import losses

    values = np.random.default_rng(0).uniform(0, 1, (1, 200, 301, 64)).astype(np.float32)
    f16 = tf.cast(tf.constant(values), tf.bfloat16)
    exact = tf.cast(f16, tf.float64).numpy().reshape(-1, 64)
    expected = exact.T @ exact
    with tf.GradientTape() as tape:
        tape.watch(f16)
        gram = losses.gram_matrix(f16)
        loss = losses.style_layer_loss(f16, tf.constant(expected * 0.5, tf.float32))
    assert gram.dtype == tf.float32
    np.testing.assert_allclose(gram.numpy(), expected, rtol=2**-7)
    grad = tape.gradient(loss, f16)
    assert grad.dtype == tf.bfloat16
    n, m = 64, 200 * 301
    g = expected - 0.5 * expected  # dE/dF = F (G - A) / (N² M²)
    np.testing.assert_allclose(float(loss), np.sum(g**2) / (4 * n**2 * m**2), rtol=2e-2)
    want = exact @ g / (n**2 * m**2)
    got = tf.cast(grad, tf.float64).numpy().reshape(-1, 64)
    assert np.linalg.norm(got - want) / np.linalg.norm(want) < 2e-2
