"""What a check says when the student's function raised (the exercise checks of
notebooks/exercises; no notebook of its own): the error's first line, and the likely cause
read from it (an einsum whose letters disagree, two dtypes mixed, a Python number handed to
tape.gradient, a ``.view`` meant as ``.astype``, shapes that do not fit)."""

from __future__ import annotations

import re

SHAPE_HINT = " — shapes:"

#: What a student's error says (a pattern of its first line) and the likely cause, in order.
RAISED_HINTS = [
    (r"Expected dimension \d+ at axis|remapped shapes|einstein sum subscripts",
     "your einsum's subscripts give one letter axes of different sizes (h on the height "
     "in one operand, on the width in the other?): each letter must name the same axis, in "
     "the same order, in every operand, e.g. 'bhwc,bhwd->cd'"),
    (r"must have the same dtype|expected to be a \w+ tensor but is a|cannot compute \w+ as "
     r"input",
     "two operands of different dtypes meet here, and TensorFlow never converts on its "
     "own: tf.shape, tf.size and tf.reduce_prod of a shape give int32, so use Python ints "
     "(features.shape[1] * features.shape[2]) or tf.cast(…, tf.float32); and a sum started "
     "at tf.constant(0) is int32 too: start it at 0.0"),
    (r"to a TensorFlow DType",
     "tape.gradient got a plain number: float(…) or .numpy() inside the tape turns the loss "
     "into a Python number with no history. Take tape.gradient of the tensor loss_fn "
     "returned, and call float() on it afterwards"),
    (r"changing to a (larger|smaller) dtype",
     ".view(np.float64) reinterprets the array's bytes as another type, it does not "
     "convert the values: use .astype(np.float64)"),
]


def raised_message(kind: str, first: str, check: str = "") -> str:
    """What a check says when the student's function raised ``kind`` with ``first`` (the
    first line of its message): the error, and the likely cause (``check``: which check,
    so a remark about Gram matrices only comes where there is one)."""
    hint = ""
    if kind == "AttributeError" and "NoneType" in first:
        hint = (" — something is None: tape.gradient(loss, x) returns None when loss was not "
                "computed from that x on the tape (x not watched, tape.watch(x); or loss_fn "
                "given another object than the x watched: the NumPy array, or a reshape made "
                "before the tape), and a function without `return` gives None")
    if kind == "MemoryError":
        hint = " — your code ran out of memory"
    known = next((text for pattern, text in RAISED_HINTS
                  if re.search(pattern, first, re.IGNORECASE)), None)
    if known:
        hint = f" — {known}"
    elif re.search(r"Incompatible shapes|could not be broadcast", first):
        gram = (" (for a Gram matrix: N × N, Fᵀ F, not the M × M F Fᵀ)"
                if check in ("gram", "style_layer", "style") else "")
        hint = (f"{SHAPE_HINT} two operands of an element-wise operation (−, +, *) have "
                "different shapes here: print each one's .shape and compare with the "
                f"formula's{gram}")
    elif "reshape" in first:
        hint = (f"{SHAPE_HINT} the shape you asked for does not fit this input's values: "
                "take every size from the input's own shape (features.shape, x.shape: H·W is "
                "shape[1] * shape[2], not shape[1]², and nothing fixed), and keep the "
                "shapes of the two operands the same")
    return f"your function raised {kind}: {first}{hint}"
