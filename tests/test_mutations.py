"""Issue 34, the last round: the kinds of mistake a held-out set of answers found unnamed,
misnamed or passed, each written here afresh (several ways where there are several), and
right answers in unusual forms that must still pass. The mutation search itself, its
operators as data and the notes' table: tests/test_exercises.py."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from helpers import exercises as ex
from helpers import images
from helpers.exercises import ex01_preprocess as ex01
from helpers.exercises._engine import hidden_cases
from helpers.exercises.mutations import Op, either

MEAN = images.IMAGENET_MEAN_BGR.astype(np.float64)
MEAN32 = MEAN.astype(np.float32)
GENERIC = "none of the mistakes this check knows"


def failure_of(name, answer) -> str:
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check(name, answer)
    return str(failure.value)


def gram(f):
    flat = tf.reshape(f, (-1, f.shape[-1]))
    return tf.matmul(flat, flat, transpose_a=True)


def sizes(f):
    return f.shape[-1], f.shape[1] * f.shape[2]


def layer_loss(f, a):
    n, m = sizes(f)
    return tf.reduce_sum(tf.square(gram(f) - a)) / (4.0 * n**2 * m**2)


# ------------------------------------------------------------------ ex01: dtype and copies

def preprocess_float64(image):
    """Right values, but float64 (the notebook asks for float32)."""
    return (np.asarray(image, dtype=np.float64)[..., ::-1] - MEAN)[None]


def preprocess_in_place(image):
    """np.asarray copies a uint8 image but not a float32 one: then x -= … writes into it."""
    x = np.asarray(image, dtype=np.float32)[..., ::-1]
    x -= MEAN32
    return x[None]


def preprocess_in_place_view(image):
    x = np.asarray(image, dtype=np.float32)
    x[..., 0], x[..., 2] = x[..., 2].copy(), x[..., 0].copy()
    return (x - MEAN32)[None]


def preprocess_uint8_rounded(image):
    """uint8 arithmetic with the mean rounded to whole grey levels."""
    mean = np.round(MEAN).astype(np.uint8)
    return (image[..., ::-1] - mean).astype(np.float32)[None]


def preprocess_uint8_ints(image):
    """Channel by channel, a Python int subtracted from uint8 (NumPy 2 keeps uint8: wraps)."""
    b, g, r = image[..., 2] - 104, image[..., 1] - 117, image[..., 0] - 124
    return np.stack([b, g, r], axis=-1).astype(np.float32)[None]


def preprocess_uint8_rgb_mean(image):
    return (image[..., ::-1] - MEAN[::-1].astype(np.uint8)).astype(np.float32)[None]


@pytest.mark.parametrize("answer,fragment", [
    (preprocess_float64, "your result is float64; return float32"),
    (preprocess_in_place, "your function changed the array it was given"),
    (preprocess_in_place_view, "your function changed the array it was given"),
    (preprocess_uint8_rounded, "uint8 arithmetic"),
    (preprocess_uint8_ints, "uint8 arithmetic"),
    (preprocess_uint8_rgb_mean, "uint8 arithmetic"),
], ids=lambda v: getattr(v, "__name__", "")[:30])
def test_preprocess_dtype_and_copy_mistakes_are_named(answer, fragment):
    text = failure_of("preprocess", answer)
    assert fragment in text and GENERIC not in text, text


def test_preprocess_hidden_inputs_hold_both_image_dtypes():
    """uint8 (what load_image gives) and float32 (where np.asarray(x, np.float32) is no
    copy, so an in-place change shows)."""
    dtypes = {c.args[0].dtype for c in hidden_cases("preprocess", ex01.PREPROCESS)}
    assert dtypes == {np.dtype(np.uint8), np.dtype(np.float32)}


# ------------------------------------------------------------------ ex04: normalisations

def layer_normalised_gram(f, a):
    n, m = sizes(f)
    return tf.reduce_sum(tf.square(gram(f) / m - a)) / (4.0 * n**2 * m**2)


def layer_normalised_gram_4n2(f, a):
    n, m = sizes(f)
    return tf.reduce_sum(tf.square(gram(f) / m - a)) / (4.0 * n**2)


def layer_gram_over_nm(f, a):
    n, m = sizes(f)
    return tf.reduce_sum(tf.square(gram(f) / (n * m) - a)) / (4.0 * n**2 * m**2)


def style_zip_features(fs, ts, ws):
    """Weights zipped with the features by position: right only when the dicts agree."""
    total = 0.0
    for (name, f), w in zip(fs.items(), ws.values(), strict=True):
        total += w * layer_loss(f, ts[name] * (f.shape[1] * f.shape[2]))
    return total


def style_zip_index(fs, ts, ws):
    weights = list(ws.values())
    return tf.add_n([weights[i] * layer_loss(fs[n], ts[n] * (fs[n].shape[1] * fs[n].shape[2]))
                     for i, n in enumerate(ts)])


def style_size_with_channels(fs, ts, ws):
    return tf.add_n([ws[n] * layer_loss(fs[n], ts[n] * tf.cast(tf.size(fs[n]), tf.float32))
                     for n in ts])


@pytest.mark.parametrize("name,answer,fragment", [
    ("style_layer", layer_normalised_gram, "you normalised your Gram matrix by M (G / M"),
    ("style_layer", layer_normalised_gram_4n2, "or (the same numbers) you normalised your Gram "
                                               "matrix by M (G / M) and divided the loss by "
                                               "4·N² only"),
    ("style_layer", layer_gram_over_nm, "you normalised your Gram matrix by N·M"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) / (sizes(f)[0] * sizes(f)[1])
                                                         - a)) / 4.0,
     "you normalised your Gram matrix by N·M"),
    ("content", lambda f, p: tf.square(tf.reduce_sum(f) - tf.reduce_sum(p)),
     "you squared the SUM of the differences"),
    ("style", style_zip_features, "matched the layer weights to the layers by position"),
    ("style", style_zip_index, "matched the layer weights to the layers by position"),
    ("style", style_size_with_channels, "tf.size(features) = N·M"),
], ids=lambda v: getattr(v, "__name__", str(v))[:30])
def test_style_normalisations_and_weights_are_named(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text and GENERIC not in text, text


def test_a_normalised_gram_is_not_told_it_scaled_the_target():
    """The misleading message this round found: G / M was told "you multiplied target_gram
    by M"; now its own sentence names the normalisation."""
    text = failure_of("style_layer", layer_normalised_gram)
    assert "you multiplied target_gram by M;" not in text, text


# ------------------------------------------------------------------ ex05: means before power

def tv_padded(x):
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    return a, b


def tv_means_power(x):
    a, b = tv_padded(x)
    return (tf.reduce_mean(a) + tf.reduce_mean(b)) ** 1.25


def tv_means_each(x):
    a, b = tv_padded(x)
    return tf.reduce_mean(a) ** 1.25 + tf.reduce_mean(b) ** 1.25


def tv_means_unpadded(x):
    a = tf.square(x[:, 1:] - x[:, :-1])
    b = tf.square(x[:, :, 1:] - x[:, :, :-1])
    return tf.pow(tf.reduce_mean(a) + tf.reduce_mean(b), 1.25)


@pytest.mark.parametrize("answer,fragment", [
    (tv_means_power, "you raised the mean to the power 1.25"),
    (tv_means_each, "you averaged a and b separately and raised each mean to 1.25"),
    (tv_means_unpadded, "you averaged a and b separately and raised the sum of the two means"),
], ids=lambda v: getattr(v, "__name__", "")[:30])
def test_tv_means_taken_before_the_power_are_named(answer, fragment):
    text = failure_of("tv", answer)
    assert fragment in text and GENERIC not in text, text


# ------------------------------------------------------------------ ex06: the wiring

def wiring(body):
    """make_loss_and_grad whose inner function is body(loss_fn, shape, y, state)."""
    def make(loss_fn, shape):
        state = {}
        return lambda y: body(loss_fn, shape, y, state)
    return make


def taped(loss_fn, x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(x)
    return loss, tape.gradient(loss, x)


def float16_input(loss_fn, shape, y, state):
    loss, grad = taped(loss_fn, tf.constant(y.reshape(shape), tf.float16))
    return float(loss), grad.numpy().astype(np.float64).ravel()


def bfloat16_input(loss_fn, shape, y, state):
    loss, grad = taped(loss_fn, tf.cast(tf.constant(y.reshape(shape)), tf.bfloat16))
    return float(loss), tf.cast(grad, tf.float64).numpy().ravel()


def no_watch_nan(loss_fn, shape, y, state):
    x = tf.constant(y.reshape(shape), tf.float32)
    with tf.GradientTape() as tape:
        loss = loss_fn(x)
    return float(loss), np.array(tape.gradient(loss, x), dtype=np.float64).ravel()


def no_watch_object(loss_fn, shape, y, state):
    x = tf.constant(y.reshape(shape), tf.float32)
    with tf.GradientTape() as tape:
        loss = loss_fn(x)
    return float(loss), np.asarray(tape.gradient(loss, x)).ravel()


def no_watch_none(loss_fn, shape, y, state):
    x = tf.constant(y.reshape(shape), tf.float32)
    with tf.GradientTape() as tape:
        loss = loss_fn(x)
    return float(loss), tape.gradient(loss, x)


def clips_in_place(loss_fn, shape, y, state):
    np.clip(y, 0, 255, out=y)
    loss, grad = taped(loss_fn, tf.constant(y.reshape(shape), tf.float32))
    return float(loss), grad.numpy().astype(np.float64).ravel()


def clips_a_copy(loss_fn, shape, y, state):
    loss, grad = taped(loss_fn, tf.constant(np.clip(y, 0, 255).reshape(shape), tf.float32))
    return float(loss), grad.numpy().astype(np.float64).ravel()


def reshapes_y_itself(loss_fn, shape, y, state):
    y.shape = shape  # reshapes scipy's own array
    loss, grad = taped(loss_fn, tf.constant(y, tf.float32))
    return float(loss), grad.numpy().astype(np.float64).ravel()


def variable_assigned_late(loss_fn, shape, y, state):
    x = state.setdefault("x", tf.Variable(tf.zeros(shape)))
    with tf.GradientTape() as tape:
        loss = loss_fn(x)
    grad = tape.gradient(loss, x)
    x.assign(tf.constant(y.reshape(shape), tf.float32))
    return float(loss), grad.numpy().astype(np.float64).ravel()


@pytest.mark.parametrize("body,fragment", [
    (float16_input, "your function evaluates y rounded to float16"),
    (bfloat16_input, "bfloat16"),
    (no_watch_nan, "tape.gradient returns None when the tape did not watch x"),
    (no_watch_object, "tape.gradient returns None when the tape did not watch x"),
    (no_watch_none, "your gradient is None: tape.gradient returns None"),
    (clips_in_place, "your function changed the vector y it was given"),
    (clips_a_copy, "your loss is loss_fn of y clipped to 0 … 255"),
    (variable_assigned_late, "your loss is right only when the same y comes twice"),
    (reshapes_y_itself, "changed the vector y it was given (its shape is now (1, 5, 7, 3))"),
], ids=lambda v: getattr(v, "__name__", "")[:30])
def test_lbfgs_wiring_mistakes_are_named(body, fragment):
    text = failure_of("lbfgs", wiring(body))
    assert fragment in text, text
    assert "gradient shape (1,)" not in text and "anything but its argument" not in text


# ------------------------------------------------------------------ precedence, range, shape

def tv_power_five_quarters(x):
    a, b = tv_padded(x)
    return tf.reduce_mean((a + b) ** 5 / 4)


@pytest.mark.parametrize("name,answer,fragment", [
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / 4 * sizes(f)[0] ** 2
     * sizes(f)[1] ** 2, "you wrote `/ 4 * N**2 * M**2` without parentheses"),
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) / f.shape[-1]
     * (f.shape[1] * f.shape[2]), "you wrote `/ N * M` without parentheses"),
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) / (f.shape[1] * f.shape[2])
     * f.shape[-1], "you wrote `/ M * N` without parentheses"),
    ("tv", tv_power_five_quarters, "you wrote `** 5/4` without parentheses"),
    ("preprocess", lambda i: np.clip(i[..., ::-1].astype(np.float32) - MEAN32, 0, 255)[None],
     "you clipped the result to 0..255"),
    ("preprocess", lambda i: np.rint(i[..., ::-1].astype(np.float32) - MEAN32)[None],
     "or you rounded the result"),
    ("preprocess", lambda i: (i[..., ::-1].astype(np.float32) - MEAN32)[..., None],
     "you added the new axis at the end"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / (4.0 * sizes(f)[0] ** 2)
     * sizes(f)[1] ** 2, "you wrote `/ (4 * N**2) * M**2`"),
    ("preprocess", lambda i: (i[..., ::-1].astype(np.float16) - MEAN.astype(np.float16))
     .astype(np.float32)[None], "you computed in float16"),
    ("deprocess", lambda x: np.clip(np.rint(x[0] + MEAN[::-1]), 0, 255).astype(np.uint8),
     "you added the mean in RGB order"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] * 255 + MEAN)[..., ::-1]), 0, 255).astype(
        np.uint8), "you multiplied by 255 first"),
    ("style", lambda fs, ts, ws: tf.add_n([ws[n] * layer_loss(fs[n], ts[n] * fs[n].shape[1])
                                           for n in ts]), "a mistyped M, H"),
    ("style", lambda fs, ts, ws: tf.add_n([ws[n] * layer_loss(fs[n], ts[n] * sizes(fs[n])[1])
                                           / sizes(fs[n])[1] for n in ts]),
     "each layer's loss is divided by M once more"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_padded(x / 255.0)) ** 1.25),
     "you scaled the image to 0..1 (x / 255) first"),
], ids=lambda v: str(v)[:20])
def test_precedence_range_and_axis_mistakes_are_named(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text and GENERIC not in text, text
    assert "your M is target_gram.shape[0]" not in text  # a scaled single misread it once


# ------------------------------------------------------------------ right answers, unusual

def preprocess_float32_copy(image):
    x = np.array(image, dtype=np.float32)  # a copy, always: changing it is fine
    x -= MEAN32[::-1]
    return x[None, ..., ::-1]


def style_sorted(fs, ts, ws):
    return sum(ws[n] * layer_loss(fs[n], ts[n] * (fs[n].shape[1] * fs[n].shape[2]))
               for n in sorted(ts))


def style_normalised_grams(fs, ts, ws):
    """Both Gram matrices normalised by M, and the matching 1/(4·N²) only: right."""
    total = 0.0
    for name, t in ts.items():
        n, m = sizes(fs[name])
        total += ws[name] * tf.reduce_sum(tf.square(gram(fs[name]) / m - t)) / (4.0 * n**2)
    return total


def float64_wiring(loss_fn, shape, y, state):
    loss, grad = taped(loss_fn, tf.constant(y.reshape(shape), tf.float64))
    return float(loss), np.asarray(grad, np.float64).reshape(-1)


def variable_assigned_first(loss_fn, shape, y, state):
    x = state.setdefault("x", tf.Variable(tf.zeros(shape)))
    x.assign(y.reshape(shape))
    with tf.GradientTape() as tape:
        loss = loss_fn(x)
    return loss.numpy().item(), tape.gradient(loss, x).numpy().ravel().astype(np.float64)


@pytest.mark.parametrize("name,answer", [
    ("preprocess", preprocess_float32_copy),
    ("preprocess", lambda i: (i[..., ::-1].astype(np.float32) - MEAN32)[np.newaxis]),
    ("style", style_sorted),
    ("style", style_normalised_grams),
    ("lbfgs", wiring(variable_assigned_first)),
], ids=lambda v: getattr(v, "__name__", str(v))[:30])
def test_right_answers_written_unusually_still_pass(name, answer, capsys):
    ex.check(name, answer)
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


# ------------------------------------------------------------------ the search itself

def test_mistakes_giving_the_same_numbers_are_both_named():
    """When two operators explain a result exactly, the message names each (the check
    cannot tell which one the student made); one operator, or two with the same sentence,
    give that sentence alone."""
    a = Op("k", 1, "f", "a", "you did A")
    b = Op("j", 2, "f", "b", "you did B")
    same = Op("i", 3, "f", "c", "you did A")
    assert either([a]) == "you did A" and either([a, same]) == "you did A"
    text = either([a, b])
    assert "you did A" in text and "or you did B" in text and "either" in text


@pytest.mark.parametrize("body", [float64_wiring, float16_input, variable_assigned_late,
                                  lambda lf, s, y, st: (float(taped(lf, tf.constant(
                                      y.reshape(s), tf.float32))[0]) / 1000, np.asarray(
                                      taped(lf, tf.constant(y.reshape(s), tf.float32))[1],
                                      np.float64).ravel())],
                         ids=["right", "float16", "late", "scaled-loss"])
def test_the_lbfgs_probe_points_are_every_point_the_check_calls(body):
    """A grader that replays a recorded trace needs the student's answer at each point the
    check calls it at outside L-BFGS-B's own run: _Bowl.probe_points lists them."""
    from scipy.optimize import fmin_l_bfgs_b

    from helpers.exercises.ex06_lbfgs import _SHAPE, _Bowl, check_points, check_run

    bowl, seen = _Bowl(), []
    inner = wiring(body)(bowl.loss_fn, _SHAPE)

    def recorded(y):
        seen.append(y.copy())
        return inner(y)

    try:
        check_points("lbfgs", recorded, bowl)
        best, _, info = fmin_l_bfgs_b(inner, np.zeros(bowl.near.size), maxiter=200)
        check_run("lbfgs", recorded, bowl, best, info)
    except ex.CheckFailed:
        pass
    probes = bowl.probe_points()
    assert seen and all(any(np.array_equal(y, p) for p in probes) for y in seen)


def lbfgs_returning(point=lambda y: y, grad_scale=1.0):
    """A wiring that evaluates loss_fn at point(y) and returns grad_scale times the
    gradient."""
    def body(loss_fn, shape, y, state):
        loss, grad = taped(loss_fn, tf.constant(point(y).reshape(shape), tf.float32))
        return float(loss), grad_scale * grad.numpy().astype(np.float64).ravel()
    return wiring(body)


@pytest.mark.parametrize("name,answer,fragment", [
    ("lbfgs", lbfgs_returning(np.round), "loss_fn of y rounded to whole numbers"),
    ("lbfgs", lbfgs_returning(lambda y: y / 255), "loss_fn of y divided by 255"),
    ("lbfgs", lbfgs_returning(grad_scale=-0.01), "a descent step (−lr · g)"),
    ("content", lambda f, p: tf.reduce_mean(tf.norm(f - p, axis=-1)),
     "you took the norm over the channels at each position"),
    ("content", lambda f, p: tf.keras.losses.Huber()(f, p), "that is the Huber loss"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square((lambda fl: tf.matmul(
        fl, fl, transpose_b=True))(tf.reshape(f, (f.shape[-1], -1))) - a))
     / (4.0 * sizes(f)[0] ** 2 * sizes(f)[1] ** 2), "reshapes the map straight to (C, H·W)"),
], ids=lambda v: str(v)[:24])
def test_second_probe_mistakes_are_named(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text and GENERIC not in text, text


def style_leftover_weight(fs, ts, ws):
    """The loop's last `w`, used after the loop for every layer."""
    total = 0.0
    for name, w in ws.items():  # noqa: B007 (the mistake itself: w used after the loop)
        total += layer_loss(fs[name], ts[name] * (fs[name].shape[1] * fs[name].shape[2]))
    return total * w


@pytest.mark.parametrize("name,answer,fragment", [
    ("tv", lambda x: tf.reduce_mean(tv_padded(x)[0] + tv_padded(x)[1] ** 1.25),
     "you wrote `a + b ** 1.25` without parentheses"),
    ("tv", lambda x: tf.reduce_mean(tf.square(
        tf.pad(x[:, 1:] - x[:, :-1], [[0, 0], [0, 1], [0, 0], [0, 0]])
        + tf.pad(x[:, :, 1:] - x[:, :, :-1], [[0, 0], [0, 0], [0, 1], [0, 0]])) ** 1.25),
     "you added the differences themselves and squared the sum"),
    ("style_layer", lambda f, a: tf.square(tf.reduce_sum(gram(f) - a))
     / (4.0 * sizes(f)[0] ** 2 * sizes(f)[1] ** 2), "you squared the SUM of the differences"),
    ("style", style_leftover_weight, "every layer got the last layer's weight"),
    ("gram", lambda f: tf.matmul(tf.reshape(f, (f.shape[-1], -1)),
                                 tf.reshape(f, (-1, f.shape[-1]))),
     "your Fᵀ is the map reshaped straight to (C, H·W)"),
], ids=lambda v: str(v)[:24])
def test_third_probe_mistakes_are_named(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text and GENERIC not in text, text


def test_a_scaled_single_names_small_factors_only():
    """'…; on top of that, your result is N²·M² times too large' read a precedence mistake
    as a target mistake once: a fit with a factor of more than two sizes is not offered."""
    from helpers.exercises.mutations import MAX_FACTOR_TERMS, factor_terms

    assert factor_terms("your result is N²·M² times too large: …") == 4
    assert factor_terms("your result is 2·N·M times too small") == 2
    assert factor_terms("your result is M²/N times too large") == 3
    assert factor_terms("your result is 2 times too large") == 0
    assert MAX_FACTOR_TERMS == 2
