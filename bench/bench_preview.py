"""Seconds from a weight change to the first updated preview in the tuning app, before and
after issue 35's speed work, in one run.

    python bench/bench_preview.py [--size 256] [--changes 5] [--backbone auto] [--precision auto]

On the bundled images at the preview size, two ways a user changes a weight:
(a) idle: move the style-weight slider, press Run; seconds until the first iteration's
    picture is in the preview;
(b) during a run: move the slider while the app paints; the run stops after its current
    iteration and restarts warm with the new weight; seconds until the new run's first
    picture is in the preview.
The first run (building targets, tracing) is left out: weight changes hit the target cache.
Each is timed on the old path (scipy's ``fmin_l_bfgs_b``, the sort as it was, the preview after
the first iteration, the loss plot drawn at every iteration, BLAS at its own threads) and the
new one (bounds prepared once per call, L-BFGS-B's BLAS at one thread, the leaner sort, the
first step shown as soon as L-BFGS-B picks it, the loss plot at most once a second; the PNG and
plot drawing are today's, faster, on both paths): the same pictures after each iteration, the
paths taking turns change by change, so that other work on the machine weighs on both alike.
Prints the CPU model, load, backbone and precision, the median of each per path, then (c) where
a first preview's time goes: the network evaluations before it, the set-up of L-BFGS-B's bounds
(timed on a trivial objective with the same number of values, with and without bounds), and the
rest (the run's images and start image prepared, the picture made a PNG, the thread's
hand-off). Not a test.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Any, Callable

import numpy as np
from machine import cores, cpu_model, load
from scipy.optimize import fmin_l_bfgs_b

from helpers import backbone as bb
from helpers import fast_ops, optimizers, run_loop, stylizing, widgets
from helpers.app import painter
from helpers.style_losses import sliced


class TimedRunner:
    """Runs ``stylize``; records when each run starts, when each iteration's picture is put in
    the preview (``shown``: the widget's value set, what the page then draws) and when the
    app's callback for the first iteration returns (``previews``: the iteration's loss on the
    status line, and on the old path the loss plot drawn)."""

    def __init__(self) -> None:
        self.runs: list[float] = []  # start time of each run
        self.previews: list[tuple[int, float]] = []  # (run index, time) after the callback
        self.shown: list[tuple[int, float]] = []  # (run index, time) the preview was set
        self.event = threading.Event()
        self._calling: int | None = None  # the run whose callback is running

    def watch(self, preview: Any) -> None:
        """Note the time whenever the app's callback sets ``preview`` (an Image widget)."""

        def seen(_: Any) -> None:
            if self._calling is not None:
                self.shown.append((self._calling, time.perf_counter()))

        preview.observe(seen, "value")

    def __call__(self, content: Any, style: Any, callback: Callable[[dict[str, Any]], bool],
                 **kwargs: Any) -> stylizing.Result:
        """``stylize(content, style, **kwargs)`` with the app's ``callback`` timed."""
        run = len(self.runs)
        self.runs.append(time.perf_counter())
        early = kwargs.pop("preview", None)
        if early is not None and painter.PLOT_EVERY > 0:  # the new path: the first step shown

            def first_step(image: Any) -> None:
                self._calling = run
                try:
                    early(image)
                finally:
                    self._calling = None

            kwargs["preview"] = first_step

        def timed(state: dict[str, Any]) -> bool:
            self._calling = run
            try:
                stop = callback(state)  # the app's callback: sets the preview, returns "stop?"
            finally:
                self._calling = None
            self.previews.append((run, time.perf_counter()))
            self.event.set()
            return stop

        return stylizing.stylize(content, style, callback=timed, **kwargs)

    def first_preview_of_run(self, run: int, timeout: float = 120.0) -> float:
        """perf_counter time at which run ``run`` (0-based) first returned from the callback."""
        end = time.perf_counter() + timeout
        while time.perf_counter() < end:
            for r, t in self.previews:
                if r == run:
                    return t
            self.event.wait(0.05)
            self.event.clear()
        raise TimeoutError(f"run {run} showed no preview within {timeout} s")

    def first_shown(self, run: int) -> float:
        """perf_counter time at which run ``run`` first set the preview (after
        :meth:`first_preview_of_run` returned for it)."""
        return next(t for r, t in self.shown if r == run)


PATHS = ("old", "new")


def use_path(path: str) -> None:
    """Switch the bench-only speed paths: ``old`` is the code before issue 35 (scipy's own
    ``fmin_l_bfgs_b`` with its bounds loop, the sort's keys built in new arrays, the blank loss
    computed at every run, no preview of the first step, the loss plot at every iteration, BLAS
    at its own threads), ``new`` today's. Both give the same pictures after each iteration to
    the bit (tests/test_speed_paths.py; BLAS's threads only add in another order)."""
    optimizers.PREPARED_BOUNDS = fast_ops.LEAN_SORT = run_loop.ONE_BLAS_THREAD = path == "new"
    painter.PLOT_EVERY = 1.0 if path == "new" else 0.0
    if path == "old":
        sliced._BLANK.clear()


def bounds_setup_seconds(n: int, path: str, repeats: int = 5) -> float:
    """Median seconds one L-BFGS-B call spends on ``n`` values' box bounds on ``path``: a one-
    iteration call on a trivial quadratic with the pixel box, minus the same call without."""
    y = np.random.default_rng(0).uniform(-100.0, 100.0, n)
    box = np.tile([[-128.0, 128.0]], (n, 1))

    def quadratic(v: np.ndarray) -> tuple[float, np.ndarray]:
        return float(v @ v) * 1e-9, 2e-9 * v

    def call(bounded: bool) -> float:
        use_path(path)
        start = time.perf_counter()
        with run_loop.one_blas_thread():  # as stylize runs it on this path
            if bounded:
                optimizers.lbfgsb(quadratic, y, box, 1, 20)
            else:
                fmin_l_bfgs_b(quadratic, y, maxiter=1)
        return time.perf_counter() - start

    return statistics.median(call(True) - call(False) for _ in range(repeats))


def idle_changes(app: Any, runner: TimedRunner, changes: int, evaluations: dict[str, list]
                 ) -> dict[str, list[float]]:
    """(a): per path, seconds from a weight change + Run to the first preview (the picture
    set, then the first iteration's callback done: keys ``path`` and ``path+it1``); the paths
    take turns,
    change by change. Adds each run's seconds per evaluation to ``evaluations[path]``."""
    out: dict[str, list[float]] = {k: [] for p in PATHS for k in (p, p + "+it1")}
    for i in range(changes):
        for j, path in enumerate(PATHS if i % 2 == 0 else PATHS[::-1]):
            use_path(path)
            run = len(runner.runs)  # the run about to start (its thread may start late)
            t0 = time.perf_counter()
            app.controls["style_weight"].value = WEIGHTS[(2 * i + j) % len(WEIGHTS)]
            app.run()
            out[path + "+it1"].append(runner.first_preview_of_run(run) - t0)
            out[path].append(runner.first_shown(run) - t0)
            app.stop()
            app.wait()
            last = app.history[0]["result"].history[-1]
            evaluations[path].append(last["eval_seconds"] / last["evaluations"])
    return out


def changes_during_a_run(app: Any, runner: TimedRunner, changes: int
                         ) -> dict[str, list[float]]:
    """(b): per path, seconds from a weight change during a run to the first preview of the
    warm restart (the path switched just before the change; the paths take turns); keys as
    :func:`idle_changes`'s."""
    out: dict[str, list[float]] = {k: [] for p in PATHS for k in (p, p + "+it1")}
    app.controls["style_weight"].value = 30.0
    run = len(runner.runs)
    app.run()
    runner.first_preview_of_run(run)
    for i in range(changes):
        for j, path in enumerate(PATHS if i % 2 == 0 else PATHS[::-1]):
            use_path(path)
            run = len(runner.runs)
            t0 = time.perf_counter()
            app.controls["style_weight"].value = WEIGHTS[(2 * i + j + 3) % len(WEIGHTS)]
            out[path + "+it1"].append(runner.first_preview_of_run(run) - t0)
            out[path].append(runner.first_shown(run) - t0)
    app.stop()
    app.wait()
    return out


def seconds(times: list[float]) -> str:
    return f"median {statistics.median(times):.2f} s (all: {', '.join(f'{t:.2f}' for t in times)})"


#: The style weights the slider is moved to, in turn (no two in a row alike: a slider moved to
#: its own value changes nothing).
WEIGHTS = [10.0, 100.0, 30.0, 300.0, 3.0, 50.0, 20.0, 200.0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="preview size, px")
    parser.add_argument("--changes", type=int, default=5, help="weight changes per scenario")
    parser.add_argument("--backbone", default="auto")
    parser.add_argument("--precision", default="auto", choices=("auto", "float32", "bfloat16"),
                        help="the app's precision control (float32: as a CPU without native "
                             "bfloat16 runs)")
    args = parser.parse_args()

    runner = TimedRunner()
    app = widgets.tuning_app(backbone=args.backbone, preview_size=args.size, iterations=500,
                             runner=runner)
    runner.watch(app.preview)
    app.controls["precision"].value = args.precision
    precision, why = bb.resolve_precision(app.controls["precision"].value)
    print(f"CPU: {cpu_model()}, {cores()} cores, load {load()}; backbone {app.backbone}; "
          f"precision {precision} ({why})")
    app.run()  # warm-up: builds the targets and traces the loss function
    runner.first_preview_of_run(0, timeout=300)
    app.stop()
    app.wait()

    evaluations: dict[str, list[float]] = {p: [] for p in PATHS}
    idle = idle_changes(app, runner, args.changes, evaluations)
    during = changes_during_a_run(app, runner, args.changes)
    shape = app.history[0]["result"].image.shape
    values = shape[0] * shape[1] * 3
    print(f"preview {shape[1]}x{shape[0]} px, bundled images; cache {stylizing.cache_info()}; "
          f"the old and new paths (before and after issue 35, the same pictures) take turns")
    for path in PATHS:
        print(f"[{path}] (a) weight change + Run -> first preview: {seconds(idle[path])}; "
              f"first iteration done (its loss said{', plot drawn' if path == 'old' else ''}): "
              f"{seconds(idle[path + '+it1'])}")
        print(f"[{path}] (b) weight change during a run -> first preview of the warm restart: "
              f"{seconds(during[path])}; first iteration done: {seconds(during[path + '+it1'])}")
    for path in PATHS:
        count = 2 if path == "old" else 1  # the new path shows the first step before its eval
        each = statistics.median(evaluations[path])
        bounds = bounds_setup_seconds(values, path)
        rest = statistics.median(idle[path]) - count * each - bounds
        what = ("evaluations (the start, then L-BFGS-B's first step)" if count == 2 else
                "evaluation (the start; the first step is shown before it is evaluated)")
        print(f"[{path}] (c) of a first preview: {count} network {what}"
              f", median {each:.3f} s each over (a)'s runs; the bounds set-up of the {values} "
              f"values {bounds:.3f} s ("
              + ("scipy's fmin_l_bfgs_b converts them in Python loops at every call)"
                 if path == "old" else "prepared by NumPy, the same compiled L-BFGS-B)")
              + f"; the rest {rest:.3f} s (images and start image prepared, PNG, hand-off)")
    plot = statistics.median(b - a for a, b in zip(idle["new"], idle["new+it1"], strict=True))
    print(f"(c) new path, from the first step on show to the first iteration's end (the step's "
          f"evaluation, the callback): {plot:.2f} s (median)")
    old_new = statistics.median(idle["old"]) / statistics.median(idle["new"])
    print(f"(a) old / new: {old_new:.2f}x; load now {load()}")


if __name__ == "__main__":
    main()
