"""Artistic control (notebook 07): which images the network sees, and where each style applies.

- Colour preservation (Gatys et al. 2016, *Preserving Color in Neural Artistic Style
  Transfer*): :func:`network_images` gives the network grey luminance images
  (``"luminance"``) or a style recoloured to the photo's colour statistics (``"histogram"``);
  :func:`finished` puts the photo's chroma back (``"luminance"``, ``"swap"``).
- Several styles: :func:`blend_weights` normalises their weights (the targets blend the
  styles' feature statistics: :mod:`helpers.targets`).
- Masks: :func:`load_masks` turns one mask per style into (H, W) weights in 0..1;
  :func:`content_outside_masks` starts each finer coarse-to-fine scale from the sharp photo
  outside every mask.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from helpers import images
from helpers.errors import StyleTransferError
from helpers.settings import check_weight


def style_list(style: images.ImageSource | Sequence[images.ImageSource]) -> list:
    """One style image or several: a list/tuple is several, anything else (a path, an
    array, a Pillow image) is one."""
    if isinstance(style, (list, tuple)):
        if not style:
            raise StyleTransferError("style is an empty list; give at least one style image")
        return list(style)
    return [style]


def blend_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Blend weights for ``n`` styles, normalised to sum 1 (default: equal)."""
    if weights is None:
        return [1.0 / n] * n
    values = [check_weight("style blend weight", v) for v in weights]
    if len(values) != n:
        raise StyleTransferError(
            f"{len(values)} style blend weights for {n} style images; give one per style"
        )
    total = sum(values)
    if total <= 0:
        raise StyleTransferError("the style blend weights are all 0; give at least one above 0")
    return [v / total for v in values]


def mask_list(masks: object, n: int) -> list | None:
    """One mask source per style (``None`` where a style applies everywhere), or ``None``
    when no style has a mask."""
    if masks is None:
        return None
    if isinstance(masks, (str, Path, np.ndarray)) or not isinstance(masks, (list, tuple)):
        masks = [masks]
    if len(masks) != n:
        raise StyleTransferError(f"{len(masks)} masks for {n} style images; give one per "
                                 "style (None where a style applies everywhere)")
    return None if all(m is None for m in masks) else list(masks)


def load_masks(masks: list | None, shape: tuple[int, int]) -> list[np.ndarray | None] | None:
    """Masks (from :func:`mask_list`) as (H, W) float32 arrays in 0..1 at ``shape``
    (white = 1); ``None`` stays ``None``."""
    if masks is None:
        return None
    out: list[np.ndarray | None] = []
    for m in masks:
        if m is None:
            out.append(None)
            continue
        grey = images.resize_to(images.load_image(m), shape).mean(axis=-1) / 255.0
        if grey.max() < 0.5:
            raise StyleTransferError("a mask is black everywhere, so its style applies "
                                     "nowhere; paint the style's region white")
        out.append(grey.astype(np.float32))
    return out


def network_images(
    content: np.ndarray, styles: list[np.ndarray], preserve_color: str
) -> tuple[np.ndarray, list[np.ndarray]]:
    """What the network sees of the photo and the paintings: grey luminance images for
    ``"luminance"`` (each painting's luminance matched to the photo's mean and spread), the
    paintings recoloured to the photo's colour mean and covariance for ``"histogram"``."""
    if preserve_color == "histogram":
        return content, [images.color_matched(s, content) for s in styles]
    if preserve_color == "luminance":
        return (images.luminance_image(content),
                [images.luminance_image(s, like=content) for s in styles])
    return content, styles


def finished(image: np.ndarray, content: np.ndarray, preserve_color: str) -> np.ndarray:
    """The picture the user sees: with the photo's chroma where colour is kept."""
    if preserve_color in ("luminance", "swap"):
        return images.with_chroma_of(image, content)
    return image


def content_outside_masks(
    image: np.ndarray, content: np.ndarray, masks: list[np.ndarray | None] | None
) -> np.ndarray:
    """The start of the next coarse-to-fine scale of a masked run, (H, W, 3) uint8 at the
    shape of ``content`` (the photo at that scale) and its ``masks``: the upsampled result
    inside the masks, the sharp photo outside them (there only the content loss acts, and it
    does not restore the detail upsampling blurred)."""
    if masks is None or any(m is None for m in masks):
        return image  # some style applies everywhere
    shape = content.shape[:2]
    inside = np.max(masks, axis=0)[..., None]
    mixed = (inside * images.resize_to(image, shape).astype(np.float32)
             + (1 - inside) * images.resize_to(content, shape).astype(np.float32))
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
