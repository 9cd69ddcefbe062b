"""The Wasserstein-2 loss (notebook 07) as a style loss of :mod:`helpers.style_losses`: the
painting's features are summed up by a Gaussian, its mean and covariance (with the covariance's
square root, computed once), and a layer's loss is :func:`helpers.losses.w2_layer_loss`.

TensorFlow is imported inside the functions (see the package's docstring).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from helpers.style_losses import gram

NAME = "w2"
#: As for the Gram loss (docs/choosing_defaults.md).
STYLE_WEIGHT = 100.0
BYTES_AT_RESULT = 0
BYTES_AT_PAINTING = 0
#: Its layers weigh as the Gram loss's do (4 / C²).
default_layer_weights = gram.default_layer_weights
#: What it keeps of a painting: its means and second moments, as the Gram loss.
painting_stats = gram.painting_stats


def blended_targets(stats: Sequence[Mapping[str, tuple[Any, Any]]], blend: Sequence[float]
                    ) -> dict[str, Any]:
    """Per layer, (μ, Σ, Σ^½) of the mixture of the paintings (:func:`helpers.losses.
    gaussian_target` of the blended mean and second moment)."""
    from helpers import losses

    return {name: losses.gaussian_target(mean, second - mean[:, None] * mean[None, :])
            for name, (mean, second) in gram.blended_moments(stats, blend).items()}


def layer_loss(features: Any, target: Any, mask: Any) -> Any:
    """W₂² / N (:func:`helpers.losses.w2_layer_loss`)."""
    from helpers import losses

    return losses.w2_layer_loss(features, target, mask)


def blank_loss(target: Any) -> float:
    """(‖μ‖² + tr Σ) / N."""
    from helpers._tf import tf

    mean, cov, _ = target
    return float(tf.reduce_sum(tf.square(mean)) + tf.linalg.trace(cov)) / float(mean.shape[0])

