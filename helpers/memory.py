"""How much memory a run needs, estimated before the network runs (notebook 08: high
resolution): :func:`estimate_memory` (the network's activations and what the style loss adds)
and :func:`check_memory`, which refuses a size that would not fit with the largest one that
does. Used by :func:`helpers.stylize` and the benches.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from helpers import backbone as bb
from helpers import style_losses
from helpers.errors import StyleTransferError

#: Bytes TensorFlow, the backbone and Python need beside the activations (measured).
MEMORY_OVERHEAD = 1.2e9
#: Activation memory per float value of the truncated network, forward+backward (measured
#: with the Gram loss at 1024 px, default layers: 13 B in bfloat16, 20 B in float32).
BYTES_PER_ACTIVATION = {"bfloat16": 16, "float32": 20}


def available_memory() -> int:
    """Bytes of memory available to this process now."""
    import psutil

    return int(psutil.virtual_memory().available)


def estimate_memory(backbone: bb.Backbone, shape: tuple[int, int], layers: Sequence[str],
                    style_loss: str = "gram", style_layers: Sequence[str] = (),
                    style_shape: tuple[int, int] | None = None) -> int:
    """Estimated peak bytes of a run whose result has ``shape`` = (H, W): the network's
    activations, and what the style loss adds per value of ``style_layers`` at ``shape`` and
    at the painting's ``style_shape`` (default: ``shape``; :mod:`helpers.style_losses`: the
    sliced loss's projections)."""
    need = MEMORY_OVERHEAD + BYTES_PER_ACTIVATION[backbone.precision] * sum(
        bb.activation_sizes(backbone, shape, layers))
    loss = style_losses.get(style_loss)
    if style_layers and (loss.BYTES_AT_RESULT or loss.BYTES_AT_PAINTING):
        need += loss.BYTES_AT_RESULT * bb.layer_values(backbone, shape, style_layers)
        need += loss.BYTES_AT_PAINTING * bb.layer_values(backbone, style_shape or shape,
                                                         style_layers)
    return int(need)


def check_memory(
    backbone: bb.Backbone, shape: tuple[int, int], layers: Sequence[str], size: int,
    style_loss: str = "gram", style_layers: Sequence[str] = (),
    style_shape: tuple[int, int] | None = None,
) -> None:
    """Raise a clear error (with the largest size that fits) if a ``size`` px run, result
    ``shape``, needs more memory than is available (:func:`estimate_memory`)."""
    need = estimate_memory(backbone, shape, layers, style_loss, style_layers, style_shape)
    have = available_memory()
    if need <= have:
        return
    scale = math.sqrt(max(have - MEMORY_OVERHEAD, 0) / max(need - MEMORY_OVERHEAD, 1))
    fits = int(size * scale * 0.95)
    raise StyleTransferError(
        f"size {size} px needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is "
        f"available; use size {fits} or less (or close other programs)"
    )
