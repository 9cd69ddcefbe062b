"""The images of a run (notebook 05 prepares them by hand; notebook 07 adds masks and several
paintings): loaded once (:class:`Inputs`), resized for each scale and shown to the network as the
run asks (:class:`Prepared`), and the image the optimizer starts from (:func:`start_image`: the
photo, the photo recoloured in the painting's palette, the painting, noise, or the last scale's
result). The caller gives the images: the engine picks none (the front-ends offer the bundled
ones, :mod:`helpers.data`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from helpers import checkpoints, control, fast_ops, images
from helpers.errors import StyleTransferError
from helpers.files import check_output
from helpers.settings import Settings


@dataclass
class Prepared:
    """The images of one run at one size: the photo at the result's shape, the paintings at
    ``size * style_scale``, what the network sees of them (:func:`helpers.control.
    network_images`), the blend weights and the masks at the result's shape."""

    content: np.ndarray
    styles: list[np.ndarray]
    net_content: np.ndarray
    net_styles: list[np.ndarray]
    blend: list[float]
    masks: list[np.ndarray | None] | None

    @property
    def shape(self) -> tuple[int, int]:
        """The result's (height, width)."""
        return self.content.shape[:2]


def style_side(size: int, style_scale: float) -> int:
    """The long side, px, of the paintings the network sees for a ``size`` px result
    (:func:`helpers.images.style_side`)."""
    return images.style_side(size, style_scale)


def style_shape(painting: tuple[int, int], size: int, style_scale: float) -> tuple[int, int]:
    """The (height, width) the network sees of a ``painting`` of that shape, for a ``size``
    px result."""
    return images.target_shape(painting, size=style_side(size, style_scale))


@dataclass
class Inputs:
    """The user's images, loaded once: the photo, the paintings and one mask source per
    painting (or ``None``)."""

    content: np.ndarray
    styles: list[np.ndarray]
    masks: list | None
    files: tuple[str, ...] = ()

    @classmethod
    def load(cls, content: Any, style: Any, masks: Any) -> Inputs:
        """Load the images; ``files`` keeps the paths among them. A photo or painting that is
        ``None`` is refused in one line naming the bundled ones (the engine picks no images:
        the command line, the app and the gallery offer them)."""
        for image, what, loader in ((content, "content", "default_content"),
                                    (style, "style", "default_style")):
            if image is None:
                raise StyleTransferError(
                    f"give a {what} image (a path, an array or a Pillow image); the bundled "
                    f"one is helpers.data.{loader}()")
        style_list = control.style_list(style)
        mask_list = control.mask_list(masks, len(style_list))
        files = tuple(str(x) for x in (content, *style_list, *(mask_list or ()))
                      if isinstance(x, (str, os.PathLike)))
        return cls(images.load_image(content), [images.load_image(s) for s in style_list],
                   mask_list, files)

    @classmethod
    def for_run(cls, content: Any, style: Any, masks: Any, init: Any, settings: Settings,
                checkpoint_dir: str | Path | None) -> Inputs:
        """The run's images (:meth:`load`), their ``files`` with the start image and the
        weights file where given as paths; before any work, a checkpoint that would replace
        one of them is refused."""
        inputs = cls.load(content, style, masks)
        inputs.files += tuple(str(x) for x in (init, settings.weights)  # init: maybe an array
                              if isinstance(x, os.PathLike) or (isinstance(x, str)
                                                               and x != "imagenet"
                                                               and Path(x).is_file()))
        if settings.checkpoint_every:
            for name in checkpoints.FILES:
                check_output(Path(checkpoint_dir) / name, inputs.files, "checkpoint_dir")
        return inputs

    def shape(self, size: int) -> tuple[int, int]:
        """The result's (height, width) at ``size`` px."""
        return images.target_shape(self.content.shape[:2], size=size)

    def fingerprint(self, settings: Settings) -> dict[str, Any]:
        """What a checkpoint of a run on these images with ``settings`` records (and what
        resuming checks): :func:`helpers.checkpoints.fingerprint`."""
        return checkpoints.fingerprint(self.content, self.styles, settings.backbone,
                                       settings.size)

    def prepared(self, size: int, settings: Settings) -> Prepared:
        """Every image resized for a ``size`` px result."""
        shape = self.shape(size)
        content = _RESIZED_TO(self.content, shape)
        styles = [_RESIZED(s, size=style_side(size, settings.style_scale)) for s in self.styles]
        blend = control.blend_weights(settings.style_blend_weights, len(styles))
        masks = control.load_masks(self.masks, shape)
        net_content, net_styles = control.network_images(content, styles,
                                                         settings.preserve_color)
        return Prepared(content, styles, net_content, net_styles, blend, masks)


def start_image(settings: Settings, prepared: Prepared, start: np.ndarray | None
                 ) -> np.ndarray:
    """The (1, H, W, 3) preprocessed starting image: ``start`` (an image: a warm start or the
    last scale's result), else the photo, the photo repainted in the painting's colours (in
    order of brightness, ``"gradient_map"``, :func:`helpers.images.gradient_mapped`; to its
    colour mean and covariance, ``"color_matched"``, :func:`helpers.images.color_matched`; or
    the second where the photo has detail and the first elsewhere, ``"detail_matched"``,
    :func:`detail_matched`: the run starts with the painting's palette,
    docs/choosing_defaults.md), the painting or seeded noise."""
    if start is not None:
        start = images.resize_to(start, prepared.shape)
        return images.preprocess(images.luminance_image(start)
                                 if settings.preserve_color == "luminance" else start)
    if settings.init == "content":
        return images.preprocess(prepared.net_content)
    if settings.init in RECOLORINGS:
        return images.preprocess(recolored_start(settings, prepared))
    if settings.init == "style":
        return images.preprocess(images.resize_to(prepared.net_styles[0], prepared.shape))
    rng = np.random.default_rng(settings.seed)
    return images.preprocess(rng.uniform(0, 255, (*prepared.shape, 3)))


#: The blur of :func:`detail_matched`'s detail map, as a fraction of the photo's longest side.
DETAIL_BLUR = 0.03


def detail_weight(image: np.ndarray) -> np.ndarray:
    """(H, W) weights in 0..1 where ``image`` has detail: w = min(1, d / 2), d the photo's
    :func:`helpers.targets.detail_map` at full strength (its Sobel edge magnitude blurred by
    :data:`DETAIL_BLUR` of its longest side, over its mean), so regions of twice the mean
    detail or more (a face's features, windows) weigh 1 and a flat sky about 0."""
    from helpers.targets import detail_map

    shape = np.shape(image)[:2]
    return np.clip(detail_map(image, shape, 1.0, DETAIL_BLUR * max(shape)) / 2, 0.0, 1.0)


def detail_matched(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` recoloured with :func:`helpers.images.color_matched` where it has detail
    and :func:`helpers.images.gradient_mapped` elsewhere, x' = w · matched + (1 - w) ·
    mapped with w = :func:`detail_weight`: a face keeps its own light and dark (the
    gradient map would give a light face the painting's lightest colour, The Scream's orange
    sky), the flat regions start in the painting's palette (docs/paintings.md). ``reference``
    is an image or (N, 3) pixels. Returns (H, W, 3) uint8."""
    w = detail_weight(image)[..., None]
    out = w * images.color_matched(image, reference) + (1 - w) * images.gradient_mapped(
        image, reference)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


#: The starts that repaint the photo in the painting's colours, by ``init`` name.
RECOLORINGS = {"gradient_map": fast_ops.remembered(images.gradient_mapped),
               "color_matched": fast_ops.remembered(images.color_matched),
               "detail_matched": fast_ops.remembered(detail_matched)}

#: images.resize_to and images.resize, each answer kept for the same image and size (the tuning
#: app's runs resize the same photo and painting again and again).
_RESIZED_TO = fast_ops.remembered(images.resize_to, 8)
_RESIZED = fast_ops.remembered(images.resize, 8)


def recolored_start(settings: Settings, prepared: Prepared) -> np.ndarray:
    """The photo repainted in the paintings' colours (``RECOLORINGS[settings.init]``): within
    each mask in its painting's (the photo stays as it is outside every mask), else in all the
    paintings' pixels together; the photo itself when its colours are to be kept
    (``preserve_color``)."""
    photo, recolour = prepared.net_content, RECOLORINGS[settings.init]
    if settings.preserve_color != "none":
        return photo
    if prepared.masks is None:
        return recolour(
            photo, np.concatenate([s[..., :3].reshape(-1, 3) for s in prepared.net_styles]))
    out = photo.astype(np.float64)
    for style, mask in zip(prepared.net_styles, prepared.masks, strict=True):
        if mask is not None:
            out += mask[..., None] * (recolour(photo, style) - out)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


