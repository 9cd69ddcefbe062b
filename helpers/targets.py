"""What the generated image must match (notebooks 02 and 03): the photo's features at the
content layer, and per style layer what the style loss keeps of the painting (:mod:`helpers.
style_losses`: its Gram matrix; for the W2 loss its mean and covariance, for the sliced
Wasserstein loss its sorted projections: notebook 07). Computed
once per (backbone, images, size, layers, style loss) and cached, so a run with other weights,
as the tuning app makes, starts at once (:func:`cached_targets`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from helpers import backbone as bb
from helpers import images, style_losses
from helpers._tf import tf


@dataclass
class StyleTerm:
    """One style target set: per layer the target the style loss built (:mod:`helpers.
    style_losses`: a normalised Gram matrix A = Fᵀ F / M for ``"gram"``, (μ, Σ, Σ^½) for
    ``"w2"``, (sorted projections, directions) for ``"sliced"``), and the (H, W) mask in 0..1
    of the region it applies to (``None``: the whole image)."""

    targets: dict[str, Any]
    mask: tf.Tensor | None = None


@dataclass
class Targets:
    """The feature extractor, the content target, the style terms, the name of the style loss
    and the compiled loss-and-gradient function (:func:`helpers.objective.
    compile_loss_and_grad`)."""

    extractor: Any
    content_target: tf.Tensor
    terms: list[StyleTerm]
    style_loss: str
    loss_and_grad: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]

    @property
    def style_targets(self) -> dict[str, Any]:
        """The first (for one style: the only) style term's targets per layer."""
        return self.terms[0].targets if self.terms else {}

    def blank_style_losses(self) -> list[dict[str, float]]:
        """Per style term and layer, the loss of an all-zero feature map: the scale of that
        layer's style loss (each loss's ``blank_loss``; Gram: sum(A²) / (4 N²))."""
        loss = style_losses.get(self.style_loss)
        return [{name: loss.blank_loss(t) for name, t in term.targets.items()}
                for term in self.terms]


def style_features(extractor: Any, style: np.ndarray) -> dict[str, tf.Tensor]:
    """The style image's features at every layer ``extractor`` returns."""
    return extractor(tf.constant(images.preprocess(style)), training=False)


def style_terms(
    forward: Any, styles: Sequence[np.ndarray], blend: Sequence[float],
    masks: Sequence[np.ndarray | None] | None, style_layers: Sequence[str], style_loss: str,
) -> list[StyleTerm]:
    """The style terms: without ``masks`` the paintings blended into one term (weights
    ``blend``); with masks one term per painting, applied inside its mask. What each painting
    gives, and how they blend, is the style loss's (:mod:`helpers.style_losses`)."""
    if not style_layers:
        return []
    loss = style_losses.get(style_loss)
    stats = [loss.painting_stats(style_features(forward, s), style_layers) for s in styles]
    if masks is None:
        return [StyleTerm(loss.blended_targets(stats, blend))]
    return [StyleTerm(loss.blended_targets([one], [1.0]),
                      None if mask is None else tf.constant(mask, tf.float32))
            for one, mask in zip(stats, masks, strict=True)]


def detail_map(photo: np.ndarray, shape: tuple[int, int], strength: float,
               sigma: float = 2.0) -> np.ndarray:
    """(h, w) content weights where the photo has detail, mean 1: the photo's Sobel edge
    magnitude, averaged over the ``shape`` grid's cells (the content layer's positions) and
    blurred by ``sigma`` cells, d / mean(d), then m = (1 - strength) + strength · d /
    mean(d). ``strength`` 0: even weights (the plain content term); 1: the content term
    only where the photo has edges (a face, windows), so flat regions (a sky) are left to
    the style."""
    from skimage.color import rgb2gray
    from skimage.filters import gaussian, sobel
    from skimage.transform import resize

    edges = resize(sobel(rgb2gray(np.asarray(photo)[..., :3])), shape, anti_aliasing=True)
    density = gaussian(edges, sigma)
    return (1 - strength) + strength * density / max(float(density.mean()), 1e-12)


def build_targets(
    backbone: bb.Backbone, content: np.ndarray, styles: Sequence[np.ndarray],
    blend: Sequence[float], masks: Sequence[np.ndarray | None] | None,
    content_layer: str | None, style_layers: Sequence[str], style_loss: str, tv_form: str,
    content_detail: float = 0.0,
) -> Targets:
    """Extractor, targets and the compiled loss-and-gradient function. ``content_layer=None``
    or no ``style_layers`` leave that term out of the network (it is then 0). Without
    ``masks`` the styles are blended into one target set; with masks each style is a term
    of its own, applied inside its mask. ``content_detail`` > 0 weighs the content term
    by the photo's :func:`detail_map` of that strength."""
    from helpers.objective import compile_loss_and_grad

    extractor = bb.feature_extractor(backbone, style_layers, [content_layer] if content_layer
                                     else [])
    # Targets come from the same compiled graph as the objective's features: in bfloat16 the
    # graph fuses each convolution with its bias and ReLU (one rounding), eager mode does not,
    # and the photo would start at a content loss of 0.018 instead of 0.
    forward = tf.function(extractor, reduce_retracing=True)
    content_target, content_map = tf.zeros(()), None
    if content_layer:
        content_feats = forward(tf.constant(images.preprocess(content)), training=False)
        content_target = tf.cast(content_feats[content_layer], tf.float32)
        if content_detail > 0:
            weights = detail_map(content, content_target.shape[1:3], content_detail)
            content_map = tf.constant(weights[None, ..., None], tf.float32)
    terms = style_terms(forward, styles, blend, masks, style_layers, style_loss)
    loss_and_grad = compile_loss_and_grad(extractor, content_layer, content_target, terms,
                                          list(style_layers), style_loss, tv_form, content_map)
    return Targets(extractor, content_target, terms, style_loss, loss_and_grad)


_CACHE: dict[tuple, Targets] = {}
_CACHE_STATS = {"hits": 0, "misses": 0}
_CACHE_SIZE = 4


def cache_info() -> dict[str, int]:
    """Counts of target-cache hits and misses (a miss builds targets and traces the graph)."""
    return {**_CACHE_STATS, "size": len(_CACHE)}


def clear_cache() -> None:
    """Forget every cached target set (backbones stay loaded)."""
    _CACHE.clear()
    _CACHE_STATS.update(hits=0, misses=0)


def _digest(image: np.ndarray | None) -> str:
    if image is None:
        return "-"
    raw = np.ascontiguousarray(image).tobytes() + str(image.shape).encode()
    return hashlib.sha1(raw).hexdigest()


def cached_targets(
    backbone: bb.Backbone, content: np.ndarray, styles: Sequence[np.ndarray],
    blend: Sequence[float], masks: Sequence[np.ndarray | None] | None, content_layer: str | None,
    style_layers: Sequence[str], style_loss: str, tv_form: str, content_detail: float = 0.0,
) -> Targets:
    """:func:`build_targets`, cached: the key holds everything but the weights, so runs that
    differ only in weights share one set of targets and one traced graph."""
    key = (backbone.name, backbone.weights, backbone.pooling, backbone.precision, backbone.padding,
           _digest(content), tuple(_digest(s) for s in styles),
           tuple(blend) if masks is None else None,
           None if masks is None else tuple(_digest(m) for m in masks),
           content_layer, tuple(style_layers), style_loss, tv_form, content_detail)
    if key in _CACHE:
        _CACHE_STATS["hits"] += 1
        _CACHE[key] = _CACHE.pop(key)  # most recently used last
        return _CACHE[key]
    _CACHE_STATS["misses"] += 1
    built = build_targets(backbone, content, styles, blend, masks, content_layer, style_layers,
                          style_loss, tv_form, content_detail)
    _CACHE[key] = built
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return built
