"""The backbones, one module each, in one table (notebook 01 draws the VGG architecture).

A backbone is a module (or any object) with the attributes of :class:`BackboneEntry`: its
name, its default settings (layers, weights, style loss ... used where a setting is ``None``),
the names of its conv layers (:func:`layer_names`: known without building the network), the
number of filters of each layer, and a loader of its convolution and pooling layers, which
:mod:`helpers.backbone` rebuilds with the pooling, padding and precision a run asks for.
:data:`BACKBONES` holds them by name; the settings (choices and :data:`DEFAULTS`), the layer
weights and :func:`helpers.backbone.load_backbone` all ask it, so a new backbone is one module
plus ``register(module)``.

This package imports no TensorFlow (the loaders import Keras when they run), so the settings
can list the backbones and their defaults in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from helpers import registry
from helpers.backbones import vgg16_hed, vgg19
from helpers.backbones.vgg import VGG_CHANNELS
from helpers.errors import StyleTransferError


class BackboneEntry(Protocol):
    """What a backbone provides (a module with these names satisfies it)."""

    #: The ``backbone`` setting that picks it.
    NAME: str
    #: Its default settings: ``content_layer``, ``style_layers``, ``content_weight``,
    #: ``style_loss``, ``tv_weight``, ``pooling``, ``padding``, ``balance_style_layers``,
    #: ``style_scale``, ``coarse_to_fine``, ``pyramid_levels``.
    DEFAULTS: Mapping[str, Any]
    #: Whether the ``weights`` setting (``"imagenet"``, a file or ``None``) applies to it.
    TAKES_WEIGHTS: bool
    #: The names of its conv layers, input to output, as the loaded network names them
    #: (:attr:`helpers.backbone.Backbone.layer_names`; a test compares).
    LAYERS: tuple[str, ...]

    def channels(self, layer: str) -> int:
        """The number of filters of ``layer`` (one line for an unknown layer)."""

    def conv_layers(self, weights: Any) -> tuple[list[Any], str, str]:
        """(its Keras ``Conv2D`` and pooling layers in order, with their weights loaded; the
        weights' name; the line that describes it when it runs)."""


#: The backbones by name (the order of the ``backbone`` choices, after ``"auto"``).
BACKBONES: dict[str, BackboneEntry] = {}
#: The default settings of each backbone, by name (kept in step by :func:`register`).
DEFAULTS: dict[str, dict[str, Any]] = {}
#: The names of the backbones now, after ``"auto"``: the choices of the ``backbone`` setting.
NAMES = registry.Names(BACKBONES, first=("auto",))


def register(entry: BackboneEntry) -> BackboneEntry:
    """Add ``entry`` to the table under ``entry.NAME`` (returned, so it may decorate a
    class)."""
    registry.add(BACKBONES, entry.NAME, entry, "backbone")
    DEFAULTS[entry.NAME] = dict(entry.DEFAULTS)
    return entry


def unregister(name: str) -> None:
    """Take the backbone ``name`` out of the table (a no-op if it is not there)."""
    BACKBONES.pop(name, None)
    DEFAULTS.pop(name, None)


def get(name: str) -> BackboneEntry:
    """The backbone called ``name`` (a resolved name, not ``"auto"``), or one line naming the
    choices."""
    return registry.get(BACKBONES, name, "backbone")


def layer_names(name: str) -> tuple[str, ...]:
    """The conv layer names of the backbone ``name`` (a resolved name, not ``"auto"``), input
    to output, without building the network (no TensorFlow): its ``LAYERS``."""
    layers = getattr(get(name), "LAYERS", None)
    if not layers:
        raise StyleTransferError(f"the backbone {name!r} lists no LAYERS; give its module the "
                                 "names of its conv layers, input to output")
    return tuple(layers)


for _entry in (vgg19, vgg16_hed):  # the registry lines of the bundled backbones
    register(_entry)

__all__ = ["BACKBONES", "DEFAULTS", "NAMES", "VGG_CHANNELS", "BackboneEntry", "get", "layer_names",
           "register", "unregister"]
