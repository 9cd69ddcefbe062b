"""Seconds from a weight change to the first updated preview in the tuning app.

    python bench/bench_preview.py [--size 256] [--changes 5] [--backbone auto]

On the bundled images at the preview size, two ways a user changes a weight:
(a) idle: move the style-weight slider, press Run; seconds until the first iteration's
    picture is in the preview;
(b) during a run: move the slider while the app paints; the run stops after its current
    iteration and restarts warm with the new weight; seconds until the new run's first
    picture is in the preview.
The first run (building targets, tracing) is left out: weight changes hit the target cache.
Prints the CPU model, backbone and precision, and the median of each, then (c) where a first
preview's time goes: the network evaluations before it, and scipy's set-up of L-BFGS-B's
bounds (timed on a trivial objective with the same number of values, with and without
bounds). Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any, Callable

import numpy as np
from machine import cpu_model
from scipy.optimize import fmin_l_bfgs_b

from helpers import backbone as bb
from helpers import optimize, widgets


class TimedRunner:
    """Runs ``stylize``; records when each run starts and when each iteration's preview is set."""

    def __init__(self) -> None:
        self.runs: list[float] = []  # start time of each run
        self.previews: list[tuple[int, float]] = []  # (run index, time) after the preview update
        self.event = threading.Event()

    def __call__(self, content: Any, style: Any, callback: Callable[[dict[str, Any]], bool],
                 **kwargs: Any) -> optimize.Result:
        """``stylize(content, style, **kwargs)`` with the app's ``callback`` timed."""
        run = len(self.runs)
        self.runs.append(time.perf_counter())

        def timed(state: dict[str, Any]) -> bool:
            stop = callback(state)  # the app's callback: sets the preview, returns "stop?"
            self.previews.append((run, time.perf_counter()))
            self.event.set()
            return stop

        return optimize.stylize(content, style, callback=timed, **kwargs)

    def first_preview_of_run(self, run: int, timeout: float = 120.0) -> float:
        """perf_counter time at which run ``run`` (0-based) first set the preview."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            for r, t in self.previews:
                if r == run:
                    return t
            self.event.wait(0.05)
            self.event.clear()
        raise TimeoutError(f"run {run} showed no preview within {timeout} s")


def scipy_setup_seconds(n: int, repeats: int = 5) -> float:
    """Median seconds one ``fmin_l_bfgs_b`` call spends on ``n`` values' box bounds: a one-
    iteration call on a trivial quadratic with the pixel box, minus the same call without."""
    y = np.random.default_rng(0).uniform(-100.0, 100.0, n)
    box = np.tile([[-128.0, 128.0]], (n, 1))

    def quadratic(v: np.ndarray) -> tuple[float, np.ndarray]:
        return float(v @ v) * 1e-9, 2e-9 * v

    def call(bounds: np.ndarray | None) -> float:
        start = time.perf_counter()
        fmin_l_bfgs_b(quadratic, y, bounds=bounds, maxiter=1)
        return time.perf_counter() - start

    return statistics.median(call(box) - call(None) for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="preview size, px")
    parser.add_argument("--changes", type=int, default=5, help="weight changes per scenario")
    parser.add_argument("--backbone", default="auto")
    args = parser.parse_args()

    runner = TimedRunner()
    app = widgets.tuning_app(backbone=args.backbone, preview_size=args.size, iterations=500,
                             runner=runner)
    precision, why = bb.resolve_precision(app.controls["precision"].value)
    print(f"CPU: {cpu_model()}; backbone {app.backbone}; precision {precision} ({why})")
    weights = [10.0, 100.0, 30.0, 300.0, 3.0, 50.0, 20.0, 200.0]

    app.run()  # warm-up: builds the targets and traces the loss function
    runner.first_preview_of_run(0, timeout=300)
    app.stop()
    app.wait()

    idle, during = [], []
    for i in range(args.changes):  # (a) idle, then Run
        t0 = time.perf_counter()
        app.controls["style_weight"].value = weights[i % len(weights)]
        app.run()
        idle.append(runner.first_preview_of_run(len(runner.runs) - 1) - t0)
        app.stop()
        app.wait()

    app.controls["style_weight"].value = 30.0
    app.run()
    runner.first_preview_of_run(len(runner.runs) - 1)
    for i in range(args.changes):  # (b) during a run: the app restarts warm
        run = len(runner.runs)
        t0 = time.perf_counter()
        app.controls["style_weight"].value = weights[(i + 3) % len(weights)]
        during.append(runner.first_preview_of_run(run) - t0)
    app.stop()
    app.wait()

    shape = app.history[0]["result"].image.shape
    print(f"preview {shape[1]}x{shape[0]} px, bundled images; cache {optimize.cache_info()}")
    print(f"(a) weight change + Run -> first preview: median {statistics.median(idle):.2f} s "
          f"(all: {', '.join(f'{t:.2f}' for t in idle)})")
    print(f"(b) weight change during a run -> first preview of the warm restart: median "
          f"{statistics.median(during):.2f} s (all: {', '.join(f'{t:.2f}' for t in during)})")
    last = app.history[0]["result"].history
    evaluation = last[-1]["eval_seconds"] / last[-1]["evaluations"]
    values = shape[0] * shape[1] * 3
    setup = scipy_setup_seconds(values)
    print(f"(c) of a first preview: 2 network evaluations (the start, then L-BFGS-B's first "
          f"step) of {evaluation:.2f} s each, and scipy's bounds set-up {setup:.2f} s (every "
          f"fmin_l_bfgs_b call converts the {values} values' bounds in Python loops, whatever "
          f"form they are given in)")


if __name__ == "__main__":
    main()
