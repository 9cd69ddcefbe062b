"""The Gram loss of Gatys et al. (notebook 03) as a style loss of :mod:`helpers.style_losses`:
the painting's normalised Gram matrices A = Fᵀ F / M are the targets, and a layer's loss is
:func:`helpers.losses.style_layer_loss` (:func:`helpers.losses.masked_gram_loss` in a mask).

TensorFlow is imported inside the functions (see the package's docstring).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

NAME = "gram"
#: neural-style's 100: the loss is a fourth power of the features, each layer weighed 4/C²
#: (docs/choosing_defaults.md).
STYLE_WEIGHT = 100.0
#: The Gram matrices are (N, N): nothing that grows with the image beyond the network's own.
BYTES_AT_RESULT = 0
BYTES_AT_PAINTING = 0


def default_layer_weights(layers: Sequence[str], channels: Callable[[str], int]
                          ) -> tuple[float, ...]:
    """4 / C² per layer (:func:`helpers.settings.channel_layer_weights`: neural-style's
    weighting, which follows from the Gram matrix's normalisation)."""
    return tuple(4.0 / channels(name) ** 2 for name in layers)


def painting_stats(features: Mapping[str, Any], layers: Sequence[str]
                   ) -> dict[str, tuple[Any, Any]]:
    """Per layer, the painting's filter means (N,) and second moments Fᵀ F / M (N, N), in
    float32 (once per run)."""
    from helpers import losses
    from helpers._tf import tf

    out = {}
    for name in layers:
        f = tf.cast(features[name], tf.float32)
        m = float(f.shape[1] * f.shape[2])
        out[name] = (tf.reduce_mean(tf.reshape(f, (-1, f.shape[-1])), 0),
                     losses.gram_matrix(f) / m)
    return out


def blended_moments(stats: Sequence[Mapping[str, tuple[Any, Any]]], blend: Sequence[float]
                    ) -> dict[str, tuple[Any, Any]]:
    """Per layer, the means and second moments of the mixture of the paintings (weights
    ``blend``): the weighted sums, so the order of the paintings does not matter."""
    out = {}
    for name in stats[0]:
        mean = sum(b * s[name][0] for b, s in zip(blend, stats, strict=True))
        second = sum(b * s[name][1] for b, s in zip(blend, stats, strict=True))
        out[name] = (mean, second)
    return out


def blended_targets(stats: Sequence[Mapping[str, tuple[Any, Any]]], blend: Sequence[float]
                    ) -> dict[str, Any]:
    """Per layer, the blended normalised Gram matrix A (N, N)."""
    return {name: second for name, (_, second) in blended_moments(stats, blend).items()}


def layer_loss(features: Any, target: Any, mask: Any) -> Any:
    """Gatys' E_l against A rescaled by this image's M; in a mask, the Gram matrix of the
    positions it selects."""
    from helpers import losses
    from helpers._tf import tf

    if mask is not None:
        return losses.masked_gram_loss(features, target, mask)
    shape = tf.shape(features)
    m = tf.cast(shape[1] * shape[2], tf.float32)
    return losses.style_layer_loss(features, target * m)


def blank_loss(target: Any) -> float:
    """sum(A²) / (4 N²)."""
    from helpers._tf import tf

    return float(tf.reduce_sum(tf.square(target))) / (4.0 * target.shape[0] ** 2)
