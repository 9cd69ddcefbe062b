"""Images in and out: load, resize, preprocess for the backbone, deprocess, save, show
(notebook 01 teaches preprocessing; exercise ex01_preprocess asks for it); the colour transfers
the runs use (notebook 07: YIQ and colour matching; notebook 05: the gradient-map start).

Conventions: an *image* is a NumPy array of shape (H, W, 3), RGB, ``uint8`` in 0..255 (or
float in 0..255 where noted). A *preprocessed* image is a float32 array of shape (1, H, W, 3)
in Keras "caffe" form: BGR channel order, ImageNet mean subtracted, no scaling.
"""

from __future__ import annotations

import stat
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers.errors import StyleTransferError
from helpers.files import atomic_write, check_name

if TYPE_CHECKING:
    from matplotlib.figure import Figure

ImageSource = str | Path | np.ndarray | Image.Image

#: ImageNet mean in BGR order, as subtracted by ``keras.applications.vgg19.preprocess_input``.
IMAGENET_MEAN_BGR = np.array([103.939, 116.779, 123.68], dtype=np.float32)
#: Smallest side the VGG backbones take (four 2x poolings before ``block5``).
MIN_SIDE = 32
#: File name endings of the images the library reads (folders of images are listed by them).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: Largest side we resize to; beyond this no 24 GB machine holds the activations.
MAX_SIDE = 8192
#: Images with more pixels than this are refused before decoding (decompression-bomb guard).
MAX_PIXELS = 100_000_000
#: Float images whose largest value is at most 1 + this are taken as 0..1 (and clipped), so
#: a 0..1 image with a little overshoot (from resampling, say) is not read as a black 0..255 one.
UNIT_RANGE_TOLERANCE = 0.1


def _float_to_uint8(a: np.ndarray) -> np.ndarray:
    """Finite float values in 0..1 (largest value <= 1 + UNIT_RANGE_TOLERANCE) or 0..255 ->
    uint8 0..255, rounded and clipped."""
    a = np.asarray(a, dtype=np.float64)
    a = a * 255.0 if a.max() <= 1.0 + UNIT_RANGE_TOLERANCE else a
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _check_not_empty(shape: tuple[int, ...]) -> None:
    """Refuse an image with no pixels (a zero height or width)."""
    if 0 in shape[:2]:
        raise StyleTransferError(
            f"the image is empty (shape {shape}): it has no pixels; give a picture"
        )


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited onto white."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 or img.mode.startswith("I;16") else 255.0
        arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if not np.all(np.isfinite(arr)):
            raise StyleTransferError("the image holds NaN or infinite values")
        return Image.fromarray(_float_to_uint8(arr), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def _array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Accept (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays; return (H, W, 3) uint8."""
    a = np.asarray(array)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    _check_not_empty(a.shape)
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3, 4):
        raise StyleTransferError(
            f"an image array must have shape (H, W), (H, W, 3) or (H, W, 4); got {a.shape}"
        )
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = np.rint(a / 257.0).astype(np.uint8)
    elif a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.number):
            raise StyleTransferError(f"an image array must hold numbers, not {a.dtype}")
        a = a.astype(np.float64)
        if not np.all(np.isfinite(a)):
            raise StyleTransferError("the image array holds NaN or infinite values")
        a = _float_to_uint8(a)
    if a.shape[-1] == 1:
        a = np.repeat(a, 3, axis=-1)
    if a.shape[-1] == 4:
        alpha = a[..., 3:].astype(np.float64) / 255.0
        a = (a[..., :3] * alpha + 255.0 * (1.0 - alpha) + 0.5).astype(np.uint8)
    return np.ascontiguousarray(a)


def short_path(path: str | Path, limit: int = 80) -> str:
    """``path`` for a one-line message: cut in the middle when longer than ``limit``."""
    text = str(path)
    return text if len(text) <= limit else f"{text[:limit // 2]}...{text[-limit // 2:]}"


def _check_file(path: Path) -> None:
    """Refuse, in one line, a path that is no readable regular file: missing, a folder, a
    pipe (reading it would wait forever), a device, a symlink loop, a name too long."""
    if "\0" in str(path) or not str(path).strip():
        raise StyleTransferError(f"{short_path(path)!r} is not a file name; give an image file")
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise StyleTransferError(f"image file not found: {short_path(path)} (check the path and "
                                 "spelling)") from None
    except OSError as exc:  # a name too long, a symlink loop, a part that is no folder
        raise StyleTransferError(f"cannot read the image {short_path(path)}: "
                                 f"{exc.strerror or exc}; give the path of an image file"
                                 ) from None
    if stat.S_ISDIR(mode):
        raise StyleTransferError(f"{short_path(path)} is a folder, not an image file")
    if not stat.S_ISREG(mode):  # checked before opening: reading a FIFO would wait forever
        raise StyleTransferError(f"{short_path(path)} is not a regular file (a pipe, device or "
                                 "socket); give an image file")


def _open(path: Path) -> Image.Image:
    """Open an image file with clear errors for missing files, non-images and huge images."""
    _check_file(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(path)
            if img.size[0] * img.size[1] > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            img.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = min(MAX_PIXELS, Image.MAX_IMAGE_PIXELS or MAX_PIXELS)  # ours or Pillow's guard
        raise StyleTransferError(
            f"{path} is too large to load safely (more than {limit:,} pixels); "
            "shrink it with an image editor first"
        ) from None
    except UnidentifiedImageError:
        raise StyleTransferError(
            f"{path} is not an image Pillow can read; use a PNG, JPEG, BMP, GIF, TIFF or WebP file"
        ) from None
    except OSError as exc:
        raise StyleTransferError(
            f"cannot read {path}: {exc.strerror or exc}; give the path of a readable image file"
        ) from None
    return img


def _pillow_to_rgb(img: Image.Image) -> np.ndarray:
    """A Pillow image as an (H, W, 3) uint8 array, EXIF orientation applied; a closed or
    broken image is refused in one line."""
    try:
        return np.asarray(_to_rgb(ImageOps.exif_transpose(img) or img))
    except (ValueError, OSError, AttributeError) as exc:
        raise StyleTransferError(f"cannot read the Pillow image ({exc}); give an open image, "
                                 "a path or an array") from None


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
    if isinstance(source, (str, Path)):
        rgb = _pillow_to_rgb(_open(Path(source)))
    elif isinstance(source, Image.Image):
        rgb = _pillow_to_rgb(source)
    elif isinstance(source, np.ndarray):
        rgb = _array_to_rgb(source)
    else:
        raise StyleTransferError(
            f"cannot load an image from a {type(source).__name__}; give a path or an array"
        )
    _check_not_empty(rgb.shape)
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


def image_format(path: str | Path) -> str:
    """The Pillow format that writes ``path`` (by its suffix: ``.png`` -> PNG), or one line
    when Pillow writes no such files."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise StyleTransferError(f"unknown image format {suffix!r}; save as .png or .jpg")
    return fmt


def save_image(image: np.ndarray, path: str | Path) -> Path:
    """Save an (H, W, 3) image (format from the suffix, PNG if none); return the path.

    The file is written atomically (:func:`helpers.files.atomic_write`): an interrupted or
    failed save leaves the previous file at ``path`` untouched.
    """
    rgb = load_image(image)  # bad arrays (NaN, wrong shape) fail here with their own message
    path = check_name(path, "the image file to write")
    if not path.suffix:
        path = path.with_suffix(".png")
    if not path.parent.is_dir():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StyleTransferError(
                f"cannot create the output folder {path.parent}: {exc.strerror}"
            ) from None
    fmt = image_format(path)
    with atomic_write(path) as tmp:  # a write that fails is said, the old file kept
        Image.fromarray(rgb).save(tmp, format=fmt)
    return path


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
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel_size * ncols, panel_size * aspect * nrows + 0.6),
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
# 07) and the gradient map (the default start, notebook 05) ------------------------------------

#: Ways :func:`helpers.optimize.stylize` can keep the content's colours.


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
