"""What the hidden ``loss_fn`` of notebooks/exercises/ex06_lbfgs.ipynb accepts: the image
as the notebook's network and losses take it, float32 and of the image's shape ``shape``
(batch axis first). The practice check's ``loss_fn`` refuses anything else at once; the
grader's records what it was handed and :mod:`helpers.exercises.judge_runs` says the same."""

from __future__ import annotations

import re
from typing import Any

INPUT_DTYPE = ("your function hands loss_fn {} tensor{}: the network, its features and every "
               "loss of the notebook are float32, and TensorFlow does not mix them (the "
               "notebook's nst_loss raises InvalidArgumentError). Convert as you reshape, "
               "tf.constant(y.reshape(shape), tf.float32) (tf.cast(…, tf.float32)); scipy's "
               "float64 comes back with the gradient, .numpy().astype(np.float64)")


def input_dtype_problem(dtype: str) -> str | None:
    """What is wrong with the dtype handed to loss_fn (None: float32, or a rounding one)."""
    if dtype in ("float64", "double"):
        return INPUT_DTYPE.format("a float64", " (tf.constant(y), tf.Variable(y) keep it)")
    if dtype.startswith(("int", "uint", "complex")):
        return INPUT_DTYPE.format(f"{'an' if dtype[0] in 'aeiou' else 'a'} {dtype}", "")
    return None

INPUT_SHAPE = ("your function called loss_fn with a tensor of shape {}; loss_fn takes the "
               "image's shape {}: reshape the flat vector to `shape`, y.reshape(shape), with "
               "the `shape` make_loss_and_grad was given (never sizes of your own, nor in "
               "another order){}; the notebook's network wants the batch axis first, then "
               "height, width and channels. Flatten the gradient back, .ravel()")


def input_shape_problem(shape: Any, want: tuple) -> str | None:
    """What is wrong with the shape of what was handed to loss_fn (None: ``want``; a size
    unknown while a tf.function traces, None, matches any, and so does an unknown rank)."""
    if shape is None or str(shape) == "<unknown>":
        return None
    if isinstance(shape, str):  # from the grader's record, as str(np.shape(x)) wrote it
        shape = [None if d == "None" else d for d in re.findall(r"None|\d+", shape)]
    try:
        got = tuple(None if d is None else int(d) for d in shape)
    except (TypeError, ValueError):  # from a grader's record: not a shape at all
        got = (str(shape)[:40],)
    if len(got) == len(want) and all(d in (None, w) for d, w in zip(got, want, strict=True)):
        return None
    sizes = sorted(str(d) for d in want if d != 1)
    why = (" — scipy's y is the FLAT vector of all its values, handed on here as it is"
           if len(got) == 1 and len(want) > 1 else " — the batch axis is missing"
           if got == want[1:] else " — its sizes are in another order"
           if sorted(str(d) for d in got if d != 1) == sizes else "")
    return INPUT_SHAPE.format(got, want, why)
