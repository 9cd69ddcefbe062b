"""Naming a result of the wrong shape (the exercise checks of notebooks/exercises; no
notebook of its own): both shapes with their axes named after the hidden input's sizes, and
what the difference looks like, unless the check reads more from the values."""

from __future__ import annotations

import math

import numpy as np

from helpers.exercises.cases import Case, Spec


def _size_names(case: Case) -> dict[int, str]:
    """The sizes of a hidden input's first array, by name: H, W, the channels (N), H·W …
    (a size two names share is shown as both, "H/N"; sizes of 1 keep their number)."""
    first = next((a for a in case.args if hasattr(a, "shape") and len(a.shape) >= 3), None)
    if first is None:
        return {}
    h, w, c = (int(s) for s in tuple(first.shape)[-3:])
    chan = "N" if "N" in case.dims else "C"
    table = [("H", h), ("W", w), (chan, c), ("H·W", h * w), (f"H·W·{chan}", h * w * c),
             (f"W·{chan}", w * c), (f"H·{chan}", h * c), (f"{chan}²", c * c)]
    names: dict[int, list[str]] = {}
    for name, size in table:
        if size > 1 and name not in names.setdefault(size, []):
            names[size].append(name)
    return {size: "/".join(n[:2]) for size, n in names.items()}


def _read(shape: tuple, names: dict[int, str]) -> str:
    """' = (H, W)' for a shape whose sizes are all named or 1, else ''."""
    if not shape or not all(s in names or s == 1 for s in shape) or all(s == 1 for s in shape):
        return ""
    parts = [names.get(s, str(s)) for s in shape]
    return " = (" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def shape_text(got: tuple, expected: tuple, case: Case) -> str:
    """A wrong shape, stated: both shapes with their axes named after the input's sizes,
    and what the difference looks like (axes reordered, an axis of 1 added or dropped)."""
    names = _size_names(case)
    text = (f"wrong shape: expected {expected}{_read(expected, names)}, got "
            f"{got}{_read(got, names)} ({case.label})")
    ones_got, ones_exp = [s for s in got if s != 1], [s for s in expected if s != 1]
    if got != expected and sorted(got) == sorted(expected):
        return text + ": the same axes in another order (a transpose, or a reshape that " \
                      "moved them)"
    if ones_got == ones_exp and len(got) < len(expected):
        return text + (": an axis of length 1 is missing (np.squeeze / tf.squeeze drop "
                       "EVERY axis of length 1, so an image or map 1 pixel high or wide "
                       "loses one more; index the axis you mean, x[0], or reshape)")
    if ones_got == ones_exp and len(got) > len(expected):
        return text + ": an extra axis of length 1 (a batch axis kept, or one added)"
    if math.prod(got) == math.prod(expected):
        return text + ": the same number of values, arranged differently (a reshape)"
    return text


def shape_problem(spec: Spec, value: np.ndarray, ref: np.ndarray, case: Case) -> str:
    """What a result of the wrong shape is told: the spec's own reading of the values or
    the shape, else the two shapes with their axes named after the input's sizes."""
    hint = spec.shape_values(value, ref, case) if spec.shape_values else None
    hint = hint or (spec.shape_hint(value.shape, ref.shape, case) if spec.shape_hint else None)
    return hint or shape_text(value.shape, ref.shape, case)
