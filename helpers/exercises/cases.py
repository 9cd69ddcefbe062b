"""The hidden inputs of the exercise checks (notebooks/exercises; no notebook of its own):
what one check needs (:class:`Spec`), one hidden input (:class:`Case`), the random feature
maps and real VGG features they are made of, and what a student's function did to the
inputs it was given (:func:`changed_input`).

The inputs are drawn from one seed: :data:`SEED` for the in-notebook practice checks, a
fresh one per grading run (:func:`use_seed`, set by :mod:`helpers.exercises.judge`), so
every student of one run gets the same inputs and no two runs the same.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

if TYPE_CHECKING:
    from helpers.exercises.mutations import Mutations

SEED = 2015  # Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style"
_SEED = [SEED]  # the seed the hidden inputs are drawn from now (use_seed)

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
    thin: bool = False                                    # one pixel high or wide
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
    # a wrong shape named from the values too: (student's result, reference, case)
    shape_values: Callable[[np.ndarray, np.ndarray, Case], str | None] | None = None
    watch: Callable[[tuple], list] | None = None          # tensors the gradient must reach
    success: str = ""
    dim_names: str = "N = channels, M = H·W positions"
    exact: bool = False                                   # integers: compare almost exactly
    library: Callable[[], Callable] | None = None         # the library's own answer
    diagnose: Callable[[list, list, list], str | None] | None = None  # (outs, refs, cases)
    # the last word before "none of the mistakes this check knows": where the result is
    # wrong, as observed (outs, refs, cases)
    observe: Callable[[list, list, list], str | None] | None = None
    mutations: Mutations | None = None                    # the mutation search (mutations.py)
    dtypes: tuple[str, ...] = ()                          # result dtypes allowed (all if empty)
    rtol: float = 1e-3                                    # how close a right result must be


# ------------------------------------------------------------- inputs the student must not change

class Recorded(np.ndarray):
    """A result received from a grading kernel as an array: ``tensor`` says whether the
    student's function returned a TensorFlow tensor, ``sent_dtype`` its dtype there (e.g.
    bfloat16, which NumPy lacks)."""

    tensor: bool = False
    sent_dtype: str = ""


def recorded(value: np.ndarray, tensor: bool, dtype: str) -> Recorded:
    """``value`` marked as received from a kernel (:class:`Recorded`)."""
    out = np.asarray(value).view(Recorded)
    out.tensor, out.sent_dtype = tensor, dtype
    return out


def is_tensor(value: Any) -> bool:
    """True for a TensorFlow tensor, or a tensor the student's kernel returned
    (:class:`Recorded` with ``tensor`` set) (without importing TensorFlow when nobody has)."""
    if isinstance(value, Recorded):
        return value.tensor
    tf = sys.modules.get("tensorflow")
    return tf is not None and bool(tf.is_tensor(value))



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

def use_seed(seed: int) -> None:
    """Draw the hidden inputs from ``seed`` from now on (the grader: a fresh one per run)."""
    _SEED[0] = int(seed)


def rng(salt: int) -> np.random.Generator:
    """The hidden inputs' random generator: one stream per check, from the current seed."""
    return np.random.default_rng([_SEED[0], salt])


#: Feature maps one pixel high and one pixel wide (``thin`` cases; a single pixel is left
#: out: statistics over positions, as a covariance's M − 1, are undefined there).
THIN_SHAPES = [(1, 6, 4), (7, 1, 3)]


def feature_cases(salt: int, with_target: str | None = None, large: bool = False,
                  real: bool = False, thin: bool = False) -> list[Case]:
    """Post-ReLU-like feature maps (1, H, W, C), some zeros, non-square; optional target
    ("features": a second map, "gram": a Gram matrix); ``large`` adds a 128×128×64 map,
    ``thin`` maps one pixel high, wide or both (after the others: a mistake every map shows
    is named on an ordinary one), ``real`` VGG features of the bundled photo (targets from
    the bundled painting)."""
    from helpers._tf import tf

    gen = rng(salt)
    cases = []
    shapes = [(5, 7, 3), (8, 6, 4), (6, 5, 8), (3, 9, 5)] + ([(128, 128, 64)] if large else [])
    shapes += THIN_SHAPES if thin else []
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
        if min(h, w) == 1:
            label += ", " + ("a single pixel" if h == w else "one pixel high" if h == 1
                             else "one pixel wide")
        cases.append(Case(args, {"N": c, "M": h * w}, label, large=big, thin=min(h, w) == 1))
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


def scalar_values(value: np.ndarray, ref: np.ndarray, case: Case) -> str | None:
    """A loss of the right value with axes of length 1 kept (keepdims=True), read from its
    values; None otherwise (the shape hint speaks)."""
    if ref.shape != () or value.size != 1 or not value.ndim:
        return None
    got = float(value.ravel()[0])
    if not np.isclose(got, float(ref), rtol=1e-3, atol=0):
        return None
    return (f"your result has shape {value.shape}: the right number, with {value.ndim} "
            f"ax{'is' if value.ndim == 1 else 'es'} of length 1 kept: a reduction with "
            "keepdims=True keeps one per axis, and one over some axes only (axis=[1, 2, 3]) "
            "keeps the batch axis. Reduce over every axis without keepdims, so a loss is one "
            "number, shape ()")
