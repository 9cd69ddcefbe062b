"""Inputs one pixel high or wide that are not counted (issue 32 finding A): only an error
class that this very TensorFlow raises on a one-pixel convolution's GRADIENT excuses one
(oneDNN, TensorFlow's default on x86 CPUs: AbortedError), in practice and in the grader
alike; whatever the student's function or its custom gradient raises otherwise, and any
class a forged record names, is judged as the student's. An excused input is always shown:
in the ✓ line, in grades.csv and the feedback page (:func:`judge_runs.not_counted`), and
as a flag in the summary."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from helpers import exercises as ex
from helpers.exercises import calling, harness, judge, reports
from helpers.exercises._engine import SEED, CheckFailed
from helpers.exercises.grading import Row, printable
from helpers.exercises.judge_runs import judge as verdict
from helpers.exercises.judge_runs import not_counted


def tv(x):
    """Right: the notebook's own total variation loss."""
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    return tf.reduce_mean(tf.pow(a + b, 1.25))


def gradient_raising_on_thin(error):
    """Right values, with a custom gradient that raises ``error`` on a 1-pixel image only."""
    @tf.custom_gradient
    def through(u):
        def grad(dy):
            if 1 in u.shape[1:3]:
                raise error
            return dy
        return tf.identity(u), grad
    return lambda x: tv(through(x))


@pytest.fixture()
def grading_run():
    judge.start_run(20240607)
    judge._INPUTS.clear()
    yield
    judge.start_run(SEED)
    judge._INPUTS.clear()


def kernel_record(fn, tmp_path, check="tv"):
    """The record the grader's harness writes for ``fn`` on ``check``, and its arrays."""
    job = judge.write_job(check, "answer", tmp_path, check)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        harness.main(job, {"answer": fn}, f"answer-{check}")
    finally:
        os.chdir(cwd)
    return (json.loads((tmp_path / f"answer-{check}.json").read_text()),
            tmp_path / f"answer-{check}.npz")


def grader_says(record, npz_path, check="tv"):
    """The grader's verdict: ("pass", ✓ line), ("not counted", message) or ("fail", …)."""
    with np.load(npz_path, allow_pickle=False) as npz:
        try:
            line = verdict(check, record, npz)
        except CheckFailed as failure:
            return "fail", failure.message
    note = not_counted(check, line)
    return ("not counted", note) if note else ("pass", line)


def practice_says(fn, capsys):
    try:
        ex.check("tv", fn)
    except CheckFailed as failure:
        return "fail", failure.message
    return "pass", capsys.readouterr().out


def test_the_probe_finds_what_this_tensorflow_raises_on_a_one_pixel_gradient():
    """The probe repeats oneDNN's bug itself; where a convolution's gradient raises nothing
    (a GPU, oneDNN off), nothing is excused."""
    x = tf.zeros((1, 1, 8, 3))
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(tf.nn.conv2d(x, tf.ones((2, 1, 3, 3)), 1, "VALID"))
    try:
        tape.gradient(total, x)
        raised = set()
    except tf.errors.OpError as exc:
        raised = {type(exc).__name__}
    assert calling.tensorflow_limits() == frozenset(raised)
    assert "InvalidArgumentError" not in calling.tensorflow_limits()


@pytest.mark.parametrize("error", [tf.errors.UnimplementedError(None, None, "mine"),
                                   tf.errors.ResourceExhaustedError(None, None, "mine"),
                                   ValueError("mine")])
def test_a_custom_gradient_raising_what_the_probe_does_not_fails_in_practice_and_grader(
        error, grading_run, capsys, tmp_path):
    fn = gradient_raising_on_thin(error)
    said = practice_says(fn, capsys)
    told = grader_says(*kernel_record(fn, tmp_path))
    kind = type(error).__name__
    for verdict_, message in (said, told):
        assert verdict_ == "fail", message
        assert message.startswith("right value, but computing its gradient (a hidden image of "
                                  f"shape (1, 1, 8, 3), one pixel high) raised {kind}: mine"), \
            message
    assert said == told


def test_a_right_answer_on_onednn_is_not_counted_alike_in_practice_and_grader(
        grading_run, capsys, tmp_path):
    """oneDNN's own AbortedError (or the student's custom gradient raising it: the flag asks
    the instructor to read the code) is excused alike, and always named."""
    fn = gradient_raising_on_thin(tf.errors.AbortedError(None, None, "mine"))
    said = practice_says(fn, capsys)
    told = grader_says(*kernel_record(fn, tmp_path))
    if "AbortedError" not in calling.tensorflow_limits():  # a GPU, oneDNN off: no excuse
        assert said[0] == told[0] == "fail", (said, told)
        return
    assert said[0] == "pass" and told[0] == "not counted", (said, told)
    note = ("not counted: a hidden image of shape (1, 1, 8, 3), one pixel high (its "
            "gradient raised AbortedError); a hidden image of shape (1, 7, 1, 3), one "
            "pixel wide (its gradient raised AbortedError): this TensorFlow raises that")
    assert note in said[1] and note in told[1], (said, told)
    assert said[1].strip() == f"✓ tv: {told[1]}"


@pytest.mark.parametrize("forged,named", [
    ("kernel:SomethingError: made up", "SomethingError: made up"),
    ("kernel:UnimplementedError: made up", "UnimplementedError: made up"),
    ("kernel:__main__.AbortedError: made up", "__main__.AbortedError: made up"),
    ("raised:AbortedError: made up", "AbortedError: made up"),
])
def test_a_forged_kernel_error_in_the_record_is_not_excused(forged, named, grading_run,
                                                             tmp_path):
    """The kernel is the student's: a record claiming their gradient hit a kernel's limit
    is excused only for a class the grader's own TensorFlow raises there."""
    record, npz = kernel_record(tv, tmp_path)
    assert grader_says(record, npz)[0] == "pass"
    for case in record["graded"][-2:]:  # the thin inputs come last
        case["gradient"] = forged
    kind, message = grader_says(record, npz)
    assert kind == "fail" and f"computing its gradient (a hidden image of shape (1, 1, 8, 3), " \
        f"one pixel high) raised {named}" in message, message


def test_nothing_is_excused_where_the_probe_finds_nothing(grading_run, monkeypatch, capsys,
                                                          tmp_path):
    """Where TensorFlow's convolution gradient does not raise (a GPU, oneDNN off), a record
    claiming oneDNN's AbortedError, and a custom gradient raising it, both fail."""
    monkeypatch.setattr(calling, "tensorflow_limits", lambda: frozenset())
    record, npz = kernel_record(tv, tmp_path)
    for case in record["graded"][-2:]:
        case["gradient"] = "kernel:AbortedError: could not create a primitive"
    assert grader_says(record, npz)[0] == "fail"
    fn = gradient_raising_on_thin(tf.errors.AbortedError(None, None, "mine"))
    said = practice_says(fn, capsys)
    assert said[0] == "fail" and "raised AbortedError: mine" in said[1], said


def test_a_passed_check_with_inputs_not_counted_is_flagged_for_the_instructor():
    line = ("✓ tv: mean((a + b)^1.25) (checked on 4 hidden inputs; not counted: a hidden image "
            "of shape (1, 1, 8, 3), one pixel high (its gradient raised AbortedError): this "
            "TensorFlow raises that on a one-pixel convolution's gradient, its own limit and "
            "not your mistake)")
    note = not_counted("tv", line)
    rows = [Row("ann", "ex05_total_variation", "tv", 2.0, True, note)]
    flags = reports.row_flags(rows)
    assert flags == ["ex05_total_variation tv: a hidden input not counted: a hidden image of "
                     "shape (1, 1, 8, 3), one pixel high (its gradient raised AbortedError) "
                     "(TensorFlow's own limit on 1-pixel convolutions — or the student's code "
                     "raising it: read it)"]
    assert reports.flag_kind(flags[0]) == "not counted"
    assert "not counted" in reports.summary_html({"ann": 2.0}, {"ann": flags}, 2.0, [], "done")
    failed = [Row("bob", "ex05_total_variation", "tv", 0.0, False, note)]
    assert reports.row_flags(failed) == []  # a failed check's text is the student's own


def test_a_kernel_error_on_an_ordinary_input_is_never_excused(grading_run, tmp_path):
    """Even the probed class excuses only an input one pixel high or wide."""
    record, npz = kernel_record(tv, tmp_path)
    record["graded"][0]["gradient"] = "kernel:AbortedError: could not create a primitive"
    kind, message = grader_says(record, npz)
    assert kind == "fail" and "raised AbortedError: could not create a primitive" in message


def preprocess_right(image):
    x = np.asarray(image, dtype=np.float32)[..., ::-1]
    return x[None] - np.array([103.939, 116.779, 123.68], dtype=np.float32)


def preprocess_wrong_on_thin(image):
    """Right on ordinary images; on one pixel high or wide ones the mean is left in."""
    x = np.asarray(image, dtype=np.float32)[..., ::-1]
    if 1 in x.shape[:2]:
        return x[None]
    return x[None] - np.array([103.939, 116.779, 123.68], dtype=np.float32)


def test_a_forged_gradient_error_on_a_check_without_gradient_is_not_excused(grading_run,
                                                                              tmp_path):
    """preprocess asks for no gradient: a "kernel:" gradient the student's kernel adds to its
    record excuses nothing (the review's forger scored 4/4 on ex01 that way)."""
    record, npz = kernel_record(preprocess_wrong_on_thin, tmp_path, "preprocess")
    honest = grader_says(record, npz, "preprocess")
    for entry in record["graded"]:
        entry["gradient"] = "kernel:AbortedError: could not create a primitive"
    forged = grader_says(record, npz, "preprocess")
    assert honest[0] == forged[0] == "fail" and forged == honest, (honest, forged)
    assert "one pixel" in honest[1] and "gradient" not in honest[1], honest
    (tmp_path / "right").mkdir()
    right = kernel_record(preprocess_right, tmp_path / "right", "preprocess")
    assert grader_says(*right, "preprocess")[0] == "pass"  # no gradient asked, none judged


def test_an_edited_check_cell_is_flagged_beside_inputs_not_counted():
    """Both flags of one passed check reach the summary (the not-counted one hid the other)."""
    note = ("mean((a + b)^1.25) (checked on 4 hidden inputs; not counted: a hidden image of "
            "shape (1, 1, 8, 3), one pixel high (its gradient raised AbortedError): this "
            "TensorFlow raises that on a one-pixel convolution's gradient, its own limit and "
            "not your mistake)")
    edited = "the check cell was changed; the instructor's version was run"  # as grading joins
    rows = [Row("ann", "ex05_total_variation", "tv", 2.0, True, f"{note}; {edited}")]
    kinds = [reports.flag_kind(flag) for flag in reports.row_flags(rows)]
    assert kinds == ["not counted", "check cell edited"], reports.row_flags(rows)


def test_a_students_control_characters_never_reach_the_instructors_screen(tmp_path):
    """A cell id or error message holding terminal escapes or bidi controls is written as
    escapes in grades.csv, the feedback page, summary.txt and the CLI's lines."""
    hidden = "the kernel died in cell 5 (x\x1b[8m) \u202eevil\x00"
    row = Row("ann\x1b[2J", "ex05_total_variation", "(notebook)", 0.0, False, hidden)
    assert row.message == "the kernel died in cell 5 (x\\x1b[8m) \\u202eevil\\x00"
    assert row.student == "ann\\x1b[2J"
    assert printable("line one\n\tline two") == "line one\n\tline two"
    text = reports.summary({"ann": 0.0}, {"ann": [hidden]}, 2.0, [hidden], "done")
    written = printable(text)
    assert "\x1b" not in written and "\u202e" not in written and "\\x1b[8m" in written
