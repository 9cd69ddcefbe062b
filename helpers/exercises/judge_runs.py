"""The verdict on one check (:func:`judge`, used by :mod:`helpers.exercises.grading`, where
no student code runs), and on the two exercises that are runs rather than arrays: ex06's
``make_loss_and_grad`` (notebooks/exercises/ex06_lbfgs.ipynb), from the trace of the
student's function that the kernel recorded on the hidden bowl, and ex07's settings
(ex07_match_the_look.ipynb), painted here and compared with the target painted with the
instructor's hidden settings."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from helpers.exercises._engine import NOT_COUNTED, CheckFailed, close, raised_message
from helpers.exercises.judge import (
    FORGED,
    SUBSTITUTE,
    Answers,
    ForgedAnswer,
    _bowl,
    _substituted,
    decode,
    failure_of,
    judge_arrays,
)


class Replay:
    """The student's loss-and-gradient function as the kernel recorded it: called with one
    of the points the harness used, it gives back what the student's function returned
    there (or raises what it raised). Nothing is run."""

    def __init__(self, check: str, result: dict, npz: Any, bowl: Any) -> None:
        self.check, self.npz, self.calls = check, npz, result.get("calls", [])
        others = [p * 0.5 + 3.0 for p in bowl.points]
        self.order = [bowl.points[0], bowl.points[1], bowl.points[2], *others]

    def __call__(self, x: np.ndarray) -> Any:
        index = next((i for i, p in enumerate(self.order) if np.array_equal(p, x)), None)
        if index is None or index >= len(self.calls) or not isinstance(self.calls[index], dict):
            raise CheckFailed(self.check, "the grader got no answer from your function at "
                                          "one of its points (it stopped early?)")
        record = self.calls[index]
        failure = failure_of(self.check, record)
        if failure is not None:
            raise failure
        return decode(record.get("out", {}), self.npz)


def judge_lbfgs(check: str, result: dict, npz: Any, bowl: Any) -> str:
    """ex06 on the recorded trace: types, shapes and gradients at two points in turn, the
    L-BFGS-B run the kernel made, then a point it did not visit (as the practice check)."""
    from helpers.exercises.ex06_inputs import input_dtype_problem, input_shape_problem
    from helpers.exercises.ex06_lbfgs import _SHAPE, _values

    made = result.get("make", {})
    made = made if isinstance(made, dict) else {}
    failure = failure_of(check, made)
    if failure is not None:
        raise failure
    if not made.get("callable"):
        raise CheckFailed(check, "make_loss_and_grad must return a function (the inner one)")
    dtypes = result.get("input_dtypes")  # from the kernel: a forged record may send anything
    for dtype in dtypes[:8] if isinstance(dtypes, list) else []:
        problem = input_dtype_problem(str(dtype)[:40])
        if problem:  # the notebook's network and losses would refuse it (as practice says)
            raise CheckFailed(check, problem)
    shapes = result.get("input_shapes")  # (the kernel's loss_fn saw them; practice refuses)
    for shape in shapes[:8] if isinstance(shapes, list) else []:
        problem = input_shape_problem(str(shape)[:80], _SHAPE)
        if problem:
            raise CheckFailed(check, problem)
    fn: Callable = Replay(check, result, npz, bowl)
    first, second, third = bowl.points
    _values(check, fn, bowl, first, None)
    _values(check, fn, bowl, second, first)
    run = result.get("fmin", {})
    run = run if isinstance(run, dict) else {}
    if run.get("status") != "ok":
        raise CheckFailed(check, raised_message(str(run.get("type")), str(run.get("error"))),
                          str(run.get("traceback", "")))
    best = np.asarray(npz["best"], np.float64) if "best" in npz.files else np.zeros(0)
    if run.get("warnflag") != 0 or not close(best, bowl.target.ravel(), rtol=1e-3):
        raise CheckFailed(check, (
            "loss and gradient look right on two inputs, but L-BFGS-B did not reach the "
            f"minimum from another ({run.get('task')}); does your function depend on anything "
            "but its argument?"))
    _values(check, fn, bowl, third, best)
    return (f"✓ {check}: (float loss, flat float64 gradient of the point passed); L-BFGS-B "
            f"found the hidden minimum in {run.get('nit')} iterations")


def look_target(source_dir: Path | None) -> dict[str, Any]:
    """The hidden settings that paint ex07's target picture, read from the instructor's
    folder ``source_dir`` (``look_target.json``; the repository's own folder when None), here
    and only here: the package holds none."""
    from helpers.errors import StyleTransferError
    from helpers.exercises import instructor

    source = source_dir if source_dir is not None else instructor.checkout_source()
    if source is None:
        raise StyleTransferError("ex07's target settings are in the instructor's folder: pass "
                                 "--source DIR (the folder with look_target.json)")
    return instructor.look_target(source)


def hand_out_look_picture(source: Path | None, folder: Path) -> None:
    """Put ex07's small target picture (NST_FAST=1, as the grading kernels run) in the
    kernel's working ``folder``, as a student has it beside the notebook: the kernel cannot
    paint it (the instructor's folder is hidden from it)."""
    from helpers.exercises.instructor import LOOK_PICTURES
    from helpers.images import save_image

    with fast_mode():
        save_image(_target_picture(source), folder / LOOK_PICTURES[True])


def _target_picture(source: Path | None) -> np.ndarray:
    """The target picture, painted once per grading run: kept in the run's cache folder
    (``NST_GRADE_CACHE``, hidden from the kernels) for the other workers."""
    import fcntl
    import hashlib
    import io
    import json

    from helpers.exercises.ex07_match_the_look import look_paint, look_size
    from helpers.files import write_bytes

    settings, folder = look_target(source), os.environ.get("NST_GRADE_CACHE", "")
    if not folder:
        return look_paint(settings)
    key = hashlib.sha256(json.dumps([settings, look_size()], sort_keys=True,
                                    default=str).encode()).hexdigest()[:16]
    path = Path(folder) / f"look-target-{key}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = os.open(path.with_suffix(".lock"), os.O_RDONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker paints it, the others wait for it
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            pass
        picture = look_paint(settings)
        buffer = io.BytesIO()
        np.save(buffer, picture)
        write_bytes(path, buffer.getvalue())
    finally:
        os.close(lock)
    return picture


def judge_look(check: str, result: dict, source: Path | None) -> str:
    """Paint with the student's settings (sent as JSON) and compare with the target, as the
    practice check does (:mod:`helpers.exercises.ex07_match_the_look`)."""
    from helpers.exercises.ex07_match_the_look import look_verdict, paint_settings

    failure = failure_of(check, result)
    if failure is not None:
        raise failure
    with fast_mode():
        mine = paint_settings(check, result.get("settings"), str(result.get("type")))
        return look_verdict(check, mine, _target_picture(source))


@contextlib.contextmanager
def fast_mode() -> Iterator[None]:
    """While inside, NST_FAST=1, as in the grading kernels: the target handed to the kernel
    (``look_target_fast.png``) and both paintings judged here are the small ones, whatever
    the grader's own environment says."""
    old = os.environ.get("NST_FAST")
    os.environ["NST_FAST"] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("NST_FAST", None)
        else:
            os.environ["NST_FAST"] = old


def not_counted(check: str, line: str) -> str:
    """A pass's message for grades.csv, the feedback page and the summary's flags: its ✓
    line (less "✓ check: ") when that names hidden inputs not counted (the excused error
    may be the student's own code raising it: the instructor must see it), else ""."""
    if NOT_COUNTED in line.split("; graded with the reference")[0]:  # not the student's text
        return line.removeprefix(f"✓ {check}: ")
    return ""


def judge(check: str, result: dict, npz: Any, source: Path | None = None) -> str:
    """The verdict on the kernel's answers to ``check``: its ✓ line, or CheckFailed (a
    forged answer, :class:`~helpers.exercises.judge.Answers`, earns nothing: one line)."""
    answers = Answers(npz)  # the arrays, each checked before it is read
    try:
        if answers.forged:
            answers.refuse(answers.forged)
        return _judge(check, result, answers, source)
    except CheckFailed as failure:  # a forged part ends the check, however it was caught
        if answers.forged:
            raise CheckFailed(check, FORGED.format(why=answers.forged)) from None
        if isinstance(failure, ForgedAnswer):
            raise CheckFailed(check, failure.message) from None
        raise


def _judge(check: str, result: dict, npz: Any, source: Path | None) -> str:
    if not isinstance(result, dict):
        raise CheckFailed(check, "the grader got no answer for this check from your notebook")
    if result.get("missing"):
        raise CheckFailed(check, (
            "the function this check grades is not defined in your notebook (its cell did "
            "not run, or it was renamed): keep the name the exercise gives"))
    if result.get("status") in ("changed", "too_large"):  # the answer files, not the calls
        raise failure_of(check, result) or CheckFailed(check, "no answer")
    if check == "lbfgs":
        return judge_lbfgs(check, result, npz, _bowl())
    if check == "look":
        return judge_look(check, result, source)
    if check in SUBSTITUTE:
        return _substituted(check, result, npz)
    return judge_arrays(check, result.get("graded", []), npz)
