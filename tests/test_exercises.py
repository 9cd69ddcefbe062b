"""Exercises: solutions run clean, student versions stop at their first stub, and every
diagnosed mistake gets its own message."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
import tensorflow as tf
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from helpers import exercises as ex
from helpers import images, losses
from helpers.exercises import ex01_preprocess as ex01
from helpers.exercises._engine import feature_cases, hidden_cases
from helpers.exercises.mutations import equivalent_ops, numeric_args

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted(ex.EXERCISES_DIR.glob("ex[0-9][0-9]_*.ipynb"))
MEAN = images.IMAGENET_MEAN_BGR.astype(np.float64)
MEAN32 = MEAN.astype(np.float32)  # the notebook's MEAN_BGR: preprocess returns float32


def execute(nb, folder: Path, monkeypatch) -> None:
    """Run a notebook in a fresh kernel as tests/test_notebooks.py does (NST_FAST=1)."""
    monkeypatch.setenv("NST_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # this checkout's helpers in the kernel
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(folder)}}).execute()


def outputs_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", []))


def test_there_are_at_least_six_exercises():
    assert len(EXERCISES) >= 6, [p.name for p in EXERCISES]
    assert all(ex.has_solution(nbformat.read(p, as_version=4)) for p in EXERCISES)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_exercise_has_stable_cell_ids(path):
    nb = nbformat.read(path, as_version=4)
    assert [c.id for c in nb.cells] == [f"cell-{i:02d}" for i in range(len(nb.cells))]


@pytest.mark.notebooks
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_solution_runs_clean_and_every_check_passes(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    execute(nb, path.parent, monkeypatch)
    checks = [c for c in nb.cells if c.cell_type == "code" and "check(" in c.source]
    assert checks, f"{path.name} calls no check"
    for cell in checks:
        assert outputs_text(cell).count("✓") == cell.source.count("check("), cell.source


@pytest.mark.notebooks
@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_student_version_stops_at_its_first_stub(path, tmp_path, monkeypatch):
    student = ex.student_version(nbformat.read(path, as_version=4))
    with pytest.raises(CellExecutionError, match="not implemented yet"):
        execute(student, path.parent, monkeypatch)
    failed = [i for i, c in enumerate(student.cells)
              if any(o.output_type == "error" for o in c.get("outputs", []))]
    stubs = [i for i, c in enumerate(student.cells) if "raise NotImplementedError(" in c.source]
    first_check = next(i for i, c in enumerate(student.cells)
                       if i > stubs[0] and "check(" in c.source)
    assert failed == [first_check]
    error = next(o for o in student.cells[first_check].outputs if o.output_type == "error")
    assert error.ename == "CheckFailed"
    assert len(error.traceback) == 1, error.traceback  # our one line, no checker frames


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_student_version_holds_no_solution_text(path):
    nb = nbformat.read(path, as_version=4)
    student = ex.student_version(nb)
    text = json.dumps(student)
    outside = "\n".join(ex.student_source(c.source) if c.cell_type == "code" else c.source
                        for c in nb.cells)
    secret = [line for c in nb.cells if c.cell_type == "code"
              for line in ex.solution_lines(c.source) if line not in outside]
    assert secret
    leaked = [line for line in secret if json.dumps(line)[1:-1] in text]
    assert not leaked
    assert "### BEGIN SOLUTION" not in text and "### END SOLUTION" not in text


def test_student_source_keeps_indentation_and_hints():
    source = ("def f(x):\n    '''Doc.'''\n    ### BEGIN SOLUTION\n    ### HINT: use x twice\n"
              "    return x + x\n    ### END SOLUTION\n\nprint(f(1))")
    assert ex.student_source(source) == (
        "def f(x):\n    '''Doc.'''\n    # YOUR CODE HERE\n    # Hint: use x twice\n"
        "    raise NotImplementedError(\"write f first\")\n\nprint(f(1))")


@pytest.mark.parametrize("source", ["### BEGIN SOLUTION\nx = 1", "x = 1\n### END SOLUTION",
                                    "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"])
def test_student_source_refuses_unmatched_markers(source):
    with pytest.raises(ValueError, match="SOLUTION"):
        ex.student_source(source)


# ------------------------------------------------------------------------- the command line

def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "exercises", *args],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})


def test_cli_writes_the_student_versions(tmp_path):
    proc = run_cli("--student", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    written = sorted(p.name for p in (tmp_path / "out").glob("*.ipynb"))
    assert written == [p.name for p in EXERCISES]
    assert f"Wrote {len(EXERCISES)} student notebooks" in proc.stdout


@pytest.mark.parametrize("args,fragment", [
    (["--student", "{file}"], "is a file, not a folder"),
    (["--student", "{tmp}/out", "--source", "{tmp}/missing"], "exercise folder not found"),
    (["--student", "{tmp}/out", "--source", "{tmp}"], "no exercise notebooks"),
])
def test_cli_bad_path_is_one_line_and_status_2(tmp_path, args, fragment, capsys):
    """In this process (a fresh one costs seconds of imports; the test above runs the command
    as a user does): the exit status and what reaches stderr are the same."""
    from helpers.cli import main

    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    status = main(["exercises", *[a.format(file=blocker, tmp=tmp_path) for a in args]])
    err = capsys.readouterr().err
    assert status == 2
    assert "Traceback" not in err
    assert err.strip().count("\n") == 0 and fragment in err, err


# -------------------------------------------------------------- right answers, wrong answers

def gram(f):
    flat = tf.reshape(f, (-1, f.shape[-1]))
    return tf.matmul(flat, flat, transpose_a=True)


def layer_loss(f, a):
    n, m = f.shape[-1], f.shape[1] * f.shape[2]
    return tf.reduce_sum(tf.square(gram(f) - a)) / (4.0 * n**2 * m**2)


def m_of(f):
    return f.shape[1] * f.shape[2]


def style(feats, targets, weights, norm=lambda n, m: 4.0 * n**2 * m**2):
    total = 0.0
    for name, target in targets.items():
        f = feats[name]
        g = gram(f) - target * m_of(f)
        total += weights[name] * tf.reduce_sum(tf.square(g)) / norm(f.shape[-1], m_of(f))
    return total


def tv_parts(x):
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    return a, b


def tv_crop(x):
    a = tf.square(x[:, 1:, :-1] - x[:, :-1, :-1])
    b = tf.square(x[:, :-1, 1:] - x[:, :-1, :-1])
    return tf.reduce_mean((a + b) ** 1.25)


def wiring(convert):
    """make_loss_and_grad whose return value is convert(loss, grad, x)."""
    def make(loss_fn, shape):
        def loss_and_grad(y):
            x = tf.constant(y.reshape(shape), tf.float32)
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = loss_fn(x)
            return convert(loss, tape.gradient(loss, x), x)
        return loss_and_grad
    return make


def right_wiring(loss, grad, x):
    return float(loss), grad.numpy().astype(np.float64).ravel()


def deprocess(x, clip=True, swap=True, mean=1.0, rounding=np.rint):
    rgb = np.asarray(x, np.float64)[0] + mean * MEAN
    rgb = rgb[..., ::-1] if swap else rgb
    rgb = rounding(rgb)
    return (np.clip(rgb, 0, 255) if clip else rgb).astype(np.uint8)


def stub(*args):
    raise NotImplementedError()


def preprocess(i):
    return (np.asarray(i, np.float32)[..., ::-1] - MEAN32)[None]


RIGHT = {
    "preprocess": preprocess,
    "deprocess": deprocess,
    "gram": gram,
    "content": lambda f, p: tf.reduce_mean(tf.square(f - p)),
    "style_layer": layer_loss,
    "style": style,
    "tv": lambda x: tf.reduce_mean(tf.add_n(tv_parts(x)) ** 1.25),
    "lbfgs": wiring(right_wiring),
}


@pytest.mark.parametrize("name", RIGHT)
def test_right_answer_gets_a_tick(name, capsys):
    ex.check(name, RIGHT[name])
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


MISTAKES = [
    # preprocessing
    ("preprocess", lambda i: (i - MEAN)[None], "still in RGB order"),
    ("preprocess", lambda i: i[None, ..., ::-1].astype(np.float32), "did not subtract the"),
    ("preprocess", lambda i: i[None].astype(np.float32), "neither reversed"),
    ("preprocess", lambda i: (i[..., ::-1] - MEAN[::-1])[None], "mean in RGB order"),
    ("preprocess", lambda i: (i[..., ::-1] + MEAN)[None], "you added the mean"),
    ("preprocess", lambda i: (i[..., ::-1] / 255 - MEAN)[None], "scaled the pixels to 0..1"),
    ("preprocess", lambda i: i[None] / 127.5 - 1, "'tf' preprocessing"),
    ("preprocess", lambda i: i[..., ::-1] - MEAN, "add the batch axis"),
    ("preprocess", lambda i: tf.constant(preprocess(i)), "return a NumPy array"),
    ("preprocess", lambda i: preprocess(i).tolist(), "returns a list; return a NumPy"),
    ("deprocess", lambda x: deprocess(x, clip=False), "clip with np.clip"),
    ("deprocess", lambda x: deprocess(x, rounding=np.floor), "truncate instead of rounding"),
    ("deprocess", lambda x: deprocess(x, swap=False), "in BGR order"),
    ("deprocess", lambda x: deprocess(x, mean=0.0), "did not add the ImageNet mean back"),
    ("deprocess", lambda x: deprocess(x, mean=-1.0), "subtracted the mean again"),
    ("deprocess", lambda x: np.clip(np.rint(x[0][..., ::-1] + MEAN), 0, 255).astype(np.uint8),
     "added the mean in RGB order"),
    ("deprocess", lambda x: (x[0] + MEAN)[..., ::-1], "is float64; an RGB image is uint8"),
    ("deprocess", lambda x: deprocess(x)[None], "drop the batch axis"),
    # Gram matrix
    ("gram", lambda f: tf.matmul(*[tf.reshape(f, (-1, f.shape[-1]))] * 2, transpose_b=True),
     "you computed F Fᵀ"),
    ("gram", lambda f: tf.matmul(f, f, transpose_a=True), "flatten the spatial dimensions"),
    ("gram", lambda f: tf.einsum("bijc,bijd->bcd", f, f), "drop the batch axis"),
    ("gram", lambda f: tf.matmul(*[tf.reshape(f, (f.shape[-1], -1))] * 2, transpose_b=True),
     "reshaped straight to (C, H·W)"),
    ("gram", lambda f: gram(f) / m_of(f), "M times too small: you divided by M"),
    ("gram", lambda f: 2 * gram(f), "2 times too large: an extra factor 2 is in your result"),
    ("gram", lambda f: -gram(f), "your result is minus the right one"),
    ("gram", lambda f: gram(f) / (f.shape[-1] * m_of(f)), "N·M times too small"),
    ("gram", lambda f: gram(f).numpy(), "needs a TensorFlow tensor"),
    ("gram", lambda f: tf.constant(gram(f).numpy()), "no gradient flows back"),
    ("gram", lambda f: gram(f) * np.nan, "NaN or infinite"),
    ("gram", lambda f: None, "forget the `return`"),
    ("gram", lambda f: (gram(f), 1), "return the Gram matrix itself"),
    ("gram", stub, "not implemented yet: replace the `raise NotImplementedError(...)`"),
    ("gram", lambda f: tf.matmul(f, f), "your function raised InvalidArgumentError: Matrix"),
    # content loss
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)),
     "N·M times too large: you left out the 1/(N·M)"),
    ("content", lambda f, p: 0.5 * tf.reduce_sum(tf.square(f - p)), "Gatys et al. write ½"),
    ("content", lambda f, p: tf.reduce_mean(tf.abs(f - p)), "absolute difference"),
    ("content", lambda f, p: tf.reduce_mean(f - p), "you forgot to square"),
    ("content", lambda f, p: tf.sqrt(tf.reduce_mean(tf.square(f - p))), "square root"),
    ("content", lambda f, p: tf.reduce_mean(f**2 - p**2), "squared F and P separately"),
    ("content", lambda f, p: tf.square(f - p), "a loss is one number"),
    ("content", lambda f, p: np.mean((f - p) ** 2), "needs a TensorFlow tensor"),
    ("content", lambda f, p: -tf.reduce_mean(tf.square(f - p)), "minus the right one"),
    ("content", lambda f, p: 2 * tf.reduce_mean(tf.square(f - p)), "an extra factor 2"),
    # one style layer
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)),
     "4·N²·M² times too large: you left out the 1/(4·N²·M²)"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / m_of(f),
     "you divided by M only, not by 4·N²·M²"),
    ("style_layer", lambda f, a: layer_loss(f, a) * 4, "divided by N²·M² only"),
    ("style_layer", lambda f, a: layer_loss(f, a) * f.shape[-1] * m_of(f),
     "you divided by 4·N·M only"),
    ("style_layer", lambda f, a: tf.reduce_sum(gram(f) - a) / (4.0 * f.shape[-1] ** 2
                                                               * m_of(f) ** 2),
     "forgot to square (G − A)"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.abs(gram(f) - a)) / (4.0 * f.shape[-1] ** 2
                                                                      * m_of(f) ** 2),
     "you used |G − A|"),
    # the style loss over layers
    ("style", lambda fs, ts, ws: sum(ws[n] * layer_loss(fs[n], ts[n]) for n in ts),
     "multiply by this layer's M"),
    ("style", lambda fs, ts, ws: sum(ws[n] * layer_loss(fs[n], ts[n] / m_of(fs[n]))
                                     for n in ts), "you divided the targets by M"),
    ("style", lambda fs, ts, ws: style(fs, ts, dict.fromkeys(ws, 1.0)), "ignored layer_weights"),
    ("style", lambda fs, ts, ws: style(fs, ts, dict.fromkeys(ws, 1 / len(ws))),
     "equal weights 1/L"),
    ("style", lambda fs, ts, ws: style(fs, dict(list(ts.items())[-1:]), ws),
     "only the last layer counts"),
    ("style", lambda fs, ts, ws: style(fs, dict(list(ts.items())[:1]), ws),
     "only the first layer counts"),
    ("style", lambda fs, ts, ws: style(fs, ts, ws) / len(ts), "averaged over the layers"),
    ("style", lambda fs, ts, ws: style(fs, ts, ws, norm=lambda n, m: n**2 * m**2),
     "each layer's loss is off: you divided by N²·M², not by 4·N²·M²"),
    ("style", lambda fs, ts, ws: style(fs, ts, ws, norm=lambda n, m: 1.0),
     "each layer's loss is off: you left out the 1/(4·N²·M²)"),
    # total variation
    ("tv", tv_crop, "the Keras example's crop"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x))), "you left out the power"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x)) ** 2), "to the power 2"),
    ("tv", lambda x: tf.reduce_mean(tf.sqrt(tf.add_n(tv_parts(x)))), "square root of (a + b)"),
    ("tv", lambda x: tf.reduce_mean(tv_parts(x)[0] ** 1.25 + tv_parts(x)[1] ** 1.25),
     "raised a and b to 1.25 separately"),
    ("tv", lambda x: tf.reduce_mean(tv_parts(x)[0] ** 1.25), "only the differences "
                                                             "between rows count"),
    ("tv", lambda x: tf.reduce_mean(tv_parts(x)[1] ** 1.25), "only the differences "
                                                             "between columns count"),
    ("tv", lambda x: tf.reduce_mean(tf.abs(x[:, 1:] - x[:, :-1]))
     + tf.reduce_mean(tf.abs(x[:, :, 1:] - x[:, :, :-1])), "that is the 'abs' form"),
    ("tv", lambda x: tf.reduce_sum(tf.add_n(tv_parts(x)) ** 1.25),
     "N·M times too large: you left out the 1/(N·M)"),
    ("tv", lambda x: tf.reduce_mean((lambda u: u * u**0.25)(tf.add_n(tv_parts(x)))),
     "its gradient holds NaN"),
    # wiring into L-BFGS-B
    ("lbfgs", wiring(lambda loss, g, x: (loss, g.numpy().astype(np.float64).ravel())),
     "your loss is a TensorFlow tensor"),
    ("lbfgs", wiring(lambda loss, g, x: (float(loss), g)), "your gradient is a TensorFlow"),
    ("lbfgs", wiring(lambda loss, g, x: (float(loss), g.numpy().ravel())),
     "your gradient is float32"),
    ("lbfgs", wiring(lambda loss, g, x: (float(loss), g.numpy().astype(np.float64))),
     "flatten it with .ravel()"),
    ("lbfgs", wiring(lambda loss, g, x: (g.numpy().astype(np.float64).ravel(), float(loss))),
     "you returned (gradient, loss)"),
    ("lbfgs", wiring(lambda loss, g, x: (float(loss), -g.numpy().astype(np.float64).ravel())),
     "points uphill"),
    ("lbfgs", wiring(lambda loss, g, x: (float(loss),
                                         g.numpy().astype(np.float64).ravel(order="F"))),
     "in another order"),
    ("lbfgs", wiring(lambda loss, g, x: float(loss)), "scipy wants a pair"),
    ("lbfgs", lambda loss_fn, shape: wiring(right_wiring)(lambda x: loss_fn(x * 0 + 1), shape),
     "your loss is not loss_fn of the image"),
    ("lbfgs", lambda loss_fn, shape: wiring(lambda loss, g, x: right_wiring(
        loss, tf.GradientTape().gradient(loss, x), x))(loss_fn, shape), "something is None"),
]


@pytest.mark.parametrize("name,answer,fragment", MISTAKES,
                         ids=[f"{m[0]}-{m[2][:30]}" for m in MISTAKES])
def test_mistake_gets_its_own_message(name, answer, fragment):
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check(name, answer)
    assert fragment in str(failure.value)
    assert "Traceback" not in str(failure.value).replace("Your code's traceback", "")


def test_student_error_shows_their_frame_not_the_checker():
    def gram_matrix(features):
        return tf.matmul(features, features)

    with pytest.raises(ex.CheckFailed) as failure:
        ex.check("gram", gram_matrix)
    text = str(failure.value)
    assert "in gram_matrix" in text and "return tf.matmul(features, features)" in text
    assert "helpers/exercises.py" not in text and "site-packages" not in text
    assert len(text.splitlines()[0]) < 300


def test_unknown_check_lists_the_names():
    with pytest.raises(ValueError, match="gram"):
        ex.check("gramm", gram)


def test_factor_names_are_unambiguous_on_the_hidden_shapes():
    """Each candidate factor k·N^a·M^b gives a distinct ratio vector over the hidden inputs,
    so a wrong factor can only be named one way."""
    cases = feature_cases(3)
    seen = {}
    for k in (1.0, 2.0, 0.5, 4.0, 0.25):
        for a in range(-2, 3):
            for b in range(-2, 3):
                key = tuple(round(np.log(k * c.dims["N"] ** a * c.dims["M"] ** b), 6)
                            for c in cases)
                assert key not in seen, (k, a, b, seen.get(key))
                seen[key] = (k, a, b)


# ---------------------------------------------------------------------- the open exercise

LAYERS = [f"block{b}_conv1" for b in range(1, 6)]


@pytest.mark.parametrize("settings,passes", [
    ({"style_weight": 150.0, "style_layers": LAYERS[:3]}, True),
    ({"style_weight": 30.0, "style_layers": LAYERS[:3]}, False),
    ({"style_weight": 300.0}, False),
])
def test_look_passes_near_the_target_and_fails_far_from_it(settings, passes, monkeypatch,
                                                           capsys):
    monkeypatch.setenv("NST_FAST", "1")
    if passes:
        ex.check("look", settings)
        assert capsys.readouterr().out.startswith("✓ look:")
    else:
        with pytest.raises(ex.CheckFailed, match="not there yet.*closer to the painting"):
            ex.check("look", settings)


def test_look_refuses_unknown_settings():
    with pytest.raises(ex.CheckFailed, match="unknown setting 'style_wieght'"):
        ex.check("look", {"style_wieght": 100})


def test_look_turns_settings_of_the_wrong_type_into_one_message():
    with pytest.raises(ex.CheckFailed, match="settings.*a list of layer"):
        ex.check("look", {"style_layers": 5})


# ------------------------------------- issue 16: a class's wrong answers, right ones rewritten

def int32_layer_loss(f, a):
    """Sizes as int32 tensors: 4·N²·M² wraps around (to 0 at 128×128×64)."""
    shape = tf.shape(f)
    n, m = shape[-1], shape[1] * shape[2]
    return tf.reduce_sum(tf.square(gram(f) - a)) / tf.cast(4 * n**2 * m**2, tf.float32)


def int32_style(fs, ts, ws):
    total = 0.0
    for name, t in ts.items():
        m = tf.shape(fs[name])[1] * tf.shape(fs[name])[2]
        total += ws[name] * int32_layer_loss(fs[name], t * tf.cast(m, tf.float32))
    return total


def stale_wiring(loss_fn, shape):
    """The classic Evaluator bug: the gradient returned is the previous call's."""
    previous = {}

    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        grad = tape.gradient(loss, x).numpy().astype(np.float64).ravel()
        out = previous.get("grad", grad)
        previous["grad"] = grad
        return float(loss), out
    return loss_and_grad


def tv_pad(x, rows, cols):
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], rows, [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], cols, [0, 0]])
    return tf.reduce_mean((a + b) ** 1.25)


def covariance(f):
    flat = tf.reshape(f, (-1, f.shape[-1]))
    flat = flat - tf.reduce_mean(flat, axis=0)
    return tf.matmul(flat, flat, transpose_a=True) / tf.cast(tf.shape(flat)[0] - 1, tf.float32)


def normalised_style(fs, ts, ws):
    """Both Gram matrices divided by M, and still 1/(4·N²·M²)."""
    total = 0.0
    for name, t in ts.items():
        f = fs[name]
        n, m = f.shape[-1], m_of(f)
        total += ws[name] * tf.reduce_sum(tf.square(gram(f) / m - t)) / (4.0 * n**2 * m**2)
    return total


MEAN_ROUNDED = np.round(MEAN)

CLASS_MISTAKES = [
    ("preprocess", lambda i: (np.asarray(i, np.float64)[::-1] - MEAN)[None],
     "you reversed the rows (upside down) instead of the channels"),
    ("preprocess", lambda i: (np.asarray(i, np.float64)[:, ::-1, ::-1] - MEAN)[None],
     "you reversed the columns (mirrored) as well as the channels"),
    ("preprocess", lambda i: (np.flip(np.asarray(i, np.float64)) - MEAN)[None],
     "np.flip(x) without axis= flips every axis"),
    ("preprocess", lambda i: (np.asarray(i, np.float64) - MEAN[::-1])[None],
     "never reversed the channels"),
    ("preprocess", lambda i: (np.asarray(i, np.float64)[..., ::-1] - MEAN_ROUNDED)[None],
     "your mean is not exact: you subtracted [104, 117, 124]"),
    ("preprocess", lambda i: (np.asarray(i, np.float64)[..., ::-1] - MEAN[[1, 0, 2]])[None],
     "the right three means in the wrong order (the B, G, R channels got the G, B, R means)"),
    ("deprocess", lambda x: np.clip(np.rint((np.clip(x[0], 0, 255) + MEAN)[..., ::-1]), 0,
                                    255).astype(np.uint8), "you clipped before adding the mean"),
    ("deprocess", lambda x: deprocess(x, mean=1.0) * 0 + np.clip(np.rint(
        (x[0] + MEAN_ROUNDED)[..., ::-1]), 0, 255).astype(np.uint8), "your mean is rounded"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN[[2, 0, 1]])[..., ::-1]), 0,
                                    255).astype(np.uint8), "added the right three means in "
                                                           "the wrong order"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[::-1]), 0, 255).astype(np.uint8),
     "you reversed the rows (upside down) instead of the channels"),
    ("gram", covariance, "that is a covariance matrix"),
    ("gram", lambda f: covariance(f) * (m_of(f) - 1), "you subtracted each channel's mean"),
    ("style_layer", int32_layer_loss, "integer arithmetic overflowed"),
    ("style_layer", lambda f, a: tf.reduce_mean(tf.square(gram(f) - a)) / (
        4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "from tf.reduce_mean on top of the explicit"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / (
        4.0 * f.shape[-1] ** 2 * tf.cast(tf.size(f), tf.float32) ** 2),
     "or from M = tf.size(features)"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) / m_of(f) - a / m_of(f))) / (
        4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "Dividing both Gram matrices by M"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / (
        4.0 * f.shape[-1] ** 2 * (f.shape[1] * f.shape[1]) ** 2), "your M is H·H"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / (
        4.0 * f.shape[-1] ** 2 * (f.shape[2] * f.shape[3]) ** 2), "your M is W·N"),
    ("style", int32_style, "integer arithmetic overflowed"),
    ("style", normalised_style, "Dividing both Gram matrices by M"),
    ("style", lambda fs, ts, ws: style(fs, ts, ws, norm=lambda n, m: 4.0 * n**4 * m**2),
     "tf.reduce_mean on top of the explicit"),
    ("tv", lambda x: tv_pad(x, [1, 0], [1, 0]), "a is padded with its zero row at the top and "
                                                "b with its zero column at the left"),
    ("tv", lambda x: tv_pad(x, [0, 1], [1, 0]), "misaligned"),
    ("tv", lambda x: tf.reduce_mean(tf.add_n(tv_parts(x))) ** 1.25,
     "you raised the mean to the power 1.25"),
    ("tv", lambda x: tf.reduce_sum(tf.image.total_variation(x)),
     "that is tf.image.total_variation"),
    ("tv", lambda x: tf.image.total_variation(x), "tf.image.total_variation does that"),
    ("tv", lambda x: tf.reduce_mean((tf.pad((x[:, 2:] - x[:, :-2]) ** 2,
                                            [[0, 0], [0, 2], [0, 0], [0, 0]])
                                     + tf.pad((x[:, :, 2:] - x[:, :, :-2]) ** 2,
                                              [[0, 0], [0, 0], [0, 2], [0, 0]])) ** 1.25),
     "your differences skip a pixel"),
    ("lbfgs", stale_wiring, "the one of the PREVIOUS call"),
]


@pytest.mark.parametrize("name,answer,fragment", CLASS_MISTAKES,
                         ids=[f"{m[0]}-{m[2][:30]}" for m in CLASS_MISTAKES])
def test_class_mistake_gets_its_own_message(name, answer, fragment):
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check(name, answer)
    assert fragment in str(failure.value)
    assert "none of the mistakes this check knows" not in str(failure.value)


def test_overflow_only_shows_at_real_size():
    """The int32 answer is right on every small hidden input: only the large one (and the
    real photo's block1 crop, where 4·N²·M² = 2.4e9 > 2³¹ too) reveal it."""
    cases = hidden_cases("style_layer", ex.STYLE_LAYER)
    small = [c for c in cases if not (c.large or c.real)]
    for case in small:
        np.testing.assert_allclose(int32_layer_loss(*case.args), layer_loss(*case.args),
                                   rtol=1e-5)
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check("style_layer", int32_layer_loss)
    assert "128, 128, 64" in str(failure.value)
    assert failure.value.credit == len(small) / len(cases)


def test_stale_gradient_is_right_at_the_first_point():
    """Why a second point is needed: a cached gradient is right on the first call."""
    from helpers.exercises.ex06_lbfgs import _SHAPE, _Bowl

    bowl = _Bowl()
    loss, grad = stale_wiring(bowl.loss_fn, _SHAPE)(bowl.points[0].copy())
    np.testing.assert_allclose(grad, bowl.grad(bowl.points[0]), rtol=1e-5)


def gram_einsum(f):
    return tf.einsum("bijc,bijd->cd", f, f)


def content_by_size(f, p):
    return tf.reduce_sum((f - p) ** 2) / tf.cast(tf.size(f), tf.float32)


def style_zip(fs, ts, ws):
    return tf.add_n([ws[n] * layer_loss(fs[n], ts[n] * float(np.prod(fs[n].shape[1:3])))
                     for n in ts])


def tv_concat(x):
    dy = tf.concat([x[:, 1:] - x[:, :-1], tf.zeros_like(x[:, :1])], axis=1)
    dx = tf.concat([x[:, :, 1:] - x[:, :, :-1], tf.zeros_like(x[:, :, :1])], axis=2)
    return tf.reduce_mean(tf.pow(dy**2 + dx**2, 1.25))


def wiring_variable(loss_fn, shape):
    x = tf.Variable(tf.zeros(shape))

    def loss_and_grad(y):
        x.assign(tf.reshape(tf.constant(y, tf.float32), shape))
        with tf.GradientTape() as tape:
            loss = loss_fn(x)
        return float(loss.numpy()), np.asarray(tape.gradient(loss, x), np.float64).reshape(-1)
    return loss_and_grad


RIGHT_REWRITTEN = [
    ("preprocess", lambda i: np.expand_dims(np.flip(i, axis=-1) - MEAN, 0).astype(np.float32)),
    ("preprocess", lambda i: np.stack([i[..., 2] - MEAN32[0], i[..., 1] - MEAN32[1],
                                       i[..., 0] - MEAN32[2]], axis=-1)[np.newaxis]),
    ("deprocess", lambda x: np.round(np.clip((x[0] + MEAN)[..., ::-1], 0, 255)).astype(np.uint8)),
    ("gram", gram_einsum),
    ("gram", lambda f: tf.tensordot(tf.reshape(f, (-1, f.shape[-1])),
                                    tf.reshape(f, (-1, f.shape[-1])), axes=[[0], [0]])),
    ("content", content_by_size),
    ("style_layer", lambda f, a: tf.reduce_sum((gram(f) - a) ** 2)
     / (4 * tf.cast(tf.shape(f)[-1], tf.float32) ** 2 * float(np.prod(f.shape[1:3])) ** 2)),
    ("style", style_zip),
    ("tv", tv_concat),
    ("lbfgs", wiring_variable),
]


@pytest.mark.parametrize("name,answer", RIGHT_REWRITTEN,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(RIGHT_REWRITTEN)])
def test_right_answer_written_differently_passes(name, answer, capsys):
    ex.check(name, answer)
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


LIBRARY = [
    ("preprocess", images.preprocess, "helpers.images.preprocess"),
    ("deprocess", lambda x: images.deprocess(x), "helpers.images.deprocess"),
    ("gram", losses.gram_matrix, "helpers.losses.gram_matrix"),
    ("content", lambda f, p: losses.content_loss(f, p), "helpers.losses.content_loss"),
    ("style_layer", losses.style_layer_loss, "helpers.losses.style_layer_loss"),
    ("style", lambda *a: losses.style_loss(*a), "helpers.losses.style_loss"),
    ("tv", lambda x: losses.total_variation_loss(x, form="abs"),
     "helpers.losses.total_variation_loss"),
]


@pytest.mark.parametrize("name,answer,where", LIBRARY, ids=[m[0] for m in LIBRARY])
def test_the_library_own_function_is_named_and_not_counted(name, answer, where):
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check(name, answer)
    assert f"your function uses {where}, the library's own answer" in str(failure.value)
    assert failure.value.credit == 0


def test_a_style_loss_built_on_the_library_gram_matrix_still_counts(capsys):
    """ex04 imports gram_matrix from the library on purpose: only style_layer_loss is refused."""
    def my_layer(f, a):
        n, m = f.shape[-1], m_of(f)
        return tf.reduce_sum(tf.square(losses.gram_matrix(f) - a)) / (4.0 * n**2 * m**2)

    ex.check("style_layer", my_layer)
    assert capsys.readouterr().out.startswith("✓ style_layer:")


def test_partial_credit_mode_prints_and_returns_the_points(monkeypatch, capsys):
    monkeypatch.setenv("NST_PARTIAL_CREDIT", "1")
    points = ex.check("style_layer", int32_layer_loss)
    cases = hidden_cases("style_layer", ex.STYLE_LAYER)
    right = sum(not (c.large or c.real) for c in cases)  # the small ones: 6 of 8
    assert points == round(right / len(cases) * 2, 2)  # 2 points
    assert "integer arithmetic overflowed" in capsys.readouterr().out
    with pytest.raises(ex.CheckFailed):  # nothing right: no partial credit, an error as usual
        ex.check("gram", lambda f: -gram(f))


def test_checks_log_their_outcome_for_the_grader(tmp_path, monkeypatch):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("NST_GRADE_LOG", str(log))
    ex.check("gram", gram)
    with pytest.raises(ex.CheckFailed):
        ex.check("gram", lambda f: 2 * gram(f))
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["check"], r["passed"]) for r in records] == [("gram", True), ("gram", False)]
    assert "an extra factor 2" in records[1]["message"]


# ------------------------------------------------------------- student versions (issue 16)

@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_every_stub_names_its_exercise_and_function(path):
    student = ex.student_version(nbformat.read(path, as_version=4))
    number = int(path.name[2:4])
    stubs = [line.strip() for c in student.cells if c.cell_type == "code"
             for line in c.source.splitlines() if "raise NotImplementedError" in line]
    assert stubs
    for stub in stubs:
        assert re.fullmatch(rf'raise NotImplementedError\("exercise {number}: write '
                            r'\w+( \(in \w+\))? first"\)', stub), stub


def test_a_stub_called_before_its_check_says_what_to_write():
    """A later cell run first (ex04's comparison calls style_loss) gets a message, not a
    bare NotImplementedError."""
    nb = ex.student_version(nbformat.read(ex.EXERCISES_DIR / "ex04_style.ipynb", as_version=4))
    namespace = {"tf": tf, "np": np}
    exec(next(c.source for c in nb.cells if "def style_loss" in c.source), namespace)
    with pytest.raises(NotImplementedError, match="exercise 4: write style_loss first"):
        namespace["style_loss"]({}, {}, {})


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_no_text_of_the_student_version_gives_an_answer_away(path):
    """No 24 characters of a solution line appear in the student's text cells."""
    nb = nbformat.read(path, as_version=4)
    text = "\n".join(c.source for c in ex.student_version(nb).cells if c.cell_type == "markdown")
    leaked = {line for c in nb.cells for line in ex.solution_lines(c.source)
              for i in range(max(len(line) - 23, 0)) if line[i:i + 24] in text}
    assert not leaked


def test_the_look_exercise_does_not_describe_its_target():
    nb = nbformat.read(ex.EXERCISES_DIR / "ex07_match_the_look.ipynb", as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown").lower()
    assert f"{ex.LOOK_TARGET['style_weight']:g}" not in text
    assert "shallow" not in text and "only the" not in text


@pytest.mark.parametrize("name,answer,fragment", [
    ("preprocess", lambda i: (np.asarray(i, np.float64)[..., ::-1] - [100.0, 110, 120])[None],
     "you subtracted [100, 110, 120] from the B, G, R channels"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + MEAN)[:, ::-1, ::-1]), 0, 255).astype(
        np.uint8), "you reversed the columns (mirrored) as well as the channels"),
    ("gram", lambda f: covariance(f) * (m_of(f) - 1) / m_of(f), "divided by M."),
    ("tv", lambda x: tv_pad(x, [1, 0], [0, 1]), "zero row at the top and b with its zero "
                                                "column at the right"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / (
        4.0 * f.shape[-1] ** 2 * (f.shape[1] + f.shape[2]) ** 2), "your M is H + W"),
])
def test_more_class_mistakes(name, answer, fragment):
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check(name, answer)
    assert fragment in str(failure.value)


# ------------------------------------------- issue 34: the mutation search, real magnitudes

SEARCHED = {"preprocess": ex01.PREPROCESS, "deprocess": ex01.DEPROCESS, "gram": ex.GRAM,
            "content": ex.CONTENT, "style_layer": ex.STYLE_LAYER, "style": ex.STYLE, "tv": ex.TV}
GENERIC = "none of the mistakes this check knows"


def failure_of(name, answer) -> str:
    with pytest.raises(ex.CheckFailed) as failure:
        ex.check(name, answer)
    return str(failure.value)


@pytest.mark.parametrize("name", SEARCHED)
def test_no_mutation_operator_is_an_equivalent_mutant(name):
    """Every operator changes the result on some hidden input, so each one can name a
    mistake (an equivalent mutant could only ever match the right answer)."""
    spec = SEARCHED[name]
    assert equivalent_ops(spec.mutations, hidden_cases(name, spec), spec.exact) == []


def mutant_answer(name, op):
    """The operator's own mutant handed in as a student's answer (a tensor where the check
    wants one, uint8 for deprocess)."""
    spec = SEARCHED[name]

    def answer(*args):
        with np.errstate(all="ignore"):
            out = spec.mutations.program(*numeric_args(args), **{op.knob: op.value})
        if name == "deprocess":
            return np.asarray(out).astype(np.uint8)
        return tf.constant(out, tf.float32) if spec.returns == "tensor" else np.asarray(out)
    return answer


OPERATORS = [(name, op) for name, spec in SEARCHED.items() for op in spec.mutations.ops]


#: Operators whose mistake a hand-written diagnosis (or a named factor) names first; they
#: are in the search for the pairs they make with other operators.
NAMED_BEFORE = {
    ("preprocess", "order", "rgb"): "still in RGB order: the network was trained on BGR",
    ("preprocess", "centre", "none"): "did not subtract the ImageNet mean",
    ("preprocess", "scale", "before"): "you scaled the pixels to 0..1 first",
    ("deprocess", "order", "bgr"): "your channels come out in BGR order",
    ("deprocess", "cast", "wrap"): "values outside 0..255 come out wrong",
    ("deprocess", "centre", "none"): "did not add the ImageNet mean back",
    ("content", "power", "none"): "you forgot to square",
    ("style_layer", "m", "target_n"): "you divided by 4·N⁴, not by 4·N²·M²",
    ("style", "scale", "1"): "those are normalised, Fᵀ F / M of the style image",
    ("tv", "pad", "before"): "your squared differences are misaligned",
    ("tv", "pad", "crop"): "the Keras example's crop",
    ("tv", "combine", "means_power"): "you raised the mean to the power 1.25",
    ("preprocess", "mean_order", "rgb"): "you subtracted the mean in RGB order",
    ("deprocess", "mean_order", "rgb"): "you added the mean in RGB order",
    ("style_layer", "reduce", "by_4"): "you divided by 4 only, not by 4·N²·M²",
    ("style_layer", "reduce", "by_4n2"): "you divided by 4·N² only, not by 4·N²·M²",
}


@pytest.mark.parametrize("name,op", OPERATORS,
                         ids=[f"{n}-{op.knob}-{op.value}" for n, op in OPERATORS])
def test_each_operator_names_its_own_mutant(name, op):
    """Handed in as an answer, each mutant gets its own sentence, or the hand-written
    diagnosis that already named that mistake."""
    text = failure_of(name, mutant_answer(name, op))
    assert NAMED_BEFORE.get((name, op.knob, op.value), op.says) in text, text


def gram_loop(f):
    """A loop over positions, adding each outer product."""
    flat = tf.reshape(f, (-1, f.shape[-1]))
    g = tf.zeros((f.shape[-1], f.shape[-1]))
    for i in range(flat.shape[0]):
        g += tf.tensordot(flat[i], flat[i], axes=0)
    return g


def lbfgs_flat_tape(loss_fn, shape):
    """The tape watches the flat vector itself."""
    def loss_and_grad(y):
        flat = tf.constant(y, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(flat)
            loss = loss_fn(tf.reshape(flat, shape))
        return float(loss), tape.gradient(loss, flat).numpy().astype(np.float64)
    return loss_and_grad


def style_by_features(fs, ts, ws):
    """Iterates the features, takes the layer's M from tf.shape, the mean of the squares."""
    total = tf.constant(0.0)
    for name, f in fs.items():
        m = tf.cast(tf.shape(f)[1] * tf.shape(f)[2], tf.float32)
        total += ws[name] * tf.reduce_mean(tf.square(gram(f) - ts[name] * m)) / (4.0 * m * m)
    return total


def preprocess_loop(i):
    out = np.empty((1, *i.shape), np.float32)
    for c in range(3):
        out[0, ..., c] = i[..., 2 - c] - MEAN[c]
    return out


UNUSUAL_RIGHT = [
    ("preprocess", preprocess_loop),
    ("preprocess", lambda i: np.float32(i)[None, :, :, [2, 1, 0]] - MEAN.astype(np.float32)),
    ("deprocess", lambda x: np.round(np.clip(np.flip(np.squeeze(x, 0) + MEAN, -1), 0, 255))
     .astype(np.uint8)),
    ("gram", gram_loop),
    ("gram", lambda f: tf.einsum("ijkc,ijkd->cd", f, f)),
    ("content", lambda f, p: tf.keras.losses.MeanSquaredError()(f, p)),
    ("content", lambda f, p: tf.reduce_mean(tf.square(tf.cast(f, tf.float64)
                                                      - tf.cast(p, tf.float64)))),
    ("style_layer", lambda f, a: tf.reduce_mean(tf.square(gram(f) - a))
     / (4.0 * float(f.shape[1] * f.shape[2]) ** 2)),
    ("style_layer", lambda f, a: tf.reduce_sum((tf.einsum("bhwc,bhwd->cd", f, f) - a) ** 2)
     / tf.cast(4 * f.shape[-1] ** 2 * (f.shape[1] * f.shape[2]) ** 2, tf.float32)),
    ("style", style_by_features),
    ("tv", lambda x: tf.reduce_mean(tf.pow(tf.add_n([g**2 for g in
                                                     tf.image.image_gradients(x)]), 1.25))),
    ("lbfgs", lbfgs_flat_tape),
]


@pytest.mark.parametrize("name,answer", UNUSUAL_RIGHT,
                         ids=[f"{m[0]}-{i}" for i, m in enumerate(UNUSUAL_RIGHT)])
def test_right_answer_written_unusually_passes(name, answer, capsys):
    ex.check(name, answer)
    assert capsys.readouterr().out.startswith(f"✓ {name}:")


def layer_in(dtype):
    def loss(f, a):
        n, m = f.shape[-1], f.shape[1] * f.shape[2]
        g = gram(tf.cast(f, dtype))
        return tf.cast(tf.reduce_sum(tf.square(g - tf.cast(a, dtype))), tf.float32) / (
            4.0 * n**2 * m**2)
    return loss


FLOAT16 = [
    ("gram", lambda f: tf.cast(gram(tf.cast(f, tf.float16)), tf.float32)),
    ("gram", lambda f: gram(tf.cast(f, tf.float16))),
    ("content", lambda f, p: tf.reduce_mean(tf.square(tf.cast(f, tf.float16)
                                                      - tf.cast(p, tf.float16)))),
    ("style_layer", layer_in(tf.float16)),
    ("style_layer", lambda f, a: layer_loss(tf.cast(f, tf.float16), tf.cast(a, tf.float16))),
    ("style", lambda fs, ts, ws: style({n: tf.cast(f, tf.float16) for n, f in fs.items()},
                                      {n: tf.cast(t, tf.float16) for n, t in ts.items()}, ws)),
    ("tv", lambda x: tf.cast(tf.reduce_mean(tf.add_n(tv_parts(tf.cast(x, tf.float16)))
                                            ** 1.25), tf.float32)),
]


@pytest.mark.parametrize("name,answer", FLOAT16, ids=[f"{m[0]}-{i}" for i, m in
                                                      enumerate(FLOAT16)])
def test_float16_arithmetic_fails_naming_float16(name, answer):
    """Real VGG features (activations in the hundreds) overflow float16's 65504."""
    text = failure_of(name, answer)
    assert "you computed in float16" in text and "65504" in text, text


def test_the_real_hidden_input_is_real_magnitude_and_overflows_float16():
    case = next(c for c in hidden_cases("gram", ex.GRAM) if c.real)
    f = np.asarray(case.args[0])
    assert f.max() > 255 and np.isinf(ex.GRAM.mutations.program(f, dtype="float16")).any()
    assert np.isfinite(np.asarray(losses.gram_matrix(case.args[0]))).all()


def swap_in_place(i):
    i[..., [0, 2]] = i[..., [2, 0]]
    return (i.astype(np.float32) - MEAN)[None]


def add_mean_in_place(x):
    rgb = x[0]
    rgb += MEAN
    return np.clip(np.rint(rgb[..., ::-1]), 0, 255).astype(np.uint8)


def rescale_targets_in_place(fs, ts, ws):
    for name in ts:
        ts[name] = ts[name] * m_of(fs[name])
    return sum(ws[n] * layer_loss(fs[n], ts[n]) for n in ts)


@pytest.mark.parametrize("name,answer,fragment", [
    ("preprocess", swap_in_place, "changed the array it was given: its channels are now in "
                                  "the other order"),
    ("deprocess", add_mean_in_place, "changed the array it was given: the ImageNet mean was "
                                     "added to it"),
    ("style", rescale_targets_in_place, "changed the dict it was given: the entry "
                                        "'block1_conv1' was replaced"),
])
def test_a_function_that_changes_its_input_is_told_so(name, answer, fragment):
    """Its results are right for the input it was given; the reference and the mutants use
    copies made before the call, so nothing is misread as "still in RGB order"."""
    text = failure_of(name, answer)
    assert fragment in text and "work on a copy" in text, text


def test_hidden_inputs_survive_a_function_that_changes_them(capsys):
    with pytest.raises(ex.CheckFailed):
        ex.check("preprocess", swap_in_place)
    ex.check("preprocess", preprocess)
    assert capsys.readouterr().out.startswith("✓ preprocess:")


def tv_with(delta, combine=lambda a, b: (a + b) ** 1.25):
    return lambda x: tf.reduce_mean(combine(delta(x, 1) ** 2, delta(x, 2) ** 2))


def padded(mode):
    def delta(x, axis):
        d = x[:, 1:] - x[:, :-1] if axis == 1 else x[:, :, 1:] - x[:, :, :-1]
        pads = [[0, 0], [0, 1] if axis == 1 else [0, 0], [0, 1] if axis == 2 else [0, 0],
                [0, 0]]
        return tf.pad(d, pads, mode=mode)
    return delta


def np_gradient_tv(x):
    a = np.asarray(x)[0]
    value = np.mean((np.gradient(a, axis=0) ** 2 + np.gradient(a, axis=1) ** 2) ** 1.25)
    return tf.constant(value, tf.float32)


OPERATOR_MISTAKES = [
    # preprocessing: dtype, normalisation, order
    ("preprocess", lambda i: (i[..., ::-1] - MEAN.astype(np.uint8))[None], "uint8 arithmetic"),
    ("preprocess", lambda i: (i[..., ::-1] - MEAN).astype(np.uint8)[None],
     "you converted the result to uint8"),
    ("preprocess", lambda i: (i[..., ::-1] - MEAN).astype(np.int32)[None],
     "you converted to integers"),
    ("preprocess", lambda i: (i[..., ::-1] - i[..., ::-1].mean(axis=(0, 1)))[None],
     "the image's own mean per channel"),
    ("preprocess", lambda i: (i[..., ::-1] - i.mean())[None], "the image's own mean"),
    ("preprocess", lambda i: ((i / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225])[None],
     "PyTorch's (torchvision's) normalisation"),
    ("preprocess", lambda i: (np.roll(i, 1, axis=-1) - MEAN)[None], "you rotated the channels"),
    ("preprocess", lambda i: (i - i.mean(axis=(0, 1)))[None],
     "two mistakes: your channels are still in RGB order"),
    ("preprocess", lambda i: preprocess(i).astype(np.float16), "your result is float16"),
    ("deprocess", lambda x: np.clip(np.rint(x[0].astype(np.uint8) + MEAN)[..., ::-1], 0,
                                    255).astype(np.uint8), "before adding the mean"),
    ("deprocess", lambda x: (x[0].astype(np.uint8) + MEAN.astype(np.uint8))[..., ::-1],
     "in uint8 arithmetic"),
    ("deprocess", lambda x: np.clip(np.rint((x[0] + 1) * 127.5)[..., ::-1], 0, 255).astype(
        np.uint8), "you undid the 'tf' preprocessing"),
    # Gram matrix: positions, part of G, dtype; with a factor on top
    ("gram", lambda f: tf.tensordot(tf.reshape(f, (-1, f.shape[-1]))[0],
                                    tf.reshape(f, (-1, f.shape[-1]))[0], axes=0),
     "one position only, the outer product of the first"),
    ("gram", lambda f: tf.linalg.band_part(gram(f), 0, -1), "only the upper triangle"),
    ("gram", lambda f: tf.linalg.diag(tf.linalg.diag_part(gram(f))), "only the diagonal"),
    ("gram", lambda f: tf.cast(gram(tf.cast(f, tf.int32)), tf.float32), "cast the features "
                                                                        "to int32"),
    ("gram", lambda f: tf.linalg.band_part(gram(f), 0, -1) / m_of(f),
     "upper triangle of G (tf.linalg.band_part): the Gram matrix is symmetric and both halves "
     "count, G = Fᵀ F; on top of that, your result is M times too small"),
    # content loss: what is compared, norms, //, int
    ("content", lambda f, p: tf.reduce_mean(tf.square(tf.reshape(f, (-1, 1))
                                                      - tf.reshape(p, (1, -1)))),
     "compares every value of F with every value of P"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(gram(f) - gram(p))), "you compared Gram "
                                                                           "matrices"),
    ("content", lambda f, p: tf.norm(f - p), "without squaring it"),
    ("content", lambda f, p: tf.norm(f - p) / tf.cast(tf.size(f), tf.float32),
     "you divided the norm ‖F − P‖ (tf.norm) by N·M, but the norm is not squared"),
    ("content", lambda f, p: tf.reduce_sum(tf.square(f - p)) // tf.cast(tf.size(f), tf.float32),
     "floor division"),
    ("content", lambda f, p: tf.cast(tf.reduce_mean(tf.square(tf.cast(f, tf.int32)
                                                              - tf.cast(p, tf.int32))),
                                     tf.float32), "cast the features to int32"),
    ("content", lambda f, p: tf.reduce_mean(tf.square(f)), "your loss ignores the target"),
    # one style layer: norms, triangle, the target's size, //, the target
    ("style_layer", lambda f, a: tf.norm(gram(f) - a) / (4.0 * f.shape[-1] ** 2
                                                         * m_of(f) ** 2),
     "the norm ‖G − A‖ (tf.norm) without squaring it"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.linalg.band_part(tf.square(gram(f) - a), 0,
                                                                   -1))
     / (4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "the upper triangle of G − A only"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) / (
        4.0 * f.shape[-1] ** 2 * tf.cast(tf.size(a), tf.float32) ** 2),
     "your M is tf.size(target_gram) = N²"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f) - a)) // (
        4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "floor division"),
    ("style_layer", lambda f, a: tf.reduce_sum(tf.square(gram(f))) / (
        4.0 * f.shape[-1] ** 2 * m_of(f) ** 2), "ignores the target"),
    # the style loss: weights shifted, inside the square, the target's own size, two at once
    ("style", lambda fs, ts, ws: style(fs, ts, dict(zip(ts, np.roll([ws[n] for n in ts], -1),
                                                        strict=True))),
     "shifted by one: each layer got the weight of the next"),
    ("style", lambda fs, ts, ws: sum(tf.reduce_sum(tf.square(ws[n] * (gram(fs[n]) - ts[n]
                                                                      * m_of(fs[n]))))
                                     / (4.0 * fs[n].shape[-1] ** 2 * m_of(fs[n]) ** 2)
                                     for n in ts), "the weight is inside the square"),
    ("style", lambda fs, ts, ws: sum(ws[n] * layer_loss(fs[n], ts[n] * tf.cast(
        tf.size(ts[n]), tf.float32)) for n in ts), "their own size, tf.size(target) = N²"),
    ("style", lambda fs, ts, ws: sum(ws[n] * layer_loss(fs[n], ts[n]) for n in list(ts)[1:]),
     "two mistakes: your sum leaves out the first layer"),
    # total variation: padding modes, axes, differences, combination
    ("tv", tv_with(lambda x, axis: tf.roll(x, -1, axis) - x), "wrap around (tf.roll"),
    ("tv", tv_with(padded("SYMMETRIC")), "difference repeat the one before them"),
    ("tv", tv_with(padded("REFLECT")), "difference repeat the one two before them"),
    ("tv", tv_with(lambda x, axis: padded("CONSTANT")(x, axis) if axis == 1 else tf.pad(
        x[..., 1:] - x[..., :-1], [[0, 0], [0, 0], [0, 0], [0, 1]])),
     "your second difference runs along the channel axis"),
    ("tv", tv_with(padded("CONSTANT"), lambda a, b: (tf.sqrt(a) + tf.sqrt(b)) ** 2.5),
     "you added |dy| + |dx| and raised that to 2·β"),
    ("tv", np_gradient_tv, "you used np.gradient"),
    ("tv", tv_with(padded("CONSTANT"), lambda a, b: tf.cast(a + b > 0, tf.float32)),
     "normalised each pixel's difference vector (dy, dx) to length 1"),
    ("tv", tv_with(padded("CONSTANT"), lambda a, b: (a + b) ** 1.5),
     "you raised (a + b) to the power 1.5"),
    ("tv", lambda x: tf.reduce_mean(tf.square(x[:, 1:] - x[:, :-1]) ** 1.25)
     + tf.reduce_mean(tf.square(x[:, :, 1:] - x[:, :, :-1]) ** 1.25),
     "averaged each over its own size"),
    ("style", lambda fs, ts, ws: style(fs, ts, dict(zip(ts, [ws[n] for n in ts][::-1],
                                                        strict=True))), "in reverse order"),
    ("style", lambda fs, ts, ws: style(fs, ts, {n: w / sum(ws.values()) for n, w in ws.items()}),
     "divided the layer weights by their sum"),
    ("style", lambda fs, ts, ws: sum(ws[n] * layer_loss(fs[n], ts[n] * fs[n].shape[-1])
                                     for n in ts), "N, the number of channels"),
    ("content", lambda f, p: tf.square(tf.reduce_mean(f - p)), "you squared the mean"),
    ("content", lambda f, p: tf.square(tf.reduce_mean(tf.abs(f - p))),
     "two mistakes: you used the absolute difference |F − P|"),
    ("preprocess", lambda i: ((i[..., ::-1] - MEAN) / i.std())[None], "standard deviation"),
    ("preprocess", lambda i: (i[..., ::-1] / 127.5 - 1)[None], "that is the 'tf' preprocessing"),
    ("deprocess", lambda x: np.clip(np.ceil((x[0] + MEAN)[..., ::-1]), 0, 255).astype(np.uint8),
     "you rounded up"),
    ("deprocess", lambda x: (x[0] + MEAN).astype(np.uint8),
     "two mistakes: your channels come out in BGR order"),
    ("tv", lambda x: tf.reduce_sum(tv_with(lambda x, axis: tf.roll(x, -1, axis) - x)(x))
     * tf.cast(tf.size(x), tf.float32), "wrap around (tf.roll / np.roll): the last row and "
                                        "column are compared with the first. A pixel"),
]


@pytest.mark.parametrize("name,answer,fragment", OPERATOR_MISTAKES,
                         ids=[f"{m[0]}-{m[2][:30]}" for m in OPERATOR_MISTAKES])
def test_operator_mistake_gets_its_message(name, answer, fragment):
    text = failure_of(name, answer)
    assert fragment in text, text
    assert GENERIC not in text


def lbfgs_with(convert, stale=""):
    """make_loss_and_grad returning convert(loss, grad), or the previous call's loss
    and/or gradient (``stale`` holds "l" and/or "g")."""
    def make(loss_fn, shape):
        previous = {}

        def loss_and_grad(y):
            loss, grad = right_wiring(*_loss_grad(loss_fn, shape, y))
            now = convert(loss, grad)
            out = tuple(previous.get(k, v) if k in stale else v
                        for k, v in zip("lg", now, strict=True))
            previous.update(zip("lg", now, strict=True))
            return out
        return loss_and_grad
    return make


def _loss_grad(loss_fn, shape, y):
    x = tf.constant(y.reshape(shape), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = loss_fn(x)
    return loss, tape.gradient(loss, x), x


@pytest.mark.parametrize("answer,fragment", [
    (lbfgs_with(lambda lo, g: (lo, g), stale="l"), "your loss is the one of the PREVIOUS call"),
    (lbfgs_with(lambda lo, g: (lo, g), stale="lg"), "(a cached loss, and the gradient too;"),
    (lbfgs_with(lambda lo, g: (lo / 1000, g)), "your loss is 0.001 times loss_fn's, but your "
                                               "gradient is not: the two are scaled differently"),
    (lbfgs_with(lambda lo, g: (lo, g * 8)), "your gradient is 8 times the gradient of loss_fn, "
                                            "but your loss is not"),
    (lbfgs_with(lambda lo, g: (lo / 10, g / 1000)), "and your gradient 0.001 times its gradient"),
    (lbfgs_with(lambda lo, g: (lo / 1000, g / 1000)), "both 0.001 times loss_fn's"),
    (lbfgs_with(lambda lo, g: (lo, g / np.linalg.norm(g))), "has length 1: you normalised it"),
], ids=["stale-loss", "stale-both", "loss-scaled", "grad-scaled", "scaled-differently",
        "both-scaled", "unit-gradient"])
def test_lbfgs_names_stale_and_scaled_losses(answer, fragment):
    text = failure_of("lbfgs", answer)
    assert fragment in text, text


def test_instructor_notes_list_the_operators_of_every_exercise():
    """The notes' operator table is exactly the one rendered from the operator data (every
    operator of every searched check, by family), and nothing else sits between its
    markers; helpers.exercises.operator_notes() is the same text."""
    from helpers.exercises import mutations

    notes = (ex.EXERCISES_DIR / "README.md").read_text(encoding="utf-8")
    table = ex.operator_notes()
    assert mutations.notes_table(notes) == table
    assert table == mutations.operator_table({n: s.mutations for n, s in SEARCHED.items()})
    for name, spec in SEARCHED.items():
        assert f"**`{name}`** ({len(spec.mutations.ops)} operators" in table
        assert all(op.name in table for op in spec.mutations.ops)


def test_the_notes_table_is_rewritten_from_the_operators(tmp_path):
    """write_notes replaces only the text between the markers, and leaves a file that
    already holds the table alone."""
    from helpers.exercises import mutations

    notes = tmp_path / "README.md"
    notes.write_text(f"# Notes\n\n{mutations.NOTES_START}\nold table\n{mutations.NOTES_END}"
                     "\n\nafter\n", encoding="utf-8")
    assert mutations.write_notes(notes, ex.operator_notes()) is True
    text = notes.read_text(encoding="utf-8")
    assert text.startswith("# Notes\n\n") and text.endswith("\n\nafter\n")
    assert "old table" not in text
    assert mutations.notes_table(text) == ex.operator_notes()
    assert mutations.write_notes(notes, ex.operator_notes()) is False


@pytest.mark.parametrize("name,answer,fragment", [
    ("tv", tv_with(padded("CONSTANT"), lambda a, b: (tf.sqrt(a) + tf.sqrt(b)) ** 2),
     "you raised (|dy| + |dx|) to the power 2; TV adds the SQUARED differences"),
    ("tv", tv_with(padded("CONSTANT"), lambda a, b: (a + b) ** 1.2),
     "you raised (a + b) to the power 1.2"),
    ("preprocess", lambda i: (np.transpose(i, (1, 0, 2))[..., ::-1] - MEAN)[None],
     "height and width are swapped"),
    ("preprocess", lambda i: (i[..., [1, 0, 2]] - MEAN)[None], "you swapped R and G"),
    ("tv", lambda x: tf.reduce_mean((tf.square(tf.pad(x, [[0, 0], [0, 1], [0, 0], [0, 0]])[:, 1:]
                                               - x)
                                     + tf.square(tf.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0]])
                                                 [:, :, 1:] - x)) ** 1.25),
     "you padded the image with zeros before taking the differences"),
    ("gram", lambda f: gram(tf.cast(f, tf.bfloat16)), "your result is bfloat16"),
    ("lbfgs", lbfgs_with(lambda lo, g: (float(np.sqrt(lo)), g)),
     "your loss is the square root of loss_fn's"),
])
def test_fitted_powers_and_swapped_axes(name, answer, fragment):
    assert fragment in failure_of(name, answer)


def test_real_inputs_are_rebuilt_from_the_bundled_images_when_missing(tmp_path, monkeypatch):
    """The shipped file is what build() computes (features to float16 precision), and an
    installation without it computes the same arrays once into the Keras cache folder."""
    from helpers.exercises import real_inputs

    shipped = {k: real_inputs.real(k) for k in real_inputs._arrays()}
    monkeypatch.setattr(real_inputs, "PATH", tmp_path / "missing.npz")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    real_inputs._arrays.cache_clear()
    try:
        rebuilt = {k: real_inputs.real(k) for k in shipped}
        assert (tmp_path / "keras" / "nst_real_inputs.npz").is_file()
    finally:
        real_inputs._arrays.cache_clear()
    for key, value in shipped.items():
        np.testing.assert_allclose(rebuilt[key], value, rtol=2e-3, atol=0.5, err_msg=key)
