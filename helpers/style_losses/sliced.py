"""The sliced Wasserstein loss of Heitz et al. 2021 (notebook 07) as a style loss of
:mod:`helpers.style_losses`: along random directions per layer, the painting's sorted
projections are the target, and a layer's loss is :func:`helpers.losses.sliced_layer_loss`.
Several paintings blend as the weighted mean of their quantile functions (the Wasserstein
barycentre, independent of their order).

The directions are drawn once per run, unless ``sliced_redraw`` (a setting) asks for new ones
every so many iterations, as Heitz et al.'s own code does after every L-BFGS call
(:mod:`helpers.redrawn`: the targets held in variables, a new ``draw`` of
:func:`painting_stats` put in them; docs/paintings.md measures what it paints).

TensorFlow is imported inside the functions (see the package's docstring).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

NAME = "sliced"
#: 50: its layers weigh 1/5 each, so that ``block1_conv1`` weighs 10 as it did with 4/C² and
#: 1e4 (docs/choosing_defaults.md).
STYLE_WEIGHT = 50.0
#: What the sliced loss adds, in bytes per value of the style layers' features: at the result's
#: size (the projections, their matched values and squares, the quantiles traced into the
#: graph) and at the painting's (its sorted projections, kept by the target cache, also for a
#: coarse-to-fine run's coarser scales). Measured on the bundled pair at 1024 px (681x1024,
#: painting 1536x1536): peak 5.3 GiB in bfloat16 and 6.2 GiB in float32 against 3.4 and
#: 4.5 GiB with the Gram loss, 6.4 GiB coarse-to-fine in bfloat16; estimated 6.4 and 7.1 GiB.
BYTES_AT_RESULT = 12
BYTES_AT_PAINTING = 6


def default_layer_weights(layers: Sequence[str], channels: Callable[[str], int]
                          ) -> tuple[float, ...]:
    """Equal, 1/L each. Each layer's loss is a mean squared distance between features in that
    layer's own units, and 4/C² would leave the deep layers, which hold the painting's large
    marks, a 64th of the first layer's say: ``block5_conv1`` then ends where it started and
    skies fill with small cells (docs/choosing_defaults.md)."""
    return tuple(1.0 / len(layers) for _ in layers)


def painting_stats(features: Mapping[str, Any], layers: Sequence[str], draw: int = 0
                   ) -> dict[str, tuple[Any, Any]]:
    """Per layer, (the painting's sorted projections (K, Mₛ), the directions (N, K)): K = N
    directions fixed by the layer's place in ``layers`` and the ``draw`` (0: the run's first;
    :func:`helpers.losses.sliced_directions`, :func:`helpers.losses.sliced_target`)."""
    from helpers import losses

    out = {}
    for i, name in enumerate(layers):
        seed = i if draw == 0 else [draw, i]
        directions = losses.sliced_directions(int(features[name].shape[-1]), seed=seed)
        out[name] = (losses.sliced_target(features[name], directions), directions)
    return out


def blended_targets(stats: Sequence[Mapping[str, tuple[Any, Any]]], blend: Sequence[float]
                    ) -> dict[str, tuple[Any, Any]]:
    """Per layer, (the weighted mean of the paintings' quantile functions, resampled to the
    largest painting's count, the directions)."""
    from helpers import losses

    out = {}
    for name, (_, directions) in stats[0].items():
        sorted_ = [s[name][0] for s in stats]
        q = max(int(t.shape[-1]) for t in sorted_)
        out[name] = (sum(b * losses.quantiles(t, q) for b, t in zip(blend, sorted_, strict=True)),
                     directions)
    return out


def layer_loss(features: Any, target: tuple[Any, Any], mask: Any) -> Any:
    """SW (:func:`helpers.losses.sliced_layer_loss`). Targets held in variables
    (:mod:`helpers.redrawn`) are read at every evaluation, so a redraw reaches the traced graph."""
    from helpers import losses
    from helpers._tf import tf

    sorted_, directions = target
    if isinstance(sorted_, tf.Variable):  # resampled in the graph, not once while tracing
        sorted_ = tf.identity(sorted_)
    return losses.sliced_layer_loss(features, sorted_, directions, mask)


#: :func:`blank_loss` of the targets alive, by ``id``: (a weak reference to the sorted
#: projections, the value). Every run asks it again (a slider change in the app: 0.1 s of a
#: 0.6 s preview at 256 px), of the same targets while the target cache holds them.
_BLANK: dict[int, tuple[weakref.ref, float]] = {}


def blank_loss(target: tuple[Any, Any]) -> float:
    """The mean square of the sorted projections (computed once per target)."""
    from helpers._tf import tf

    sorted_ = target[0]
    known = _BLANK.get(id(sorted_))
    if known is not None and known[0]() is sorted_:
        return known[1]
    value = float(tf.reduce_mean(tf.square(sorted_)))
    for key in [k for k, (ref, _) in _BLANK.items() if ref() is None]:
        del _BLANK[key]
    try:
        _BLANK[id(sorted_)] = (weakref.ref(sorted_), value)
    except TypeError:  # not weakly referable (a list): not kept
        pass
    return value

