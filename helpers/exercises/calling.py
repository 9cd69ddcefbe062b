"""Calling the student's function in an exercise check (no notebook of its own; used by
:mod:`helpers.exercises._engine` and the checks of notebooks/exercises): whatever it raises,
or its gradient raises, becomes one :class:`CheckFailed` line, and a call of the library's
own answer is refused. What a gradient raised is recorded as the grader's harness does, and
an input one pixel high or wide is excused only for an error class this very TensorFlow
raises on a one-pixel convolution's gradient (:func:`tensorflow_limit`)."""

from __future__ import annotations

import functools
import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers.exercises.harness import error_name, kernel_raised
from helpers.exercises.raised import raised_message

NOT_IMPLEMENTED = ("not implemented yet: replace the `raise NotImplementedError(...)` line in "
                   "your function with your code, then run this cell again")
_PACKAGE_DIR = Path(__file__).resolve().parent


class CheckFailed(AssertionError):
    """A check found a mistake; ``str()`` is the one-line diagnosis (plus the student's own
    traceback when their code raised). Jupyter shows only that, not the checker's frames.
    ``credit`` (0..1) is the share of hidden inputs that came out right, for partial credit."""

    def __init__(self, name: str, message: str, student_traceback: str = "",
                 credit: float = 0.0) -> None:
        super().__init__(f"✗ {name}: {message}")
        self.name, self.message, self.student_traceback = name, message, student_traceback
        self.credit = credit

    def __str__(self) -> str:
        text = self.args[0]
        return f"{text}\n{self.student_traceback}" if self.student_traceback else text

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of the full traceback."""
        return str(self).splitlines()


def _student_frames(exc: BaseException) -> str:
    """The traceback of the student's own code: checker frames dropped, and nothing below
    the first call into an installed library (TensorFlow's internals are not theirs)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if _PACKAGE_DIR not in Path(f.filename).resolve().parents]
    kept = []
    for frame in frames:
        if "site-packages" in frame.filename or frame.filename.startswith(sys.prefix + "/lib"):
            break
        kept.append(frame)
    if not kept:
        return ""
    return "Your code's traceback (most recent call last):\n" + "".join(
        traceback.format_list(kept)).rstrip()


def first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error message, without TensorFlow's {{function_node ...}} and
    [Op:...] decorations."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


class _LibraryWatch:
    """Notes whether the library function ``target`` runs while the student's code does
    (``sys.setprofile``: also catches ``from helpers.losses import gram_matrix as g``)."""

    def __init__(self, target: Callable | None) -> None:
        code = getattr(getattr(target, "__wrapped__", target), "__code__", None)
        self.code, self.seen, self._previous = code, False, None

    def _hook(self, frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code is self.code:
            self.seen = True

    def __enter__(self) -> _LibraryWatch:
        if self.code is not None:
            self._previous = sys.getprofile()
            sys.setprofile(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.code is not None:
            sys.setprofile(self._previous)


def library_message(target: Callable | str) -> str:
    """What a check says when the student's function is (or calls) the library's answer
    (``target``: the function, or its dotted name)."""
    where = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
    return (f"your function uses {where}, the library's own answer to this exercise, so this "
            "check does not count it: write the function yourself (the notebook compares "
            "with the library afterwards)")


def call(name: str, fn: Callable, *args: Any, library: Callable | None = None) -> Any:
    """Call the student's function; their exceptions become one readable CheckFailed, and a
    call into ``library`` (the reference itself) is refused."""
    try:
        with _LibraryWatch(library) as watch:
            result = fn(*args)
    except NotImplementedError:
        raise CheckFailed(name, NOT_IMPLEMENTED) from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's own error: one line plus their traceback
        raise CheckFailed(name, raised_message(type(exc).__name__, first_line(exc), name),
                          _student_frames(exc)) from None
    if library is not None and watch.seen:
        raise CheckFailed(name, library_message(library))
    return result


@functools.cache
def tensorflow_limits() -> frozenset[str]:
    """The error classes this process's TensorFlow raises computing the gradient of a VALID
    convolution (tf.nn.conv2d, tf.nn.depthwise_conv2d) of an image one pixel high: oneDNN,
    TensorFlow's default on x86 CPUs, raises AbortedError; elsewhere nothing (no excuse at
    all). Probed once per process, in the process that judges: the student's own for the
    practice check, the grader's worker (the same TensorFlow, the same settings) when
    grading. An error the forward pass raises is never excused (oneDNN's bug is in the
    gradient), nor InvalidArgumentError (a shape slip's)."""
    from helpers._tf import tf

    x = tf.zeros((1, 1, 8, 3))
    convolutions = (lambda: tf.nn.conv2d(x, tf.ones((2, 1, 3, 3)), 1, "VALID"),
                    lambda: tf.nn.depthwise_conv2d(x, tf.ones((2, 1, 3, 1)), [1, 1, 1, 1],
                                                   "VALID"))
    found = set()
    for convolution in convolutions:
        try:
            with tf.GradientTape() as tape:
                tape.watch(x)
                total = tf.reduce_sum(convolution())
        except tf.errors.OpError:  # the forward pass raised: never excused
            continue
        try:
            tape.gradient(total, x)
        except tf.errors.OpError as exc:
            if kernel_raised(exc):
                found.add(type(exc).__name__)
    return frozenset(found)


def tensorflow_limit(gradient: str) -> str | None:
    """The error class by which an input one pixel high or wide is not counted, or None:
    ``gradient`` (:func:`gradient_of`, or a grading kernel's record, which the student's
    code could forge) names an error of TensorFlow's kernels that :func:`tensorflow_limits`
    found in this process. The one rule of the practice check and of the grader."""
    if not gradient.startswith("kernel:"):
        return None
    kind = gradient[len("kernel:"):].split(":", 1)[0]
    return kind if kind in tensorflow_limits() else None


def gradient_of(tape: Any, total: Any, watched: list) -> str:
    """"none", "nonfinite", "ok", or what computing the gradient raised ("kernel:" for an
    error of TensorFlow's op kernels, else "raised:", then the error's name and first line),
    classed and named as the grader's harness does (:mod:`helpers.exercises.harness`)."""
    try:
        grads = tape.gradient(total, watched)
    except LookupError:  # an operation without a gradient: none flows
        return "none"
    except Exception as exc:  # noqa: BLE001 - the student's code, or TensorFlow's kernels
        kind = "kernel" if kernel_raised(exc) else "raised"
        return f"{kind}:{error_name(exc)}: {first_line(exc)}"
    if any(g is None for g in grads):
        return "none"
    return "ok" if all(np.all(np.isfinite(np.asarray(g))) for g in grads) else "nonfinite"
