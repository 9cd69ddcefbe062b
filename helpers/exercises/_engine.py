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

import contextlib
import itertools
import math
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers.exercises.mutations import Mutations, search

SEED = 2015  # Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style"
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


# --------------------------------------------------------------------------- diagnosis tools

def monomial(k: float, exps: dict[str, int]) -> str:
    """'4·N²·M²' for k=4, {N: 2, M: 2}; '1' for k=1, {}. Exponents must be >= 0."""
    sup = {1: "", 2: "²", 3: "³", 4: "⁴"}
    parts = [] if k == 1 else [f"{k:g}"]
    parts += [f"{d}{sup[e]}" for d, e in exps.items() if e > 0]
    return "·".join(parts) or "1"


def _fraction(k: float, exps: dict[str, int]) -> str:
    num = (k if k >= 1 else 1.0, {d: e for d, e in exps.items() if e > 0})
    den = (1 / k if k < 1 else 1.0, {d: -e for d, e in exps.items() if e < 0})
    top, bottom = monomial(*num), monomial(*den)
    return top if bottom == "1" else f"{top}/{bottom}" if top != "1" else f"1/{bottom}"


@dataclass
class Case:
    """One hidden input: positional ``args`` for the student's function, the named sizes
    (e.g. N channels, M positions) used to name a wrong factor, and a short label (shown to
    the student: it names a shape, never values). ``large`` marks a real-size input that
    only integer overflow gets wrong; ``real`` one with real-magnitude values (VGG features of
    the bundled photo), where float16 overflows. ``memo`` caches what is computed from the
    pristine ``args`` (the student only ever gets copies)."""

    args: tuple
    dims: dict[str, int]
    label: str
    large: bool = False
    real: bool = False                                    # real-magnitude values (VGG, photo)
    memo: dict = field(default_factory=dict, repr=False)  # reference, mutants: computed once


@dataclass
class Spec:
    """What one check needs: hidden inputs, the reference, and the known wrong answers."""

    what: str                                   # e.g. "the Gram matrix"
    cases: Callable[[], list[Case]]
    reference: Callable[..., np.ndarray]
    returns: str                                # "tensor" or "array"
    candidates: list[tuple[str, Callable[..., np.ndarray]]] = field(default_factory=list)
    divisor: tuple[float, dict[str, int]] | None = None   # reference normalisation 1/divisor
    factor_hints: dict[str, str] = field(default_factory=dict)  # divisor text -> extra hint
    shape_hint: Callable[[tuple, tuple, Case], str | None] | None = None
    watch: Callable[[tuple], list] | None = None          # tensors the gradient must reach
    success: str = ""
    dim_names: str = "N = channels, M = H·W positions"
    exact: bool = False                                   # integers: compare almost exactly
    library: Callable[[], Callable] | None = None         # the library's own answer
    diagnose: Callable[[list, list, list], str | None] | None = None  # (outs, refs, cases)
    mutations: Mutations | None = None                    # the mutation search (mutations.py)
    dtypes: tuple[str, ...] = ()                          # result dtypes allowed (all if empty)
    rtol: float = 1e-3                                    # how close a right result must be


def close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-3) -> bool:
    """a ≈ b relative to b's size (float32 arithmetic on either side)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-12)
    return bool(np.max(np.abs(a - b)) <= rtol * scale) if a.size else True


def _ratios(outs: list[np.ndarray], refs: list[np.ndarray]) -> list[float] | None:
    """out / ref per case when every out is a positive multiple of its ref, else None."""
    ratios = []
    for out, ref in zip(outs, refs, strict=True):
        denom = float(np.sum(ref * ref))
        if out.shape != ref.shape or denom == 0:
            return None
        r = float(np.sum(out * ref)) / denom
        if r <= 0 or not close(out, r * ref):
            return None
        ratios.append(r)
    return ratios


def factor_of(outs: list[np.ndarray], refs: list[np.ndarray], cases: list[Case]
              ) -> tuple[float, dict[str, int]] | None:
    """The simplest k · Π d^e (k in ¼..4, e in -2..2) with out = ref · factor on every case."""
    ratios = _ratios(outs, refs)
    if ratios is None:
        return None
    names = list(cases[0].dims)
    options = []
    for k in (1.0, 2.0, 0.5, 4.0, 0.25):
        for es in itertools.product(range(-2, 3), repeat=len(names)):
            exps = dict(zip(names, es, strict=True))
            if k == 1 and not any(es):
                continue
            options.append((sum(map(abs, es)) + abs(math.log2(k)), k, exps))
    for _, k, exps in sorted(options, key=lambda o: o[0]):
        if all(math.isclose(r, k * math.prod(c.dims[d] ** e for d, e in exps.items()),
                            rel_tol=2e-3) for r, c in zip(ratios, cases, strict=True)):
            return k, exps
    return None


def _why(ref_k: float, ref_e: dict[str, int], k: float, exps: dict[str, int]
         ) -> tuple[str, str | None]:
    """Why the result is off by k·Π d^e when the right one divides by ref_k·Π d^ref_e:
    (the reason, the student's own divisor as text or None)."""
    mine_k = ref_k / k
    mine_e = {d: ref_e.get(d, 0) - exps.get(d, 0) for d in [*ref_e, *exps]}
    mine_e = {d: e for d, e in mine_e.items() if e}
    ref_text = monomial(ref_k, ref_e)
    mine = monomial(mine_k, mine_e) if mine_k >= 1 and all(
        e > 0 for e in mine_e.values()) else None
    if mine == "1":
        return f"you left out the 1/({ref_text})", mine
    if mine and ref_text == "1":
        return f"you divided by {mine}, but nothing is divided here", mine
    if mine:
        only = mine_k <= ref_k and all(e <= ref_e.get(d, 0) for d, e in mine_e.items())
        return f"you divided by {mine}{' only' if only else ''}, not by {ref_text}", mine
    if k >= 1 and all(e >= 0 for e in exps.values()):  # a factor multiplied in
        return f"an extra factor {monomial(k, exps)} is in your result", None
    if ref_text == "1":
        return "the right result has no such factor", None
    return f"the right result divides by {ref_text}", None


def factor_message(spec: Spec | None, k: float, exps: dict[str, int], dims: dict[str, int]) -> str:
    """'your result is 4·N²·M² times too large: you left out the 1/(4·N²·M²)' and kin;
    ``dims`` (one hidden input's sizes) tells "too large" from "too small"."""
    inverse = {d: -e for d, e in exps.items()}
    if k * math.prod(dims[d] ** e for d, e in exps.items()) >= 1:
        text = f"your result is {_fraction(k, exps)} times too large"
    else:
        text = f"your result is {_fraction(1 / k, inverse)} times too small"
    if spec is None or spec.divisor is None:
        return text
    why, mine = _why(*spec.divisor, k, exps)
    hint = spec.factor_hints.get(mine or "")
    return f"{text}: {why} ({spec.dim_names})" + (f". {hint}" if hint else "")


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


def library_message(target: Callable) -> str:
    """What a check says when the student's function is (or calls) the library's answer."""
    where = f"{target.__module__}.{target.__qualname__}"
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
        hint = ""
        if isinstance(exc, AttributeError) and "NoneType" in str(exc):
            hint = (" — something is None; tape.gradient returns None when the tape did not "
                    "watch the input (tape.watch(x)), and a function without `return` gives None")
        if isinstance(exc, MemoryError):
            hint = " — your code ran out of memory"
        raise CheckFailed(
            name, f"your function raised {type(exc).__name__}: {first_line(exc)}{hint}",
            _student_frames(exc)) from None
    if library is not None and watch.seen:
        raise CheckFailed(name, library_message(library))
    return result


# ------------------------------------------------------------------------- the generic check

def is_tensor(value: Any) -> bool:
    """True for a TensorFlow tensor (without importing TensorFlow when nobody has)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and bool(tf.is_tensor(value))


def type_problem(spec: Spec, out: Any) -> str | None:
    """What is wrong with the type of the student's result, or None."""
    if out is None:
        return "your function returned None: did you forget the `return` line?"
    if spec.returns == "array" and isinstance(out, list):
        return "your function returns a list; return a NumPy array (np.asarray)"
    if isinstance(out, tuple | list):
        return (f"your function returned a {type(out).__name__} of {len(out)} items; return "
                f"{spec.what} itself")
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


OVERFLOW = ("right on the small hidden inputs, but {what} on a real-size one ({label}): "
            "integer arithmetic overflowed. Sizes taken with tf.shape / tf.size (int32) or "
            "np.int32 wrap around past 2³¹ once multiplied (4·N²·M² is about 4e12 for a "
            "128×128×64 map); use Python ints (features.shape[1] * features.shape[2]) or "
            "cast to float32 before multiplying")


def _gradient_problem(spec: Spec, case: Case, grads: list) -> str | None:
    if any(g is None for g in grads):
        return ("right value, but no gradient flows back through your function: did you "
                "convert to NumPy on the way (.numpy(), np.*, float())? Keep it in tf.*")
    if not all(np.all(np.isfinite(np.asarray(g))) for g in grads):
        return (f"right value, but its gradient holds NaN or infinite values ({case.label}); "
                "look for a power below 1 (sqrt, u ** 0.25) or a log of something that can "
                "be 0, and take the power in one go, u ** 1.25")
    return None


def _run_case(name: str, spec: Spec, answer: Callable, case: Case
              ) -> tuple[np.ndarray, np.ndarray, str | None]:
    """The student's and the reference's result on one hidden input, and what is wrong
    with the gradient or the dtype of a right one (or None). The student gets a copy; the
    reference and every mutant use the pristine input."""
    ref = reference(spec, case)  # before the student's code runs, on the pristine input
    given = fresh(case.args)
    watched = spec.watch(given) if spec.watch else []
    library = spec.library() if spec.library else None
    if watched:  # only losses need TensorFlow; preprocessing checks run without it
        from helpers._tf import tf

        tape = tf.GradientTape()
    with tape if watched else contextlib.nullcontext():
        for t in watched:
            tape.watch(t)
        out = call(name, answer, *given, library=library)
        change = changed_input(case.args, given)
        if change:
            raise CheckFailed(name, change)
        problem = type_problem(spec, out)
        if problem:
            raise CheckFailed(name, problem)
        total = tf.reduce_sum(tf.cast(out, tf.float32)) if watched else None
    value = np.asarray(out, dtype=np.float64)
    finite = bool(np.all(np.isfinite(value)))  # if not: named by diagnosis() (float16 …)
    if value.shape != ref.shape:
        hint = spec.shape_hint(value.shape, ref.shape, case) if spec.shape_hint else None
        raise CheckFailed(name, hint or (
            f"wrong shape: expected {ref.shape}, got {value.shape} ({case.label})"))
    problem = None
    if watched and finite and close(value, ref):
        problem = _gradient_problem(spec, case, tape.gradient(total, watched))
    return value, ref, problem or dtype_problem(spec, out)


def reference(spec: Spec, case: Case) -> np.ndarray:
    """The library's result on the pristine hidden input, computed once per input."""
    if "ref" not in case.memo:
        case.memo["ref"] = np.asarray(spec.reference(*case.args), dtype=np.float64)
    return case.memo["ref"]


def dtype_problem(spec: Spec, out: Any) -> str | None:
    """A result in a dtype the exercise does not allow (``spec.dtypes``), or None."""
    dtype = str(getattr(out, "dtype", "")).replace("<dtype: '", "").rstrip("'>")
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
    if name not in _HIDDEN:
        _HIDDEN[name] = spec.cases()
    return _HIDDEN[name]


def run_spec(name: str, spec: Spec, answer: Callable) -> None:
    """Check ``answer`` on every hidden input of ``spec``; print ✓ or raise CheckFailed."""
    cases = hidden_cases(name, spec)
    outs, refs, problems = [], [], []
    for case in cases:
        out, ref, problem = _run_case(name, spec, answer, case)
        outs.append(out)
        refs.append(ref)
        problems.append(problem)
    right = [_right(o, r, spec.exact, spec.rtol) for o, r in zip(outs, refs, strict=True)]
    problem = next((p for p in problems if p), None)
    if all(right) and problem:
        raise CheckFailed(name, problem)
    if all(right):
        print(f"✓ {name}: {spec.success or spec.what + ' is right'} "
              f"(checked on {len(cases)} hidden inputs)")
        return
    message = diagnosis(spec, outs, refs, cases, right)
    if message.startswith("wrong values") and problem:  # e.g. a float16 result
        message = problem
    raise CheckFailed(name, message, credit=sum(right) / len(cases))


def _candidate(spec: Spec, index: int, case: Case) -> np.ndarray:
    key = ("candidate", index)
    if key not in case.memo:
        with np.errstate(all="ignore"):
            case.memo[key] = np.asarray(spec.candidates[index][1](*case.args), np.float64)
    return case.memo[key]


def diagnosis(spec: Spec, outs: list, refs: list, cases: list[Case], right: list[bool]) -> str:
    """The message for a wrong answer: the first diagnosis that fits every hidden input:
    a hand-written known mistake, the spec's own diagnosis, integer overflow on the large
    input only, a sign or a factor k·Nᵃ·Mᵇ, then the mutation search."""
    for index, (message, _) in enumerate(spec.candidates):
        if all(_right(out, _candidate(spec, index, case), spec.exact)
               for out, case in zip(outs, cases, strict=True)):
            return message
    special = spec.diagnose(outs, refs, cases) if spec.diagnose else None
    if special:
        return special
    dtype = search(spec.mutations, outs, cases, spec.exact, family="dtype") if (
        spec.mutations) else None
    if dtype:  # float16 overflow on real features looks like integer overflow: named first
        return dtype
    wrong = [c for c, ok in zip(cases, right, strict=True) if not ok]
    if all(c.large or c.real for c in wrong) and any(c.large for c in wrong):
        finite = all(np.all(np.isfinite(o)) for o in outs)
        biggest = max(wrong, key=lambda c: math.prod(c.dims.values()))
        return OVERFLOW.format(what="wrong" if finite else "NaN or infinite",
                               label=biggest.label)
    if all(close(out, -ref) for out, ref in zip(outs, refs, strict=True)):
        return ("your result is minus the right one: look for a stray minus sign (or a "
                "subtraction the wrong way round)")
    factor = factor_of(outs, refs, cases)
    if factor is not None:
        return factor_message(spec, *factor, cases[0].dims)
    found = search(spec.mutations, outs, cases, spec.exact, _factor_text) if (
        spec.mutations) else None
    return found or _unexplained(outs, cases, right)


def _factor_text(outs: list, others: list, cases: list[Case]) -> str | None:
    """'your result is 2·M times too large' between ``outs`` and ``others``, or None."""
    factor = factor_of(outs, others, cases)
    return None if factor is None else factor_message(None, *factor, cases[0].dims)


def _unexplained(outs: list, cases: list[Case], right: list[bool]) -> str:
    """What a wrong answer that no diagnosis fits is told."""
    for out, case in zip(outs, cases, strict=True):
        if not np.all(np.isfinite(out)):
            return (f"your result holds NaN or infinite values ({case.label}), where the "
                    "right one is finite: look for float16 (it stops at 65504), a division by "
                    "something that can be 0, or a power below 1 of a negative number")
    wrong = next(c for c, ok in zip(cases, right, strict=True) if not ok)
    return (f"wrong values ({wrong.label}); {sum(right)} of {len(cases)} hidden inputs came "
            "out right. It is none of the mistakes this check knows, so compare your code "
            "with the formula step by step on a tiny example")


def _right(out: np.ndarray, ref: np.ndarray, exact: bool, rtol: float = 1e-3) -> bool:
    if out.shape != ref.shape:
        return False
    if exact:  # uint8 images: rounding ties may differ by one grey level, very rarely
        diff = np.abs(out - ref)
        return bool(diff.max(initial=0) <= 1 and np.mean(diff > 0) < 1e-3)
    return close(out, ref, rtol)


# ------------------------------------------------------------- inputs the student must not change

def fresh(value: Any) -> Any:
    """A copy of a hidden input for the student's call (arrays, tensors, dicts of them)."""
    if isinstance(value, dict):
        return {k: fresh(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(fresh(v) for v in value)
    if isinstance(value, np.ndarray):
        return value.copy()
    if is_tensor(value):
        from helpers._tf import tf

        return tf.constant(value.numpy())  # .numpy() is a copy
    return value


CHANGED = ("your function changed the {} it was given: {}. Whoever calls it loses their "
           "data: work on a copy (x = np.array(x, dtype=np.float32) makes one; x += …, "
           "x[0] -= … and d[key] = … write into the caller's object, and x[..., ::-1] or x[0] "
           "is a view of it, not a copy)")


def changed_input(pristine: tuple, given: tuple) -> str | None:
    """What the student's call did to its inputs (compared with the pristine hidden
    input), or None when it left them as they were."""
    for before, after in zip(pristine, given, strict=True):
        if isinstance(before, dict):
            what = _dict_change(before, after)
            if what:
                return CHANGED.format("dict", what)
        elif isinstance(before, np.ndarray):
            what = _array_change(before, np.asarray(after))
            if what:
                return CHANGED.format("array", what)
    return None


def _dict_change(before: dict, after: Any) -> str | None:
    if not isinstance(after, dict) or list(after) != list(before):
        return "its entries were added, removed or reordered"
    for key, value in before.items():
        if after[key] is value:
            continue
        a, b = np.asarray(value, np.float64), np.asarray(after[key], np.float64)
        if a.shape != b.shape or not np.array_equal(a, b, equal_nan=True):
            return f"the entry {key!r} was replaced by another value"
    return None


def _array_change(before: np.ndarray, after: np.ndarray) -> str | None:
    """Describe how ``after`` differs from ``before`` (None when it does not)."""
    if after.shape != before.shape:
        return f"its shape is now {after.shape}, not {before.shape}"
    a, b = before.astype(np.float64), after.astype(np.float64)
    if np.array_equal(a, b, equal_nan=True):
        return None
    if a.ndim and np.array_equal(b, a[..., ::-1]):
        return "its channels are now in the other order (reversed in place)"
    shift = (b - a).reshape(-1, a.shape[-1]) if a.ndim else (b - a).reshape(1, 1)
    if np.allclose(shift, shift[0], atol=1e-3):
        from helpers.images import IMAGENET_MEAN_BGR

        vec = shift[0]
        for sign, verb in ((1, "added to"), (-1, "subtracted from")):
            for mean in (IMAGENET_MEAN_BGR, IMAGENET_MEAN_BGR[::-1]):
                if vec.size == 3 and np.allclose(vec, sign * mean, atol=1e-2):
                    return f"the ImageNet mean was {verb} it"
        return f"every value was shifted by [{', '.join(f'{v:g}' for v in np.round(vec, 3))}]"
    return f"{int(np.sum(a != b))} of its {a.size} values are different afterwards"


# ---------------------------------------------------------------------- the hidden inputs

def rng(salt: int) -> np.random.Generator:
    """The hidden inputs' random generator: fixed seed, one stream per check."""
    return np.random.default_rng([SEED, salt])


def feature_cases(salt: int, with_target: str | None = None, large: bool = False,
                  real: bool = False) -> list[Case]:
    """Post-ReLU-like feature maps (1, H, W, C), some zeros, non-square; optional target
    ("features": a second map, "gram": a Gram matrix); ``large`` adds a 128×128×64 map,
    ``real`` VGG features of the bundled photo (targets from the bundled painting)."""
    from helpers._tf import tf

    gen = rng(salt)
    cases = []
    shapes = [(5, 7, 3), (8, 6, 4), (6, 5, 8), (3, 9, 5)] + ([(128, 128, 64)] if large else [])
    for h, w, c in shapes:
        f = np.maximum(gen.normal(0.5, 1.0, (1, h, w, c)), 0).astype(np.float32)
        args: tuple = (tf.constant(f),)
        if with_target == "features":
            args += (tf.constant(np.maximum(gen.normal(0.5, 1.0, f.shape), 0), tf.float32),)
        elif with_target == "gram":
            other = np.maximum(gen.normal(0.7, 1.2, (h * w, c)), 0)
            args += (tf.constant(other.T @ other, tf.float32),)
        big = h * w > 1000
        label = f"a {'large ' if big else ''}hidden feature map of shape {f.shape}"
        cases.append(Case(args, {"N": c, "M": h * w}, label, large=big))
    return cases + ([real_case(with_target)] if real else [])


REAL_LAYER = "block1_conv1"


def real_case(with_target: str | None = None, layer: str = REAL_LAYER,
              crop: tuple[int, int] | None = None) -> Case:
    """VGG ``layer`` features of the bundled photo (a crop of the stored one, ``crop`` =
    (rows, columns), when given: real magnitudes, activations in the hundreds); a target from
    the bundled painting at the same layer."""
    from helpers._tf import tf
    from helpers.exercises.real_inputs import real

    rows, cols = crop or (None, None)
    f = real(f"photo_{layer}")[:, :rows, :cols]
    args: tuple = (tf.constant(f),)
    other = real(f"painting_{layer}")[:, :rows, :cols]
    if with_target == "features":
        args += (tf.constant(other),)
    elif with_target == "gram":
        args += (tf.constant(gram_np(other), tf.float32),)
    n, m = f.shape[-1], f.shape[1] * f.shape[2]
    label = f"{layer} features of a real photo, shape {f.shape}"
    return Case(args, {"N": n, "M": m}, label, real=True)


def gram_np(f: Any) -> np.ndarray:
    """Fᵀ F in float64 of a (..., H, W, C) map."""
    f = np.asarray(f, np.float64)
    flat = f.reshape(-1, f.shape[-1])
    return flat.T @ flat


def scalar_shape(got: tuple, expected: tuple, case: Case) -> str | None:
    """Shape hint for losses: one number."""
    return (f"your result has shape {got}; a loss is one number, shape (): reduce over every "
            "axis (tf.reduce_mean / tf.reduce_sum without axis=)")
