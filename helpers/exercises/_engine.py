"""The diagnosis engine shared by every exercise check (no notebook of its own).

A check runs the student's function on hidden inputs (:class:`Case`; the student gets a copy,
the reference and every diagnosis use the pristine input, made once per process) and compares
with the library's reference. A function that changes its input is told so. When the answer
is wrong it looks, in order, for a known wrong answer (``Spec.candidates``), a spec-specific
diagnosis (``Spec.diagnose``), a float16 or int32 mutant, a result that is only wrong on the
large hidden input (integer overflow), minus the right one, the right one times a factor
k·Nᵃ·Mᵇ, which it names ("4·N²·M² times too large: you left out the 1/(4·N²·M²)"), and then
the mutation search of :mod:`helpers.exercises.mutations` (``Spec.mutations``: single
mutants, one times a factor, pairs). Failures raise :class:`CheckFailed`, an
``AssertionError`` so nbgrader scores it, carrying the share of hidden inputs that came out
right as ``credit``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from helpers.exercises.calling import (  # noqa: F401  (importable from here, as before)
    NOT_IMPLEMENTED,
    CheckFailed,
    call,
    first_line,
    gradient_of,
    library_message,
    tensorflow_limit,
)
from helpers.exercises.cases import (  # noqa: F401  (the spec modules import them from here)
    SEED,
    Case,
    Spec,
    changed_input,
    feature_cases,
    fresh,
    gram_np,
    is_tensor,
    real_case,
    rng,
    scalar_shape,
    scalar_values,
)
from helpers.exercises.diagnosis import (  # noqa: F401
    OVERFLOW,
    _right,
    close,
    diagnose,
    diagnosis,
    factor_message,
    factor_of,
    monomial,
    rounded_problem,
    shape_problem,
    shape_text,
)
from helpers.exercises.raised import (  # noqa: F401  (importable from here, as before)
    RAISED_HINTS,
    SHAPE_HINT,
    raised_message,
)

# ------------------------------------------------------------------------- the generic check

def type_problem(spec: Spec, out: Any) -> str | None:
    """What is wrong with the type of the student's result, or None."""
    if out is None:
        return "your function returned None: did you forget the `return` line?"
    if spec.returns == "array" and isinstance(out, list):
        return "your function returns a list; return a NumPy array (np.asarray)"
    if isinstance(out, tuple | list):
        return (f"your function returned a {type(out).__name__} of {len(out)} items; return "
                f"{spec.what} itself")
    if isinstance(out, dict):
        entries = f"{len(out)} entr{'y' if len(out) == 1 else 'ies'}"
        return (f"your function returns a dict ({entries}); return {spec.what} itself, one "
                "tensor (losses kept per layer are added up: tf.add_n)")
    if spec.returns == "tensor" and not is_tensor(out):
        return (f"your function returns a {type(out).__name__}, but the optimiser needs a "
                "TensorFlow tensor so the gradient can flow back to the image: use tf.* "
                "operations (tf.matmul, tf.reduce_sum, tf.square ...) instead of np.*")
    if spec.returns == "array" and is_tensor(out):
        return ("your function returns a TensorFlow tensor; return a NumPy array, as "
                "helpers.images does (np.asarray, or .numpy())")
    if spec.returns == "array" and not isinstance(out, np.ndarray):
        return f"your function returns a {type(out).__name__}; return a NumPy array"
    return None


def _gradient_problem(case: Case, gradient: str) -> str | None:
    """What is wrong with the gradient of a right value: ``gradient`` is "none" (no gradient
    reached an input), "nonfinite" or "ok"."""
    if gradient == "none":
        return ("right value, but no gradient flows back from your result to the input: "
                "something on the way cuts it off — a tf.stop_gradient, a trip through NumPy "
                "(.numpy(), np.*, float(), then tf.constant), or a new tf.Variable made from "
                "the input. The optimiser needs that gradient: keep every step in tf.* "
                "operations on the input itself")
    if gradient.startswith(("raised:", "kernel:")):
        return (f"right value, but computing its gradient ({case.label}) raised "
                f"{gradient.split(':', 1)[1]}: the optimiser needs that gradient")
    if gradient == "nonfinite":
        return (f"right value, but its gradient holds NaN or infinite values ({case.label}); "
                "look for a power below 1 (sqrt, u ** 0.25) or a log of something that can "
                "be 0, and take the power in one go, u ** 1.25")
    return None


@dataclass
class Answer:
    """What the student's function gave on one hidden input: its result, the inputs as they
    were after the call, and its gradient ("" when none was asked; else "none",
    "nonfinite" or "ok"). Made here (practice) or from a grading kernel's record."""

    out: Any
    after: tuple
    gradient: str = ""


THIN = (" — on {}, after the ordinary hidden inputs went through: a map or image one "
        "pixel high or wide is a valid input too. np.squeeze / tf.squeeze without axis= drop "
        "that axis as well (squeeze only axis=0, or reshape with the sizes you mean), and a "
        "division by H − 1 or W − 1 is a division by 0 there")


def on_thin(case: Case, failure: CheckFailed) -> CheckFailed:
    """``failure`` (the student's function raised) with a word on the input's shape when
    that input is one pixel high or wide (the ordinary inputs come first, so only its
    shape is new); unchanged otherwise."""
    if not case.thin or not failure.message.startswith("your function raised"):
        return failure
    return CheckFailed(failure.name, failure.message + THIN.format(case.label),
                       failure.student_traceback)


def answer_here(name: str, spec: Spec, answer: Callable, case: Case) -> Answer:
    """Call the student's function on a copy of one hidden input, in this process (the
    in-notebook practice check). Their errors and library answers raise CheckFailed."""

    given = fresh(case.args)
    watched = spec.watch(given) if spec.watch else []
    library = spec.library() if spec.library else None
    if not watched:  # only losses need TensorFlow; preprocessing checks run without it
        return Answer(call(name, answer, *given, library=library), given)
    from helpers._tf import tf

    with tf.GradientTape() as tape:
        for t in watched:
            tape.watch(t)
        out = call(name, answer, *given, library=library)
        total = call(name, _total, out)  # a string tensor cannot be summed: said in one line
    return Answer(out, given, gradient_of(tape, total, watched) if total is not None else "none")


def _total(out: Any) -> Any:
    from helpers._tf import tf

    return tf.reduce_sum(tf.cast(out, tf.float32)) if tf.is_tensor(out) else None


def judge_case(name: str, spec: Spec, case: Case, answer: Answer
               ) -> tuple[np.ndarray, np.ndarray, str | None]:
    """The student's and the reference's result on one hidden input, and what is wrong
    with the gradient or the dtype of a right one (or None); CheckFailed for a changed
    input, a wrong type or shape. Never runs the student's code."""
    out = answer.out
    change = changed_input(case.args, answer.after)
    if change:
        raise CheckFailed(name, change)
    problem = type_problem(spec, out)
    if problem:
        raise CheckFailed(name, problem)
    ref = reference(spec, case)
    value = as_numbers(name, spec, out)
    finite = bool(np.all(np.isfinite(value)))  # if not: named by diagnosis() (float16 …)
    if value.shape != ref.shape:
        raise CheckFailed(name, shape_problem(spec, value, ref, case))
    problem = None
    if answer.gradient and finite and close(value, ref):
        problem = _gradient_problem(case, answer.gradient)
    return value, ref, problem or dtype_problem(spec, out)


def as_numbers(name: str, spec: Spec, out: Any) -> np.ndarray:
    """The student's result as float64 values; CheckFailed for complex numbers, or anything
    that is no array of numbers (a ragged tensor, an object array, strings)."""
    dtype = getattr(getattr(out, "dtype", None), "name", str(getattr(out, "dtype", "")))
    if "complex" in str(dtype):
        raise CheckFailed(name, f"your result is {dtype}: return real numbers (no tf.complex, "
                                "no complex dtype on the way)")
    try:
        return np.asarray(out, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CheckFailed(name, f"your result ({type(out).__name__}) is not an array of "
                                f"numbers ({first_line(exc, 120)}): return {spec.what} as a "
                                f"{'tensor' if spec.returns == 'tensor' else 'NumPy array'} "
                                "of floats") from None


def reference(spec: Spec, case: Case) -> np.ndarray:
    """The library's result on the pristine hidden input, computed once per input."""
    if "ref" not in case.memo:
        case.memo["ref"] = np.asarray(spec.reference(*case.args), dtype=np.float64)
    return case.memo["ref"]


def dtype_problem(spec: Spec, out: Any) -> str | None:
    """A result in a dtype the exercise does not allow (``spec.dtypes``), or None."""
    dtype = getattr(out, "sent_dtype", "") or str(getattr(out, "dtype", "")).replace(
        "<dtype: '", "").rstrip("'>")
    if dtype in ("float16", "bfloat16") and not spec.dtypes:
        return (f"your result is {dtype}, which keeps about 3 significant digits"
                f"{' and stops at 65504' if dtype == 'float16' else ''}: compute in float32 "
                "(leave out the tf.cast to a smaller type)")
    if not spec.dtypes or dtype in spec.dtypes:
        return None
    want = spec.dtypes[0]
    if dtype == "float16":
        return (f"your result is float16, which keeps 3 significant digits (123.68 becomes "
                f"123.7) and stops at 65504; return {want} (.astype(np.{want}))")
    return f"your result is {dtype}; return {want} (.astype(np.{want}))"


_HIDDEN: dict[str, list[Case]] = {}


def hidden_cases(name: str, spec: Spec) -> list[Case]:
    """The hidden inputs of check ``name``: made once per process (with their reference
    and mutant results cached on them), never handed to the student's function."""
    if name not in _HIDDEN:  # one pixel high or wide last: the others name a mistake first
        _HIDDEN[name] = sorted(spec.cases(), key=lambda case: case.thin)
    return _HIDDEN[name]


def run_spec(name: str, spec: Spec, answer: Callable,
             first: Callable[[str, Case, Answer], None] | None = None) -> None:
    """Check ``answer`` on every hidden input of ``spec``; print ✓ or raise CheckFailed.
    ``first(name, case, answer)``: the check's own first steps on each answer."""
    cases = hidden_cases(name, spec)
    print(judge_in_order(name, spec, cases,
                         lambda i, case: answer_here(name, spec, answer, case), first))


def judge_in_order(name: str, spec: Spec, cases: list[Case],
                   get: Callable[[int, Case], Answer],
                   first: Callable[[str, Case, Answer], None] | None = None) -> str:
    """The ✓ line, or CheckFailed: the answers ``get(i, case)`` (which raises CheckFailed
    when the student's call failed: practice runs it here, the grader reads a kernel's
    record) judged in turn, the first failing input ending the check; a failure on an input
    one pixel high or wide (they come last) goes through :func:`thin_failure`. Such an
    input is not counted, and named in the ✓ line, only when its gradient raised an error
    class that this process's TensorFlow raises on a one-pixel convolution's gradient
    (:func:`~helpers.exercises.calling.tensorflow_limit`: oneDNN's AbortedError, whose
    values are garbage too); anything the student's function itself raises fails."""
    answers: list[Answer] = []
    kept: list[Case] = []
    skipped: list[str] = []
    for i, case in enumerate(cases):
        try:
            answer = get(i, case)
            limit = tensorflow_limit(answer.gradient) if case.thin and spec.watch else None
            if limit:
                skipped.append(f"{case.label} (its gradient raised {limit})")
                continue
            if first:
                first(name, case, answer)
            judge_case(name, spec, case, answer)
        except CheckFailed as failure:
            raise thin_failure(name, spec, [*kept, case], answers, on_thin(case, failure)
                               ) from None
        kept.append(case)
        answers.append(answer)
    return judge_spec(name, spec, kept, answers, skipped)


def thin_failure(name: str, spec: Spec, cases: list[Case], answers: list[Answer],
                 failure: CheckFailed) -> CheckFailed:
    """What to raise when the answer on the input after ``answers`` (those of the inputs
    before it) failed (raised, wrong shape …): when it is one pixel high or wide (only its
    shape is new), a mistake in the values of the ordinary inputs is named first (a
    reflect padding fails on a 1-pixel image, but is told it is a reflect padding)."""
    case = cases[len(answers)] if len(answers) < len(cases) else None
    if case is None or not case.thin or not answers:
        return failure
    try:
        judge_spec(name, spec, cases[:len(answers)], answers)
    except CheckFailed as earlier:
        return earlier
    return failure


#: The ✓ line's note on inputs not counted (:func:`judge_in_order`); the grader flags it.
NOT_COUNTED = "; not counted: "
LIMIT = (": this TensorFlow raises that on a one-pixel convolution's gradient, its own limit "
         "and not your mistake")
SKIPPED = NOT_COUNTED + "{}" + LIMIT


def judge_spec(name: str, spec: Spec, cases: list[Case], answers: list[Answer],
               skipped: tuple | list = ()) -> str:
    """The ✓ line when every answer is right; else CheckFailed naming the mistake, with the
    share of hidden inputs that came out right as ``credit``."""
    outs, refs, problems = [], [], []
    for case, answer in zip(cases, answers, strict=True):
        out, ref, problem = judge_case(name, spec, case, answer)
        outs.append(out)
        refs.append(ref)
        problems.append(problem)
    right = [_right(o, r, spec.exact, spec.rtol) for o, r in zip(outs, refs, strict=True)]
    problem = next((p for p in problems if p), None)
    if all(right) and not problem and spec.returns in ("tensor", "array"):
        problem = rounded_problem(outs, spec.exact)  # right to 3 digits: float16 on the way
    if all(right) and problem:
        raise CheckFailed(name, problem)
    if all(right):
        note = SKIPPED.format("; ".join(skipped)) if skipped else ""
        return (f"✓ {name}: {spec.success or spec.what + ' is right'} "
                f"(checked on {len(cases)} hidden inputs{note})")
    message = diagnose(spec, outs, refs, cases, right)
    if message.startswith(("wrong values", "every value of")) and problem:  # a float16 result
        message = problem
    raise CheckFailed(name, message, credit=sum(right) / len(cases))
