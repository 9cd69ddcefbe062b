"""Naming a wrong answer (the exercise checks of notebooks/exercises; no notebook of its
own): a known mistake (``Spec.candidates``), a spec's own diagnosis, float16 or int32
arithmetic, integer overflow on the large hidden input only, a minus sign, a factor
k·Nᵃ·Mᵇ ("4·N²·M² times too large: you left out the 1/(4·N²·M²)"), then the mutation search
of :mod:`helpers.exercises.mutations`. Pure NumPy on the results: the same whether the
student's function ran here (practice) or in a kernel far away (grading)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from helpers.exercises.cases import Case, Spec
from helpers.exercises.mutations import search
from helpers.exercises.shapes import shape_problem, shape_text  # noqa: F401  (as before)


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


OVERFLOW = ("right on the small hidden inputs, but {what} on a real-size one ({label}): "
            "integer arithmetic overflowed. Sizes taken with tf.shape / tf.size (int32) or "
            "np.int32 wrap around past 2³¹ once multiplied (4·N²·M² is about 4e12 for a "
            "128×128×64 map); use Python ints (features.shape[1] * features.shape[2]) or "
            "cast to float32 before multiplying")


ZERO = ("your result is exactly 0 on every hidden input, where the right one is not: a "
        "factor of yours became 0. An integer division such as 1 // (4 * N**2 * M**2) (// "
        "rounds down, to 0 here), an int() of a small number, or an operand compared with "
        "itself (x − x) does that: divide with /, in floats")


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
    known = _known_mistake(spec, outs, cases)
    if known:
        return known
    special = spec.diagnose(outs, refs, cases) if spec.diagnose else None
    if special:
        return special
    dtype = search(spec.mutations, outs, cases, spec.exact, family="dtype") if (
        spec.mutations) else None
    if dtype:  # float16 overflow on real features looks like integer overflow: named first
        return dtype
    overflow = _overflow(outs, cases, right)
    if overflow:
        return overflow
    sign = _zero_or_minus(outs, refs)
    if sign:
        return sign
    factor = factor_of(outs, refs, cases)
    if factor is not None:
        return factor_message(spec, *factor, cases[0].dims)
    power = _power_of_right(outs, refs)  # before the search: a norm ÷ 2·N·M is √E too
    if power:
        return power
    found = search(spec.mutations, outs, cases, spec.exact, _factor_text) if (
        spec.mutations) else None
    return found or _observed(spec, outs, refs, cases, right)


def _observed(spec: Spec, outs: list, refs: list, cases: list[Case], right: list[bool]) -> str:
    """What a wrong answer no mutant explains is told: what its values show (rounded to a
    small type, scaled by a number from the values, close, the spec's own observation of
    where it is wrong), else the generic message."""
    seen = spec.observe(outs, refs, cases) if spec.observe else None
    return rounded_problem(outs, spec.exact) or _constant(outs, refs) or _value_scaled(
        outs, refs) or _near(
        outs, refs, cases, right, spec.exact) or seen or _unexplained(outs, cases, right)


def _zero_or_minus(outs: list, refs: list) -> str | None:
    """A result that is 0 everywhere, or minus the right one (an observation), or None."""
    if all(not np.any(out) for out in outs) and any(np.any(ref) for ref in refs):
        return ZERO
    if all(close(out, -ref) for out, ref in zip(outs, refs, strict=True)):
        return ("your result is minus the right one: look for a stray minus sign (or a "
                "subtraction the wrong way round)")
    return None


def _power_of_right(outs: list, refs: list) -> str | None:
    """The square root or the square of the right result, on every input (an observation:
    a sqrt or a norm where none belongs, or a square too many)."""
    for what, fn, look in (("the square root", np.sqrt, "a tf.sqrt or a norm (tf.norm is "
                            "the square root of a sum of squares)"),
                           ("the square", np.square, "a square too many")):
        with np.errstate(all="ignore"):
            if all(np.all(r >= 0) and close(o, fn(r)) for o, r in zip(outs, refs, strict=True)):
                return (f"your result is {what} of the right one on every hidden input: look "
                        f"for {look} where the formula has none")
    return None


#: Constants a student may multiply or divide by, by name.
CONSTANTS = {"255": 255.0, "127.5": 127.5, "255²": 255.0**2, "255^2.5 (the image ÷ 255 "
             "first)": 255.0**2.5, "100": 100.0, "1000": 1000.0, "10": 10.0, "3": 3.0}


def _constant(outs: list, refs: list) -> str | None:
    """The right result times the same number on every hidden input (no size of it): a
    constant factor, named when it is a familiar one (an observation)."""
    ratios = _ratios(outs, refs)
    if ratios is None or len(ratios) < 2 or not all(
            math.isclose(r, ratios[0], rel_tol=1e-3) for r in ratios):
        return None
    c = ratios[0]
    big = c >= 1
    shown = f"{c:.4g}" if big else f"1/{1 / c:.4g}"
    named = next((f" (= {'' if big else '1/'}{name})" for name, v in CONSTANTS.items()
                  if math.isclose(c if big else 1 / c, v, rel_tol=1e-3)
                  and f"{v:.4g}" != name), "")
    return (f"your result is the right one times the same number, {shown}{named}, on every "
            f"hidden input: a constant factor {'multiplied in' if big else 'divided by'} that "
            "the formula does not have; look for a scale or normalisation of yours")


def _value_scaled(outs: list, refs: list) -> str | None:
    """The right matrix times a number that differs between inputs and fits no product of
    their sizes: a normalisation computed from the values (an observation)."""
    if any(np.size(r) < 2 for r in refs):
        return None  # one number is proportional to any other: nothing to observe
    ratios = _ratios(outs, refs)
    if ratios is None or any(abs(r - 1) < 1e-3 for r in ratios):  # right on some: not that
        return None
    shown = ", ".join(f"{r:.3g}" for r in ratios[:3])
    return (f"your result is the right one times a number that changes from input to input "
            f"({shown} …) and is no product of its sizes: you divided by something computed "
            "from the values (a sum, a trace, a norm, a maximum or a mean of them); the "
            "formula has no such normalisation")


ROUNDED = ("every value of your result is a {} number (about {} significant digits): you "
           "computed in {} on the way (a tf.cast or .astype to it) and cast back, so the "
           "last digits are lost{}. Compute in float32 from start to end")


def rounded_problem(outs: list, exact: bool = False) -> str | None:
    """Results whose every value is a bfloat16 (or float16) number, though returned as
    float32: computed in that small type and cast back (float32 results almost never are;
    whole numbers and uint8 images aside). None otherwise."""
    import ml_dtypes  # installed with TensorFlow: NumPy's bfloat16

    values = np.concatenate([np.ravel(o) for o in outs]) if outs else np.zeros(0)
    values = values[np.isfinite(values) & (values != 0)]
    if exact or values.size < 4 or np.all(values == np.round(values)):
        return None
    for kind, digits, extra in ((ml_dtypes.bfloat16, "2 to 3", ""),
                                (np.float16, "3", " (and float16 stops at 65504)")):
        with np.errstate(all="ignore"):
            if np.array_equal(values.astype(kind).astype(np.float64), values):
                name = np.dtype(kind).name
                return ROUNDED.format(name, digits, name, extra)
    return None


def _known_mistake(spec: Spec, outs: list, cases: list[Case]) -> str | None:
    """The message of the first hand-written known mistake that gives ``outs`` on every
    hidden input, or None."""
    for index, (message, _) in enumerate(spec.candidates):
        if all(_right(out, _candidate(spec, index, case), spec.exact)
               for out, case in zip(outs, cases, strict=True)):
            return message
    return None


def _overflow(outs: list, cases: list[Case], right: list[bool]) -> str | None:
    """Integer (or float16) overflow: wrong on the large input only (real ones aside), named
    with the largest wrong input; or None."""
    wrong = [c for c, ok in zip(cases, right, strict=True) if not ok]
    if all(c.large or c.real for c in wrong) and any(c.large for c in wrong):
        finite = all(np.all(np.isfinite(o)) for o in outs)
        biggest = max(wrong, key=lambda c: math.prod(c.dims.values()))
        return OVERFLOW.format(what="wrong" if finite else "NaN or infinite",
                               label=biggest.label)
    return None


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


def _near(outs: list, refs: list, cases: list[Case], right: list[bool], exact: bool = False
          ) -> str | None:
    """Wrong, but within 2 % of the right result on every input: a precision loss, stated
    as observed (bfloat16 or float16 on the way, or a tiny extra term); for whole grey
    levels (``exact``), off by one here and there: the rounding."""
    errors = []
    if not all(np.all(np.isfinite(o)) for o in outs):
        return None
    if exact:
        diffs = np.concatenate([np.ravel(o - r) for o, r in zip(outs, refs, strict=True)])
        if not diffs.size or np.max(np.abs(diffs)) > 1:
            return None
        return (f"your grey levels are off by one at {np.mean(diffs != 0):.1%} of the pixels "
                f"({int(np.sum(diffs < 0))} one too low, {int(np.sum(diffs > 0))} one too "
                "high), the rest right: look at the rounding — .astype(np.uint8) cuts the "
                "decimals (254.7 becomes 254), so round to whole numbers first with np.rint "
                "(np.round(x, 1) keeps a decimal)")
    for out, ref in zip(outs, refs, strict=True):
        scale = max(float(np.max(np.abs(ref))) if ref.size else 0.0, 1e-12)
        errors.append(float(np.max(np.abs(out - ref))) / scale)
    worst = max(errors)
    if worst > 2e-2:
        return None
    return (f"your values are close to the right ones but not equal: off by up to "
            f"{worst:.2%} of the result's size ({sum(right)} of {len(cases)} hidden inputs "
            "came out right). That is a precision loss, such as bfloat16 or float16 on the way "
            "(2–3 significant digits: a tf.cast to a smaller type), or a tiny extra term; "
            "compute in float32 and compare your code with the formula")


def _right(out: np.ndarray, ref: np.ndarray, exact: bool, rtol: float = 1e-3) -> bool:
    if out.shape != ref.shape:
        return False
    if exact:  # uint8 images: rounding ties may differ by one grey level, very rarely
        diff = np.abs(out - ref)
        return bool(diff.max(initial=0) <= 1 and np.mean(diff > 0) < 1e-3)
    return close(out, ref, rtol)




THIN_ONLY = ("right on every ordinary hidden input, but wrong on {} ({}): an input one pixel "
             "high or wide is valid too. Look for what changes there: np.squeeze / "
             "tf.squeeze without axis= (it drops that axis too), a division by H − 1 or "
             "W − 1 (0 there), an index like x[1] or x[-2] that assumes at least two rows")


def diagnose(spec: Spec, outs: list, refs: list, cases: list[Case], right: list[bool]) -> str:
    """The diagnosis of a wrong answer; when it is wrong on ordinary inputs too, those name
    it (an input one pixel high or wide only adds NaN where a mean over no differences
    is taken); wrong on those thin inputs only, the search runs on every input and, found
    nothing, says so."""
    ordinary = [i for i, c in enumerate(cases) if not c.thin]
    if len(ordinary) < len(cases) and not all(right[i] for i in ordinary):
        return diagnosis(spec, [outs[i] for i in ordinary], [refs[i] for i in ordinary],
                         [cases[i] for i in ordinary], [right[i] for i in ordinary])
    message = diagnosis(spec, outs, refs, cases, right)
    if len(ordinary) < len(cases) and (message.startswith("wrong values")
                                       or message.startswith("your result holds NaN")):
        thin = next(c for c, ok in zip(cases, right, strict=True) if not ok)
        finite = all(np.all(np.isfinite(o)) for o in outs)
        return THIN_ONLY.format(thin.label, "wrong values" if finite else "NaN or infinite")
    return message
