"""What the two VGG backbones share (notebook 01): Gatys et al.'s layers with
jcjohnson/neural-style's weights as default settings, the filters per block, and the list of a
Keras VGG's convolution and pooling layers. Imports Keras only inside :func:`conv_stack`.

The layer names are a table (:func:`conv_names`), so that the settings, the sweeps and the
tuning app know them without building a network (a test compares them with the network's).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from helpers.errors import StyleTransferError

#: Gatys et al.'s layers (conv1 of every block for style, block4_conv2 for content) with the
#: weights, pooling and layer weighting of jcjohnson/neural-style, whose outputs are the bar
#: (docs/choosing_defaults.md): content weight 5, style weight 100, max pooling, and each style
#: layer weighted as its Gram normalisation weights it (:func:`helpers.settings.
#: channel_layer_weights`).
RECIPE: dict[str, Any] = {
    "content_layer": "block4_conv2",
    "style_layers": ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                     "block5_conv1"),
    "content_weight": 5.0,
    "style_loss": "gram",
    "tv_weight": 1e-4,
    "pooling": "max",
    "padding": "zero",
    "balance_style_layers": False,
    "style_scale": 1.0,
    "coarse_to_fine": False,
    "pyramid_levels": 1,
}
#: Channels of the conv layers of each block of VGG16 and VGG19 (``blockK_convJ``).
VGG_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}


def conv_names(convs_per_block: Sequence[int]) -> tuple[str, ...]:
    """The conv layer names of a VGG with ``convs_per_block[K-1]`` convolutions in block K,
    input to output: ``(2, 2, 3, 3, 3)`` (VGG16) -> ``block1_conv1``, ``block1_conv2``, ...,
    ``block5_conv3``."""
    return tuple(f"block{block}_conv{k}" for block, count in enumerate(convs_per_block, 1)
                 for k in range(1, count + 1))


def channels(layer: str) -> int:
    """The filters of a VGG layer ``blockK_convJ``: :data:`VGG_CHANNELS` of block K."""
    match = re.match(r"block(\d)_", layer)
    if not match or int(match.group(1)) not in VGG_CHANNELS:
        raise StyleTransferError(f"unknown layer {layer!r}: VGG's layers are named "
                                 "blockK_convJ with K from 1 to 5 (e.g. block3_conv1)")
    return VGG_CHANNELS[int(match.group(1))]


def conv_stack(source: Any) -> list[Any]:
    """The Conv2D and pooling layers of a VGG, in order (a Keras model or a list of layers)."""
    import helpers._tf  # noqa: F401, I001  (quiet TensorFlow first, then Keras)
    import keras

    layers: Sequence[Any] = source.layers if isinstance(source, keras.Model) else source
    stack: list[Any] = []
    for layer in layers:
        if isinstance(layer, keras.Sequential):
            stack.extend(conv_stack(layer))
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.MaxPooling2D)):
            stack.append(layer)
    return stack
