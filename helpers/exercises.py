"""Classroom exercises: checks that name the mistake, and student versions of the notebooks.

``check(name, answer)`` runs a student's function on hidden inputs (made here with a fixed
seed, several shapes, non-square among them) against the reference in :mod:`helpers.images`
and :mod:`helpers.losses`. A right answer prints one line starting with ✓; a wrong one raises
:class:`CheckFailed` whose message says which mistake the output matches: the result is a
known wrong answer (transposed product, RGB instead of BGR, mean left out, ...) or the right
one times a factor such as 4·N²·M². Neither the reference code nor its outputs are shown.

``student_version(nb)`` replaces every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` block
of a notebook by a stub that raises ``NotImplementedError``; ``write_student_versions``
does it for a folder (``python -m helpers exercises --student OUTDIR``).
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import math
import os
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from helpers.errors import StyleTransferError

SEED = 2015  # Gatys, Ecker & Bethge, "A Neural Algorithm of Artistic Style"
NOT_IMPLEMENTED = ("not implemented yet: replace the `raise NotImplementedError()` line in "
                   "your function with your code, then run this cell again")
EXERCISES_DIR = Path(__file__).resolve().parent.parent / "notebooks" / "exercises"


class CheckFailed(AssertionError):
    """A check found a mistake; ``str()`` is the one-line diagnosis (plus the student's own
    traceback when their code raised). Jupyter shows only that, not the checker's frames."""

    def __init__(self, name: str, message: str, student_traceback: str = "") -> None:
        super().__init__(f"✗ {name}: {message}")
        self.name, self.message, self.student_traceback = name, message, student_traceback

    def __str__(self) -> str:
        text = self.args[0]
        return f"{text}\n{self.student_traceback}" if self.student_traceback else text

    def _render_traceback_(self) -> list[str]:
        """What IPython prints instead of the full traceback."""
        return str(self).splitlines()


# --------------------------------------------------------------------------- diagnosis tools

def _monomial(k: float, exps: dict[str, int]) -> str:
    """'4·N²·M²' for k=4, {N: 2, M: 2}; '1' for k=1, {}. Exponents must be >= 0."""
    sup = {1: "", 2: "²", 3: "³", 4: "⁴"}
    parts = [] if k == 1 else [f"{k:g}"]
    parts += [f"{d}{sup[e]}" for d, e in exps.items() if e > 0]
    return "·".join(parts) or "1"


def _split(k: float, exps: dict[str, int]) -> tuple[tuple[float, dict], tuple[float, dict]]:
    """Numerator and denominator monomials of k · Π d^e."""
    num = (k if k >= 1 else 1.0, {d: e for d, e in exps.items() if e > 0})
    den = (1 / k if k < 1 else 1.0, {d: -e for d, e in exps.items() if e < 0})
    return num, den


def _fraction(k: float, exps: dict[str, int]) -> str:
    num, den = _split(k, exps)
    top, bottom = _monomial(*num), _monomial(*den)
    return top if bottom == "1" else f"{top}/{bottom}" if top != "1" else f"1/{bottom}"


@dataclass
class _Case:
    """One hidden input: positional ``args`` for the student's function, the named sizes
    (e.g. N channels, M positions) used to name a wrong factor, and a short label."""

    args: tuple
    dims: dict[str, int]
    label: str


@dataclass
class _Spec:
    """What one check needs: hidden inputs, the reference, and the known wrong answers."""

    what: str                                   # e.g. "the Gram matrix"
    cases: Callable[[], list[_Case]]
    reference: Callable[..., np.ndarray]
    returns: str                                # "tensor" or "array"
    candidates: list[tuple[str, Callable[..., np.ndarray]]] = field(default_factory=list)
    divisor: tuple[float, dict[str, int]] | None = None   # reference normalisation 1/divisor
    factor_hints: dict[str, str] = field(default_factory=dict)  # divisor text -> extra hint
    shape_hint: Callable[[tuple, tuple, _Case], str | None] | None = None
    watch: Callable[[tuple], list] | None = None          # tensors the gradient must reach
    success: str = ""
    dim_names: str = "N = channels, M = H·W positions"
    exact: bool = False                                   # integers: compare almost exactly


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-3) -> bool:
    """a ≈ b relative to b's size (float32 arithmetic on either side)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        return False
    scale = max(float(np.max(np.abs(b))) if b.size else 0.0, 1e-12)
    return bool(np.max(np.abs(a - b)) <= rtol * scale) if a.size else True


def _factor_of(outs: list[np.ndarray], refs: list[np.ndarray], cases: list[_Case]
               ) -> tuple[float, dict[str, int]] | None:
    """The simplest k · Π d^e (k in ¼..4, e in -2..2) with out = ref · factor on every case."""
    ratios = []
    for out, ref in zip(outs, refs, strict=True):
        denom = float(np.sum(ref * ref))
        if out.shape != ref.shape or denom == 0:
            return None
        r = float(np.sum(out * ref)) / denom
        if r <= 0 or not _close(out, r * ref):
            return None
        ratios.append(r)
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


def _factor_message(spec: _Spec, k: float, exps: dict[str, int], dims: dict[str, int]) -> str:
    """'your result is 4·N²·M² times too large: you left out the 1/(4·N²·M²)' and kin;
    ``dims`` (one hidden input's sizes) tells "too large" from "too small"."""
    inverse = {d: -e for d, e in exps.items()}
    if k * math.prod(dims[d] ** e for d, e in exps.items()) >= 1:
        text = f"your result is {_fraction(k, exps)} times too large"
    else:
        text = f"your result is {_fraction(1 / k, inverse)} times too small"
    if spec.divisor is None:
        return text
    ref_k, ref_e = spec.divisor
    mine_k = ref_k / k
    mine_e = {d: ref_e.get(d, 0) - exps.get(d, 0) for d in [*ref_e, *exps]}
    mine_e = {d: e for d, e in mine_e.items() if e}
    ref_text = _monomial(ref_k, ref_e)
    mine = _monomial(mine_k, mine_e) if mine_k >= 1 and all(
        e > 0 for e in mine_e.values()) else None
    if mine == "1":
        why = f"you left out the 1/({ref_text})"
    elif mine and ref_text == "1":
        why = f"you divided by {mine}, but nothing is divided here"
    elif mine:
        only = mine_k <= ref_k and all(e <= ref_e.get(d, 0) for d, e in mine_e.items())
        why = f"you divided by {mine}{' only' if only else ''}, not by {ref_text}"
    elif k >= 1 and all(e >= 0 for e in exps.values()):  # a factor multiplied in
        why = f"an extra factor {_monomial(k, exps)} is in your result"
    elif ref_text == "1":
        why = "the right result has no such factor"
    else:
        why = f"the right result divides by {ref_text}"
    hint = spec.factor_hints.get(mine or "")
    return f"{text}: {why} ({spec.dim_names})" + (f". {hint}" if hint else "")


def _student_frames(exc: BaseException) -> str:
    """The traceback of the student's own code: checker frames dropped, and nothing below
    the first call into an installed library (TensorFlow's internals are not theirs)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if Path(f.filename).resolve() != Path(__file__).resolve()]
    kept = []
    for frame in frames:
        if "site-packages" in frame.filename or frame.filename.startswith(sys.prefix + "/lib"):
            break
        kept.append(frame)
    if not kept:
        return ""
    return "Your code's traceback (most recent call last):\n" + "".join(
        traceback.format_list(kept)).rstrip()


def _first_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an error message, without TensorFlow's {{function_node ...}} and
    [Op:...] decorations."""
    text = (str(exc).strip().splitlines() or [""])[0]
    text = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*$", "", text).strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _call(name: str, fn: Callable, *args: Any) -> Any:
    """Call the student's function; their exceptions become one readable CheckFailed."""
    try:
        return fn(*args)
    except NotImplementedError:
        raise CheckFailed(name, NOT_IMPLEMENTED) from None
    except CheckFailed:
        raise
    except Exception as exc:  # the student's own error: one line plus their traceback
        hint = ""
        if isinstance(exc, AttributeError) and "NoneType" in str(exc):
            hint = (" — something is None; tape.gradient returns None when the tape did not "
                    "watch the input (tape.watch(x)), and a function without `return` gives None")
        raise CheckFailed(
            name, f"your function raised {type(exc).__name__}: {_first_line(exc)}{hint}",
            _student_frames(exc)) from None


# ------------------------------------------------------------------------- the generic check

def _is_tensor(value: Any) -> bool:
    """True for a TensorFlow tensor (without importing TensorFlow when nobody has)."""
    tf = sys.modules.get("tensorflow")
    return tf is not None and bool(tf.is_tensor(value))


def _type_problem(spec: _Spec, out: Any) -> str | None:
    if out is None:
        return "your function returned None: did you forget the `return` line?"
    if spec.returns == "array" and isinstance(out, list):
        return "your function returns a list; return a NumPy array (np.asarray)"
    if isinstance(out, tuple | list):
        return (f"your function returned a {type(out).__name__} of {len(out)} items; return "
                f"{spec.what} itself")
    if spec.returns == "tensor" and not _is_tensor(out):
        return (f"your function returns a {type(out).__name__}, but the optimiser needs a "
                "TensorFlow tensor so the gradient can flow back to the image: use tf.* "
                "operations (tf.matmul, tf.reduce_sum, tf.square ...) instead of np.*")
    if spec.returns == "array" and _is_tensor(out):
        return ("your function returns a TensorFlow tensor; return a NumPy array, as "
                "helpers.images does (np.asarray, or .numpy())")
    if spec.returns == "array" and not isinstance(out, np.ndarray):
        return f"your function returns a {type(out).__name__}; return a NumPy array"
    return None


def _run_spec(name: str, spec: _Spec, answer: Callable) -> None:
    cases = spec.cases()
    outs, refs = [], []
    for case in cases:
        watched = spec.watch(case.args) if spec.watch else []
        if watched:  # only losses need TensorFlow; preprocessing checks run without it
            import tensorflow as tf

            tape = tf.GradientTape()
        with tape if watched else contextlib.nullcontext():
            for t in watched:
                tape.watch(t)
            out = _call(name, answer, *case.args)
            problem = _type_problem(spec, out)
            if problem:
                raise CheckFailed(name, problem)
            total = tf.reduce_sum(tf.cast(out, tf.float32)) if watched else None
        value = np.asarray(out, dtype=np.float64)
        if not np.all(np.isfinite(value)):
            raise CheckFailed(name, f"your result holds NaN or infinite values ({case.label})")
        ref = np.asarray(spec.reference(*case.args), dtype=np.float64)
        if value.shape != ref.shape:
            hint = spec.shape_hint(value.shape, ref.shape, case) if spec.shape_hint else None
            raise CheckFailed(name, hint or (
                f"wrong shape: expected {ref.shape}, got {value.shape} ({case.label})"))
        outs.append(value)
        refs.append(ref)
        if watched and _close(value, ref):
            grads = tape.gradient(total, watched)
            if any(g is None for g in grads):
                raise CheckFailed(name, (
                    "right value, but no gradient flows back through your function: did you "
                    "convert to NumPy on the way (.numpy(), np.*, float())? Keep it in tf.*"))
            if not all(np.all(np.isfinite(np.asarray(g))) for g in grads):
                raise CheckFailed(name, (
                    f"right value, but its gradient holds NaN or infinite values ({case.label}); "
                    "look for a power below 1 (sqrt, u ** 0.25) or a log of something that can "
                    "be 0, and take the power in one go, u ** 1.25"))
    wrong = [i for i, (o, r) in enumerate(zip(outs, refs, strict=True))
             if not _right(o, r, spec.exact)]
    if not wrong:
        print(f"✓ {name}: {spec.success or spec.what + ' is right'} "
              f"(checked on {len(cases)} hidden inputs)")
        return
    for message, candidate in spec.candidates:
        if all(_right(out, np.asarray(candidate(*case.args), np.float64), spec.exact)
               for out, case in zip(outs, cases, strict=True)):
            raise CheckFailed(name, message)
    if all(_close(out, -ref) for out, ref in zip(outs, refs, strict=True)):
        raise CheckFailed(name, "your result is minus the right one: look for a stray minus "
                                "sign (or a subtraction the wrong way round)")
    factor = _factor_of(outs, refs, cases)
    if factor is not None:
        raise CheckFailed(name, _factor_message(spec, *factor, cases[0].dims))
    first = cases[wrong[0]]
    right = len(cases) - len(wrong)
    raise CheckFailed(name, (
        f"wrong values ({first.label}); {right} of {len(cases)} hidden inputs came out right. "
        "It is none of the mistakes this check knows, so compare your code with the formula "
        "step by step on a tiny example"))


def _right(out: np.ndarray, ref: np.ndarray, exact: bool) -> bool:
    if out.shape != ref.shape:
        return False
    if exact:  # uint8 images: rounding ties may differ by one grey level, very rarely
        diff = np.abs(out - ref)
        return bool(diff.max(initial=0) <= 1 and np.mean(diff > 0) < 1e-3)
    return _close(out, ref)


# ---------------------------------------------------------------------- the hidden inputs

def _rng(salt: int) -> np.random.Generator:
    return np.random.default_rng([SEED, salt])


def _feature_cases(salt: int, with_target: str | None = None) -> list[_Case]:
    """Post-ReLU-like feature maps (1, H, W, C), some zeros, non-square; optional target."""
    import tensorflow as tf

    rng = _rng(salt)
    cases = []
    for h, w, c in [(5, 7, 3), (8, 6, 4), (6, 5, 8), (3, 9, 5)]:
        f = np.maximum(rng.normal(0.5, 1.0, (1, h, w, c)), 0).astype(np.float32)
        args: tuple = (tf.constant(f),)
        if with_target == "features":
            args += (tf.constant(np.maximum(rng.normal(0.5, 1.0, f.shape), 0), tf.float32),)
        elif with_target == "gram":
            other = np.maximum(rng.normal(0.7, 1.2, (h * w, c)), 0)
            args += (tf.constant(other.T @ other, tf.float32),)
        label = f"a hidden feature map of shape {f.shape}"
        cases.append(_Case(args, {"N": c, "M": h * w}, label))
    return cases


def _gram_np(f: Any) -> np.ndarray:
    f = np.asarray(f, np.float64)
    flat = f.reshape(-1, f.shape[-1])
    return flat.T @ flat


# ------------------------------------------------------------- 1. preprocess / deprocess

def _image_cases() -> list[_Case]:
    rng = _rng(1)
    cases = []
    for h, w in [(5, 7), (8, 6), (4, 9)]:
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img[0, 0], img[-1, -1] = 0, 255
        cases.append(_Case((img,), {}, f"a hidden {h}x{w} RGB image"))
    return cases


def _preprocess_ref(img: np.ndarray) -> np.ndarray:
    from helpers.images import preprocess

    return preprocess(img)


def _mean() -> np.ndarray:
    from helpers.images import IMAGENET_MEAN_BGR

    return IMAGENET_MEAN_BGR.astype(np.float64)


def _batch(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64)[None]


def _preprocess_shape(got: tuple, expected: tuple, case: _Case) -> str | None:
    if got == expected[1:]:
        return (f"your result has shape {got}: the network takes a batch, so add the batch "
                f"axis in front, {expected} (x[None] or np.expand_dims(x, 0))")
    if got == (1, 3, *expected[1:3]) or got == (3, *expected[1:3]):
        return (f"your result has shape {got}, channels first; Keras wants channels last, "
                f"{expected}")
    return None


PREPROCESS = _Spec(
    what="the preprocessed image",
    cases=_image_cases,
    reference=_preprocess_ref,
    returns="array",
    candidates=[
        ("your channels are still in RGB order: the network was trained on BGR images, so "
         "reverse the last axis (x[..., ::-1]) before subtracting the mean",
         lambda img: _batch(img) - _mean()),
        ("you reversed the channels to BGR but did not subtract the ImageNet mean "
         "[103.939, 116.779, 123.68] (B, G, R)",
         lambda img: _batch(img)[..., ::-1]),
        ("you neither reversed the channels nor subtracted the mean: the network expects BGR "
         "minus the ImageNet mean", lambda img: _batch(img)),
        ("you added the mean; subtract it", lambda img: _batch(img)[..., ::-1] + _mean()),
        ("you subtracted the mean in RGB order: [103.939, 116.779, 123.68] are the B, G, R "
         "means, so subtract them after reversing the channels",
         lambda img: _batch(img)[..., ::-1] - _mean()[::-1]),
        ("you scaled the pixels to 0..1 first; 'caffe' preprocessing keeps 0..255",
         lambda img: _batch(img)[..., ::-1] / 255.0 - _mean()),
        ("that is the 'tf' preprocessing (pixels scaled to -1..1); VGG wants 'caffe': BGR "
         "minus the ImageNet mean, no scaling", lambda img: _batch(img) / 127.5 - 1.0),
    ],
    shape_hint=_preprocess_shape,
    success="BGR order, ImageNet mean subtracted, batch axis added",
)


def _deprocess_cases() -> list[_Case]:
    rng = _rng(2)
    cases = []
    for h, w in [(6, 5), (4, 8), (7, 7)]:
        x = rng.uniform(-160.0, 170.0, (1, h, w, 3)).astype(np.float32)  # some out of range
        cases.append(_Case((x,), {}, f"a hidden preprocessed image of shape {x.shape}"))
    return cases


def _deprocess_ref(x: np.ndarray) -> np.ndarray:
    from helpers.images import deprocess

    return deprocess(x)


def _unbatched(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64).reshape(np.shape(x)[-3:])


def _as_image(rgb: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(rgb), 0, 255)


def _deprocess_shape(got: tuple, expected: tuple, case: _Case) -> str | None:
    if got == (1, *expected):
        return (f"your result has shape {got}: an image is (H, W, 3), so drop the batch axis "
                "(x[0] or x.reshape(x.shape[-3:]))")
    return None


def _run_deprocess(name: str, answer: Callable) -> None:
    """Deprocess needs its own first steps: uint8, and out-of-range values clipped."""
    for case in _deprocess_cases():
        out = _call(name, answer, *case.args)
        problem = _type_problem(DEPROCESS, out)
        if problem:
            raise CheckFailed(name, problem)
        ref = _deprocess_ref(*case.args)
        if out.shape == ref.shape and out.dtype != np.uint8:
            raise CheckFailed(name, (
                f"your result is {out.dtype}; an RGB image is uint8 in 0..255: round "
                "(np.rint), clip (np.clip(x, 0, 255)), then .astype(np.uint8)"))
        if out.shape == ref.shape:
            raw = (_unbatched(case.args[0]) + _mean())[..., ::-1]
            outside = (raw < -0.5) | (raw > 255.5)
            wrong = np.abs(out.astype(np.int64) - ref.astype(np.int64)) > 1
            if wrong.any() and not (wrong & ~outside).any():
                raise CheckFailed(name, (
                    "values outside 0..255 come out wrong (e.g. -20 should become 0, 300 "
                    "should become 255, but .astype(np.uint8) wraps them around): clip with "
                    "np.clip(x, 0, 255) before converting"))
    _run_spec(name, DEPROCESS, answer)


DEPROCESS = _Spec(
    what="the deprocessed image",
    cases=_deprocess_cases,
    reference=_deprocess_ref,
    returns="array",
    candidates=[
        ("you truncate instead of rounding (.astype(np.uint8) turns 254.7 into 254): round "
         "with np.rint first",
         lambda x: np.clip(np.floor((_unbatched(x) + _mean())[..., ::-1]), 0, 255)),
        ("your channels come out in BGR order: reverse the last axis (x[..., ::-1]) after "
         "adding the mean", lambda x: _as_image(_unbatched(x) + _mean())),
        ("you reversed the channels but did not add the ImageNet mean back",
         lambda x: _as_image(_unbatched(x)[..., ::-1])),
        ("you subtracted the mean again; deprocessing adds it back",
         lambda x: _as_image((_unbatched(x) - _mean())[..., ::-1])),
        ("you added the mean in RGB order: [103.939, 116.779, 123.68] are the B, G, R means, "
         "so add them before reversing the channels",
         lambda x: _as_image(_unbatched(x)[..., ::-1] + _mean())),
    ],
    shape_hint=_deprocess_shape,
    success="mean added back, RGB order, rounded and clipped to uint8",
    exact=True,
)


# ------------------------------------------------------------------------- 2. Gram matrix

def _gram_ref(f: Any) -> np.ndarray:
    from helpers.losses import gram_matrix

    return gram_matrix(f).numpy()


def _gram_shape(got: tuple, expected: tuple, case: _Case) -> str | None:
    n, m = case.dims["N"], case.dims["M"]
    if got == (m, m):
        return (f"your result has shape {got}, positions × positions: you computed F Fᵀ; the "
                f"Gram matrix is Fᵀ F, channels × channels, shape {expected} "
                f"(F is (M, N) = ({m}, {n}))")
    if len(got) > 2 or got[-2:] != expected:
        if got == (1, n, n):
            return (f"your result has shape {got}: drop the batch axis; flattening the map to "
                    f"(H·W, C) = ({m}, {n}) first removes it")
        return (f"your result has shape {got}, not {expected}: flatten the spatial dimensions "
                f"first, reshaping the (1, H, W, C) map to (H·W, C) = ({m}, {n}), then Fᵀ F")
    return None


def _gram_scrambled(f: Any) -> np.ndarray:
    f = np.asarray(f, np.float64)
    flat = f.reshape(f.shape[-1], -1)  # (C, H·W) straight from channels-last memory
    return flat @ flat.T


GRAM = _Spec(
    what="the Gram matrix",
    cases=lambda: _feature_cases(3),
    reference=_gram_ref,
    returns="tensor",
    candidates=[
        ("you reshaped straight to (C, H·W): channels are the LAST axis, so that mixes "
         "positions and channels. Reshape to (H·W, C) and compute Fᵀ F (or transpose "
         "before reshaping)", _gram_scrambled),
        ("you squared the entries before multiplying (F² in place of F)",
         lambda f: _gram_np(np.square(f))),
    ],
    divisor=(1.0, {}),
    factor_hints={"M": "The Gram matrix here is the plain sum Fᵀ F; the style loss "
                       "normalises later", "N·M": "The Gram matrix here is the plain sum Fᵀ F"},
    shape_hint=_gram_shape,
    watch=lambda args: [args[0]],
    success="G = Fᵀ F, shape (N, N), the gradient flows",
)


# ------------------------------------------------------------------------ 3. content loss

def _content_ref(f: Any, p: Any) -> np.ndarray:
    from helpers.losses import content_loss

    return content_loss(f, p).numpy()


def _diff(f: Any, p: Any) -> np.ndarray:
    return np.asarray(f, np.float64) - np.asarray(p, np.float64)


def _scalar_shape(got: tuple, expected: tuple, case: _Case) -> str | None:
    return (f"your result has shape {got}; a loss is one number, shape (): reduce over every "
            "axis (tf.reduce_mean / tf.reduce_sum without axis=)")


CONTENT = _Spec(
    what="the content loss",
    cases=lambda: _feature_cases(4, with_target="features"),
    reference=_content_ref,
    returns="tensor",
    candidates=[
        ("you used the absolute difference |F − P|; square it: (F − P)²",
         lambda f, p: np.mean(np.abs(_diff(f, p)))),
        ("you forgot to square: the mean of F − P lets positive and negative differences "
         "cancel", lambda f, p: np.mean(_diff(f, p))),
        ("you took the square root of the mean (that is the RMS distance); the loss is the "
         "mean squared difference itself", lambda f, p: np.sqrt(np.mean(_diff(f, p) ** 2))),
        ("you squared F and P separately: square the difference, (F − P)²",
         lambda f, p: np.mean(np.square(f) - np.square(p))),
    ],
    divisor=(1.0, {"N": 1, "M": 1}),
    factor_hints={"1": "You summed: take the mean (tf.reduce_mean) so the loss does not grow "
                       "with the image",
                  "2": "Gatys et al. write ½ Σ (F − P)²; our convention is the mean, "
                       "1/(N·M) Σ (F − P)²"},
    shape_hint=_scalar_shape,
    watch=lambda args: [args[0]],
    success="the mean squared difference 1/(N·M) Σ (F − P)², the gradient flows",
)


# ------------------------------------------------------------------------ 4. style losses

def _style_layer_ref(f: Any, a: Any) -> np.ndarray:
    from helpers.losses import style_layer_loss

    return style_layer_loss(f, a).numpy()


def _layer_loss_np(f: Any, a: Any, k: float = 4.0, en: int = 2, em: int = 2) -> float:
    """Σ (G − A)² / (k · N^en · M^em)."""
    f = np.asarray(f, np.float64)
    n, m = f.shape[-1], f.shape[-2] * f.shape[-3]
    return float(np.sum((_gram_np(f) - np.asarray(a, np.float64)) ** 2) / (k * n**en * m**em))


_STYLE_HINTS = {"1": "Without it block1's loss would outweigh block5's by a factor of millions "
                     "and grow with the image",
                "4·N²·M": "M is squared because G grows like M, and E sums G²"}

def _style_norm(f: Any) -> float:
    """4·N²·M² of a (1, H, W, N) feature map, M = H·W: the style layer loss's divisor."""
    return 4.0 * f.shape[-1] ** 2 * (f.shape[1] * f.shape[2]) ** 2


STYLE_LAYER = _Spec(
    what="one layer's style loss",
    cases=lambda: _feature_cases(5, with_target="gram"),
    reference=_style_layer_ref,
    returns="tensor",
    candidates=[
        ("you forgot to square (G − A): positive and negative differences cancel",
         lambda f, a: np.sum(_gram_np(f) - np.asarray(a, np.float64)) / _style_norm(f)),
        ("you used |G − A|; square it: (G − A)²",
         lambda f, a: np.sum(np.abs(_gram_np(f) - np.asarray(a, np.float64))) / _style_norm(f)),
    ],
    divisor=(4.0, {"N": 2, "M": 2}),
    factor_hints=_STYLE_HINTS,
    shape_hint=_scalar_shape,
    watch=lambda args: [args[0]],
    success="E = 1/(4·N²·M²) Σ (G − A)², the gradient flows",
)


_STYLE_LAYERS = {"block1_conv1": (12, 10, 3), "block2_conv1": (6, 5, 5), "block3_conv1": (3, 3, 8)}


def _style_cases() -> list[_Case]:
    """Three layers of shrinking size, targets as helpers stores them (Fᵀ F / M of a style
    map of another size), and unequal layer weights."""
    import tensorflow as tf

    rng = _rng(6)
    cases = []
    for scale in (1, 2):
        feats, targets = {}, {}
        for name, (h, w, c) in _STYLE_LAYERS.items():
            h, w = h * scale, w * scale + scale - 1  # non-square, differing M per case
            feats[name] = tf.constant(np.maximum(rng.normal(0.5, 1.0, (1, h, w, c)), 0),
                                      tf.float32)
            style = np.maximum(rng.normal(0.8, 1.3, (h + 2, w + 1, c)), 0)
            targets[name] = tf.constant(_gram_np(style) / ((h + 2) * (w + 1)), tf.float32)
        weights = dict(zip(_STYLE_LAYERS, rng.uniform(0.2, 3.0, len(_STYLE_LAYERS)),
                           strict=True))
        cases.append(_Case((feats, targets, weights), {},
                           f"hidden features for {len(feats)} layers"))
    return cases


def _style_ref(feats: dict, targets: dict, weights: dict) -> np.ndarray:
    from helpers.losses import style_loss

    return style_loss(feats, targets, weights).numpy()


def _style_np(feats: dict, targets: dict, weights: dict, k: float = 4.0, en: int = 2,
              em: int = 2, target_power: int = 1, weight: Callable | None = None,
              layers: Sequence[str] | None = None) -> float:
    """Σ_l w_l Σ (G − A·M^p)² / (k N^en M^em), with variations that model mistakes."""
    total = 0.0
    for i, name in enumerate(layers or feats):
        f = np.asarray(feats[name], np.float64)
        m = f.shape[1] * f.shape[2]
        a = np.asarray(targets[name], np.float64) * m ** target_power
        w = weight(i, name) if weight else weights[name]
        total += w * _layer_loss_np(f, a, k, en, em)
    return total


def _style_candidates() -> list[tuple[str, Callable[..., float]]]:
    wrong_norm = []
    for k, en, em in itertools.product((1.0, 2.0, 4.0), range(3), range(3)):
        if (k, en, em) == (4.0, 2, 2):
            continue
        mine = _monomial(k, {"N": en, "M": em})
        why = ("you left out the 1/(4·N²·M²)" if mine == "1"
               else f"you divided by {mine}, not by 4·N²·M²")
        wrong_norm.append((f"each layer's loss is off: {why} (N = channels, M = H·W positions "
                           "of that layer)",
                           lambda *a, k=k, en=en, em=em: _style_np(*a, k=k, en=en, em=em)))
    return [
        ("you compared G with targets[layer] as given, but those are normalised, Fᵀ F / M "
         "of the style image (so its size does not matter): multiply by this layer's M = H·W "
         "first", lambda *a: _style_np(*a, target_power=0)),
        ("you divided the targets by M; they are already normalised (Fᵀ F / M): multiply "
         "them by this layer's M = H·W", lambda *a: _style_np(*a, target_power=-1)),
        ("you ignored layer_weights: multiply each layer's loss by layer_weights[layer]",
         lambda *a: _style_np(*a, weight=lambda i, n: 1.0)),
        ("you used equal weights 1/L; use layer_weights[layer]",
         lambda *a: _style_np(*a, weight=lambda i, n: 1.0 / len(_STYLE_LAYERS))),
        ("only the last layer counts: did you write `total = …` instead of `total += …` "
         "in your loop?", lambda f, t, w: _style_np(f, t, w, layers=list(f)[-1:])),
        ("only the first layer counts: is your `return` inside the loop?",
         lambda f, t, w: _style_np(f, t, w, layers=list(f)[:1])),
        ("you averaged over the layers: the style loss is the weighted SUM Σ w_l E_l",
         lambda *a: _style_np(*a) / len(_STYLE_LAYERS)),
        *wrong_norm,
    ]


STYLE = _Spec(
    what="the style loss",
    cases=_style_cases,
    reference=_style_ref,
    returns="tensor",
    candidates=_style_candidates(),
    shape_hint=_scalar_shape,
    watch=lambda args: list(args[0].values()),
    success="Σ_l w_l E_l with each target rescaled by M, the gradient flows",
)


# ----------------------------------------------------------------- 5. total variation loss

def _tv_cases() -> list[_Case]:
    import tensorflow as tf

    rng = _rng(7)
    cases = []
    for h, w, c in [(5, 7, 3), (9, 6, 3), (6, 10, 2)]:
        x = rng.uniform(-120, 130, (1, h, w, c))
        x[0, 1:3, 1:3] = x[0, 1, 1]  # a flat patch: some differences are exactly 0
        cases.append(_Case((tf.constant(x, tf.float32),), {"N": c, "M": h * w},
                           f"a hidden image of shape {x.shape}"))
    return cases


def _tv_ref(x: Any) -> np.ndarray:
    from helpers.losses import total_variation_loss

    return total_variation_loss(x).numpy()


def _squared_steps(x: Any, crop: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """a = (x[i+1, j] − x[i, j])², b = (x[i, j+1] − x[i, j])², zero-padded to (H, W) (or,
    with ``crop``, the Keras example's (H−1, W−1) crop)."""
    x = np.asarray(x, np.float64)[0]
    if crop:
        return ((x[1:, :-1] - x[:-1, :-1]) ** 2, (x[:-1, 1:] - x[:-1, :-1]) ** 2)
    a, b = np.zeros_like(x), np.zeros_like(x)
    a[:-1] = (x[1:] - x[:-1]) ** 2
    b[:, :-1] = (x[:, 1:] - x[:, :-1]) ** 2
    return a, b


def _tv_np(x: Any, beta: float = 1.25, crop: bool = False) -> float:
    a, b = _squared_steps(x, crop)
    return float(np.mean((a + b) ** beta))


def _tv_abs(x: Any) -> float:
    from helpers.losses import total_variation_loss

    return float(total_variation_loss(x, form="abs"))


TV = _Spec(
    what="the total-variation loss",
    cases=_tv_cases,
    reference=_tv_ref,
    returns="tensor",
    candidates=[
        ("you left out the last row and column (the Keras example's crop to (H−1, W−1)): pad "
         "the squared differences with a zero row / column so every pixel counts",
         lambda x: _tv_np(x, crop=True)),
        ("you left out the power: raise (a + b) to β = 1.25", lambda x: _tv_np(x, beta=1.0)),
        ("you raised (a + b) to the power 2; use β = 1.25", lambda x: _tv_np(x, beta=2.0)),
        ("you took the square root of (a + b); raise it to β = 1.25",
         lambda x: _tv_np(x, beta=0.5)),
        ("you raised a and b to 1.25 separately: add the two squared differences first, then "
         "raise the sum", lambda x: float(np.mean(np.sum(
             [s**1.25 for s in _squared_steps(x)], axis=0)))),
        ("you only used the differences between rows (vertical); add those between columns",
         lambda x: float(np.mean(_squared_steps(x)[0] ** 1.25))),
        ("you only used the differences between columns (horizontal); add those between rows",
         lambda x: float(np.mean(_squared_steps(x)[1] ** 1.25))),
        ("that is the 'abs' form, mean |Δx| + mean |Δy|; this exercise asks for the power "
         "form, mean((a + b)^1.25) with squared differences", _tv_abs),
    ],
    divisor=(1.0, {"N": 1, "M": 1}),
    factor_hints={"1": "Take the mean over all H·W·C values, not the sum, so the loss does not "
                       "grow with the image",
                  "M": "Take the mean over the channels too"},
    shape_hint=_scalar_shape,
    watch=lambda args: [args[0]],
    dim_names="N = channels, M = H·W pixels",
    success="mean((a + b)^1.25) over every pixel, the gradient flows and is finite",
)


# ------------------------------------------------------------- 6. loss-and-gradient wiring

def _run_lbfgs(name: str, make_loss_and_grad: Callable) -> None:
    """The student's ``make_loss_and_grad(loss_fn, shape)`` on a hidden weighted quadratic:
    types, shapes and gradient first, then a real ``fmin_l_bfgs_b`` run to its minimum."""
    import tensorflow as tf
    from scipy.optimize import fmin_l_bfgs_b

    rng = _rng(8)
    shape = (1, 5, 7, 3)
    weight = rng.uniform(0.5, 2.0, shape)
    target = rng.uniform(-50, 50, shape)

    def loss_fn(x: tf.Tensor) -> tf.Tensor:
        return tf.reduce_sum(tf.constant(weight, tf.float32) * tf.square(
            tf.cast(x, tf.float32) - tf.constant(target, tf.float32)))

    n = math.prod(shape)
    fn = _call(name, make_loss_and_grad, loss_fn, shape)
    if not callable(fn):
        raise CheckFailed(name, "make_loss_and_grad must return a function (the inner one)")
    flat = rng.uniform(-50, 50, n)
    out = _call(name, fn, flat.copy())
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise CheckFailed(name, (f"your function returns {type(out).__name__}; scipy wants a "
                                 "pair: (loss, gradient)"))
    loss, grad = out
    if np.size(loss) == n and np.size(grad) == 1:
        raise CheckFailed(name, "you returned (gradient, loss); scipy wants (loss, gradient)")
    if _is_tensor(loss) or _is_tensor(grad):
        which = "loss" if _is_tensor(loss) else "gradient"
        raise CheckFailed(name, (
            f"your {which} is a TensorFlow tensor; scipy works with NumPy: return float(loss) "
            "and the gradient as a NumPy array (.numpy())"))
    if not isinstance(loss, float | np.floating) or isinstance(loss, np.ndarray):
        raise CheckFailed(name, (f"your loss is a {type(loss).__name__}; return a plain "
                                 "number: float(loss)"))
    grad = np.asarray(grad)
    if grad.shape != (n,):
        raise CheckFailed(name, (
            f"your gradient has shape {grad.shape}; scipy works on the flat vector, shape "
            f"({n},): flatten it with .ravel()" if grad.size == n else
            f"your gradient has shape {grad.shape}; it must have one value per pixel value, "
            f"shape ({n},)"))
    if grad.dtype != np.float64:
        raise CheckFailed(name, (
            f"your gradient is {grad.dtype}; L-BFGS-B computes in float64 (older SciPy "
            "versions refuse anything else, newer ones convert a copy every call): "
            ".astype(np.float64)"))
    x = flat.reshape(shape)
    true_loss = float(np.sum(weight * (x - target) ** 2))
    true_grad = (2 * weight * (x - target)).ravel()
    if not math.isclose(float(loss), true_loss, rel_tol=1e-4):
        raise CheckFailed(name, "your loss is not loss_fn of the image: reshape the flat "
                                "vector to `shape` and call loss_fn on it")
    if not _close(grad, true_grad):
        for message, guess in [
            ("your gradient points uphill: it is minus the gradient", -true_grad),
            ("your gradient is in another order than the vector: reshape and flatten in the "
             "same (C) order", (2 * weight * (x - target)).ravel(order="F")),
        ]:
            if _close(grad, guess):
                raise CheckFailed(name, message)
        raise CheckFailed(name, "your gradient is not the gradient of loss_fn: take "
                                "tape.gradient(loss, x) of the same x you passed to loss_fn")
    best, _, info = fmin_l_bfgs_b(fn, np.zeros(n), maxiter=200)
    if info["warnflag"] != 0 or not _close(best, target.ravel(), rtol=1e-3):
        raise CheckFailed(name, (
            "loss and gradient look right on one input, but L-BFGS-B did not reach the "
            f"minimum from another ({info['task']}); does your function depend on anything but "
            "its argument?"))
    print(f"✓ {name}: (float loss, flat float64 gradient); L-BFGS-B found the hidden minimum "
          f"in {info['nit']} iterations")


# ------------------------------------------------------------------- 7. an open exercise

#: The hidden settings that paint the target picture of the "look" exercise. The notebook
#: only shows the picture; instructors may change these (then re-check LOOK_THRESHOLDS).
LOOK_TARGET: dict[str, Any] = {
    "style_weight": 300.0,
    "style_layers": ["block1_conv1", "block2_conv1", "block3_conv1"],
}
LOOK_SETTINGS = ("content_weight", "style_weight", "tv_weight", "content_layer",
                 "style_layers", "style_layer_weights")
#: Largest content distance and mean style distance to the target that pass (see
#: :func:`look_distances`). Calibrated at both sizes of :func:`look_size`: the target's layers
#: with style weights of about 100 to 300 pass; other layer sets, or style weight 30, do not.
LOOK_THRESHOLDS = {"content": 0.12, "style": 0.10}
_LOOK_LAYERS = [f"block{b}_conv1" for b in range(1, 6)]
_LOOK_SCALES = {"block1_conv1": "colours and the finest grain",
                "block2_conv1": "fine strokes", "block3_conv1": "brush strokes",
                "block4_conv1": "groups of strokes", "block5_conv1": "the largest swirls"}
_LOOK_CACHE: dict[tuple, Any] = {}


def look_size() -> tuple[int, int]:
    """(size in px, iterations) of the look exercise: small with NST_FAST=1."""
    return (64, 10) if os.environ.get("NST_FAST") == "1" else (160, 30)


def look_target() -> np.ndarray:
    """The target picture of the look exercise, (H, W, 3) uint8 (settings not shown)."""
    return look_paint(LOOK_TARGET)


def look_paint(settings: dict[str, Any]) -> np.ndarray:
    """The bundled photo painted in the bundled style with ``settings``: (H, W, 3) uint8.
    Offline backbone, float32, a fixed size, style scale and one scale, so the same settings
    give the same picture whatever the library's defaults."""
    from helpers.optimize import stylize

    size, iterations = look_size()
    key = (size, iterations, repr(sorted(settings.items())))
    if key not in _LOOK_CACHE:
        _LOOK_CACHE[key] = stylize(size=size, iterations=iterations, backbone="vgg16-hed",
                                   precision="float32", style_scale=1.0, scales=1,
                                   progress=False, **settings).image
    return _LOOK_CACHE[key]


def _look_features(image: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
    """block4_conv2 features and the normalised Gram matrices (Fᵀ F / M) of five layers."""
    from helpers import backbone, images, losses

    key = ("extractor",)
    if key not in _LOOK_CACHE:
        net = backbone.load_backbone("vgg16-hed", pooling="avg")
        _LOOK_CACHE[key] = backbone.feature_extractor(net, _LOOK_LAYERS, ["block4_conv2"])
    feats = _LOOK_CACHE[key](images.preprocess(image))
    grams = {n: losses.gram_matrix(feats[n]).numpy() / np.prod(feats[n].shape[1:3])
             for n in _LOOK_LAYERS}
    return feats["block4_conv2"].numpy(), grams


def look_distances(image: np.ndarray, reference: np.ndarray) -> tuple[float, dict[str, float]]:
    """How far ``image`` is from ``reference`` (same size): the content distance
    Σ (F − F_ref)² / Σ F_ref² at block4_conv2, and per style layer Σ (G − G_ref)² / Σ G_ref²
    of the normalised Gram matrices. Both 0 for the same picture, about 1 for unrelated ones."""
    (f, g), (fr, gr) = _look_features(image), _look_features(reference)
    content = float(np.sum((f - fr) ** 2) / np.sum(fr**2)) if f.shape == fr.shape else math.nan
    return content, {n: float(np.sum((g[n] - gr[n]) ** 2) / np.sum(gr[n] ** 2)) for n in g}


def _look_advice(mine: np.ndarray, target: np.ndarray) -> str:
    """What differs most, compared through the two source images."""
    from helpers import data, images

    photo = images.resize_to(images.load_image(data.default_content()), mine.shape[:2])
    painting = images.load_image(data.default_style(), size=max(mine.shape[:2]))
    photo_mine, photo_target = look_distances(mine, photo)[0], look_distances(target, photo)[0]
    paint_mine, paint_target = look_distances(mine, painting)[1], look_distances(target,
                                                                                 painting)[1]
    advice = []
    if photo_mine < 0.7 * photo_target:
        advice.append("your picture keeps more of the photo than the target does")
    elif photo_mine > 1.4 * photo_target:
        advice.append("your picture keeps less of the photo than the target does")
    ratios = {n: paint_mine[n] / max(paint_target[n], 1e-12) for n in paint_mine}
    closer, further = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
    if ratios[closer] < 1 / 1.5:
        advice.append(f"yours is {1 / ratios[closer]:.1f}× closer to the painting at {closer} "
                      f"({_LOOK_SCALES[closer]}): that scale counts for more in yours")
    if ratios[further] > 1.5:
        advice.append(f"the target is {ratios[further]:.1f}× closer to the painting at "
                      f"{further} ({_LOOK_SCALES[further]}): that scale counts for more in the "
                      "target")
    return "; ".join(advice) or "the difference is spread over every layer"


def _run_look(name: str, answer: Any) -> None:
    """Paint with the student's settings and compare with the target picture."""
    from helpers.images import image_grid

    settings = _call(name, answer) if callable(answer) else answer
    if not isinstance(settings, dict):
        raise CheckFailed(name, f"return a dict of settings, not a {type(settings).__name__}")
    unknown = sorted(set(settings) - set(LOOK_SETTINGS))
    if unknown:
        raise CheckFailed(name, (f"unknown setting {unknown[0]!r}; choose from "
                                 f"{', '.join(LOOK_SETTINGS)}"))
    try:
        mine = look_paint(dict(settings))
    except StyleTransferError as exc:
        raise CheckFailed(name, f"stylize refused your settings: {exc}") from None
    except (TypeError, ValueError) as exc:  # e.g. style_layers=5: not a clear refusal
        raise CheckFailed(name, (
            f"stylize could not use your settings ({type(exc).__name__}: {_first_line(exc)}): "
            "weights are numbers, content_layer a layer name, style_layers a list of layer "
            "names and style_layer_weights a list of numbers, one per layer")) from None
    target = look_target()
    content, per_layer = look_distances(mine, target)
    style = float(np.mean(list(per_layer.values())))
    limit_c, limit_s = LOOK_THRESHOLDS["content"], LOOK_THRESHOLDS["style"]
    fig = image_grid([target, mine], ["Target", "Yours"], ncols=2, panel_size=3.2,
                     suptitle=f"Distance to the target: content {content:.3f} (pass < {limit_c}), "
                              f"style {style:.3f} (pass < {limit_s})")
    _show(fig)
    if content < limit_c and style < limit_s:
        print(f"✓ {name}: content distance {content:.3f} < {limit_c} and style distance "
              f"{style:.3f} < {limit_s}")
        return
    raise CheckFailed(name, (
        f"not there yet: content distance {content:.3f} (pass < {limit_c}), style distance "
        f"{style:.3f} (pass < {limit_s}). {_look_advice(mine, target).capitalize()}"))


def _show(fig: Any) -> None:
    """Display a figure now (in Jupyter) and close it, so it is shown once."""
    import matplotlib.pyplot as plt

    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to show on
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(fig)
    plt.close(fig)


# -------------------------------------------------------------------------------- check()

_SPECS: dict[str, _Spec] = {"preprocess": PREPROCESS, "gram": GRAM, "content": CONTENT,
                            "style_layer": STYLE_LAYER, "style": STYLE, "tv": TV}
_RUNNERS: dict[str, Callable[[str, Any], None]] = {
    "deprocess": _run_deprocess, "lbfgs": _run_lbfgs, "look": _run_look,
}
CHECKS = (*_SPECS, *_RUNNERS)


def check(name: str, answer: Any) -> None:
    """Check the student's ``answer`` for exercise ``name`` (one of :data:`CHECKS`) on hidden
    inputs. Prints a ✓ line when right; raises :class:`CheckFailed` naming the mistake."""
    if name in _SPECS:
        _run_spec(name, _SPECS[name], answer)
    elif name in _RUNNERS:
        _RUNNERS[name](name, answer)
    else:
        raise ValueError(f"unknown check {name!r}; choose one of {', '.join(CHECKS)}")


# ------------------------------------------------------------------------ student versions

BEGIN, END, HINT = "### BEGIN SOLUTION", "### END SOLUTION", "### HINT:"
_STUB = "# YOUR CODE HERE"


def student_source(source: str) -> str:
    """A code cell's source with each solution block replaced by a hint comment and
    ``raise NotImplementedError()`` at the block's indentation."""
    out: list[str] = []
    inside, hints, indent = False, [], ""
    for number, line in enumerate(source.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if inside:
                raise ValueError(f"line {number}: {BEGIN} inside another solution block")
            inside, hints, indent = True, [], line[: len(line) - len(line.lstrip())]
        elif stripped.startswith(END):
            if not inside:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            out += [f"{indent}{_STUB}", *(f"{indent}# Hint: {h}" for h in hints),
                    f"{indent}raise NotImplementedError()"]
            inside = False
        elif inside:
            if stripped.startswith(HINT):
                hints.append(stripped[len(HINT):].strip())
        else:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}")
    return "\n".join(out)


def has_solution(nb: Any) -> bool:
    """True if any code cell of the notebook holds a solution block."""
    return any(c.cell_type == "code" and BEGIN in c.source for c in nb.cells)


def student_version(nb: Any) -> Any:
    """A copy of the notebook with solutions replaced by stubs, outputs cleared."""
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells):
        if cell.cell_type != "code":
            continue
        try:
            cell.source = student_source(cell.source)
        except ValueError as exc:
            raise StyleTransferError(f"cell {index}: {exc}") from None
        cell.outputs, cell.execution_count = [], None
    return student


def write_student_versions(src_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write the student version of every exercise notebook (``ex*.ipynb`` with solutions)
    in ``src_dir`` into ``out_dir``; return the paths written."""
    import nbformat

    src, out = Path(src_dir), Path(out_dir)
    if not src.is_dir():
        raise StyleTransferError(f"exercise folder not found: {src} (give --source DIR)")
    sources = [p for p in sorted(src.glob("ex*.ipynb"))
               if has_solution(nbformat.read(p, as_version=4))]
    if not sources:
        raise StyleTransferError(f"no exercise notebooks with solutions in {src}")
    if out.exists() and not out.is_dir():
        raise StyleTransferError(f"cannot write into {out}: it is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        written = []
        for path in sources:
            nb = student_version(nbformat.read(path, as_version=4))
            nbformat.write(nb, out / path.name)
            written.append(out / path.name)
    except OSError as exc:
        raise StyleTransferError(f"cannot write into {out}: {exc.strerror or exc}") from None
    return written


_SOLUTION_RE = re.compile(rf"^\s*{re.escape(BEGIN)}.*?^\s*{re.escape(END)}", re.M | re.S)


def solution_lines(source: str) -> list[str]:
    """The non-empty, non-marker lines inside the solution blocks of ``source``."""
    lines = []
    for block in _SOLUTION_RE.findall(source):
        lines += [s for line in block.splitlines()[1:-1]
                  if (s := line.strip()) and not s.startswith(HINT)]
    return lines
