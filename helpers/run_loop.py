"""What a run does between the optimizer's iterations (notebook 05 writes this loop by hand):
for each scale (:class:`Run` holds what outlives one), the targets, the objective and the
optimizer (:mod:`helpers.optimizers`), and after every iteration (:class:`Scale`) the history
entry, the progress bar, a checkpoint when due and the callback; a callback's stop, a signal or
a non-finite loss end the run with the best image so far.
"""

from __future__ import annotations

import contextlib
import functools
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers import backbone as bb
from helpers import checkpoints, control, fast_lbfgsb, images, optimizers, redrawn
from helpers.errors import StyleTransferError
from helpers.objective import NonFiniteLoss, Objective, loss_weights
from helpers.result import Result, interrupted_text, settings_record
from helpers.run_images import Inputs, Prepared, start_image
from helpers.settings import Settings
from helpers.targets import cached_targets

Callback = Callable[[dict[str, Any]], "bool | None"]


class Run:
    """The parts of a run that outlive one scale (the history, the last result, checkpoints,
    the callback), and what one scale does between the optimizer's iterations."""

    def __init__(self, callback: Callback | None, checkpoint_dir: str | Path | None,
                 resumed: checkpoints.Checkpoint | None, progress: bool,
                 fingerprint: dict[str, Any], preview: Callable[[np.ndarray], Any] | None = None
                 ) -> None:
        self.callback, self.resumed, self.progress = callback, resumed, progress
        self.preview = preview
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.fingerprint = fingerprint
        self.history: list[dict[str, float]] = []
        self.result: Result | None = None
        self.scale: Scale | None = None  # the scale being painted, until its result is kept
        self.signum: int | None = None
        self.warned = False
        self.redraw: Callable[[int], None] | None = None  # issue 36: sliced_redraw

    def paint(self, net: bb.Backbone, prepared: Prepared, settings: Settings,
              start: np.ndarray | None, label: str) -> bool:
        """Run one scale; True when the run was stopped (callback, a signal, a NaN)."""
        targets = cached_targets(
            net, prepared.net_content, prepared.net_styles, prepared.blend, prepared.masks,
            settings.content_layer if settings.content_weight > 0 else None,
            settings.style_layers if settings.style_weight > 0 else [],
            settings.style_loss, settings.tv_form, settings.content_detail)
        weights = loss_weights(settings, targets, prepared.blend, prepared.masks)
        history: list[dict[str, float]] = []
        if self.resumed is not None:  # checked against this run by stylizing.plan
            x0, history = self.resumed.x, list(self.resumed.history)
        else:
            x0 = start_image(settings, prepared, start)
        loss_and_grad, self.redraw = targets.loss_and_grad, None
        if settings.sliced_redraw:  # issue 36 (helpers.redrawn), s16-paint's lines
            loss_and_grad, self.redraw = redrawn.redrawing(targets, prepared, settings)
        objective = Objective(loss_and_grad, weights, x0.shape,
                              rescaled=settings.optimizer == "lbfgs")
        if history:  # a resumed run counts on
            objective.evaluations = history[-1].get("evaluations", 0)
            objective.eval_seconds = history[-1].get("eval_seconds", 0.0)
        self.backbone = net.description
        self.scale = Scale(self, objective, prepared, settings, history, label)
        with one_blas_thread():
            reason = self.scale.optimize(objective.to_y(x0))
        self.keep(reason)
        return reason.startswith(("stopped", "interrupted", "the loss became"))

    def keep(self, reason: str) -> None:
        """Make the current scale's best image the run's result (its history appended)."""
        scale = self.scale
        image = scale.picture(scale.objective.best_y)
        shift = self.history[-1]["seconds"] if self.history else 0.0
        history = self.history + [{**h, "seconds": h["seconds"] + shift} for h in scale.history]
        result = Result(image, history, self.backbone, reason, settings_record(
            scale.settings, len(scale.prepared.styles), scale.prepared.blend,
            scale.prepared.masks is not None))
        self.history, self.result, self.scale = history, result, None

    def interrupted(self, exc: KeyboardInterrupt) -> None:
        """A signal outside the optimizer (targets building, between scales): keep the best
        image so far, or let the signal through when there is none yet."""
        self.signum = getattr(exc, "signum", signal.SIGINT)
        if self.scale is not None and self.scale.history:
            self.keep(interrupted_text(exc, self.done(self.scale.history)))
        elif self.result is not None:
            self.result.stop_reason = interrupted_text(exc, self.done())
        else:
            raise exc

    def done(self, scale_history: Sequence[dict[str, float]] = ()) -> int:
        """The iterations run so far: every finished scale's and ``scale_history``'s."""
        return sum(1 for h in [*self.history, *scale_history] if h["iteration"] > 0)

    def warn(self, exc: StyleTransferError) -> None:
        """Say once, in one line, that a checkpoint could not be written (the run goes on)."""
        if not self.warned:
            print(f"warning: {exc}; the run goes on (this is said once)", file=sys.stderr)
            self.warned = True

    def finish(self, settings: Settings, inputs: Inputs, asked: Settings) -> Result:
        """The result: its settings those of the whole run (resolved, with each scale's size
        and planned iterations), those ``asked`` and the files read; a run stopped at a coarse
        scale gives its picture at the requested size."""
        result = self.result
        shape = inputs.shape(settings.size)
        if result.image.shape[:2] != shape:
            result.image = images.resize_to(result.image, shape)
        schedule = settings.scale_schedule()
        kept = result.settings  # the styles, their normalised blend weights, masks or not
        result.settings = settings_record(settings, kept["styles"], kept["style_blend_weights"],
                                          kept["masks"])
        result.settings.update(scale_sizes=[s for s, _ in schedule],
                               scale_iterations=[n for _, n in schedule])
        result.asked = settings_record(asked)
        result.signum, result.inputs = self.signum, inputs.files
        return result


class Scale:
    """One scale of a run: records each iteration, updates the progress bar, saves
    checkpoints, calls the callback, and runs the optimizer."""

    def __init__(self, run: Run, objective: Objective, prepared: Prepared, settings: Settings,
                 history: list[dict[str, float]], label: str) -> None:
        self.run, self.objective, self.prepared, self.settings = run, objective, prepared, settings
        self.history = history
        self.t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
        self.bar = _progress_bar(settings.iterations, run.progress, label)

    def picture(self, y: np.ndarray) -> np.ndarray:
        """The (H, W, 3) uint8 picture the user sees of the point ``y``."""
        return control.finished(images.deprocess(self.objective.image32(y)),
                                self.prepared.content, self.settings.preserve_color)

    def record(self, y: np.ndarray) -> dict[str, Any]:
        """Append the history entry of ``y`` (evaluated already in the usual case)."""
        objective = self.objective
        objective(y)
        total, c, s, t = objective.last_terms
        entry = {"iteration": len(self.history), "size": max(self.prepared.shape),
                 "total": float(total), "content": float(c), "style": float(s), "tv": float(t),
                 "seconds": time.perf_counter() - self.t0,
                 "evaluations": objective.evaluations, "eval_seconds": objective.eval_seconds}
        self.history.append(entry)
        return entry

    def after_iteration(self, y: np.ndarray) -> None:
        """Record, show progress, save a checkpoint when due, and ask the callback."""
        entry = self.record(y)
        self.bar.update(1)
        self.bar.set_postfix(**{k: f"{entry[k]:.3g}" for k in ("total", "content", "style",
                                                                "tv")})
        every = self.settings.checkpoint_every
        if every and entry["iteration"] % every == 0:
            self.checkpoint()
        if self.run.callback is not None and self.run.callback(
                {**entry, "image": self.picture(y)}):
            raise _Stop("stopped by the callback")

    def checkpoint(self) -> None:
        """Save the best image so far and the history; a failed write (a full disk) is said
        once and the run goes on."""
        try:
            checkpoints.save(self.run.checkpoint_dir,
                             self.objective.image(self.objective.best_y), self.history,
                             self.run.fingerprint)
        except StyleTransferError as exc:
            self.run.warn(exc)

    def peeking(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective; a new point tried in the first iteration is first shown by the
        run's ``preview``."""
        objective = self.objective
        if len(self.history) == 1 and not np.array_equal(y, objective.last_y):
            self.run.preview(self.picture(y))
        return objective(y)

    def chunked(self, optimize: Callable[..., str]) -> Callable[..., str]:
        """``optimize`` itself, or run in chunks with the sliced loss's directions redrawn
        between them (``sliced_redraw``, :mod:`helpers.redrawn`; issue 36, s16-paint's lines)."""
        if self.run.redraw is None:
            return optimize
        if (optimize in (optimizers.lbfgs, optimizers.lbfgs_pyramid) and redrawn.KEEP_MEMORY
                and fast_lbfgsb.same_as_scipy()):
            in_run = redrawn.InRun(self.settings.sliced_redraw, self.run.redraw, self.objective)
            return in_run.lbfgs if optimize is optimizers.lbfgs else in_run.lbfgs_pyramid
        return redrawn.in_chunks(optimize, self.settings.sliced_redraw, self.run.redraw,
                                 self.objective)

    def optimize(self, y0: np.ndarray) -> str:
        """Run the optimizer from ``y0``; return why it stopped."""
        s = self.settings
        remaining = s.iterations - max(len(self.history) - 1, 0)
        box = images.pixel_bounds(self.prepared.shape) / self.objective.scale
        reason = "finished"
        objective = self.objective if self.run.preview is None else self.peeking
        chunked = self.chunked
        try:
            if not self.history:
                self.record(y0)  # iteration 0: the starting image
            if remaining <= 0:
                reason = "the checkpoint already has all iterations"
            elif s.optimizer == "adam":
                reason = chunked(optimizers.adam)(objective, y0, remaining,
                                                  self.after_iteration, box, s.learning_rate)
            elif s.pyramid_levels > 1 and s.lbfgs_mode == "single":
                reason = chunked(optimizers.lbfgs_pyramid)(
                    objective, y0, remaining, self.after_iteration, box, s.maxfun,
                    s.pyramid_levels, (*self.prepared.shape, 3))
            else:
                run = optimizers.lbfgs if s.lbfgs_mode == "single" else optimizers.lbfgs_restart
                reason = chunked(run)(objective, y0, remaining, self.after_iteration, box,
                                      s.maxfun)
        except _Stop as stop:
            reason = str(stop)
        except NonFiniteLoss as bad:
            reason = (f"{bad} at iteration {len(self.history)}; kept the last good image. "
                      "Lower the weights (or the learning rate) and try again")
            if self.run.progress:
                print(f"Warning: {reason}")
        except KeyboardInterrupt as exc:
            if not self.history:  # not even the start evaluated: the run keeps what it has
                raise
            self.run.signum = getattr(exc, "signum", signal.SIGINT)
            reason = interrupted_text(exc, self.run.done(self.history))
        finally:
            self.bar.close()
        if s.checkpoint_every and self.history:
            self.checkpoint()
        return reason


class _Stop(Exception):
    """Raised between iterations to end a run (the callback asked)."""


#: Bench-only switch (not a setting): False leaves BLAS at its own threads, as before issue
#: 35, so that the benches can time the old path beside the new one in one run.
ONE_BLAS_THREAD = True


def one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """While a scale's optimizer runs (the callback included), NumPy's and SciPy's BLAS
    (OpenBLAS) use one thread; TensorFlow's threads are not BLAS's and stay as they are.

    SciPy >= 1.15's L-BFGS-B (C) calls BLAS for its vector operations over every value, and
    OpenBLAS's thread team costs more than it gains there: on the shared 2-core machine its
    arithmetic took 0.94 s per iteration at 400x601 px with two threads and 0.33 s with one
    (docs/performance.md). Nothing changes where threadpoolctl is missing."""
    controller = _blas_controller()
    if controller is None or not ONE_BLAS_THREAD:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded thread pools, found once (15 ms; each limit then
    takes microseconds instead of 1-5 ms per scale and slider change), or None without it."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    return ThreadpoolController()


def _progress_bar(total: int, enabled: bool, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="it", disable=not enabled, leave=True)
