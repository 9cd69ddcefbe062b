"""The optimisers over the pixels (notebook 05): scipy's L-BFGS-B in one call (the default),
the old Keras example's restart loop (for comparison), and Adam; and L-BFGS over an image
pyramid, which paints the first of several coarse-to-fine scales (notebook 08).

L-BFGS-B is limited-memory BFGS with box bounds (the B): a quasi-Newton method that builds a
curvature estimate from the last ``m`` = 10 steps and keeps every pixel inside its valid range.
Each function takes the :class:`~helpers.objective.Objective`, the starting vector, and
``after_iteration(y)``, called once per iteration (it may raise to stop the run); each returns
why it stopped, in words. scipy's compiled L-BFGS-B is driven by :func:`lbfgsb`, which makes
the bounds NumPy arrays in one go (scipy's ``fmin_l_bfgs_b`` converts them value by value at
every call) and otherwise walks through the same points.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.optimize import fmin_l_bfgs_b

from helpers import fast_lbfgsb

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
AfterIteration = Callable[[np.ndarray], None]


def stop_reason(info: dict[str, Any]) -> str:
    """scipy's ``info`` of an ``fmin_l_bfgs_b`` call, in words."""
    task = info.get("task", "")
    task = task.decode() if isinstance(task, bytes) else str(task)
    if info.get("warnflag") == 0:
        return f"converged ({task.lower()})"
    if info.get("warnflag") == 1:
        return "reached the maximum number of iterations or evaluations"
    return f"stopped early: {task.lower()} (the line search could not lower the loss further)"


def lbfgs(objective: Objective, y: np.ndarray, iterations: int, after_iteration: AfterIteration,
          box: np.ndarray, maxfun: int = 20) -> str:
    """One L-BFGS-B run (:func:`lbfgsb`, scipy's ``fmin_l_bfgs_b``) of ``iterations``
    iterations: its curvature memory lasts the whole run (at most ``maxfun`` evaluations per
    iteration on average)."""
    return stop_reason(lbfgsb(objective, y, box, iterations, iterations * maxfun,
                              after_iteration))


#: Bench-only switch (not a setting): False runs scipy's ``fmin_l_bfgs_b`` itself, whose
#: bounds set-up is a Python loop over every value at every call, so that
#: ``bench/bench_preview.py`` can time the old path beside the new one in one run.
PREPARED_BOUNDS = True


def lbfgsb(objective: Objective, y: np.ndarray, box: np.ndarray, maxiter: int, maxfun: int,
           callback: AfterIteration | None = None, m: int = 10, factr: float = 1e5,
           pgtol: float = 0.0, renew: fast_lbfgsb.Renew | None = None) -> dict[str, Any]:
    """The ``info`` of ``fmin_l_bfgs_b(objective, y, bounds=box, ...)``, computed the same
    way (the same compiled L-BFGS-B, the same points to the bit) with the (n, 2) ``box`` made
    scipy's bound arrays by NumPy in one go: ``fmin_l_bfgs_b`` converts them value by value in
    Python at every call (0.4 s at 256 px, 2 s at 400x600, on every slider change and scale).
    Where this SciPy's compiled routine does not answer as the one it was written against
    (1.15-1.17; checked once per process on a small problem,
    :func:`helpers.fast_lbfgsb.same_as_scipy`) it runs ``fmin_l_bfgs_b`` itself. ``renew``
    (:func:`helpers.fast_lbfgsb.setulb_loop`: a new objective value at an iterate) needs the
    prepared routine; without it, ``renew`` is refused with ValueError."""
    if renew is not None and not fast_lbfgsb.same_as_scipy():
        raise ValueError("renew needs helpers.fast_lbfgsb's routine, which this SciPy lacks")
    if not (PREPARED_BOUNDS and fast_lbfgsb.same_as_scipy()) and renew is None:
        x, f, info = fmin_l_bfgs_b(objective, y, bounds=box, maxiter=maxiter, maxfun=maxfun,
                                   m=m, factr=factr, pgtol=pgtol, callback=callback)
        return {**info, "x": x, "f": f}
    return fast_lbfgsb.setulb_loop(objective, y, box, maxiter, maxfun, callback, m, factr,
                                   pgtol, renew=renew)


class Pyramid:
    """x = Σₖ blur_k(up_k(zₖ)): an (H, W, C) image as the sum of ``levels`` levels, level k
    of size ⌈H/2ᵏ⌉ × ⌈W/2ᵏ⌉, repeated 2ᵏ times along each axis and, for k ≥ 1, blurred by a
    Gaussian of σ = 2ᵏ/2. Level 0 is the full-size image itself, not blurred. The blur runs
    over the repeated level (⌈H/2ᵏ⌉·2ᵏ × ⌈W/2ᵏ⌉·2ᵏ, zero beyond it, so it is its own adjoint)
    before the H × W image is cut out: at the top and left edges it sees zeros, and at the
    bottom and right edges of a size not divisible by 2ᵏ it first sees the last coarse
    pixel's repeated values. A step along a coarse level's gradient changes a whole blurred
    patch, so L-BFGS lays down large marks first. docs/choosing_defaults.md shows what it
    paints (``pyramid_levels``)."""

    def __init__(self, shape: tuple[int, int, int], levels: int) -> None:
        h, w, self.channels = shape
        self.shape = (h, w)
        self.sizes = [(-(-h // 2**k), -(-w // 2**k)) for k in range(levels)]

    def _parts(self, z: np.ndarray) -> list[np.ndarray]:
        ends = np.cumsum([h * w * self.channels for h, w in self.sizes])[:-1]
        return [part.reshape(h, w, self.channels)
                for part, (h, w) in zip(np.split(z, ends), self.sizes, strict=True)]

    def image(self, z: np.ndarray) -> np.ndarray:
        """The flat (H·W·C) image of the flat levels ``z``."""
        h, w = self.shape
        x = np.zeros((h, w, self.channels))
        for k, part in enumerate(self._parts(z)):
            up = np.repeat(np.repeat(part, 2**k, 0), 2**k, 1)
            if k:
                up = gaussian_filter(up, (2**k / 2, 2**k / 2, 0), mode="constant")
            x += up[:h, :w]
        return x.ravel()

    def gradient(self, g: np.ndarray) -> np.ndarray:
        """The gradient over the levels of a gradient ``g`` over the image (the adjoint)."""
        h, w = self.shape
        out = []
        for k, (hk, wk) in enumerate(self.sizes):
            f = 2**k
            full = np.zeros((hk * f, wk * f, self.channels))
            full[:h, :w] = g.reshape(h, w, self.channels)
            if k:
                full = gaussian_filter(full, (f / 2, f / 2, 0), mode="constant")
            out.append(full.reshape(hk, f, wk, f, self.channels).sum(axis=(1, 3)).ravel())
        return np.concatenate(out)

    def levels(self, x: np.ndarray) -> np.ndarray:
        """Levels whose image is the flat image ``x``: x itself, the coarse levels 0."""
        rest = sum(h * w * self.channels for h, w in self.sizes[1:])
        return np.concatenate([x, np.zeros(rest)])


def lbfgs_pyramid(objective: Objective, y: np.ndarray, iterations: int,
                  after_iteration: AfterIteration, box: np.ndarray, maxfun: int = 20,
                  levels: int = 4, shape: tuple[int, int, int] = (1, 1, 3),
                  redraws: Any = None) -> str:
    """:func:`lbfgs` over the levels of a :class:`Pyramid` of the (H, W, C) ``shape`` instead
    of the pixels (docs/choosing_defaults.md). The levels have no bounds; the image they sum
    to is clipped to ``box``, so the network only ever sees valid pixels, and a clipped pixel
    passes no gradient back (the exact gradient of the clipped image). ``redraws``
    (:class:`helpers.redrawn.InRun`) redraws the sliced directions inside the one run."""
    pyramid = Pyramid(shape, levels)
    low, high = box[:, 0], box[:, 1]

    def on_levels(z: np.ndarray) -> tuple[float, np.ndarray]:
        x = pyramid.image(z)
        loss, gradient = objective(np.clip(x, low, high))
        return loss, pyramid.gradient(np.where((x >= low) & (x <= high), gradient, 0.0))

    def callback(z: np.ndarray) -> None:
        after_iteration(np.clip(pyramid.image(z), low, high))

    if redraws is not None:
        return stop_reason(fast_lbfgsb.setulb_loop(
            redraws.shifted(on_levels), pyramid.levels(y), None, iterations,
            iterations * maxfun, callback, 10, 1e5, 0.0,
            renew=lambda z: redraws.renew(on_levels, z)))
    _, _, info = fmin_l_bfgs_b(
        on_levels, pyramid.levels(y), maxiter=iterations, maxfun=iterations * maxfun, m=10,
        factr=1e5, pgtol=0.0, callback=callback)
    return stop_reason(info)


def lbfgs_restart(objective: Objective, y: np.ndarray, iterations: int,
                  after_iteration: AfterIteration, box: np.ndarray, maxfun: int = 20) -> str:
    """The old Keras example's loop: ``iterations`` calls of ``maxfun`` evaluations each, every
    call starting with an empty curvature memory."""
    info: dict[str, Any] = {}
    for _ in range(iterations):  # fmin_l_bfgs_b(objective, y, bounds=box, maxfun, pgtol=0)
        info = lbfgsb(objective, y, box, 15000, maxfun, factr=1e7)
        y = info["x"]
        after_iteration(y)
    return (f"finished {iterations} restarts of {maxfun} evaluations; the last one: "
            f"{stop_reason(info)}")


def adam(objective: Objective, y: np.ndarray, steps: int, after_iteration: AfterIteration,
         box: np.ndarray, learning_rate: float = 5.0, beta1: float = 0.9, beta2: float = 0.999,
         eps: float = 1e-8) -> str:
    """Adam on the pixels, one evaluation per step, clipped to the valid range."""
    m = np.zeros_like(y)
    v = np.zeros_like(y)
    _, g = objective(y)
    for step in range(1, steps + 1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
        y = np.clip(y - learning_rate * m_hat / (np.sqrt(v_hat) + eps), box[:, 0], box[:, 1])
        _, g = objective(y)
        after_iteration(y)
    return f"finished {steps} Adam steps"
