"""Images in and out: load, resize, preprocess for the backbone, deprocess, save, show
(notebook 01 teaches preprocessing; exercise ex01_preprocess asks for it); the colour transfers
the runs use (notebook 07: YIQ and colour matching; notebook 05: the gradient-map start).

Conventions: an *image* is a NumPy array of shape (H, W, 3), RGB, ``uint8`` in 0..255 (or
float in 0..255 where noted). A *preprocessed* image is a float32 array of shape (1, H, W, 3)
in Keras "caffe" form: BGR channel order, ImageNet mean subtracted, no scaling.

What keeps a bad file from crashing or hanging a run (a pipe, a decompression bomb, every Pillow
mode and array type, atomic writes) lives beside this module, in :mod:`helpers.image_files`:
:func:`load_image` and :func:`save_image` are its two doors, and the rest of this module is the
conversion the notebooks teach.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image

from helpers.errors import StyleTransferError
from helpers.image_files import (
    IMAGE_SUFFIXES,
    MAX_PIXELS,
    UNIT_RANGE_TOLERANCE,
    image_format,
    read_rgb,
    short_path,
    write_rgb,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ImageSource = str | Path | np.ndarray | Image.Image

#: ImageNet mean in BGR order, as subtracted by ``keras.applications.vgg19.preprocess_input``.
IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
#: Smallest side the VGG backbones take (four 2x poolings before ``block5``).
MIN_SIDE = 32
#: Largest side we resize to; beyond this no 24 GB machine holds the activations.
MAX_SIDE = 8192
__all__ = ["IMAGE_SUFFIXES", "IMAGENET_MEAN_BGR", "MAX_PIXELS", "MAX_SIDE", "MIN_SIDE",
           "UNIT_RANGE_TOLERANCE", "ImageSource", "color_matched", "deprocess", "from_yiq",
           "gradient_mapped", "image_format", "image_grid", "load_image", "luminance_image",
           "pixel_bounds", "preprocess", "resize", "resize_to", "save_image", "short_path",
           "style_side", "target_shape", "to_yiq", "with_chroma_of"]


def load_image(
    source: ImageSource, size: int | None = None, height: int | None = None
) -> np.ndarray:
    """Load an image as an (H, W, 3) uint8 RGB array, optionally resized.

    ``source`` is a file path, a NumPy array (greyscale, RGB or RGBA; uint8, uint16 or float
    in 0..1 or 0..255) or a Pillow image. Any Pillow mode works (RGBA, greyscale, palette,
    CMYK, 16-bit); JPEG EXIF orientation is applied. ``size`` sets the longest side and
    ``height`` the height, keeping the aspect ratio (give at most one).

    A float image is read as 0..1 when its largest value is at most 1.1
    (:data:`UNIT_RANGE_TOLERANCE`: overshoot such as 1.02 is clipped, not taken for a
    near-black 0..255 image), and as 0..255 otherwise. NaN or infinite values, empty images
    and paths that are not regular files (a pipe would hang the read) are refused.
    """
    rgb = read_rgb(source)  # every check: helpers.image_files
    if size is not None or height is not None:
        rgb = resize(rgb, size=size, height=height)
    return np.ascontiguousarray(rgb)


def target_shape(
    shape: tuple[int, int], size: int | None = None, height: int | None = None
) -> tuple[int, int]:
    """(height, width) after scaling ``shape`` so its longest side is ``size`` (or its height
    is ``height``), keeping the aspect ratio. Raises for sizes the backbone cannot take."""
    if (size is None) == (height is None):
        raise StyleTransferError("give exactly one of size= (longest side) or height=")
    target = size if size is not None else height
    if not isinstance(target, (int, np.integer)) or isinstance(target, bool):
        raise StyleTransferError(f"the image size must be a whole number of pixels, not {target!r}")
    h, w = shape
    scale = target / (max(h, w) if size is not None else h)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    if min(new_h, new_w) < MIN_SIDE:
        raise StyleTransferError(
            f"size {target} px makes a {new_h}x{new_w} image; the network needs at least "
            f"{MIN_SIDE} px on the shorter side: use a larger size"
        )
    if max(new_h, new_w) > MAX_SIDE:
        raise StyleTransferError(
            f"size {target} px makes a {new_h}x{new_w} image, beyond the {MAX_SIDE} px limit: "
            "use a smaller size"
        )
    return new_h, new_w


def style_side(size: int, style_scale: float) -> int:
    """The long side, px, of the paintings the network sees for a ``size`` px result
    (``size * style_scale``, kept within the network's limits)."""
    return min(max(MIN_SIDE * 2, round(size * style_scale)), MAX_SIDE)


def resize(image: np.ndarray, size: int | None = None, height: int | None = None) -> np.ndarray:
    """Resize an (H, W, 3) image so its longest side is ``size`` (or its height ``height``)."""
    new_h, new_w = target_shape(image.shape[:2], size=size, height=height)
    if (new_h, new_w) == image.shape[:2]:
        return image
    return resize_to(image, (new_h, new_w))


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize an (H, W, 3) uint8 image to exactly ``shape`` = (height, width) with Lanczos."""
    pil = Image.fromarray(np.asarray(image, dtype=np.uint8))
    return np.asarray(pil.resize((shape[1], shape[0]), Image.Resampling.LANCZOS))


def preprocess(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in 0..255 -> (1, H, W, 3) float32 BGR minus the ImageNet mean."""
    x = np.asarray(image, dtype=np.float32)[..., ::-1] - IMAGENET_MEAN_BGR
    return np.ascontiguousarray(x[None])


def deprocess(x: np.ndarray, clip: bool = True) -> np.ndarray:
    """Inverse of :func:`preprocess`: (1, H, W, 3) or (H, W, 3) -> (H, W, 3) RGB.

    With ``clip=True`` (default) the result is rounded and clipped to uint8; with
    ``clip=False`` it is the exact float32 inverse.
    """
    x = np.asarray(x, dtype=np.float32).reshape(np.shape(x)[-3:])
    rgb = (x + IMAGENET_MEAN_BGR)[..., ::-1]
    if not clip:
        return np.ascontiguousarray(rgb)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def pixel_bounds(shape: tuple[int, int]) -> np.ndarray:
    """Box bounds for L-BFGS-B: (H*W*3, 2) lower/upper limits in preprocessed units."""
    lo = np.broadcast_to(-IMAGENET_MEAN_BGR, (*shape, 3)).reshape(-1)
    return np.stack([lo, lo + 255.0], axis=1).astype(np.float64)


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Save an (H, W, 3) image (format from the suffix, PNG if none); return the path.

    The file is written atomically (:func:`helpers.image_files.write_rgb`): an interrupted or
    failed save leaves the previous file at ``path`` untouched.
    """
    rgb = load_image(image)  # bad arrays (NaN, wrong shape) fail here with their own message
    return write_rgb(rgb, path)


def image_grid(
    images: Sequence[np.ndarray],
    titles: Sequence[str] | None = None,
    ncols: int | None = None,
    suptitle: str | None = None,
    panel_size: float = 3.5,
) -> Figure:
    """A matplotlib figure showing ``images`` in a grid, each panel titled, axes hidden."""
    import matplotlib.pyplot as plt

    n = len(images)
    ncols = ncols or min(n, 4)
    nrows = -(-n // ncols)
    first = np.asarray(images[0])
    aspect = first.shape[0] / first.shape[1]
    lines = max((str(t).count("\n") + 1 for t in titles), default=0) if titles else 0
    row = panel_size * aspect + 0.2 * lines + 0.1  # every row keeps room for its titles' lines
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols, row * nrows + (0.5 if suptitle else 0.1)),
        squeeze=False,
    )
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            img = np.asarray(images[i])
            ax.imshow(img, cmap="gray" if img.ndim == 2 else None)
            if titles is not None:
                ax.set_title(titles[i], fontsize=10)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


# --- colour: luminance/chroma (YIQ), colour-statistics matching (Gatys et al. 2016, notebook
# 07) and the gradient map (the default start, notebook 05b) ------------------------------------

def to_yiq(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB in 0..255 -> (H, W, 3) float YIQ: Y (luminance) in 0..255, I and Q the
    chroma, in the same units (NTSC matrix, as ``skimage.color.rgb2yiq``)."""
    from skimage.color import rgb2yiq

    return rgb2yiq(np.asarray(image, dtype=np.float64) / 255.0) * 255.0


def from_yiq(yiq: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_yiq`: (H, W, 3) float YIQ -> (H, W, 3) uint8 RGB (clipped)."""
    from skimage.color import yiq2rgb

    rgb = yiq2rgb(np.asarray(yiq, dtype=np.float64) / 255.0) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def luminance_image(image: np.ndarray, like: np.ndarray | None = None) -> np.ndarray:
    """The luminance Y of an RGB image as a grey (H, W, 3) uint8 image (Y in every channel).

    With ``like``, Y is first shifted and scaled to ``like``'s luminance mean and standard
    deviation, as Gatys et al. (2016) do for the style image in luminance-only transfer.
    """
    y = to_yiq(image)[..., 0]
    if like is not None:
        ref = to_yiq(like)[..., 0]
        y = (y - y.mean()) / max(float(y.std()), 1e-6) * ref.std() + ref.mean()
    grey = np.clip(np.rint(y), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def with_chroma_of(image: np.ndarray, chroma_source: np.ndarray) -> np.ndarray:
    """``image``'s luminance with ``chroma_source``'s chroma (I, Q), as (H, W, 3) uint8 RGB.

    ``chroma_source`` is resized to ``image``'s shape first. The "luminance swap" of
    Gatys et al. (2016): keep the stylised brightness pattern, restore the photo's colours.
    """
    chroma = to_yiq(resize_to(load_image(chroma_source), image.shape[:2]))
    yiq = np.concatenate([to_yiq(image)[..., :1], chroma[..., 1:]], axis=-1)
    return from_yiq(yiq)


def color_matched(image: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``image`` with its RGB colour mean and covariance matched to ``reference``'s.

    x' = A (x - μ_i) + μ_r with A = Σ_r^½ Σ_i^-½ (symmetric square roots), the linear colour
    transfer Gatys et al. (2016) use to match the style image's colours to the photo's.
    Returns (H, W, 3) uint8 (values pushed outside 0..255 by A are clipped).
    """
    x = np.asarray(image, dtype=np.float64).reshape(-1, 3)
    r = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    mu_x, mu_r = x.mean(0), r.mean(0)
    eye = np.eye(3) * 1e-3  # keeps a flat (e.g. grey) image's covariance invertible
    a = _sqrtm_psd(np.cov(r, rowvar=False) + eye) @ _sqrtm_psd(
        np.cov(x, rowvar=False) + eye, power=-0.5)
    out = (x - mu_x) @ a.T + mu_r
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(np.shape(image))


def gradient_mapped(image: np.ndarray, reference: np.ndarray, groups: int = 64) -> np.ndarray:
    """``image`` repainted with ``reference``'s colours in order of brightness (a gradient map).

    x' = m(F(Y(x))): Y is the luminance (:func:`to_yiq`), F the image's own luminance
    distribution (a pixel's rank as a quantile in 0..1, tied pixels share one), and m(q) the mean
    colour of the reference's pixels whose luminance quantile is near q (``groups`` groups of
    equal size in luminance order, interpolated linearly between their centres). The darkest
    pixels take the reference's darkest colours, the brightest its brightest: the photo's shapes
    keep their light and dark, in the painting's palette. ``reference`` is an image or (N, 3)
    pixels.
    Returns (H, W, 3) uint8.
    """
    from scipy.stats import rankdata

    y = to_yiq(image)[..., 0].ravel()
    r = np.asarray(reference, dtype=np.float64).reshape(-1, 3)
    r = r[np.argsort(to_yiq(r[None])[0, :, 0], kind="stable")]
    parts = np.array_split(r, min(groups, len(r)))
    means = np.array([g.mean(0) for g in parts])
    sizes = np.array([len(g) for g in parts])
    centres = (np.cumsum(sizes) - sizes / 2) / len(r)
    q = (rankdata(y, method="average") - 0.5) / len(y)
    out = np.stack([np.interp(q, centres, means[:, c]) for c in range(3)], axis=-1)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(np.shape(image))


def _sqrtm_psd(m: np.ndarray, power: float = 0.5) -> np.ndarray:
    """m ** power for a symmetric positive semi-definite matrix m (via its eigenvalues)."""
    e, u = np.linalg.eigh((m + m.T) / 2)
    return (u * np.maximum(e, 1e-12) ** power) @ u.T
