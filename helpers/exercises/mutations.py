"""The mutation search of the exercise checks (no notebook of its own; used by ex01_preprocess
… ex05_total_variation).

Each exercise writes its reference once more as a small NumPy *program* whose choices are
knobs (``reduce="mean"``, ``pad="after"``, ``dtype="float32"`` …), and lists its mutation
operators as data: an :class:`Op` sets one knob to a wrong value and carries the sentence a
student reads when their result matches that program ("your sum is over positions, the loss
takes the mean"). :func:`search` runs every single mutant, then the reference times a simple
factor on top of a single mutant, then every pair of mutants of different knobs, on the
hidden inputs, and returns the sentence of the first one whose results match the student's
on every hidden input. Mutant results are cached per hidden input (:attr:`Case.memo
<helpers.exercises._engine.Case>`), and the cheap inputs are tried first, so a search costs
milliseconds once a kernel has run it.

Mutation testing ("equivalent mutants" included: a mutant that equals the reference on every
hidden input can never match a wrong answer, and the tests assert there are none) is the
idea; the messages stay concrete.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

import numpy as np

#: Largest finite float16 value.
FLOAT16_MAX = 65504.0
#: How close a result must be to a mutant's, unless the operator says otherwise.
DEFAULT_RTOL = 1e-3


@dataclass(frozen=True)
class Op:
    """One mutation operator: set ``knob`` of the reference program to ``value``.
    ``family`` groups operators in the instructor notes, ``name`` is their short label
    there, ``says`` the sentence the student reads, ``rtol`` how close a result must be
    (looser for float16, whose sums differ with the order of adding)."""

    knob: str
    value: Any
    family: str
    name: str
    says: str
    rtol: float = DEFAULT_RTOL


@dataclass
class Mutations:
    """An exercise's reference as a program of knobs, and its mutation operators.
    ``program(*args, **{knob: value})`` returns the result in float64; with no knobs it is
    the reference. ``doubles``: also try pairs of operators; ``scaled``: also a single
    operator times k·Nᵃ·Mᵇ (cases with named sizes only); ``unpaired``: knobs that replace
    the whole computation (a pair with them is that operator alone), never paired."""

    program: Callable[..., Any]
    ops: Sequence[Op]
    doubles: bool = True
    scaled: bool = True
    unpaired: tuple[str, ...] = ()  # knobs whose operators are tried alone, never in pairs

    def families(self) -> dict[str, list[str]]:
        """family -> the short labels of its operators, in order (for the notes)."""
        out: dict[str, list[str]] = {}
        for op in self.ops:
            out.setdefault(op.family, []).append(op.name)
        return out


def numeric_args(value: Any) -> Any:
    """A hidden input as the programs take it: tensors as float64 arrays, uint8 images kept,
    dicts element by element."""
    if isinstance(value, dict):
        return {k: numeric_args(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(numeric_args(v) for v in value)
    if isinstance(value, float | int) or value is None:
        return value
    array = np.asarray(value)
    return array.copy() if array.dtype == np.uint8 else array.astype(np.float64)


def _close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-12)
    return bool(np.max(np.abs(a - b)) <= rtol * scale) if a.size else True


def agrees(out: np.ndarray, mutant: np.ndarray | None, rtol: float = 1e-3,
           exact: bool = False) -> bool:
    """The student's result ``out`` matches a mutant's: same shape, non-finite in the same
    places (float16 overflow: ``inf`` or ``NaN`` alike), the rest close (``exact``: uint8
    images, at most one grey level off on very few pixels)."""
    if mutant is None or out.shape != mutant.shape:
        return False
    bad_o, bad_m = ~np.isfinite(out), ~np.isfinite(mutant)
    if bad_o.any() or bad_m.any():
        odd = bad_o ^ bad_m  # float16: entries near 65504 may round either way
        finite = np.abs(np.where(bad_o, mutant, out))[odd]
        if odd.any() and (rtol < 1e-2 or np.any(finite < FLOAT16_MAX / 2)
                          or np.any(finite > FLOAT16_MAX * 2)):
            return False
        keep = ~(bad_o | bad_m)
        out, mutant = out[keep], mutant[keep]
    if exact:
        diff = np.abs(out - mutant)
        return bool(diff.max(initial=0) <= 1 and np.mean(diff > 0) < 1e-3)
    return _close(out, mutant, rtol)


def _value(muts: Mutations, case: Any, ops: tuple[Op, ...]) -> np.ndarray | None:
    """The mutant's result on one hidden input, cached on the case (None: it cannot run)."""
    key = ("mutant", id(muts), tuple((op.knob, op.value) for op in ops))
    if key not in case.memo:
        args = case.memo.setdefault("numeric", numeric_args(case.args))
        try:
            with np.errstate(all="ignore"):
                result = np.asarray(muts.program(*args, **{op.knob: op.value for op in ops}),
                                    dtype=np.float64)
        except (ArithmeticError, ValueError, IndexError, TypeError):
            result = None
        case.memo[key] = result
    return case.memo[key]


def _cheap_first(cases: Sequence[Any]) -> list[int]:
    def size(value: Any) -> int:
        if isinstance(value, dict):
            return sum(size(v) for v in value.values())
        return int(np.size(value)) if hasattr(value, "shape") else 1

    return sorted(range(len(cases)), key=lambda i: sum(size(a) for a in cases[i].args))


def _fits(muts: Mutations, ops: tuple[Op, ...], outs: list, cases: Sequence[Any],
          order: list[int], exact: bool) -> bool:
    tight = [op.rtol for op in ops if op.rtol < DEFAULT_RTOL]
    # a tight operator is told from the reference only at its own tolerance, so a pair with
    # it is held to that tolerance too; otherwise the loosest (float16 sums) applies
    rtol = min(tight) if tight else max(op.rtol for op in ops)
    return all(agrees(outs[i], _value(muts, cases[i], ops), rtol, exact) for i in order)


def _proportional(out: np.ndarray, mutant: np.ndarray | None) -> bool:
    if mutant is None or out.shape != mutant.shape or not np.all(np.isfinite(out)):
        return False
    denom = float(np.sum(mutant * mutant))
    if not np.isfinite(denom) or denom == 0:
        return False
    r = float(np.sum(out * mutant)) / denom
    return r > 0 and abs(r - 1) > 1e-3 and _close(out, r * mutant, 1e-3)


def _scaled(muts: Mutations, op: Op, outs: list, cases: Sequence[Any], order: list[int],
            factor: Callable[[list, list, list], str | None]) -> str | None:
    """``op``'s mutant times a factor k·Nᵃ·Mᵇ, found on the small inputs (one number is
    proportional to any other: only the factor's fit across inputs tells), then confirmed
    on the large ones."""
    light = [i for i in order if not cases[i].large] or order
    mutants = {i: _value(muts, cases[i], (op,)) for i in light}
    if not all(_proportional(outs[i], mutants[i]) for i in light) or not factor(
            [outs[i] for i in light], [mutants[i] for i in light], [cases[i] for i in light]):
        return None
    if not all(_proportional(outs[i], _value(muts, cases[i], (op,))) for i in order):
        return None
    how = factor(outs, [_value(muts, c, (op,)) for c in cases], list(cases))
    if not how or factor_terms(how) > MAX_FACTOR_TERMS:
        return None
    return f"{op.says}; on top of that, {how}"


#: A single mutant times a factor of more sizes than this (N²·M² is 4) is not offered: such a
#: fit is more often another mistake read wrongly than a mistake plus a stray factor.
MAX_FACTOR_TERMS = 2
_POWERS = {"": 1, "²": 2, "³": 3, "⁴": 4}


def factor_terms(text: str) -> int:
    """How many sizes a factor's text multiplies, powers counted: 'your result is N²·M
    times too large' -> 3, '… 2 times …' -> 0."""
    head = text.split(" times ")[0]
    return sum(_POWERS[p] for p in re.findall(r"[NM]([²³⁴]?)", head))


def either(ops: Sequence[Op]) -> str:
    """The sentence of the operators that all explain a result: one, or, when different
    mistakes give exactly the same numbers on every hidden input, each of them (the check
    cannot tell which one the student made, so it names both rather than guess)."""
    says = list(dict.fromkeys(op.says for op in ops))
    if len(says) == 1:
        return says[0]
    return ("your numbers fit more than one mistake exactly, so look for either: "
            + "; or ".join(says[:3]))


def pair_message(a: Op, b: Op) -> str:
    """What a student reads when two operators together explain their result."""
    return f"two mistakes: {a.says}; and {b.says}"


def search(muts: Mutations, outs: list, cases: Sequence[Any], exact: bool = False,
           factor: Callable[[list, list, list], str | None] | None = None,
           family: str | None = None) -> str | None:
    """The sentence of the first mutant (single, single times a factor, then pairs) whose
    results match ``outs`` on every hidden input; None when none does. ``factor(outs,
    mutant_outs, cases)`` names a factor k·Nᵃ·Mᵇ between two sets of results, or None.
    With ``family``, only that family's single operators are tried."""
    order = _cheap_first(cases)
    if family is not None:
        return next((op.says for op in muts.ops if op.family == family
                     and _fits(muts, (op,), outs, cases, order, exact)), None)
    singles = [op for op in muts.ops if _fits(muts, (op,), outs, cases, order, exact)]
    if singles:
        return either(singles)
    if muts.scaled and factor is not None and cases[0].dims:
        for op in muts.ops:
            found = _scaled(muts, op, outs, cases, order, factor)
            if found:
                return found
    return _pair_search(muts, outs, cases, order, exact) if muts.doubles else None


def _pair_search(muts: Mutations, outs: list, cases: Sequence[Any], order: list[int],
                 exact: bool) -> str | None:
    """The sentence of the first pair of operators (of different knobs, none unpaired) whose
    mutant matches ``outs`` and is not the reference itself."""
    for a, b in _pairs([op for op in muts.ops if op.knob not in muts.unpaired]):
        if _fits(muts, (a, b), outs, cases, order, exact) and not _equivalent(
                muts, (a, b), cases, order):
            return pair_message(a, b)
    return None


def _equivalent(muts: Mutations, ops: tuple[Op, ...], cases: Sequence[Any],
                order: list[int]) -> bool:
    """Whether the mutant of ``ops`` equals the reference on every hidden input (two
    mistakes that cancel, such as × M and ÷ M: they name nothing)."""
    return all(agrees(_value(muts, cases[i], ()), _value(muts, cases[i], ops), 1e-9)
               for i in order)


def _pairs(ops: Iterable[Op]) -> Iterable[tuple[Op, Op]]:
    return ((a, b) for a, b in itertools.combinations(ops, 2) if a.knob != b.knob)


def equivalent_ops(muts: Mutations, cases: Sequence[Any], exact: bool = False) -> list[str]:
    """The operators whose mutant equals the reference on every hidden input (equivalent
    mutants: they could never name a mistake), by short label."""
    refs = [_value(muts, c, ()) for c in cases]
    order = list(range(len(cases)))
    return [op.name for op in muts.ops
            if _fits(muts, (op,), refs, cases, order, exact)]


def float16(x: Any) -> np.ndarray:
    """``x`` rounded to float16 (``inf`` past 65504), back in float64."""
    with np.errstate(all="ignore"):
        return np.asarray(x, np.float64).astype(np.float16).astype(np.float64)


def int32_wrap(x: Any) -> np.ndarray:
    """Whole numbers as int32 arithmetic leaves them: wrapped modulo 2³² into
    −2³¹ … 2³¹−1 (the order of adding and multiplying does not matter modulo 2³²)."""
    x = np.asarray(x, np.float64)
    wrapped = np.mod(x, 2.0**32)
    return np.where(wrapped >= 2.0**31, wrapped - 2.0**32, wrapped)


# ---------------------------------------------------------------- the instructor notes' table

#: The markers around the operator list in notebooks/exercises/README.md.
NOTES_START, NOTES_END = "<!-- operators: start -->", "<!-- operators: end -->"


def operator_table(checks: dict[str, Mutations]) -> str:
    """The operators each check searches, as Markdown, written from the operator data
    (``checks``: check name -> its Mutations, as :func:`helpers.exercises.operator_notes`
    passes them): per check how it searches, then one line per family with the short labels
    of its operators."""
    lines = []
    for name, muts in checks.items():
        how = "single operators" + (", a single operator times k·Nᵃ·Mᵇ" if muts.scaled else "")
        how += ", and every pair of operators of different knobs" if muts.doubles else ""
        alone = sorted({op.family for op in muts.ops if op.knob in muts.unpaired})
        how += f" ({', '.join(alone)}: alone only)" if muts.doubles and alone else ""
        lines += [f"**`{name}`** ({len(muts.ops)} operators; {how}):", ""]
        lines += [f"- {family}: {'; '.join(names)}" for family, names in muts.families().items()]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def notes_table(text: str) -> str:
    """The operator table between :data:`NOTES_START` and :data:`NOTES_END` of the notes'
    ``text`` ('' when the markers are missing)."""
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        return ""
    return text[start + len(NOTES_START):end].strip("\n") + "\n"


def write_notes(path: Any, table: str) -> bool:
    """Write ``table`` (:func:`operator_table`) between the markers of the notes at ``path``
    (replaced atomically); False when they already hold it. After changing an operator:
    ``python -c "from helpers.exercises import operator_notes as t; from
    helpers.exercises.mutations import write_notes as w; w('notebooks/exercises/README.md',
    t())"``."""
    from pathlib import Path

    from helpers.errors import StyleTransferError
    from helpers.files import write_text

    text = Path(path).read_text(encoding="utf-8")
    if notes_table(text) == table:
        return False
    start, end = text.find(NOTES_START), text.find(NOTES_END)
    if start < 0 or end < start:
        raise StyleTransferError(f"{path}: no {NOTES_START} … {NOTES_END} markers")
    write_text(path, text[:start + len(NOTES_START)] + "\n" + table + text[end:])
    return True

