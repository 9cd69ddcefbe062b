"""Exercises: solutions run clean, student versions stop at their first stub, and every
diagnosed mistake gets its own message."""

from __future__ import annotations

import json
import os
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

EXERCISES = sorted(ex.EXERCISES_DIR.glob("ex[0-9][0-9]_*.ipynb"))
MEAN = images.IMAGENET_MEAN_BGR.astype(np.float64)


def execute(nb, folder: Path, monkeypatch) -> None:
    """Run a notebook in a fresh kernel as tests/test_notebooks.py does (NST_FAST=1)."""
    monkeypatch.setenv("NST_FAST", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.delenv("PYTHONPATH", raising=False)
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


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_solution_runs_clean_and_every_check_passes(path, monkeypatch):
    nb = nbformat.read(path, as_version=4)
    execute(nb, path.parent, monkeypatch)
    checks = [c for c in nb.cells if c.cell_type == "code" and "check(" in c.source]
    assert checks, f"{path.name} calls no check"
    for cell in checks:
        assert outputs_text(cell).count("✓") == cell.source.count("check("), cell.source


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_student_version_stops_at_its_first_stub(path, tmp_path, monkeypatch):
    student = ex.student_version(nbformat.read(path, as_version=4))
    with pytest.raises(CellExecutionError, match="not implemented yet"):
        execute(student, path.parent, monkeypatch)
    failed = [i for i, c in enumerate(student.cells)
              if any(o.output_type == "error" for o in c.get("outputs", []))]
    stubs = [i for i, c in enumerate(student.cells) if "raise NotImplementedError()" in c.source]
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
        "    raise NotImplementedError()\n\nprint(f(1))")


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
    (["--student", "{file}"], "it is a file, not a folder"),
    (["--student", "{tmp}/out", "--source", "{tmp}/missing"], "exercise folder not found"),
    (["--student", "{tmp}/out", "--source", "{tmp}"], "no exercise notebooks"),
])
def test_cli_bad_path_is_one_line_and_status_2(tmp_path, args, fragment):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    proc = run_cli(*[a.format(file=blocker, tmp=tmp_path) for a in args])
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and fragment in proc.stderr, proc.stderr


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


RIGHT = {
    "preprocess": images.preprocess,
    "deprocess": images.deprocess,
    "gram": losses.gram_matrix,
    "content": losses.content_loss,
    "style_layer": losses.style_layer_loss,
    "style": losses.style_loss,
    "tv": losses.total_variation_loss,
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
    ("preprocess", lambda i: tf.constant(images.preprocess(i)), "return a NumPy array"),
    ("preprocess", lambda i: images.preprocess(i).tolist(), "returns a list; return a NumPy"),
    ("deprocess", lambda x: deprocess(x, clip=False), "clip with np.clip"),
    ("deprocess", lambda x: deprocess(x, rounding=np.floor), "truncate instead of rounding"),
    ("deprocess", lambda x: deprocess(x, swap=False), "in BGR order"),
    ("deprocess", lambda x: deprocess(x, mean=0.0), "did not add the ImageNet mean back"),
    ("deprocess", lambda x: deprocess(x, mean=-1.0), "subtracted the mean again"),
    ("deprocess", lambda x: np.clip(np.rint(x[0][..., ::-1] + MEAN), 0, 255).astype(np.uint8),
     "added the mean in RGB order"),
    ("deprocess", lambda x: (x[0] + MEAN)[..., ::-1], "is float64; an RGB image is uint8"),
    ("deprocess", lambda x: images.deprocess(x)[None], "drop the batch axis"),
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
    ("gram", stub, "not implemented yet: replace the `raise NotImplementedError()`"),
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
    ("tv", lambda x: tf.reduce_mean(tv_parts(x)[0] ** 1.25), "only used the differences "
                                                             "between rows"),
    ("tv", lambda x: tf.reduce_mean(tv_parts(x)[1] ** 1.25), "only used the differences "
                                                             "between columns"),
    ("tv", lambda x: losses.total_variation_loss(x, form="abs"), "that is the 'abs' form"),
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
    cases = ex._feature_cases(3)
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
    with pytest.raises(ex.CheckFailed, match="could not use your settings.*a list of layer"):
        ex.check("look", {"style_layers": 5})
