"""The style losses, one module each, in one table (notebook 03 teaches the Gram loss, notebook
07 the Wasserstein-2 and sliced Wasserstein losses).

A style loss is a module (or any object) with the attributes of :class:`StyleLoss`: its name,
default style weight and layer weights, what it keeps of a painting and how several paintings
blend (its targets), its loss of one layer and of a blank image, and the memory it adds.
:data:`STYLE_LOSSES` holds them by name; the settings (choices, default weights), the targets,
the objective and the memory estimate all ask it, so a new loss is one module plus
``register(module)``::

    from helpers import style_losses
    style_losses.register(my_loss)      # then stylize(..., style_loss=my_loss.NAME)

This package imports no TensorFlow (the loss modules import it inside the functions that
compute), so the settings can list the losses in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from helpers import registry
from helpers.style_losses import gram, sliced, w2


class StyleLoss(Protocol):
    """What a style loss provides (a module with these names satisfies it)."""

    #: The ``style_loss`` setting that picks it.
    NAME: str
    #: Its default ``style_weight``.
    STYLE_WEIGHT: float
    #: Bytes it adds per value of the style layers' features at the result's size, and at the
    #: painting's (kept by the target cache), for :func:`helpers.memory.estimate_memory`.
    BYTES_AT_RESULT: int
    BYTES_AT_PAINTING: int

    def default_layer_weights(self, layers: Sequence[str], channels: Callable[[str], int]
                              ) -> tuple[float, ...]:
        """The style layer weights where none are given and the layers are not balanced;
        ``channels(layer)`` is the backbone's number of filters of a layer."""

    def painting_stats(self, features: Mapping[str, Any], layers: Sequence[str]
                       ) -> dict[str, Any]:
        """Per layer, what the loss keeps of one painting's features (computed once)."""

    def blended_targets(self, stats: Sequence[Mapping[str, Any]], blend: Sequence[float]
                        ) -> dict[str, Any]:
        """Per layer, the target of several paintings' ``stats`` blended with weights
        ``blend`` (one painting: ``[stats]``, ``[1.0]``)."""

    def layer_loss(self, features: Any, target: Any, mask: Any) -> Any:
        """One layer's loss (a scalar tensor) of a (1, H, W, N) feature map against its
        target, inside ``mask`` ((h, w) in 0..1, or ``None``: everywhere)."""

    def blank_loss(self, target: Any) -> float:
        """The loss of an all-zero feature map against ``target``: the scale of the layer's
        loss (``balance_style_layers`` divides by it)."""


#: The style losses by name (the order of the ``style_loss`` choices).
STYLE_LOSSES: dict[str, StyleLoss] = {}
#: The default style weight of each loss, by name (kept in step by :func:`register`).
STYLE_WEIGHTS: dict[str, float] = {}
#: The names of the losses now: the choices of the ``style_loss`` setting.
NAMES = registry.Names(STYLE_LOSSES)


def register(loss: StyleLoss) -> StyleLoss:
    """Add ``loss`` to the table under ``loss.NAME`` (returned, so it may decorate a class)."""
    registry.add(STYLE_LOSSES, loss.NAME, loss, "style loss")
    STYLE_WEIGHTS[loss.NAME] = float(loss.STYLE_WEIGHT)
    return loss


def unregister(name: str) -> None:
    """Take the loss ``name`` out of the table (a no-op if it is not there)."""
    STYLE_LOSSES.pop(name, None)
    STYLE_WEIGHTS.pop(name, None)


def get(name: str) -> StyleLoss:
    """The loss called ``name``, or one line naming the choices."""
    return registry.get(STYLE_LOSSES, name, "style_loss")


for _loss in (gram, w2, sliced):  # the registry lines of the bundled losses
    register(_loss)
