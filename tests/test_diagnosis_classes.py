"""Exercise checks against CLASSES of mistakes, written as a student would (issue 34): inputs
one pixel high or wide, network values far past 0..255, float64 handed to a float32 loss,
results of the wrong shape read from their values, and divisors with a mistyped size. Each
wrong answer must fail with a message naming what is wrong (never the generic "none of the
mistakes this check knows"); each right answer written unusually must still pass."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tensorflow as tf

from helpers import exercises as ex
from helpers import images
from helpers.exercises import ex01_preprocess as ex01
from helpers.exercises._engine import hidden_cases
from helpers.exercises.calling import tensorflow_limits

MEAN = images.IMAGENET_MEAN_BGR.astype(np.float32)
GENERIC = "none of the mistakes this check knows"


def failure_of(name, answer) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's "invalid value encountered in cast"
        with pytest.raises(ex.CheckFailed) as failure:
            ex.check(name, answer)
    text = str(failure.value)
    assert GENERIC not in text and "Traceback" not in text.replace("Your code's traceback", "")
    return text


# ------------------------------------------------------------------------ helpers a student writes

def to_image(rgb, cast=np.uint8):
    return np.clip(np.rint(rgb), 0, 255).astype(cast)


def gram(f):
    flat = tf.reshape(f, (-1, f.shape[-1]))
    return tf.matmul(flat, flat, transpose_a=True)


def m_of(f):
    return f.shape[1] * f.shape[2]


def layer(f, a):
    return tf.reduce_sum(tf.square(gram(f) - a)) / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2)


def tv_parts(x):
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    return a, b


def squeezed_tv(x):
    y = tf.squeeze(x)  # (H, W, C) ... or less, for an image one pixel high
    a = tf.pad(tf.square(y[1:] - y[:-1]), [[0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(y[:, 1:] - y[:, :-1]), [[0, 0], [0, 1], [0, 0]])
    return tf.reduce_mean((a + b) ** 1.25)


def image_padded(mode):
    def loss(x):
        p = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]], mode=mode)
        a = tf.square(p[:, 1:, :-1] - p[:, :-1, :-1])
        b = tf.square(p[:, :-1, 1:] - p[:, :-1, :-1])
        return tf.reduce_mean((a + b) ** 1.25)
    return loss


def batch_axis_forgotten(x):
    a = tf.pad(tf.square(x[1:] - x[:-1]), [[0, 1], [0, 0], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    return tf.reduce_mean((a + b) ** 1.25)


def over_cropped_count(x):
    a, b = tv_parts(x)
    h, w, c = x.shape[1:]
    return tf.reduce_sum((a + b) ** 1.25) / ((h - 1) * (w - 1) * c)


def np_gradient_tv(x):
    dy, dx = np.gradient(x.numpy()[0], axis=(0, 1))
    return tf.constant(np.mean((dy**2 + dx**2) ** 1.25), tf.float32)


def style_with(weighting):
    def loss(fs, ts, ws):
        return tf.add_n([weighting(fs[n], ts[n] * m_of(fs[n]), ws[n]) for n in ts])
    return loss


def wiring(make_x, grad_of=lambda g: g.numpy().astype(np.float64).ravel()):
    def make(loss_fn, shape):
        def loss_and_grad(y):
            x = make_x(y, shape)
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_fn(x)
            return float(loss), grad_of(tape.gradient(loss, x))
        return loss_and_grad
    return make


def variable_wiring(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.Variable(y.reshape(shape))  # float64, as scipy's y
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        return float(loss), tape.gradient(loss, x).numpy().ravel()
    return loss_and_grad


# ------------------------------------------------------------------------------- wrong answers

WRONG = [
    # ex01 deprocess: degenerate shapes and values far outside 0..255
    ("deprocess", lambda x: to_image((np.squeeze(x) + MEAN)[..., ::-1]),
     "np.squeeze / tf.squeeze drop EVERY axis of length 1"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]).astype(np.int16), 0,
                                    255).astype(np.uint8), "you converted to int16"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]).astype(np.int32), 0,
                                    255).astype(np.uint8), "you converted to int32"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]).astype(np.int8), 0,
                                    255).astype(np.uint8), "you converted to int8"),
    ("deprocess", lambda x: to_image((x[0].astype(np.float16) + MEAN.astype(np.float16))
                                     [..., ::-1]), "you computed in float16"),
    ("deprocess", lambda x: to_image((np.clip(x[0], -128, 127) + MEAN)[..., ::-1]),
     "clipped the network's values to −128 … 127"),
    ("deprocess", lambda x: to_image((np.clip(x[0], -MEAN[::-1], 255 - MEAN[::-1]) + MEAN)
                                     [..., ::-1]), "with the mean in RGB order"),
    ("deprocess", lambda x: to_image(x.reshape(x.shape[1], x.shape[2], 3)[:, ::-1] + MEAN),
     "you reversed the columns (mirrored) instead of the channels"),
    # ex01 preprocess: an image one pixel high
    ("preprocess", lambda i: (np.squeeze(np.asarray(i, np.float32))[..., ::-1] - MEAN)[None],
     "np.squeeze / tf.squeeze drop EVERY axis of length 1"),
    ("preprocess", lambda i: np.float32(i[None, ..., ::-1]) - np.float32(MEAN).round(),
     "your mean is not exact"),
    # ex02 gram: shapes read from the values, channels first, the wrong channel axis
    ("gram", lambda f: tf.reduce_sum(tf.reshape(f, (-1, f.shape[-1])) ** 2, axis=0),
     "your values are its diagonal, Σ F², each channel with itself only"),
    ("gram", lambda f: tf.reduce_sum(f * f, axis=(0, 1, 2)),
     "your values are its diagonal"),
    ("gram", lambda f: tf.reshape(f, (-1, f.shape[-1])), "the flattened map (F itself)"),
    ("gram", lambda f: tf.reduce_sum(tf.reshape(f, (-1, f.shape[-1])), axis=0),
     "each channel summed over the positions"),
    ("gram", lambda f: (lambda x: tf.matmul(x, x, transpose_a=True))(
        tf.reshape(f, (-1, f.shape[1]))), "your channel count came from shape[1], the height"),
    ("gram", lambda f: (lambda x: tf.matmul(x, x, transpose_a=True))(
        tf.reshape(f, (-1, f.shape[2]))), "your channel count came from shape[2], the width"),
    ("gram", lambda f: (lambda x: tf.matmul(x, x, transpose_a=True))(
        tf.reshape(tf.transpose(f, (0, 3, 1, 2)), (-1, f.shape[-1]))),
     "you moved the channels first"),
    ("gram", lambda f: tf.einsum("hwc,hwd->cd", tf.squeeze(f), tf.squeeze(f)),
     "one pixel high, after the ordinary hidden inputs went through"),
    ("gram", lambda f: (lambda x: tf.matmul(x, x, transpose_a=True))(
        tf.reshape(f, (f.shape[1] * f.shape[1], f.shape[-1]))),
     "take every size from the input's own shape"),
    # ex03 content: a mistyped M, an unsquared norm over N·M
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) / (f.shape[-1] * f.shape[1] ** 2),
     "you divided the sum by N times H·H"),
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) / (f.shape[-1] * f.shape[2] ** 2),
     "you divided the sum by N times W·W"),
    ("content", lambda f, p: tf.norm(f - p) / tf.cast(tf.size(f), tf.float32),
     "you divided the norm ‖F − P‖ (tf.norm) by N·M, but the norm is not squared"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(tf.squeeze(f) - tf.squeeze(p)), axis=0),
     "a loss is one number, shape ()"),
    # ex04 style_layer and style: a squeezed 1-pixel map, the weight inside an operand
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(tf.einsum(
        "hwc,hwd->cd", tf.squeeze(f), tf.squeeze(f)) - a)) / (4.0 * f.shape[-1] ** 2
                                                              * m_of(f) ** 2),
     "one pixel high, after the ordinary hidden inputs went through"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a))
     / (4.0 * f.shape[-1] ** 2 * f.shape[1] ** 4), "your M is H·H"),
    ("style", style_with(lambda f, a, w: layer(f, w * a)), "you multiplied the TARGET"),
    ("style", style_with(lambda f, a, w: layer(w * f, a)), "you multiplied the FEATURES"),
    ("style", style_with(lambda f, a, w: tf.reduce_sum(tf.square(w * (gram(f) - a)))
                         / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2)),
     "the weight is inside the square"),
    # ex05 tv: the batch axis forgotten, padding the image, a cropped count, 1-pixel images
    ("tv", batch_axis_forgotten, "it runs along the batch axis"),
    ("tv", image_padded("REFLECT"), "padding the IMAGE in reflect mode"),
    ("tv", over_cropped_count, "divided by (H − 1)·(W − 1)·C"),
    ("tv", np_gradient_tv, "you used np.gradient"),
    ("tv", squeezed_tv, "one pixel high, after the ordinary hidden inputs went through"),
    ("tv", lambda x: tf.reduce_sum((tf.add_n(tv_parts(x))) ** 1.25)
     / tf.cast(x.shape[1] * x.shape[2] * x.shape[3] - x.shape[1] * x.shape[3], tf.float32),
     "divided by H·(W − 1)·C"),
    # found by probing as a class would: a normalisation from the values, a square root,
    # other frameworks' statistics, a strip of the map, a diagonal difference, int images
    ("preprocess", lambda i: ((np.float32(i)[..., ::-1] - MEAN)
                              / np.float32([57.375, 57.12, 58.395]))[None],
     "you divided by ImageNet's standard deviations"),
    ("deprocess", lambda x: to_image((x[0] + x[0].mean(axis=(0, 1)))[..., ::-1]),
     "you added the image's own mean per channel"),
    ("deprocess", lambda x: to_image((x[0] / 255 + MEAN)[..., ::-1]), "you divided by 255 first"),
    ("deprocess", lambda x: np.clip(np.around((x[0] + MEAN)[..., ::-1], 1), 0, 255)
     .astype(np.uint8), "your grey levels are off by one at"),
    ("gram", lambda f: gram(f) / tf.linalg.trace(gram(f)),
     "a number that changes from input to input"),
    ("gram", lambda f: gram(f) / tf.norm(f), "a number that changes from input to input"),
    ("gram", lambda f: tf.sqrt(gram(f)), "your result is the square root of the right one"),
    ("gram", lambda f: gram(f[:, :1]), "sums over the first ROW of the map only"),
    ("gram", lambda f: gram(f) - tf.linalg.diag(tf.linalg.diag_part(gram(f))),
     "you left out the diagonal of G"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(f - tf.reduce_mean(p))),
     "you compared F with the MEAN of the target"),
    ("style_layer", lambda f, a: tf.sqrt(layer(f, a)), "the square root of the right one"),
    ("style", style_with(lambda f, a, w: np.sqrt(w) * layer(f, a)),
     "the square root of its weight"),
    ("tv", lambda x: tf.reduce_mean((tf.pad(tf.square(x[:, 1:, 1:] - x[:, :-1, :-1]),
                                            [[0, 0], [0, 1], [0, 1], [0, 0]])
                                     + tv_parts(x)[1]) ** 1.25), "runs diagonally"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(tf.cast(tf.cast(x, tf.int32),
                                                              tf.float32))) ** 1.25),
     "you converted the image to integers"),
    ("style", style_with(lambda f, a, w: w**2 * layer(f, a)), "SQUARE of its weight"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square((lambda x: tf.matmul(
        x, x, transpose_b=True))(tf.reshape(f, (-1, f.shape[-1]))) - a))
     / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "two operands of an element-wise operation"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(tf.reduce_mean(x, axis=-1,
                                                                     keepdims=True))) ** 1.25),
     "you averaged the channels first"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(tf.nn.relu(x))) ** 1.25),
     "you dropped the negative values"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(tf.clip_by_value(x, 0, 255))) ** 1.25),
     "you clipped the image to 0..255 first"),
    ("tv", lambda x: tf.reduce_mean(tf.reduce_sum(tf.add_n(tv_parts(x)), axis=-1) ** 1.25),
     "you added a + b over the channels before raising to 1.25"),
    # precision: bfloat16 or float16 on the way, cast back to float32
    ("gram", lambda f: tf.cast(gram(tf.cast(f, tf.bfloat16)), tf.float32),
     "every value of your result is a bfloat16 number"),
    ("content", lambda f, p: tf.cast(tf.reduce_mean(tf.square(tf.cast(f - p, tf.bfloat16))),
                                     tf.float32), "every value of your result is a bfloat16"),
    ("content", lambda f, p: tf.cast(tf.cast(tf.reduce_mean(tf.square(f - p)), tf.float16),
                                     tf.float32), "every value of your result is a float16"),
    ("preprocess", lambda i: np.float32(np.float32(i)[None, ..., ::-1].astype(np.float16)
                                        - MEAN.astype(np.float16)), "float16"),
    ("style_layer", lambda f, a: tf.cast(tf.reduce_sum(tf.square(
        gram(tf.cast(f, tf.bfloat16)) - tf.cast(a, tf.bfloat16))), tf.float32)
     / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "close to the right ones but not equal"),
    ("style", style_with(lambda f, a, w: w * tf.cast(tf.reduce_sum(tf.square(
        gram(tf.cast(f, tf.bfloat16)) - tf.cast(a, tf.bfloat16))), tf.float32)
        / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2)), "precision loss, such as bfloat16"),
    ("gram", lambda f: tf.cast(gram(tf.cast(f, tf.int64)), tf.float32),
     "or another integer type"),
    # ex06 lbfgs: float64 handed to the float32 loss, Fortran order, no reshape
    ("lbfgs", wiring(lambda y, s: tf.constant(y.reshape(s))), "hands loss_fn a float64 tensor"),
    ("lbfgs", wiring(lambda y, s: tf.convert_to_tensor(y.reshape(s))),
     "hands loss_fn a float64 tensor"),
    ("lbfgs", variable_wiring, "hands loss_fn a float64 tensor"),
    ("lbfgs", wiring(lambda y, s: tf.constant(y.reshape(s), tf.int32)),
     "hands loss_fn an int32 tensor"),
    ("lbfgs", wiring(lambda y, s: tf.constant(y.reshape(s, order="F"), tf.float32),
                     lambda g: g.numpy().astype(np.float64).ravel(order="F")),
     "reshaped in column-major order (order='F')"),
    ("lbfgs", wiring(lambda y, s: tf.constant(y, tf.float32)),
     "called loss_fn with a tensor of shape (105,); loss_fn takes the image's shape "
     "(1, 5, 7, 3): reshape the flat vector to `shape`"),
    ("lbfgs", wiring(lambda y, s: tf.constant(y.reshape((1, 64, 64, 3)), tf.float32)),
     "reshape it with the `shape` make_loss_and_grad was given"),
]


@pytest.mark.parametrize("name,answer,fragment", WRONG,
                         ids=[f"{w[0]}-{i}" for i, w in enumerate(WRONG)])
def test_a_class_of_mistake_is_named(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text, text


# ------------------------------------------------------------------------------- right answers

def deprocess_loop(x):
    h, w = x.shape[1:3]
    out = np.zeros((h, w, 3), np.uint8)
    for i in range(h):
        for j in range(w):
            b, g, r = x[0, i, j] + MEAN
            out[i, j] = [min(max(round(float(v)), 0), 255) for v in (r, g, b)]
    return out


def tv_concat(x):
    dy = tf.concat([x[:, 1:] - x[:, :-1], tf.zeros_like(x[:, :1])], axis=1)
    dx = tf.concat([x[:, :, 1:] - x[:, :, :-1], tf.zeros_like(x[:, :, :1])], axis=2)
    return tf.reduce_mean(tf.pow(dy**2 + dx**2, 1.25))


def lbfgs_float32_numpy(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.convert_to_tensor(y.reshape(shape).astype(np.float32))
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return loss.numpy().item(), np.array(tape.gradient(loss, x), np.float64).flatten()
    return loss_and_grad


def lbfgs_assigned_variable(loss_fn, shape):
    x = tf.Variable(tf.zeros(shape, tf.float32))  # made once, float32; y assigned each call

    def loss_and_grad(y):
        x.assign(y.reshape(shape))
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        return float(loss), tape.gradient(loss, x).numpy().astype(np.float64).ravel()
    return loss_and_grad


def lbfgs_cast_before_loss(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape))  # float64, watched; loss_fn gets float32
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(tf.cast(x, tf.float32))
        return float(loss), tape.gradient(loss, x).numpy().ravel()
    return loss_and_grad


RIGHT = [
    ("deprocess", lambda x: np.clip(np.round(np.squeeze(x, axis=0) + MEAN)[..., ::-1], 0, 255)
     .astype(np.uint8)),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]).astype(np.int64), 0, 255)
     .astype(np.uint8)),
    ("deprocess", lambda x: to_image((np.clip(x[0], -MEAN, 255 - MEAN) + MEAN)[..., ::-1])),
    ("deprocess", deprocess_loop),
    ("deprocess", lambda x: to_image((x[0] + MEAN)[..., ::-1], np.int16).astype(np.uint8)),
    ("deprocess", lambda x: tf.cast(tf.clip_by_value(tf.round(tf.reverse(
        x[0] + MEAN, axis=[-1])), 0, 255), tf.uint8).numpy()),
    ("preprocess", lambda i: np.expand_dims((np.asarray(i, np.float32) - MEAN[::-1])[..., ::-1],
                                            0)),
    ("preprocess", lambda i: np.flip(np.asarray(i, np.float32), axis=-1)[np.newaxis] - MEAN),
    ("gram", lambda f: tf.einsum("bhwc,bhwd->cd", f, f)),
    ("gram", lambda f: (lambda x: tf.matmul(x, x, transpose_b=True))(
        tf.reshape(tf.transpose(f, (0, 3, 1, 2)), (f.shape[-1], -1)))),
    ("gram", lambda f: gram(tf.squeeze(f, axis=0))),
    ("gram", lambda f: tf.tensordot(tf.reshape(f, (-1, f.shape[-1])),
                                    tf.reshape(f, (-1, f.shape[-1])), axes=[[0], [0]])),
    ("content", lambda f, p: tf.reduce_mean(tf.square(tf.squeeze(f, 0) - tf.squeeze(p, 0)))),
    ("content", lambda f, p: tf.reduce_sum((f - p) ** 2) / tf.cast(tf.size(f), tf.float32)),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a))
     / (4.0 * float(tf.size(f).numpy()) ** 2)),
    ("style", style_with(lambda f, a, w: w * layer(f, a))),
    ("tv", tv_concat),
    ("tv", image_padded("SYMMETRIC")),
    ("tv", lambda x: tf.reduce_mean((tf.pad(tf.square(x[:, :-1] - x[:, 1:]),
                                            [[0, 0], [0, 1], [0, 0], [0, 0]])
                                     + tv_parts(x)[1]) ** 1.25)),
    ("gram", lambda f: (lambda x: tf.matmul(x, x, transpose_a=True))(
        tf.reshape(tf.transpose(f, (0, 2, 1, 3)), (-1, f.shape[-1])))),
    ("gram", lambda f: tf.reduce_sum(tf.reshape(f, (-1, f.shape[-1]))[:, :, None]
                                     * tf.reshape(f, (-1, f.shape[-1]))[:, None, :], axis=0)),
    ("style_layer", lambda f, a: tf.norm(gram(f) - a, ord="fro", axis=(0, 1)) ** 2
     / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2)),
    ("deprocess", lambda x: np.clip(np.floor((x[0] + MEAN)[..., ::-1] + 0.5), 0, 255)
     .astype(np.uint8)),
    ("tv", lambda x: tf.reduce_mean(tf.pow(tf.add_n([g**2 for g in
                                                     tf.image.image_gradients(x)]), 1.25))),
    ("tv", lambda x: tv_depthwise(x)),  # oneDNN's kernel errors on 1-pixel inputs excused
    ("lbfgs", lbfgs_float32_numpy),
    ("lbfgs", lbfgs_assigned_variable),
    ("lbfgs", lbfgs_cast_before_loss),
    ("lbfgs", wiring(lambda y, s: tf.cast(tf.constant(y.reshape(s)), tf.float32))),
]


@pytest.mark.parametrize("name,answer", RIGHT, ids=[f"{r[0]}-{i}" for i, r in enumerate(RIGHT)])
def test_a_right_answer_written_unusually_passes(name, answer, capsys):
    ex.check(name, answer)
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


# ---------------------------------------------------------------------------- the hidden inputs

@pytest.mark.parametrize("name", ["preprocess", "deprocess", "gram", "content", "style_layer",
                                  "tv"])
def test_every_check_has_an_input_one_pixel_high_or_wide_after_the_ordinary_ones(name):
    spec = ex01.DEPROCESS if name == "deprocess" else ex._SPECS[name]
    cases = hidden_cases(name, spec)
    thin = [i for i, c in enumerate(cases) if c.thin]
    assert thin and min(thin) > max(i for i, c in enumerate(cases) if not c.thin)
    for i in thin:
        shape = np.shape(cases[i].args[0])
        assert 1 in (shape[-3:-1] if len(shape) == 4 else shape[:2]), shape


def test_deprocess_sees_network_values_past_int16_and_int32():
    values = np.concatenate([np.ravel(c.args[0]) for c in hidden_cases("deprocess",
                                                                        ex01.DEPROCESS)])
    assert values.max() > 2**31 and values.min() < -(2**31)
    assert np.sum(np.abs(values) > 32767) > 10


def test_a_wrong_shape_names_the_axes():
    text = failure_of("gram", lambda f: tf.reshape(gram(f), (1, -1)))
    assert "expected (3, 3) = (N, N), got (1, 9)" in text and "arranged differently" in text


def test_a_mistake_only_on_a_thin_input_is_told_so():
    """Right on every ordinary input, wrong only where the map is one pixel wide."""
    def answer(f):
        g = gram(f)
        return g * 0.5 if f.shape[2] == 1 else g
    text = failure_of("gram", answer)
    assert "right on every ordinary hidden input, but wrong on" in text and "one pixel" in text


# ------------------------------------------------- classes of held-out set 3 and beyond (round 4)

def unit_columns(f):
    return tf.math.l2_normalize(tf.reshape(f, (-1, f.shape[-1])), axis=0)


def standardised(x, axes):
    mean, var = tf.nn.moments(x, axes=axes, keepdims=True)
    return (x - mean) / tf.sqrt(var)


def cosine_gram(f):
    g = gram(f)
    d = tf.sqrt(tf.linalg.diag_part(g))
    return g / (d[:, None] * d[None, :])


def tv_with_columns(diff):
    def loss(x):
        a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
        return tf.reduce_mean((a + tf.pad(tf.square(diff(x)), [[0, 0], [0, 1], [0, 1],
                                                               [0, 0]])) ** 1.25)
    return loss


def lbfgs_float_in_tape(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = float(loss_fn(x))
        return loss, tape.gradient(loss, x).numpy().astype(np.float64).ravel()
    return loss_and_grad


def lbfgs_view(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        g = tape.gradient(loss, x).numpy().ravel()
        return float(loss), g.view(np.float64)
    return loss_and_grad


def lbfgs_watches_x_calls_numpy(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(y.reshape(shape).astype(np.float32))
        return float(loss), tape.gradient(loss, x).numpy().astype(np.float64).ravel()
    return loss_and_grad


def style_int_start(fs, ts, ws):
    total = tf.constant(0)  # an int32 tensor
    for n in ts:
        total = total + ws[n] * layer(fs[n], ts[n] * m_of(fs[n]))
    return total


def style_m_on_loss(fs, ts, ws):
    return tf.add_n([ws[n] * m_of(fs[n]) * layer(fs[n], ts[n]) for n in ts])


CLASSES = [
    # ex01: clipping limits off by one, the mean twice, a rounded result
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]), 0, 256).astype(np.uint8),
     "256 does not fit in uint8"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]), 0, 254).astype(np.uint8),
     "you clipped to 0..254"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[..., ::-1]), -1, 255).astype(np.uint8),
     "-1 does not fit in uint8"),
    ("deprocess", lambda x: to_image((x[0] + 2 * MEAN)[..., ::-1]),
     "you added the ImageNet mean twice"),
    ("preprocess", lambda i: np.round(np.float32(i)[..., ::-1] - MEAN)[None],
     "your values are whole numbers: each is the right one rounded"),
    ("preprocess", lambda i: (lambda out: (out.__setitem__(Ellipsis, i[..., ::-1] - MEAN),
                                           out.astype(np.float32)[None])[1])(np.empty_like(i)),
     "an array of the image's own dtype"),
    # ex02: normalisations by norms, outer product of sums, one column
    ("gram", lambda f: (lambda u: tf.matmul(u, u, transpose_a=True))(unit_columns(f)),
     "so G holds cosines"),
    ("gram", cosine_gram, "that is a cosine-similarity matrix"),
    ("gram", lambda f: gram(f) / tf.norm(gram(f)), "its own norm ‖G‖"),
    ("gram", lambda f: (lambda s: s[:, None] * s[None, :])(
        tf.reduce_sum(tf.reshape(f, (-1, f.shape[-1])), axis=0)), "the outer product"),
    ("gram", lambda f: gram(tf.math.l2_normalize(f, axis=-1)),
     "each position's feature vector divided by its length"),
    ("gram", lambda f: gram(standardised(f, [0, 1, 2])), "its standard deviation"),
    ("gram", lambda f: gram(tf.reshape(f, (-1, f.shape[0]))),
     "the sum of ALL squared features"),
    ("gram", lambda f: tf.einsum("bhwi,bwhj->ij", f, f),  # the traceback shows this line
     "your einsum's subscripts"),
    # ex03: rescaled maps, a sign slip, relative errors, other reductions
    ("content", lambda f, p: tf.reduce_mean(tf.square(
        (f - tf.reduce_mean(f, axis=[1, 2], keepdims=True))
        - (p - tf.reduce_mean(p, axis=[1, 2], keepdims=True)))),
     "each channel's mean over the positions subtracted"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(f + p)), "a sign slip"),
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) / tf.reduce_sum(tf.square(p)),
     "relative to the target's size"),
    ("content", lambda f, p: tf.norm(f - p) / tf.norm(p), "relative to the target's size"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(tf.math.l2_normalize(f, axis=-1)
                                                      - tf.math.l2_normalize(p, axis=-1))),
     "each position's feature vector divided by its length"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(standardised(f, [1, 2])
                                                      - standardised(p, [1, 2]))),
     "its standard deviation"),
    ("content", lambda f, p: tf.reduce_max(tf.square(f - p)), "the LARGEST squared difference"),
    ("content", lambda f, p: 1 - tf.reduce_sum(f * p) / (tf.norm(f) * tf.norm(p)),
     "the cosine distance"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(f[..., 0] - p[..., 0])),
     "you compared the first channel only"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(f - p), keepdims=True),
     "the right number, with 4 axes of length 1 kept"),
    ("content", lambda f, p: tf.stop_gradient(tf.reduce_mean(tf.square(f - p))),
     "a tf.stop_gradient"),
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) / tf.size(f),
     "TensorFlow never converts on its own"),
    # ex04: the target's own Gram matrix, relative errors, M on the loss, a maximum
    ("style_layer", lambda f, a: layer(f, gram(a[None, None])),
     "you took the Gram matrix of target_gram"),
    ("style_layer", lambda f, a: layer(f, -a), "a sign slip"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a))
     / tf.reduce_sum(tf.square(a)), "relative to the target's size"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(cosine_gram(f) - a))
     / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "by the lengths of its channels"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f)) - tf.square(a))
     / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "you squared G and A separately"),
    ("style_layer", lambda f, a: 1 - tf.reduce_sum(gram(f) * a) / (tf.norm(gram(f))
                                                                   * tf.norm(a)),
     "the cosine distance"),
    ("style_layer", lambda f, a: (1 // (4 * f.shape[-1] ** 2 * m_of(f) ** 2))
     * tf.reduce_sum(tf.square(gram(f) - a)), "exactly 0 on every hidden input"),
    ("style", style_m_on_loss, "you multiplied each layer's LOSS by M"),
    ("style", lambda fs, ts, ws: tf.reduce_max(tf.stack(
        [ws[n] * layer(fs[n], ts[n] * m_of(fs[n])) for n in ts])),
     "the LARGEST weighted layer loss"),
    ("style", lambda fs, ts, ws: {n: ws[n] * layer(fs[n], ts[n] * m_of(fs[n])) for n in ts},
     "returns a dict (3 entries)"),
    # ex05: slanted neighbours, a plus, the channel sum, precedence, scale, the batch axis
    ("tv", tv_with_columns(lambda x: x[:, 1:, 1:] - x[:, :-1, :-1]),
     "runs to the diagonal neighbour"),
    ("tv", tv_with_columns(lambda x: x[:, 1:, :-1] - x[:, :-1, 1:]), "the other diagonal"),
    ("tv", lambda x: tf.reduce_mean((tf.pad(tf.square(x[:, 1:] + x[:, :-1]),
                                            [[0, 0], [0, 1], [0, 0], [0, 0]])
                                     + tf.pad(tf.square(x[:, :, 1:] + x[:, :, :-1]),
                                              [[0, 0], [0, 0], [0, 1], [0, 0]])) ** 1.25),
     "a sign slip"),
    ("tv", lambda x: tf.reduce_sum(tf.reduce_sum(tf.add_n(tv_parts(x)), axis=-1) ** 1.25)
     / float(np.prod(x.shape)), "your divisor H·W·C is right"),
    ("tv", lambda x: tf.reduce_mean(tv_parts(x)[0] ** 1.25 + tv_parts(x)[1]),
     "only your first squared difference is raised to 1.25"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x * 255.0)) ** 1.25),
     "you multiplied the image by 255 first"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x)) ** 1.25, axis=[1, 2, 3]),
     "keeps the batch axis"),
    # ex06: errors read for their cause
    ("lbfgs", lbfgs_float_in_tape, "tape.gradient got a plain number"),
    ("lbfgs", lbfgs_view, ".view(np.float64) reinterprets the array's bytes"),
    ("lbfgs", lbfgs_watches_x_calls_numpy, "loss_fn given another object than the x watched"),
    # found by probing further, as a new writer might
    ("preprocess", lambda i: (np.float32(i)[..., ::-1] * 255 - MEAN)[None],
     "you multiplied the pixels by 255 first"),
    ("style", style_int_start, "start it at 0.0"),
    ("gram", lambda f: (lambda u: u + tf.transpose(u))(tf.linalg.band_part(gram(f), 0, -1)),
     "adds the diagonal twice"),
    ("gram", lambda f: gram(f) + tf.eye(f.shape[-1]), "the diagonal is not"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x)) ** 1.25) / 255.0,
     "times the same number, 1/255, on every hidden input"),
    ("style", lambda fs, ts, ws: tf.add_n([layer(fs[n], ts[n] * m_of(fs[n])) / ws[n]
                                           for n in ts]), "you DIVIDED each layer's loss"),
    ("style", lambda fs, ts, ws: tf.add_n([layer(fs[n], ts[n] * m_of(fs[n])) for n in ts])
     * np.mean(list(ws.values())), "the mean of layer_weights"),
    ("deprocess", lambda x: np.stack([np.clip(np.rint(x[0, ..., 2] + MEAN[2]), 0, 255),
                                      np.clip(np.rint(x[0, ..., 1] + MEAN[1]), 0, 255),
                                      np.clip(np.rint(x[0, ..., 0] + MEAN[1]), 0, 255)],
                                     -1).astype(np.uint8),
     "your R and G channels come out right, your B channel not"),
]


@pytest.mark.parametrize("name,answer,fragment", CLASSES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CLASSES)])
def test_a_further_class_of_mistake_is_named(name, answer, fragment):
    test_a_class_of_mistake_is_named(name, answer, fragment)


def test_a_shape_error_outside_the_gram_checks_says_nothing_of_gram_matrices():
    def padded_on_the_wrong_axis(x):
        a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
        b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
        return tf.reduce_mean((a + b) ** 1.25)
    text = failure_of("tv", padded_on_the_wrong_axis)
    assert "different shapes here" in text and "Gram" not in text, text
    text = failure_of("preprocess", lambda i: (np.float32(i)[..., ::-1]
                                               - MEAN.reshape(1, 3, 1, 1)))
    assert "different shapes here" in text and "Gram" not in text, text


def lbfgs_one_buffer(loss_fn, shape):
    """Every call returns the same gradient array, refilled: right for scipy and for the
    notebook (ex06 asks for "(float, (n,) float64)" per call and rescales it into a new
    array; nothing keeps a gradient across calls), so it passes, as it did before."""
    buffer = np.zeros(int(np.prod(shape)))

    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        buffer[:] = tape.gradient(loss, x).numpy().ravel()
        return float(loss), buffer
    return loss_and_grad


UNUSUAL_RIGHT = [
    ("lbfgs", lbfgs_one_buffer),
    ("preprocess", lambda i: np.take(np.asarray(i, np.float32), [2, 1, 0], axis=-1)[None] - MEAN),
    ("preprocess", lambda i: (np.einsum("hwc,cd->hwd", np.float32(i),
                                        np.eye(3, dtype=np.float32)[::-1]) - MEAN)[None]),
    ("preprocess", lambda i: np.concatenate([np.float32(i)[..., k:k + 1] - MEAN[2 - k]
                                             for k in (2, 1, 0)], -1)[None]),
    ("deprocess", lambda x: (lambda y: np.where(y > 255, 255, np.where(y < 0, 0, y)))(
        np.rint((x[0] + MEAN)[..., ::-1])).astype(np.uint8)),
    ("deprocess", lambda x: tf.image.convert_image_dtype(tf.clip_by_value(tf.round(
        (x[0] + MEAN)[..., ::-1]), 0, 255) / 255.0, tf.uint8, saturate=True).numpy()),
    ("gram", lambda f: tf.stack([tf.reduce_sum(f * f[..., i:i + 1], axis=(0, 1, 2))
                                 for i in range(f.shape[-1])])),
    ("gram", lambda f: tf.squeeze(tf.einsum("bijc,bijd->bcd", f, f), 0)),
    ("content", lambda f, p: tf.reduce_mean(tf.math.squared_difference(f, p))),
    ("content", lambda f, p: tf.norm(f - p) ** 2 / tf.cast(tf.reduce_prod(tf.shape(f)),
                                                           tf.float32)),
    ("content", lambda f, p: tf.tensordot(tf.reshape(f - p, [-1]), tf.reshape(f - p, [-1]), 1)
     / float(np.prod(f.shape))),
    ("style_layer", lambda f, a: tf.reduce_mean(tf.square(gram(f) - a)) / (4.0 * m_of(f) ** 2)),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) / m_of(f) - a / m_of(f)))
     / (4.0 * f.shape[-1] ** 2)),
    ("style", lambda fs, ts, ws: sum(ws[n] * layer(fs[n], ts[n] * m_of(fs[n]))
                                     for n in sorted(ts))),
    ("style", lambda fs, ts, ws: tf.reduce_sum(tf.stack(
        [ws[n] * layer(fs[n], float(m_of(fs[n])) * ts[n]) for n in ts]))),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x - tf.reduce_mean(x))) ** 1.25)),
    ("tv", lambda x: tf.reduce_mean(tf.where(
        tf.add_n(tv_parts(x)) > 0,
        tf.exp(1.25 * tf.math.log(tf.maximum(tf.add_n(tv_parts(x)), 1e-30))), 0.0))),
    ("tv", lambda x: tf.reduce_mean(
        (tf.square(tf.roll(x, -1, 1) - x) * tf.reshape(tf.cast(
            tf.range(x.shape[1]) < x.shape[1] - 1, tf.float32), (1, -1, 1, 1))
         + tf.square(tf.roll(x, -1, 2) - x) * tf.reshape(tf.cast(
             tf.range(x.shape[2]) < x.shape[2] - 1, tf.float32), (1, 1, -1, 1))) ** 1.25)),
]


@pytest.mark.parametrize("name,answer", UNUSUAL_RIGHT,
                         ids=[f"{r[0]}-{i}" for i, r in enumerate(UNUSUAL_RIGHT)])
def test_a_further_unusual_right_answer_passes(name, answer, capsys):
    ex.check(name, answer)
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


# ------------------------------------------- what TensorFlow raises, and what loss_fn is handed

def tv_depthwise(x):
    """Right: differences by a depthwise convolution, VALID, padded back. oneDNN's kernels
    fail on an image one pixel high or wide (AbortedError in the gradient, garbage values)."""
    c = x.shape[-1]
    ky = tf.tile(tf.constant([[-1.0], [1.0]])[:, :, None, None], [1, 1, c, 1])
    kx = tf.tile(tf.constant([[-1.0, 1.0]])[:, :, None, None], [1, 1, c, 1])
    a = tf.pad(tf.square(tf.nn.depthwise_conv2d(x, ky, [1, 1, 1, 1], padding="VALID")),
               [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(tf.nn.depthwise_conv2d(x, kx, [1, 1, 1, 1], padding="VALID")),
               [[0, 0], [0, 0], [0, 1], [0, 0]])
    return tf.reduce_sum(tf.pow(a + b, 1.25)) / tf.cast(tf.size(x), x.dtype)


def tv_conv2d(x):
    eye = tf.eye(x.shape[-1])
    dy = tf.nn.conv2d(x, tf.stack([-eye, eye])[:, None], 1, "VALID")
    dx = tf.nn.conv2d(x, tf.stack([-eye, eye])[None], 1, "VALID")
    return tf.reduce_mean(tf.pow(tf.pad(tf.square(dy), [[0, 0], [0, 1], [0, 0], [0, 0]])
                                 + tf.pad(tf.square(dx), [[0, 0], [0, 0], [0, 1], [0, 0]]), 1.25))


def tv_raising_on_thin(error):
    def loss(x):
        if 1 in x.shape[1:3]:
            raise error
        return tv_concat(x)
    return loss


@tf.custom_gradient
def _with_broken_gradient(u):
    def grad(dy):
        raise ValueError("my gradient is not written yet")
    return tf.identity(u), grad


@pytest.mark.parametrize("answer", [tv_depthwise, tv_conv2d])
def test_a_right_answer_is_not_failed_for_tensorflows_own_kernel_errors(answer, capsys):
    """With oneDNN (TensorFlow's default on x86 CPUs) the 1-pixel inputs raise AbortedError
    in the gradient and are named as not counted; elsewhere they pass as they are."""
    ex.check("tv", answer)
    out = capsys.readouterr().out
    assert out.startswith("✓ tv:") and "Traceback" not in out, out
    if "AbortedError" in tensorflow_limits():  # oneDNN on: this machine's x86 CPU
        assert "checked on 4 hidden inputs; not counted: a hidden image of shape (1, 1, 8, 3), " \
            "one pixel high (its gradient raised AbortedError); a hidden image of shape " \
            "(1, 7, 1, 3), one pixel wide (its gradient raised AbortedError): this " \
            "TensorFlow raises that" in out, out
    else:
        assert "not counted" not in out, out


@pytest.mark.parametrize("error", [tf.errors.UnimplementedError, tf.errors.AbortedError])
def test_a_tensorflow_error_the_function_itself_raises_on_a_thin_input_fails(error):
    """Issue 32 finding A: only what TensorFlow raises in the gradient is excused; the
    function raising TensorFlow's errors itself (here on the 1-pixel inputs only, where a
    slip would show) is the student's error, even AbortedError."""
    text = failure_of("tv", tv_raising_on_thin(error(None, None, "not here")))
    assert text.startswith(f"✗ tv: your function raised {error.__name__}: not here — on a "
                           "hidden image of shape (1, 1, 8, 3), one pixel high"), text


@pytest.mark.parametrize("answer,fragment", [
    (tv_raising_on_thin(ValueError("my own bug")), "your function raised ValueError: my own bug"),
    (tv_raising_on_thin(tf.errors.InvalidArgumentError(None, None, "Incompatible shapes")),
     "your function raised InvalidArgumentError: Incompatible shapes"),
    (lambda x: tf.reduce_mean(_with_broken_gradient(tv_concat(x))),
     "right value, but computing its gradient"),
    (lambda x: tf.constant("a string"), "your function"),
])
def test_anything_else_the_function_or_its_gradient_raises_is_one_line(answer, fragment):
    text = failure_of("tv", answer)
    assert fragment in text, text
    assert text.splitlines()[0].startswith("✗ tv: ") and "Traceback (most" not in text, text


def test_a_kernel_error_on_an_ordinary_input_still_fails():
    def answer(x):
        raise tf.errors.AbortedError(None, None, "could not create a primitive")
    assert "your function raised AbortedError" in failure_of("tv", answer)


def lbfgs_reshaped(make_x):
    def make(loss_fn, shape):
        def loss_and_grad(y):
            x = make_x(y, shape)
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_fn(x)
            return float(loss), tape.gradient(loss, x).numpy().astype(np.float64).ravel()
        return loss_and_grad
    return make


SHAPE_SLIPS = [
    (lambda y, s: tf.constant(y.reshape(s[1:]), tf.float32), "(5, 7, 3)", "batch axis"),
    (lambda y, s: tf.constant(y.reshape((1, s[2], s[1], s[3])), tf.float32), "(1, 7, 5, 3)",
     "another order"),
    (lambda y, s: tf.transpose(tf.constant(y.reshape(s[1:]), tf.float32), (1, 0, 2)),
     "(7, 5, 3)", "another order"),
    (lambda y, s: tf.constant(y, tf.float32), "(105,)", "FLAT vector"),
]


@pytest.mark.parametrize("make_x,shape,why", SHAPE_SLIPS)
def test_lbfgs_names_the_shape_handed_to_loss_fn(make_x, shape, why):
    text = failure_of("lbfgs", lbfgs_reshaped(make_x))
    assert (f"your function called loss_fn with a tensor of shape {shape}; loss_fn takes the "
            "image's shape (1, 5, 7, 3)") in text and why in text, text


@pytest.fixture()
def grading_run():
    from helpers.exercises import judge
    from helpers.exercises._engine import SEED

    judge.start_run(20240607)
    judge._INPUTS.clear()
    yield judge
    judge.start_run(SEED)
    judge._INPUTS.clear()


def graded(judge, check, fn, tmp_path):
    """The grader's verdict on ``fn``: the harness run here, then judged."""
    import json
    import os

    from helpers.exercises import harness
    from helpers.exercises.judge_runs import judge as verdict

    job = judge.write_job(check, "answer", tmp_path, check)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        harness.main(job, {"answer": fn}, f"answer-{check}")
    finally:
        os.chdir(cwd)
    record = json.loads((tmp_path / f"answer-{check}.json").read_text())
    with np.load(tmp_path / f"answer-{check}.npz", allow_pickle=False) as npz:
        try:
            return verdict(check, record, npz)
        except ex.CheckFailed as failure:
            return f"✗ {failure.message}"


def test_the_grader_agrees_on_kernel_errors_and_shapes_handed_to_loss_fn(grading_run, tmp_path):
    judge = grading_run
    assert graded(judge, "tv", tv_depthwise, tmp_path).startswith("✓")
    text = graded(judge, "tv", tv_raising_on_thin(tf.errors.UnimplementedError(
        None, None, "no")), tmp_path)
    assert text.startswith("✗ your function raised UnimplementedError: no — on a hidden "
                           "image of shape (1, 1, 8, 3), one pixel high"), text

    class AbortedError(Exception):  # the student's own, named as TensorFlow's
        pass

    text = graded(judge, "tv", tv_raising_on_thin(AbortedError("mine")), tmp_path)
    assert "raised" in text and "AbortedError: mine" in text, text
    text = graded(judge, "tv", lambda x: tf.reduce_mean(_with_broken_gradient(
        tv_concat(x))), tmp_path)
    assert "computing its gradient" in text, text
    for make_x, shape, why in SHAPE_SLIPS:
        text = graded(judge, "lbfgs", lbfgs_reshaped(make_x), tmp_path)
        assert f"loss_fn with a tensor of shape {shape}" in text and why in text, text
    assert graded(judge, "lbfgs", lbfgs_traced_without_a_rank, tmp_path).startswith("✓")


@pytest.mark.parametrize("name,answer,fragment", [
    ("gram", lambda f: tf.cast(gram(f), tf.complex64), "your result is complex64"),
    ("tv", lambda x: tf.RaggedTensor.from_row_lengths([1.0, 2.0], [1, 1]),
     "your result (RaggedTensor) is not an array of numbers"),
    ("preprocess", lambda i: np.array([object()]), "is not an array of numbers"),
    ("tv", lambda x: tf.constant("a string"), "Cast string to float is not supported"),
])
def test_a_result_that_is_no_array_of_real_numbers_is_one_line(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text and len(text.splitlines()) == 1, text


def lbfgs_traced_without_a_rank(loss_fn, shape):
    """Right: a tf.function whose signature leaves the rank unknown while it traces."""
    @tf.function(input_signature=[tf.TensorSpec(None, tf.float32)])
    def loss_and_grad_of(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return loss, tape.gradient(loss, x)

    def loss_and_grad(y):
        loss, grad = loss_and_grad_of(tf.constant(y.reshape(shape), tf.float32))
        return float(loss), grad.numpy().astype(np.float64).ravel()
    return loss_and_grad


def test_lbfgs_traced_without_a_rank_passes_and_a_late_error_is_one_line(capsys):
    ex.check("lbfgs", lbfgs_traced_without_a_rank)
    assert capsys.readouterr().out.startswith("✓ lbfgs:")
    calls = []

    def make(loss_fn, shape):
        right = lbfgs_reshaped(lambda y, s: tf.constant(y.reshape(s), tf.float32))(loss_fn, shape)

        def loss_and_grad(y):  # right at the check's own points, raises in the L-BFGS-B run
            calls.append(1)
            if len(calls) > 5:
                raise KeyError("late")
            return right(y)
        return loss_and_grad
    assert "your function raised KeyError: 'late'" in failure_of("lbfgs", make)


def test_a_kernel_error_on_a_thin_input_excuses_nothing_else():
    def no_power(x):
        if 1 in x.shape[1:3]:
            raise tf.errors.AbortedError(None, None, "could not create a primitive")
        return tf.reduce_mean(tf.add_n(tv_parts(x)))
    assert "you left out the power" in failure_of("tv", no_power)
