"""VGG19 (notebook 01), the network of Gatys et al.: ``keras.applications.VGG19`` with ImageNet
weights (downloaded once by Keras and cached in ``~/.keras/models``), a local ``.h5`` weights
file, or ``None`` (random weights, for tests only). A backbone of :mod:`helpers.backbones`;
``"auto"`` picks it when its weights are at hand (:func:`helpers.backbone.resolve_name`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from helpers.backbones import vgg
from helpers.errors import StyleTransferError

NAME = "vgg19"
#: Gatys et al.'s layers with neural-style's weights (:data:`helpers.backbones.vgg.RECIPE`).
DEFAULTS = dict(vgg.RECIPE)
TAKES_WEIGHTS = True
#: Its conv layers, input to output (VGG19: 2, 2, 4, 4, 4 convolutions per block).
LAYERS = vgg.conv_names((2, 2, 4, 4, 4))
channels = vgg.channels
#: The file Keras downloads for ``VGG19(include_top=False, weights="imagenet")``.
VGG19_NOTOP_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"


def conv_layers(weights: str | Path | None) -> tuple[list[Any], str, str]:
    """Conv/pool layers of Keras' VGG19 with ImageNet, file or random weights."""
    what = {"imagenet": "ImageNet weights", None: "RANDOM weights (tests only)"}.get(
        weights, f"weights from {weights}")
    return _stack(weights), str(weights), f"vgg19 (Keras VGG19, {what})"


def _stack(weights: str | Path | None) -> list[Any]:
    import helpers._tf  # noqa: F401, I001  (quiet TensorFlow first, then Keras)
    import keras

    if weights is None:
        return vgg.conv_stack(keras.applications.VGG19(include_top=False, weights=None))
    if weights != "imagenet":
        path = Path(weights)
        if not path.is_file():
            raise StyleTransferError(
                f"VGG19 weights file not found: {path}; give the path of "
                f"{VGG19_NOTOP_FILE} (or another .h5 file for VGG19 without its top)"
            )
        model = keras.applications.VGG19(include_top=False, weights=None)
        try:
            model.load_weights(str(path))
        except Exception as exc:  # h5py/Keras raise many types for a wrong file
            raise StyleTransferError(
                f"{path} does not hold VGG19 (include_top=False) weights: {exc}"
            ) from None
        return vgg.conv_stack(model)
    try:
        return vgg.conv_stack(keras.applications.VGG19(include_top=False, weights="imagenet"))
    except Exception as exc:  # network errors surface as several exception types
        raise StyleTransferError(
            f"could not download VGG19's ImageNet weights ({exc.__class__.__name__}); "
            "go online once, give a local weights file, or use backbone='vgg16-hed'"
        ) from None
