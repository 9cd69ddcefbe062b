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
     "scipy hands your function y, the FLAT vector of all 105 values"),
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
