"""scipy's compiled L-BFGS-B driven with its bounds prepared once (no notebook: notebook 05
teaches L-BFGS-B and wires a loss into ``fmin_l_bfgs_b``; this module only makes the same run
start faster, and changes no point it visits).

``fmin_l_bfgs_b`` converts the bounds value by value in Python at every call (0.4 s at 256 px,
2 s at 400x600: on every slider change of the tuning app and every coarse-to-fine scale).
:func:`setulb_loop` is SciPy 1.15-1.17's own loop around the compiled ``setulb`` with the
bound arrays made by NumPy in one step; :func:`same_as_scipy` checks once per process, on a
small bounded problem, that it walks through the same points as ``fmin_l_bfgs_b`` to the bit
(:func:`helpers.optimizers.lbfgsb` falls back to ``fmin_l_bfgs_b`` where it does not: the
routine is private to SciPy and may change).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]
AfterIteration = Callable[[np.ndarray], None]
Renew = Callable[[np.ndarray], "tuple[float, np.ndarray] | None"]


def setulb_loop(objective: Objective, y: np.ndarray, box: np.ndarray | None, maxiter: int,
                 maxfun: int, callback: AfterIteration | None, m: int, factr: float,
                 pgtol: float, maxls: int = 20, renew: Renew | None = None) -> dict[str, Any]:
    """SciPy 1.15-1.17's ``_minimize_lbfgsb`` loop around its compiled ``setulb``, every
    value bounded on both sides (``nbd`` = 2; ``box`` None: no value bounded, ``nbd`` = 0);
    like its ``ScalarFunction`` it evaluates the start first and then only points it has not
    just evaluated.

    ``renew(x)``, called at each new iterate after ``callback`` (unless the run stops there),
    may return a new (f, g) at ``x`` (the objective has changed: issue 36's redrawn sliced
    directions, :mod:`helpers.redrawn`): the routine goes on from there with its curvature
    memory, as PyTorch's L-BFGS does across ``step()`` calls; None changes nothing."""
    from scipy.optimize import _lbfgsb
    from scipy.optimize._lbfgsb_py import status_messages, task_messages

    factr = factr * np.finfo(float).eps / np.finfo(float).eps  # scipy's rounding, to the bit
    if box is None:
        low = high = np.zeros(np.size(y))
        x = np.array(y, dtype=np.float64)
    else:
        low, high = (np.ascontiguousarray(box[:, i], dtype=np.float64) for i in (0, 1))
        x = np.array(np.clip(np.asarray(y, dtype=np.float64), low, high))
    n = low.size
    last, (f_last, g_last), nfev = x.copy(), objective(x.copy()), 1
    f, g = np.array(0.0), np.zeros(n)
    nbd = np.full(n, 0 if box is None else 2, np.int32)
    wa = np.zeros(2 * m * n + 5 * n + 11 * m * m + 8 * m)
    iwa, task, ln_task = np.zeros(3 * n, np.int32), np.zeros(2, np.int32), np.zeros(2, np.int32)
    lsave, isave, dsave = np.zeros(4, np.int32), np.zeros(44, np.int32), np.zeros(29)
    iterations = 0
    while True:
        g = np.asarray(g, np.float64)
        _lbfgsb.setulb(m, x, low, high, nbd, f, g, factr, pgtol, wa, iwa, task, lsave, isave,
                       dsave, maxls, ln_task)
        if task[0] == 3:  # wants f and g at x
            if not np.array_equal(x, last):
                last, (f_last, g_last) = x.copy(), objective(x.copy())
                nfev += 1
            f, g = float(f_last), np.array(g_last, np.float64)
        elif task[0] == 1:  # a new iterate
            iterations += 1
            if callback is not None:
                callback(x)
            if iterations >= maxiter:
                task[:] = 5, 504
            elif nfev > maxfun:
                task[:] = 5, 502
            elif renew is not None and (fresh := renew(x)) is not None:
                last, (f_last, g_last), nfev = x.copy(), fresh, nfev + 1
                f, g = float(f_last), np.array(g_last, np.float64)
        else:
            break
    warnflag = 0 if task[0] == 4 else 1 if nfev > maxfun or iterations >= maxiter else 2
    return {"task": f"{status_messages[task[0]]}: {task_messages[task[1]]}",
            "funcalls": nfev, "nit": iterations, "warnflag": warnflag, "x": x, "f": f}


@functools.cache
def same_as_scipy() -> bool:
    """Whether :func:`setulb_loop` walks through the same points as ``fmin_l_bfgs_b`` here
    (with bounds that stop some values, line searches, to convergence), to the bit."""
    import scipy.optimize

    rng = np.random.default_rng(0)
    target, weights = rng.normal(0, 2, 12), rng.uniform(0.5, 5, 12)
    box = np.tile([[-1.0, 1.5]], (12, 1))

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        return float(np.sum(weights * (v - target) ** 2 + np.sin(3 * v))), \
            2 * weights * (v - target) + 3 * np.cos(3 * v)

    ours: list[np.ndarray] = []
    theirs: list[np.ndarray] = []
    try:
        info = setulb_loop(f, np.zeros(12), box, 100, 1000, lambda v: ours.append(v.copy()),
                            10, 1e5, 0.0)
    except Exception:  # another SciPy's private routine: a changed signature or layout
        return False
    _, _, expected = scipy.optimize.fmin_l_bfgs_b(  # scipy's own, even where a test spies
        f, np.zeros(12), bounds=box, maxiter=100, maxfun=1000, m=10, factr=1e5, pgtol=0.0,
        callback=lambda v: theirs.append(v.copy()))
    return (len(ours) == len(theirs) > 1 and all(map(np.array_equal, ours, theirs))
            and info["task"] == expected["task"] and info["funcalls"] == expected["funcalls"]
            and info["warnflag"] == expected["warnflag"])
