"""The sliced loss's directions redrawn during a run (``sliced_redraw``; notebook 07 teaches
the sliced Wasserstein loss, :mod:`helpers.style_losses.sliced`). Heitz et al.'s own code
draws new directions after every L-BFGS call, so that over a run the loss sees many more than
the K directions of one draw. Here :func:`redrawing` builds a run's loss with the targets
held in variables (traced once) and a function that puts a new draw in them; :class:`InRun`
redraws every ``sliced_redraw`` iterations inside one L-BFGS-B run, keeping its curvature
memory (over the pixels or the first scale's pyramid), and :func:`in_chunks` runs any other
optimizer (Adam, the restart loop) that many iterations at a time with a redraw before each
chunk. docs/paintings.md measures what they paint.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from helpers import images
from helpers._tf import tf
from helpers.objective import compile_loss_and_grad
from helpers.style_losses import sliced
from helpers.targets import StyleTerm, detail_map


def variables(targets: Mapping[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """The same sliced targets, each held in a (sorted projections, directions) pair of
    variables."""
    return {name: tuple(tf.Variable(t, trainable=False) for t in pair)
            for name, pair in targets.items()}


def redrawing(targets: Any, prepared: Any, settings: Any
              ) -> tuple[Callable[..., Any], Callable[[int], None]]:
    """(``loss_and_grad``, ``redraw(draw)``) of a run whose sliced loss's directions are
    redrawn: the same objective as ``targets.loss_and_grad`` (:class:`helpers.targets.
    Targets` of ``prepared``'s images and the resolved ``settings``) with the targets in
    variables, and a function that draws new directions (``draw`` 1, 2, ...), projects the
    paintings on them and puts the new targets in those variables. The graph is traced once;
    a redraw costs one pass of the paintings through the network."""
    terms = [StyleTerm(variables(term.targets), term.mask) for term in targets.terms]
    layers = list(settings.style_layers)
    content_layer = settings.content_layer if settings.content_weight > 0 else None
    content_map = None
    if content_layer and settings.content_detail > 0:
        weights = detail_map(prepared.net_content, targets.content_target.shape[1:3],
                             settings.content_detail)
        content_map = tf.constant(weights[None, ..., None], tf.float32)
    loss_and_grad = compile_loss_and_grad(targets.extractor, content_layer,
                                          targets.content_target, terms, layers, sliced.NAME,
                                          settings.tv_form, content_map)
    forward = tf.function(targets.extractor, reduce_retracing=True)

    def redraw(draw: int) -> None:
        stats = [sliced.painting_stats(forward(tf.constant(images.preprocess(s)), training=False),
                                layers, draw) for s in prepared.net_styles]
        fresh = ([sliced.blended_targets(stats, prepared.blend)] if prepared.masks is None
                 else [sliced.blended_targets([one], [1.0]) for one in stats])
        for term, new in zip(terms, fresh, strict=True):
            for name, pair in new.items():
                for variable, value in zip(term.targets[name], pair, strict=True):
                    variable.assign(value)

    return loss_and_grad, redraw


def in_chunks(optimize: Callable[..., str], every: int, redraw: Callable[[int], None],
              objective: Any) -> Callable[..., str]:
    """``optimize`` (an optimizer of :mod:`helpers.optimizers`: ``(objective, y, iterations,
    after_iteration, box, ...)``) run ``every`` iterations at a time, with ``redraw(k)``
    (:func:`redrawing`) before the k-th chunk after the first: each chunk starts from the
    last chunk's best point with a fresh curvature memory, and the ``objective``
    (:class:`helpers.objective.Objective`; the optimizer may be given a wrapper of it)
    forgets its best loss and last point, which were measured along the old directions."""
    def run(function: Any, y: Any, iterations: int, after_iteration: Callable, box: Any,
            *args: Any) -> str:
        reason, done, draw = "finished", 0, 0
        while done < iterations:
            if draw:
                redraw(draw)
                objective.best, objective.last_y = math.inf, None
            n = min(every, iterations - done)
            reason = optimize(function, y, n, after_iteration, box, *args)
            y, done, draw = objective.best_y, done + n, draw + 1
        return reason if draw == 1 else (f"{reason} (the last of {draw} chunks of at most "
                                         f"{every} iterations, each with new directions)")

    return run


#: Bench-only switch (not a setting): False runs every L-BFGS redraw in restarted chunks
#: (:func:`in_chunks`, session 16's mechanism), so that the benches can compare the two.
KEEP_MEMORY = True


class InRun:
    """One L-BFGS-B run whose sliced directions are redrawn every ``every`` iterations without
    losing its curvature memory (:func:`helpers.fast_lbfgsb.setulb_loop`'s ``renew``): at the
    iterate x where a redraw falls, the loss along the new directions is evaluated at x, and
    from then on it is shifted by a constant so that it equals the old loss at x. L-BFGS-B
    then sees one continuous objective whose gradient has changed (its next direction follows
    the new gradient, its line search and convergence test compare like with like), as
    PyTorch's L-BFGS in Heitz et al.'s code goes on across ``step()`` calls. The
    ``objective`` (:class:`helpers.objective.Objective`) forgets its best loss at each
    redraw: the run's best image is the best since the last one."""

    def __init__(self, every: int, redraw: Callable[[int], None], objective: Any) -> None:
        self.every, self.redraw, self.objective = every, redraw, objective
        self.offset, self.iterations, self.draws = 0.0, 0, 0

    def shifted(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` (the objective, or a wrapper of it) with the current shift added."""
        def value(y: Any) -> tuple[float, Any]:
            f, g = function(y)
            return f + self.offset, g
        return value

    def renew(self, function: Callable[..., Any], y: Any) -> tuple[float, Any] | None:
        """At a new iterate: None, or after a redraw the shifted (loss, gradient) at ``y``."""
        self.iterations += 1
        if self.iterations % self.every:
            return None
        before, _ = self.shifted(function)(y)  # answered from the objective's last point
        self.draws += 1
        self.redraw(self.draws)
        self.objective.best, self.objective.last_y = math.inf, None
        after, gradient = function(y)
        self.offset = before - after
        return before, gradient

    def lbfgs(self, function: Any, y: Any, iterations: int, after_iteration: Callable,
              box: Any, maxfun: int = 20) -> str:
        """:func:`helpers.optimizers.lbfgs` with the redraws (its arguments)."""
        from helpers import optimizers

        info = optimizers.lbfgsb(self.shifted(function), y, box, iterations,
                                 iterations * maxfun, after_iteration,
                                 renew=lambda x: self.renew(function, x))
        return self.said(optimizers.stop_reason(info))

    def lbfgs_pyramid(self, function: Any, y: Any, iterations: int, after_iteration: Callable,
                      box: Any, maxfun: int, levels: int, shape: Any) -> str:
        """:func:`helpers.optimizers.lbfgs_pyramid` with the redraws (its arguments)."""
        from helpers import optimizers

        return self.said(optimizers.lbfgs_pyramid(function, y, iterations, after_iteration,
                                                  box, maxfun, levels, shape, redraws=self))

    def said(self, reason: str) -> str:
        """The optimizer's stop ``reason`` and how many redraws the run had."""
        return reason if not self.draws else (
            f"{reason} ({self.draws} redraws of the directions, every {self.every} "
            "iterations, in one L-BFGS-B run)")
