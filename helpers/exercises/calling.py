"""Calling the student's function in an exercise check (no notebook of its own; used by
:mod:`helpers.exercises._engine` and the checks of notebooks/exercises): whatever it raises,
or its gradient raises, becomes one :class:`CheckFailed` line, and a call of the library's
own answer is refused. TensorFlow's own kernel errors are told apart (:func:`kernel_error`)."""

from __future__ import annotations

import re
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np

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


def kernel_error(kind: str) -> bool:
    """Whether ``kind`` names an error of TensorFlow's own op kernels that a valid input may
    meet (oneDNN's AbortedError on a 1-pixel convolution's gradient, UnimplementedError …):
    any tf.errors.OpError but InvalidArgumentError, which a shape slip raises."""
    tf = sys.modules.get("tensorflow")
    error = getattr(getattr(tf, "errors", None), kind, None) if kind.endswith("Error") else None
    return (isinstance(error, type) and issubclass(error, tf.errors.OpError)
            and error not in (tf.errors.OpError, tf.errors.InvalidArgumentError))


def gradient_of(tape: Any, total: Any, watched: list) -> str:
    """"none", "nonfinite", "ok", or what computing the gradient raised ("kernel:" or
    "raised:", then the error's name and first line); the grader's harness does the same."""
    try:
        grads = tape.gradient(total, watched)
    except LookupError:  # an operation without a gradient: none flows
        return "none"
    except Exception as exc:  # noqa: BLE001 - the student's code, or TensorFlow's kernels
        kind = type(exc).__name__
        return f"{'kernel' if kernel_error(kind) else 'raised'}:{kind}: {first_line(exc)}"
    if any(g is None for g in grads):
        return "none"
    return "ok" if all(np.all(np.isfinite(np.asarray(g))) for g in grads) else "nonfinite"
