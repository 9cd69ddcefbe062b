"""Checks ``make_loss_and_grad`` of notebooks/exercises/ex06_lbfgs.ipynb: the wiring of a
TensorFlow loss into ``scipy.optimize.fmin_l_bfgs_b``."""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np

from helpers.exercises._engine import SHAPE_HINT, CheckFailed, close, is_tensor, rng
from helpers.exercises._engine import call as _call
from helpers.exercises.ex06_inputs import input_dtype_problem, input_shape_problem

_SHAPE = (1, 5, 7, 3)


FLAT = (" — scipy hands your function y, the FLAT vector of all {n} values (float64); "
        "reshape it with the `shape` make_loss_and_grad was given, y.reshape(shape) (the "
        "check's is {shape}: never a shape of your own), before loss_fn, and flatten the "
        "gradient back, .ravel()")


def call(name: str, fn: Callable, *args: Any, library: Callable | None = None) -> Any:
    """The engine's call; a shape error is told that y is flat (reshape it with `shape`)."""
    try:
        return _call(name, fn, *args, library=library)
    except CheckFailed as failure:
        if SHAPE_HINT not in failure.message:
            raise
        raise CheckFailed(name, failure.message.split(SHAPE_HINT)[0] + FLAT.format(
            n=math.prod(_SHAPE), shape=_SHAPE), failure.student_traceback) from None


class _Bowl:
    """The hidden problem: a weighted quadratic Σ w (x − t)², its loss_fn and gradient."""

    def __init__(self) -> None:
        gen = rng(8)
        self.weight = gen.uniform(0.5, 2.0, _SHAPE)
        self.target = gen.uniform(-50, 50, _SHAPE)
        self.points = [gen.uniform(-50, 50, math.prod(_SHAPE)) for _ in range(3)]
        # near the minimum: x − t of 0.25 … 0.5, where float16 (steps of 0.03 at 50) is off
        offset = gen.uniform(0.25, 0.5, math.prod(_SHAPE)) * gen.choice([-1, 1], math.prod(_SHAPE))
        self.near = self.target.ravel() + offset.ravel()

    @staticmethod
    def other(flat: np.ndarray) -> np.ndarray:
        """The second point a scale is confirmed at, for a point ``flat``."""
        return flat * 0.5 + 3.0

    def probe_points(self) -> list[np.ndarray]:
        """Every point the check may call the student's function at (besides L-BFGS-B's own
        run), in the order it does: the two points, the one near the minimum, the one after
        the run; then each one's :meth:`other`. A grader that replays a recorded trace needs
        an answer at each."""
        first, second, third = self.points
        mine = [first, second, self.near, third]
        return mine + [self.other(p) for p in mine]

    def loss_fn(self, x: Any) -> Any:
        """The TensorFlow loss handed to the student's make_loss_and_grad."""
        from helpers._tf import tf

        dtype = getattr(getattr(x, "dtype", None), "name", str(getattr(x, "dtype", "")))
        problem = input_dtype_problem(str(dtype)) or input_shape_problem(np.shape(x), _SHAPE)
        if problem:  # the notebook's network and losses would refuse it
            raise CheckFailed("lbfgs", problem)
        return tf.reduce_sum(tf.constant(self.weight, tf.float32) * tf.square(
            tf.cast(x, tf.float32) - tf.constant(self.target, tf.float32)))

    def loss(self, flat: np.ndarray) -> float:
        """The true loss at a flat point."""
        return float(np.sum(self.weight * (flat.reshape(_SHAPE) - self.target) ** 2))

    def grad(self, flat: np.ndarray, order: str = "C") -> np.ndarray:
        """The true gradient at a flat point, flattened in ``order``."""
        return (2 * self.weight * (flat.reshape(_SHAPE) - self.target)).ravel(order=order)


NO_GRADIENT = ("your gradient is {}: tape.gradient returns None when the tape did not watch "
               "x. A tf.constant is watched only after tape.watch(x) inside the `with "
               "tf.GradientTape() as tape:` block (a tf.Variable is watched by itself), and "
               "loss_fn(x) must be computed inside that block from that same x")


def _missing_gradient(grad: Any, n: int) -> str | None:
    """A gradient that is None, or None turned into NumPy (NaN, an object array)."""
    if grad is None:
        return NO_GRADIENT.format("None")
    array = np.asarray(grad)
    if array.dtype == object and any(g is None for g in array.ravel()):
        return NO_GRADIENT.format("None (in a NumPy array)")
    if n > 1 and array.size == 1 and array.dtype.kind == "f" and np.isnan(array).all():
        return NO_GRADIENT.format("one NaN (np.array(None, dtype=np.float64) gives NaN)")
    return None


def _types(name: str, out: Any, n: int) -> tuple[float, np.ndarray]:
    """(loss, gradient) in the types scipy wants, or CheckFailed saying what is off."""
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise CheckFailed(name, (f"your function returns {type(out).__name__}; scipy wants a "
                                 "pair: (loss, gradient)"))
    loss, grad = out
    missing = _missing_gradient(grad, n)
    if missing:
        raise CheckFailed(name, missing)
    if np.size(loss) == n and np.size(grad) == 1:
        raise CheckFailed(name, "you returned (gradient, loss); scipy wants (loss, gradient)")
    if is_tensor(loss) or is_tensor(grad):
        which = "loss" if is_tensor(loss) else "gradient"
        raise CheckFailed(name, (
            f"your {which} is a TensorFlow tensor; scipy works with NumPy: return float(loss) "
            "and the gradient as a NumPy array (.numpy())"))
    if not isinstance(loss, float | np.floating) or isinstance(loss, np.ndarray):
        kind = f"{'an' if type(loss).__name__[0] in 'aeiou' else 'a'} {type(loss).__name__}"
        raise CheckFailed(name, (f"your loss is {kind}; return a plain "
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
    return loss, grad


STALE = ("your gradient is the one of the PREVIOUS call (or an earlier one), not of the point "
         "scipy just passed (a cached gradient, the classic `Evaluator` bug, or a tf.function "
         "that traced the first point in as a constant): L-BFGS-B then steps with a "
         "gradient that belongs elsewhere and needs several times more iterations, or stalls. "
         "Compute loss and gradient together from the same y on every call")
STALE_LOSS = ("your loss is the one of the PREVIOUS call (or an earlier one), not of the "
              "point scipy just passed (a cached loss{}; or a tf.function that traced the "
              "first point in as a constant): L-BFGS-B's line search compares losses of "
              "different points and stops early or goes astray. Compute loss and gradient "
              "together from the same y on every call")
SCALED = ("your {}: the two are scaled differently. L-BFGS-B needs the gradient OF the "
          "loss it is given, or its line search fails. Scale both by the same factor, or "
          "(here) neither")
BOTH = ("your loss and gradient are both {:.4g} times loss_fn's: return loss_fn's own values "
        "(the notebook rescales the objective afterwards, in one place)")
UNIT = ("your gradient points the right way but has length 1: you normalised it "
        "(g / ‖g‖). L-BFGS-B needs the gradient itself, whose length says how steep the loss "
        "is; return tape.gradient(...) as it is")


def _ratio(a: np.ndarray | float, b: np.ndarray | float) -> float | None:
    """c with a ≈ c·b (c > 0, not 1), or None."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    denom = float(np.sum(b * b))
    if denom == 0:
        return None
    c = float(np.sum(a * b)) / denom
    return c if c > 0 and abs(c - 1) > 1e-3 and close(a, c * b) else None


def _same_scale(fn: Callable, bowl: _Bowl, flat: np.ndarray, c: float, part: int = 0
                ) -> bool:
    """Whether the loss (``part`` 0) or the gradient (1) is c times loss_fn's at another
    point too (a fixed scale, not some other function of it). Only called on the way to a
    failure."""
    other = bowl.other(flat)
    out = call("lbfgs", fn, other.copy())
    if not isinstance(out, tuple | list) or len(out) != 2:
        return False
    want = bowl.loss(other) if part == 0 else bowl.grad(other)
    got = np.asarray(out[part], np.float64)
    return got.shape == np.shape(want) and close(got, c * want, rtol=1e-4)


ROUNDED = ("your function evaluates y rounded to {} ({}): far from the minimum that hardly "
           "shows, but near it loss and gradient are rounding noise and L-BFGS-B stalls. "
           "Convert y to float32, tf.constant(y.reshape(shape), tf.float32), never smaller")
CLIPPED = ("your loss is loss_fn of y clipped to {:g} … {:g} (np.clip / tf.clip_by_value), not "
           "of y itself: past the limits L-BFGS-B sees a flat loss whose gradient does not "
           "match it. Evaluate the point you are given as it is; limits belong in "
           "fmin_l_bfgs_b's bounds= (the notebook passes them)")
MOVED = ("your loss is loss_fn of y {}, not of y itself: L-BFGS-B needs the loss and "
         "gradient at exactly the point it passed. Reshape y to `shape` and evaluate it as it "
         "is (the notebook scales outside this function, in one place)")
LATE = ("your loss is right only when the same y comes twice: it is computed before the "
        "point is set (a tf.Variable assigned after loss_fn ran?), so each call returns the "
        "loss of the point before, on the first call the Variable's starting value. Assign "
        "y first (x.assign(…)), then compute loss and gradient under the tape")
CHANGED_Y = ("your function changed the vector y it was given ({}{}): scipy "
             "keeps that array as L-BFGS-B's current point, so writing into it "
             "(np.clip(y, …, out=y), y[:] = …, y -= …, or through y.reshape(shape), a view of "
             "y) moves the optimiser's point behind its back. Work on a copy, and leave "
             "limits to fmin_l_bfgs_b's bounds=")


def _rounded(flat: np.ndarray, dtype: str) -> np.ndarray:
    """``flat`` rounded to float16 or bfloat16, back in float64."""
    import ml_dtypes  # installed with TensorFlow: NumPy's bfloat16

    kind = np.float16 if dtype == "float16" else ml_dtypes.bfloat16
    return flat.astype(kind).astype(np.float64)


def _fortran(y: np.ndarray) -> np.ndarray:
    """The flat point whose C-order image is ``y`` reshaped in Fortran order."""
    return y.reshape(_SHAPE, order="F").ravel()


def _moves() -> list[tuple[str, Callable[[np.ndarray], np.ndarray]]]:
    """What a function may evaluate instead of y itself: y rounded, or clipped."""
    out = [(ROUNDED.format("float16", "tf.float16 / np.float16 keep about 3 significant "
                           "digits: steps of 0.03 near 50"), lambda y: _rounded(y, "float16")),
           (ROUNDED.format("bfloat16", "tf.bfloat16 keeps about 2 significant digits: "
                           "steps of 0.25 near 50"), lambda y: _rounded(y, "bfloat16"))]
    for lo, hi in ((0.0, 255.0), (0.0, 1.0), (-1.0, 1.0), (-128.0, 127.0)):
        out.append((CLIPPED.format(lo, hi), lambda y, lo=lo, hi=hi: np.clip(y, lo, hi)))
    for how, move in (("rounded to whole numbers (np.round)", np.round),
                      ("cut to whole numbers (.astype(int), np.trunc)", np.trunc),
                      ("divided by 255", lambda y: y / 255), ("times 255", lambda y: y * 255),
                      ("reshaped in column-major order (order='F'), which puts the values "
                       "in other places of the image", _fortran)):
        out.append((MOVED.format(how), move))
    return out


def _rounded_gradient(grad: np.ndarray, true_grad: np.ndarray) -> str | None:
    """A gradient near the right one whose every value is a bfloat16 (or float16) number:
    computed in that dtype (float32 values almost never are)."""
    for dtype, digits in (("bfloat16", 2), ("float16", 3)):
        if np.array_equal(_rounded(grad, dtype), grad) and close(grad, true_grad, rtol=3e-2):
            return (f"your gradient is computed in {dtype}: every value of it is a {dtype} "
                    f"number (about {digits} significant digits), so near the minimum it is "
                    "rounding noise and L-BFGS-B stalls. Convert y to float32, "
                    "tf.constant(y.reshape(shape), tf.float32), never smaller")
    return None


def _repeat_is_right(fn: Callable, bowl: _Bowl, flat: np.ndarray) -> bool:
    """Whether a second call with the same point gives loss_fn's loss there."""
    out = call("lbfgs", fn, flat.copy())
    try:
        return math.isclose(float(np.asarray(out[0], np.float64)), bowl.loss(flat),
                            rel_tol=1e-4)
    except (TypeError, ValueError, IndexError, KeyError):
        return False


def _loss_problem(fn: Callable, loss: float, grad: np.ndarray, bowl: _Bowl, flat: np.ndarray,
                  previous: np.ndarray | None) -> str | None:
    """What is wrong with a loss that is not loss_fn's at ``flat`` (None if it is)."""
    true_loss = bowl.loss(flat)
    if math.isclose(float(loss), true_loss, rel_tol=1e-4):
        return None
    if previous is not None and math.isclose(float(loss), bowl.loss(previous), rel_tol=1e-4):
        stale_grad = close(grad, bowl.grad(previous))
        return STALE_LOSS.format(", and the gradient too" if stale_grad else "")
    moved = _moved_point(loss, bowl, flat)
    if moved:
        return moved
    if _repeat_is_right(fn, bowl, flat):
        return LATE
    if math.isclose(float(loss), math.sqrt(true_loss), rel_tol=1e-4):
        return ("your loss is the square root of loss_fn's (a norm where the loss is its "
                "square?); return loss_fn's value itself, with its gradient")
    scaled = _scaled_loss(fn, loss, grad, bowl, flat)
    if scaled:
        return scaled
    return ("your loss is not loss_fn of the image: not of y reshaped to `shape` (nor of the "
            "previous point, of y rounded or clipped, nor loss_fn's scaled); reshape y itself "
            "to `shape`, call loss_fn on that, and return float(loss)")


def _moved_point(loss: float, bowl: _Bowl, flat: np.ndarray) -> str | None:
    """The mistake of a loss that is loss_fn's at ``flat`` rounded, clipped, ... (the
    points of :func:`_moves`), or None."""
    for text, move in _moves():
        moved = move(flat)
        if not np.array_equal(moved, flat) and math.isclose(float(loss), bowl.loss(moved),
                                                            rel_tol=1e-4):
            return text
    return None


def _scaled_loss(fn: Callable, loss: float, grad: np.ndarray, bowl: _Bowl,
                 flat: np.ndarray) -> str | None:
    """What is wrong with a loss that is loss_fn's times a constant (and its gradient with
    it, or not), or None."""
    true_loss, true_grad = bowl.loss(flat), bowl.grad(flat)
    c = _ratio(loss, true_loss)
    c = c if c is not None and _same_scale(fn, bowl, flat, c) else None
    if c is not None and close(grad, c * true_grad):
        return BOTH.format(c)
    if c is not None and close(grad, true_grad):
        return SCALED.format(f"loss is {c:.4g} times loss_fn's, but your gradient is not")
    c_grad = _ratio(grad, true_grad)
    if c is not None and c_grad is not None:
        return SCALED.format(f"loss is {c:.4g} times loss_fn's and your gradient {c_grad:.4g} "
                             "times its gradient")
    return None


def _values(name: str, fn: Callable, bowl: _Bowl, flat: np.ndarray,
            previous: np.ndarray | None) -> None:
    """The loss and gradient at ``flat`` must be the bowl's own there, and ``flat`` left as
    it was."""
    given = flat.copy()
    out = call(name, fn, given)
    if given.shape != flat.shape:  # y.shape = shape, y.resize(…): scipy's array reshaped
        raise CheckFailed(name, CHANGED_Y.format(f"its shape is now {given.shape}", ""))
    if not np.array_equal(given, flat):
        raise CheckFailed(name, CHANGED_Y.format(int(np.sum(given != flat)),
                                                 f" of its {flat.size} values"))
    loss, grad = _types(name, out, flat.size)
    problem = _loss_problem(fn, loss, grad, bowl, flat, previous)
    if problem:
        raise CheckFailed(name, problem)
    true_grad = bowl.grad(flat)
    if close(grad, true_grad):
        return
    if previous is not None and close(grad, bowl.grad(previous)):
        raise CheckFailed(name, STALE)
    c = _ratio(grad, true_grad)
    if c is not None and math.isclose(float(np.linalg.norm(grad)), 1.0, rel_tol=1e-3):
        raise CheckFailed(name, UNIT)
    if c is not None and _same_scale(fn, bowl, flat, c, part=1):
        raise CheckFailed(name, SCALED.format(
            f"gradient is {c:.4g} times the gradient of loss_fn, but your loss is not"))
    rounded = _rounded_gradient(grad, true_grad)
    if rounded:
        raise CheckFailed(name, rounded)
    step = _ratio(-grad, true_grad)
    if step is not None:
        raise CheckFailed(name, (
            f"your gradient is −{step:.4g} times the gradient: a descent step (−lr · g), not "
            "the gradient. Return the gradient itself; L-BFGS-B chooses its own steps"))
    for message, guess in [
        ("your gradient points uphill: it is minus the gradient", -true_grad),
        ("your gradient is in another order than the vector: reshape and flatten in the "
         "same (C) order", bowl.grad(flat, order="F")),
    ]:
        if close(grad, guess):
            raise CheckFailed(name, message)
    raise CheckFailed(name, "your gradient is not the gradient of loss_fn: take "
                            "tape.gradient(loss, x) of the same x you passed to loss_fn")


def check_points(name: str, fn: Callable, bowl: _Bowl) -> None:
    """Types, shapes and values at two points in turn (a stale, cached gradient shows at the
    second), then near the minimum (where rounding shows); CheckFailed naming the mistake."""
    first, second, _ = bowl.points
    _values(name, fn, bowl, first, None)
    _values(name, fn, bowl, second, first)
    _values(name, fn, bowl, bowl.near, second)


def check_run(name: str, fn: Callable, bowl: _Bowl, best: np.ndarray, info: dict) -> str:
    """After ``fmin_l_bfgs_b(fn, zeros)`` gave ``best`` and ``info``: it must have reached
    the bowl's minimum, and ``fn`` must still be right at a point the run did not visit.
    Returns the ✓ line."""
    if info["warnflag"] != 0 or not close(best, bowl.target.ravel(), rtol=1e-3):
        raise CheckFailed(name, (
            "loss and gradient are right at three points, but L-BFGS-B did not reach the "
            f"minimum from another start ({info['task'] or 'no reason given'}), and this "
            "check cannot tell why: look for anything that differs between calls (a cache, "
            "a tf.Variable, a counter) or that rounds (float16, int)"))
    _values(name, fn, bowl, bowl.points[2], best)
    return (f"✓ {name}: (float loss, flat float64 gradient of the point passed); L-BFGS-B "
            f"found the hidden minimum in {info['nit']} iterations")


def run_lbfgs(name: str, make_loss_and_grad: Callable) -> None:
    """The student's ``make_loss_and_grad(loss_fn, shape)`` on a hidden weighted quadratic:
    :func:`check_points`, a real ``fmin_l_bfgs_b`` run to its minimum, :func:`check_run`."""
    from scipy.optimize import fmin_l_bfgs_b

    bowl = _Bowl()
    fn = call(name, make_loss_and_grad, bowl.loss_fn, _SHAPE)
    if not callable(fn):
        raise CheckFailed(name, "make_loss_and_grad must return a function (the inner one)")
    check_points(name, fn, bowl)
    best, _, info = fmin_l_bfgs_b(lambda y: call(name, fn, y), np.zeros(math.prod(_SHAPE)),
                                  maxiter=200)  # what fn raises in the run: one line too
    print(check_run(name, fn, bowl, best, info))
