"""The objective (notebook 05): the function scipy's L-BFGS-B minimises, ``objective(y) ->
(loss, gradient)`` over the flat float64 pixels.

One evaluation is ONE compiled TensorFlow call (:func:`compile_loss_and_grad`) that runs the
image through the truncated backbone and returns every loss term and the gradient.
:class:`Objective` wraps it for scipy: float64 in and out, the scaling that makes L-BFGS-B's
first step :data:`FIRST_STEP` grey levels, the best image so far, and counters.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Any, Callable

import numpy as np

from helpers import losses, style_losses
from helpers._tf import tf

# The TV term is two dozen cheap operations on full-size images; XLA fuses them into one loop
# (23 ms -> 5 ms per evaluation at 400x601, 3 % of a bfloat16 evaluation; same values to 1e-7).
_total_variation_loss = tf.function(losses.total_variation_loss, jit_compile=True)

#: How far L-BFGS-B's first step moves the pixels, in grey levels (RMS). It is also the size of
#: every step where the loss curves downwards along the gradient (a Gram loss far below its
#: target, e.g. one shallow style layer with a strong style weight): L-BFGS-B then discards the
#: step's curvature pair and steps the gradient itself again. At 1 grey level such a run crept
#: (only block1_conv1, style weight 300: style loss 268 -> 108 in 30 iterations, picture still
#: the photo); at 8 it reaches 0.08, and runs that never curve downwards end the same.
FIRST_STEP = 8.0


def compile_loss_and_grad(
    extractor: Any, content_layer: str | None, content_target: tf.Tensor, terms: Sequence[Any],
    layers: list[str], style_loss: str, tv_form: str, content_map: tf.Tensor | None = None,
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``loss_and_grad(x, w) -> ([total, content, style, tv], d total / d x)``, one traced
    graph: x is the (1, H, W, 3) preprocessed image, w the weights of :func:`loss_weights`.
    Each style layer's loss is the ``layer_loss`` of :mod:`helpers.style_losses`' ``style_loss``
    against each term's target at that layer. ``content_map`` ((1, h, w, 1) at the content
    layer's size, mean 1; :func:`helpers.targets.detail_map`) weighs the content term per
    position: (1/(N·M)) Σ m (F - P)²."""

    loss = style_losses.get(style_loss)

    def content(feats: tf.Tensor) -> tf.Tensor:
        if content_map is None:
            return losses.content_loss(feats, content_target)
        return tf.reduce_mean(content_map * tf.square(tf.cast(feats, tf.float32)
                                                      - content_target))

    def term_losses(feats: dict[str, tf.Tensor], term: Any) -> list[tf.Tensor]:
        return [loss.layer_loss(feats[n], term.targets[n], term.mask) for n in layers]

    @tf.function(reduce_retracing=True)
    def loss_and_grad(x: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            feats = extractor(x, training=False)
            c = (w[0] * content(feats[content_layer])
                 if content_layer else tf.zeros(()))
            per_layer = [e for term in terms for e in term_losses(feats, term)]
            s = w[1] * tf.reduce_sum(w[3:] * tf.stack(per_layer)) if per_layer else tf.zeros(())
            t = w[2] * _total_variation_loss(x, tv_form)
            total = c + s + t
        return tf.stack([total, c, s, t]), tape.gradient(total, x)

    return loss_and_grad


def loss_weights(settings: Any, targets: Any, blend: Sequence[float],
                 masks: Sequence[np.ndarray | None] | None) -> tf.Tensor:
    """[content, style, tv, then one weight per (style term, layer)]: a layer's relative
    weight, divided by its blank-image loss when ``balance_style_layers`` (each masked style
    term weighted by its blend weight and the area of its mask)."""
    term_w = [1.0] if masks is None else [
        b * len(blend) * (1.0 if m is None else float(m.mean()))
        for b, m in zip(blend, masks, strict=True)]
    per_term_layer = []
    for tw, blank in zip(term_w, targets.blank_style_losses(), strict=False):
        for v, n in zip(settings.style_layer_weights, settings.style_layers, strict=True):
            per_term_layer.append(
                tw * v / (max(blank[n], 1e-30) if settings.balance_style_layers else 1))
    sw = settings.style_weight
    return tf.constant([settings.content_weight, sw, settings.tv_weight,
                        *(per_term_layer if sw > 0 else [])], dtype=tf.float32)


class NonFiniteLoss(Exception):
    """The loss or its gradient came out NaN or infinite (weights or learning rate too
    large); the message says which ("the loss became nan", "the gradient became nan")."""


class Objective:
    """``objective(y) -> (loss, gradient)`` for scipy, over y = x / scale, the flat float64
    preprocessed pixels divided by ``scale``.

    Why the scaling: L-BFGS-B's first step has length 1 without bounds, and with bounds (as
    here) it is the raw gradient itself, so the loss's overall size (any weight setting) would
    change the path. The loss scipy sees is multiplied by ``f_scale`` = FIRST_STEP /
    ‖first gradient‖, and y = x / sqrt(#values), so that first step moves the pixels by
    :data:`FIRST_STEP` grey levels (RMS). Both only for L-BFGS (``rescaled``); Adam sees the
    plain loss.

    Keeps the best (lowest-loss) point, the last point's terms (scipy asks for the same point
    again after each iteration: answered without a network pass), and counts evaluations.
    """

    def __init__(self, loss_and_grad: Callable, weights: tf.Tensor, x_shape: tuple[int, ...],
                 rescaled: bool = True) -> None:
        self.loss_and_grad, self.weights, self.x_shape = loss_and_grad, weights, x_shape
        self.rescaled = rescaled
        self.scale = math.sqrt(math.prod(x_shape)) if rescaled else 1.0
        self.f_scale: float | None = None
        self.best, self.best_y = math.inf, None
        self.last_y = self.last_terms = self.last_grad = None
        self.evaluations, self.eval_seconds = 0, 0.0

    def to_y(self, x: np.ndarray) -> np.ndarray:
        """Preprocessed pixels (any shape) -> the flat float64 vector scipy works on."""
        y = np.asarray(x, dtype=np.float64).ravel() / self.scale
        self.best_y = y.copy()
        return y

    def image(self, y: np.ndarray) -> np.ndarray:
        """The vector scipy works on -> the (1, H, W, 3) preprocessed image."""
        return y.reshape(self.x_shape) * self.scale

    def image32(self, y: np.ndarray) -> np.ndarray:
        """``image(y)`` rounded to float32 (what the network and the pictures see), in one
        pass: no float64 temporary of the whole image."""
        return np.multiply(y.reshape(self.x_shape), self.scale, dtype=np.float64,
                           out=np.empty(self.x_shape, np.float32), casting="same_kind")

    def __call__(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        if self.last_y is not None and np.array_equal(self.last_y, y):
            return float(self.last_terms[0]) * self.f_scale, self.last_grad
        started = time.perf_counter()
        # g = float64(g32) * scale in one pass, as x = float32(y * scale): the same roundings
        terms, g32 = self.loss_and_grad(tf.constant(self.image32(y)), self.weights)
        terms = terms.numpy().astype(np.float64)
        g32 = g32.numpy().ravel()
        grad = np.multiply(g32, self.scale, dtype=np.float64)
        self.evaluations += 1
        self.eval_seconds += time.perf_counter() - started
        if not np.all(np.isfinite(terms)):
            raise NonFiniteLoss(f"the loss became {terms[0]}")
        if not np.isfinite(g32).all():
            raise NonFiniteLoss(f"the gradient became {g32[~np.isfinite(g32)][0]}")
        if self.f_scale is None:
            self.f_scale = (FIRST_STEP / max(float(np.linalg.norm(grad)), 1e-30)
                            if self.rescaled else 1.0)
        np.multiply(grad, self.f_scale, out=grad)
        y = y.copy()  # scipy may reuse its array; one copy serves both records below
        if terms[0] < self.best:
            self.best, self.best_y = terms[0], y
        self.last_y, self.last_terms, self.last_grad = y, terms, grad
        return float(terms[0]) * self.f_scale, grad
