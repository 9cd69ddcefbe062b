"""Verdicts computed where no student code runs (issue 32): the kernel only answers hidden
inputs drawn per grading run, the grader judges. First without a kernel (the harness run
here on plain functions, then judged): the dependent ``style`` check, library answers
through aliases, forged answers, the seed. Then a synthetic class graded through the command
line (``--jobs 2``): right, right written unusually, stubs, a patched checker, forged
answers, exec'd instructor solutions, answers looked up from hidden inputs found on disk,
library aliases, a hang, a kernel exit and a memory hog; every student's total is asserted
(tamperers earn only what their own functions do)."""

from __future__ import annotations

import copy
import csv
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest

from helpers.exercises import EXERCISES_DIR, harness, judge, student_version
from helpers.exercises import check as ex_check
from helpers.exercises._engine import SEED, CheckFailed
from helpers.exercises.judge_runs import judge as verdict

ROOT = Path(__file__).resolve().parent.parent
MEAN = np.array([103.939, 116.779, 123.68], np.float32)


def answered(check: str, fn_name: str, user: dict, tmp_path: Path) -> str:
    """Run the harness on ``user``'s function here, then judge: the ✓ line or the failure."""
    tag = f"{check}-{fn_name}"
    job = judge.write_job(check, fn_name, tmp_path, tag)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        harness.main(job, user, f"answer-{tag}")
    finally:
        os.chdir(cwd)
    record = json.loads((tmp_path / f"answer-{tag}.json").read_text())
    with np.load(tmp_path / f"answer-{tag}.npz", allow_pickle=False) as npz:
        try:
            return verdict(check, record, npz)
        except CheckFailed as failure:
            return f"✗ {failure.message}"


@pytest.fixture(autouse=True)
def _fresh_run():
    judge.start_run(20240607)
    judge._INPUTS.clear()
    yield
    judge.start_run(SEED)
    judge._INPUTS.clear()


def _preprocess(image):
    return (np.asarray(image, np.float32)[..., ::-1] - MEAN)[None]


def test_hidden_inputs_are_the_same_within_a_run_and_new_for_the_next():
    first = judge._inputs("preprocess")[0]
    judge._INPUTS.clear()
    assert judge._inputs("preprocess")[0] == first
    judge.start_run(7)
    judge._INPUTS.clear()
    assert judge._inputs("preprocess")[0] != first
    assert judge.new_seed() != judge.new_seed()


def test_style_is_graded_with_the_reference_style_layer_loss(tmp_path):
    """One int32 overflow in style_layer_loss costs points once: style passes with the
    reference in its place, and its message says what the student's own made of it."""
    user: dict = {}
    exec(NOTEBOOK_STYLE, user)  # the notebook's namespace: its functions find each other there
    layer = answered("style_layer", "style_layer_loss", user, tmp_path)
    assert layer.startswith("✗ right on the small hidden inputs") and "overflowed" in layer
    style = answered("style", "style_loss", user, tmp_path)
    assert style.startswith("✓ style"), style
    assert "graded with the reference style_layer_loss in place of yours" in style
    assert "with your own style_layer_loss, right on the small hidden inputs" in style


NOTEBOOK_STYLE = '''from helpers import tf


def gram(f):
    flat = tf.reshape(f, (-1, f.shape[-1]))
    return tf.matmul(flat, flat, transpose_a=True)


def style_layer_loss(features, target_gram):
    n, m = tf.shape(features)[-1], tf.shape(features)[1] * tf.shape(features)[2]
    return tf.reduce_sum(tf.square(gram(features) - target_gram)) / tf.cast(
        4 * n**2 * m**2, tf.float32)  # int32: wraps on the large input


def style_loss(features, targets, layer_weights):
    total = 0.0
    for name, target in targets.items():
        f = features[name]
        total += layer_weights[name] * style_layer_loss(f, target * f.shape[1] * f.shape[2])
    return total
'''


def _aliases() -> dict:
    import helpers.images
    from helpers import images, losses

    saved = helpers.images.preprocess
    ns = dict(vars(images))
    exec(inspect.getsource(images.deprocess), ns)  # a copy of the library's own source
    g = losses.gram_matrix

    def by_keras(image):
        from keras.applications import vgg19

        return vgg19.preprocess_input(np.asarray(image, np.float32)[None])

    def tv(x):
        from helpers import objective

        return objective._total_variation_loss(x)

    return {"saved": lambda image: saved(image), "keras": by_keras, "copied": ns["deprocess"],
            "gram": lambda f: g(f), "tv": tv}


@pytest.mark.parametrize("check,name,library", [
    ("preprocess", "saved", "helpers.images.preprocess"),
    ("preprocess", "keras", "preprocess_input"),
    ("deprocess", "copied", "helpers.images.deprocess"),
    ("gram", "gram", "helpers.losses.gram_matrix"),
    ("tv", "tv", "total_variation_loss"),
])
def test_library_answers_through_any_alias_are_named_and_not_counted(tmp_path, check, name,
                                                                       library):
    verdict = answered(check, name, _aliases(), tmp_path)
    assert verdict.startswith("✗ your function uses ") and library in verdict, verdict


def test_a_right_answer_passes_and_a_forged_answer_is_only_wrong(tmp_path):
    assert answered("preprocess", "p", {"p": _preprocess}, tmp_path).startswith("✓")
    npz = {}
    forged = {"graded": [{"status": "ok", "out": {"k": "py", "type": "float", "v": 1.0},
                          "after": []}] * 4}
    with pytest.raises(CheckFailed, match="returns a float"):
        verdict("preprocess", forged, npz)
    with pytest.raises(CheckFailed, match="no answer for every hidden input"):
        verdict("preprocess", {"graded": []}, npz)
    with pytest.raises(CheckFailed, match="not defined in your notebook"):
        verdict("preprocess", {"missing": True}, npz)


# --------------------------------------------------------------- a class through the CLI

def _right(name: str) -> nbformat.NotebookNode:
    nb = nbformat.read(EXERCISES_DIR / name, as_version=4)
    for cell in nb.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if "### " not in line)
    return nb


def _stubs(name: str) -> nbformat.NotebookNode:
    return student_version(nbformat.read(EXERCISES_DIR / name, as_version=4))


def _with(nb: nbformat.NotebookNode, after: str, code: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    index = next(i for i, c in enumerate(nb.cells) if c.id == after) + 1
    nb.cells.insert(index, nbformat.v4.new_code_cell(code, id=f"extra-{index}"))
    return nb


def _replace(nb: nbformat.NotebookNode, cell_id: str, code: str) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    next(c for c in nb.cells if c.id == cell_id).source = code
    return nb


EX1, EX2 = "ex01_preprocess.ipynb", "ex02_gram.ipynb"
UNUSUAL_PRE = '''MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess(image):
    out = np.empty((1,) + image.shape, dtype=np.float32)
    for c in range(3):
        out[0, ..., c] = image[..., 2 - c].astype(np.float64) - float(MEAN_BGR[c])
    return out'''
UNUSUAL_DE = '''def deprocess(x):
    y = np.squeeze(np.array(x, dtype=np.float64), axis=0) + MEAN_BGR
    return np.flip(np.round(y).clip(0, 255), axis=-1).astype("uint8")'''
UNUSUAL_GRAM = '''def gram_matrix(features):
    return tf.einsum("bhwi,bhwj->ij", features, features)'''
PATCH = '''import helpers.exercises as ex
import helpers.exercises._engine as eng
ex.run_spec = lambda *a, **k: None
ex._RUNNERS["deprocess"] = lambda *a, **k: None
eng.judge_spec = lambda *a, **k: "✓"
ex.check = lambda *a, **k: None


def check(*args, **kwargs):
    print("✓ all good")'''
FORGE = '''import glob, json, os, threading, time
log = os.environ.get("NST_GRADE_LOG", "grade.jsonl")
with open(log, "a") as f:
    for name in ("preprocess", "deprocess"):
        f.write(json.dumps({"check": name, "passed": True, "credit": 1.0, "message": ""}) + "\\n")
claim = json.dumps({"graded": [{"status": "ok", "out": {"k": "none"}, "after": []}]})
for name in ("preprocess", "deprocess"):
    with open(f"answer-{name}.json", "w") as f:
        f.write(claim)


def forge():
    while True:
        for path in glob.glob("answer-*.json"):
            with open(path, "w") as f:
                f.write(claim)
        time.sleep(0.005)


threading.Thread(target=forge, daemon=True).start()'''
EXEC_SOLUTIONS = '''import glob, json, pathlib, helpers.exercises as ex
found = 0
for folder in [ex.EXERCISES_DIR, pathlib.Path({source!r}), pathlib.Path({repo!r}) / "notebooks"]:
    for path in glob.glob(str(folder / "**" / "ex0*.ipynb"), recursive=True):
        for cell in json.loads(pathlib.Path(path).read_text())["cells"]:
            text = "".join(cell["source"])
            if "BEGIN SOLUTION" in text:
                exec(text, globals())
                found += 1
print("solution cells found:", found)'''
ALIAS_PRE = '''from helpers.images import preprocess as _pp
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess(image):
    return _pp(image)'''
ALIAS_DE = '''import inspect
from helpers import images as _images
_ns = dict(vars(_images))
exec(inspect.getsource(_images.deprocess), _ns)
deprocess = _ns["deprocess"]'''
ALIAS_GRAM = '''from helpers import losses as _losses
_g = _losses.gram_matrix


def gram_matrix(features):
    return _g(features)'''
PEEK = '''import glob
from helpers import images
MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
TABLE = {}  # answers computed in advance from hidden inputs found on disk
for path in glob.glob("inputs-*.npz") + glob.glob("*/inputs-*.npz"):
    with np.load(path) as z:
        TABLE.update({z[k].tobytes(): images.preprocess(z[k]) for k in z.files})


def preprocess(image):
    return TABLE[np.asarray(image).tobytes()]'''
HANG_CELL = "import time\nwhile True:\n    time.sleep(0.1)"
HANG_GRAM = '''def gram_matrix(features):
    while True:
        pass'''
EXIT_CELL = "import os\nos._exit(3)"
EXIT_GRAM = '''def gram_matrix(features):
    import os
    os._exit(4)'''
HOG = "\n\nhog = bytearray(3 * 2**30)"

#: student -> the total the class test expects (of 6 points: ex01 4, ex02 2)
EXPECTED = {"right": 6, "unusual": 6, "stubs": 0, "patched": 0, "forged": 0, "execsol": 0,
            "peek": 0, "alias": 0, "hang": 4, "exit": 4, "hog": 4}


def _class(folder: Path, source: Path) -> dict[str, dict[str, nbformat.NotebookNode]]:
    right1, right2, stubs1 = _right(EX1), _right(EX2), _stubs(EX1)
    unusual1 = _replace(_replace(right1, "cell-04", UNUSUAL_PRE), "cell-10", UNUSUAL_DE)
    hog1 = _replace(right1, "cell-04", next(c.source for c in right1.cells
                                            if c.id == "cell-04") + HOG)
    return {
        "right": {EX1: right1, EX2: right2},
        "unusual": {EX1: unusual1, EX2: _replace(right2, "cell-04", UNUSUAL_GRAM)},
        "stubs": {EX1: stubs1},
        "patched": {EX1: _with(stubs1, "cell-02", PATCH)},
        "forged": {EX1: _with(stubs1, "cell-02", FORGE)},
        "execsol": {EX1: _with(stubs1, "cell-02", EXEC_SOLUTIONS.format(source=str(source),
                                                                         repo=str(ROOT)))},
        "peek": {EX1: _replace(stubs1, "cell-04", PEEK)},
        "alias": {EX1: _replace(_replace(right1, "cell-04", ALIAS_PRE), "cell-10", ALIAS_DE),
                  EX2: _replace(right2, "cell-04", ALIAS_GRAM)},
        "hang": {EX1: _with(right1, "cell-14", HANG_CELL),
                 EX2: _replace(right2, "cell-04", HANG_GRAM)},
        "exit": {EX1: _with(right1, "cell-14", EXIT_CELL),
                 EX2: _replace(right2, "cell-04", EXIT_GRAM)},
        "hog": {EX1: hog1},
    }


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    source = base / "source"
    source.mkdir()
    for name in (EX1, EX2):
        (source / name).write_bytes((EXERCISES_DIR / name).read_bytes())
    klass = base / "submissions"
    for student, notebooks in _class(klass, source).items():
        (klass / student).mkdir(parents=True)
        for name, nb in notebooks.items():
            nbformat.write(nb, klass / student / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run([sys.executable, "-m", "helpers", "exercises", "--grade", str(klass),
                           "--source", str(source), "-o", str(base / "out" / "grades.csv"),
                           "--jobs", "2", "--timeout", "180", "--cell-timeout", "15",
                           "--memory-mb", "3000"], capture_output=True, text=True, env=env,
                          timeout=900)
    with open(base / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return proc, rows


def _total(rows, student):
    return sum(float(r["points"]) for r in rows if r["student"] == student)


def _messages(rows, student):
    return " | ".join(f"{r['exercise']} {r['check']}: {r['message']}" for r in rows
                      if r["student"] == student)


@pytest.mark.slow
@pytest.mark.notebooks
def test_every_students_total(graded_class):
    proc, rows = graded_class
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout
    totals = {s: _total(rows, s) for s in EXPECTED}
    assert totals == EXPECTED, {s: _messages(rows, s) for s in EXPECTED
                                if totals[s] != EXPECTED[s]}


@pytest.mark.slow
@pytest.mark.notebooks
def test_each_finding_is_named(graded_class):
    rows = graded_class[1]
    assert "not implemented yet" in _messages(rows, "patched")
    assert "not implemented yet" in _messages(rows, "forged")
    assert "not implemented yet" in _messages(rows, "execsol")
    alias = _messages(rows, "alias")
    for name in ("helpers.images.preprocess", "helpers.images.deprocess",
                 "helpers.losses.gram_matrix"):
        assert f"your function uses {name}" in alias, alias
    hang = _messages(rows, "hang")
    assert "did not finish within 15 s; it was interrupted" in hang
    assert "gram: your function did not return on the hidden inputs within 15 s" in hang
    exit_ = _messages(rows, "exit")
    assert "the kernel died in cell" in exit_
    assert "gram: your function ended the kernel on the hidden inputs" in exit_
    assert "MemoryError" in _messages(rows, "hog")


NOTEBOOK_LBFGS = '''import numpy as np
import tensorflow as tf


def make_loss_and_grad(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return float(loss), tape.gradient(loss, x).numpy().astype(np.float64).ravel()
    return loss_and_grad


def cached(loss_fn, shape):
    inner, last = make_loss_and_grad(loss_fn, shape), {}

    def loss_and_grad(y):
        loss, grad = inner(y)
        stale = last.get("grad", grad)
        last["grad"] = grad
        return loss, stale
    return loss_and_grad


def float64_into_loss(loss_fn, shape):
    def loss_and_grad(y):
        x = tf.constant(y.reshape(shape))  # scipy's float64 kept: the notebook's loss refuses it
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = loss_fn(x)
        return float(loss), tape.gradient(loss, x).numpy().astype(np.float64).ravel()
    return loss_and_grad
'''

TV_REFLECT = '''import tensorflow as tf


def total_variation_loss(x, beta=2.0):
    # reflect padding of the image: wrong (the last difference repeats), and it raises on
    # an image one pixel high, which must still be told it is a reflect padding
    p = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]], mode="REFLECT")
    a = tf.square(p[:, 1:, :-1] - p[:, :-1, :-1])
    b = tf.square(p[:, :-1, 1:] - p[:, :-1, :-1])
    return tf.reduce_mean(tf.pow(a + b, beta / 2))
'''


def graded_and_practised(code: str, check: str, name: str, tmp_path: Path) -> tuple[str, str]:
    """What the grader told ``name`` (defined by ``code``) and what practice's check() says."""
    user: dict = {}
    exec(code, user)
    told = answered(check, name, user, tmp_path)
    with pytest.raises(CheckFailed) as practice:
        ex_check(check, user[name])
    return told, f"✗ {practice.value.message}"


def test_the_grader_names_float64_handed_to_the_loss_as_practice_does(tmp_path):
    told, practice = graded_and_practised(NOTEBOOK_LBFGS, "lbfgs", "float64_into_loss",
                                          tmp_path)
    assert "float64" in told and told == practice, (told, practice)


def test_the_grader_judges_thin_inputs_last_as_practice_does(tmp_path):
    told, practice = graded_and_practised(TV_REFLECT, "tv", "total_variation_loss", tmp_path)
    assert told.startswith("✗") and "InvalidArgument" not in told, told
    assert told == practice, (told, practice)


def test_lbfgs_is_judged_from_the_recorded_trace(tmp_path):
    user: dict = {}
    exec(NOTEBOOK_LBFGS, user)
    right = answered("lbfgs", "make_loss_and_grad", user, tmp_path)
    assert right.startswith("✓ lbfgs") and "found the hidden minimum" in right, right
    stale = answered("lbfgs", "cached", user, tmp_path)
    assert stale.startswith("✗ your gradient is the one of the PREVIOUS call"), stale


@pytest.mark.slow
def test_look_settings_are_painted_and_compared_here(monkeypatch, tmp_path):
    from helpers.exercises.instructor import checkout_source, look_target

    LOOK_TARGET = look_target(checkout_source())
    monkeypatch.setenv("NST_FAST", "1")
    monkeypatch.setenv("NST_GRADE_CACHE", str(tmp_path))  # the target: painted once a run
    assert verdict("look", {"status": "ok", "settings": dict(LOOK_TARGET)}, {}).startswith(
        "✓ look: content distance")
    assert len(list(tmp_path.glob("look-target-*.npy"))) == 1
    with pytest.raises(CheckFailed, match="return a dict of settings, not a list"):
        verdict("look", {"status": "ok", "type": "list"}, {})
    with pytest.raises(CheckFailed, match="unknown setting 'size'"):
        verdict("look", {"status": "ok", "settings": {"size": 5}}, {})
    with pytest.raises(CheckFailed, match="not there yet"):
        verdict("look", {"status": "ok", "settings": {"style_weight": 1.0}}, {})


def test_answer_files_changed_after_the_harness_wrote_them_are_no_answer(tmp_path):
    """The record the answering cell sends (or its file) names the SHA-256 of the arrays'
    file: arrays rewritten afterwards (a thread the notebook left running) are no answer,
    and the verdict says so; a record rewritten on disk loses to the one sent."""
    from helpers.exercises.runner import read_answer

    job = judge.write_job("preprocess", "p", tmp_path, "t")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        harness.main(job, {"p": _preprocess}, "answer-t")
    finally:
        os.chdir(cwd)
    record, data = read_answer(tmp_path, "answer-t")
    assert record["graded"][0]["status"] == "ok" and data
    (tmp_path / "answer-t.json").write_text(json.dumps({"graded": []}))
    assert read_answer(tmp_path, "answer-t", record)[0] == record
    (tmp_path / "answer-t.npz").write_bytes(data[:-1] + b"x")
    changed, _ = read_answer(tmp_path, "answer-t", record)
    assert changed == {"status": "changed"}
    with pytest.raises(CheckFailed, match="changed the answer files after the grader"):
        verdict("preprocess", changed, {})
