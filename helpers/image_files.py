"""Reading and writing image files safely (notebook 01 teaches what :mod:`helpers.images` does
with the pixels; this module is what keeps a bad file from crashing or hanging a run, and is not
part of the lesson): a path that is no regular file (a pipe would hang the read, a folder, a
device, a name too long) is refused before it is opened; a decompression bomb before it is
decoded; any Pillow mode (16-bit, float, palette with transparency, CMYK) and any array
(greyscale, RGBA, bool, uint16, float in 0..1 or 0..255) becomes (H, W, 3) uint8 RGB, NaN and
empty images refused; a picture is written atomically, its folder made first. Each failure is
one :class:`~helpers.errors.StyleTransferError` line. :func:`helpers.images.load_image` and
:func:`helpers.images.save_image` are the two doors in.
"""

from __future__ import annotations

import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from helpers.errors import StyleTransferError
from helpers.files import atomic_write, check_name

#: File name endings of the images the library reads (folders of images are listed by them).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
#: Images with more pixels than this are refused before decoding (decompression-bomb guard).
MAX_PIXELS = 100_000_000
#: Float images whose largest value is at most 1 + this are taken as 0..1 (and clipped), so
#: a 0..1 image with a little overshoot (from resampling, say) is not read as a black 0..255 one.
UNIT_RANGE_TOLERANCE = 0.1


def float_to_uint8(a: np.ndarray) -> np.ndarray:
    """Finite float values in 0..1 (largest value <= 1 + UNIT_RANGE_TOLERANCE) or 0..255 ->
    uint8 0..255, rounded and clipped."""
    a = np.asarray(a, dtype=np.float64)
    a = a * 255.0 if a.max() <= 1.0 + UNIT_RANGE_TOLERANCE else a
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def check_not_empty(shape: tuple[int, ...]) -> None:
    """Refuse an image with no pixels (a zero height or width)."""
    if 0 in shape[:2]:
        raise StyleTransferError(
            f"the image is empty (shape {shape}): it has no pixels; give a picture"
        )


def mode_to_rgb(img: Image.Image) -> Image.Image:
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
        return Image.fromarray(float_to_uint8(arr), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def array_to_rgb(array: np.ndarray) -> np.ndarray:
    """Accept (H, W), (H, W, 1), (H, W, 3) or (H, W, 4) arrays; return (H, W, 3) uint8."""
    a = np.asarray(array)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    check_not_empty(a.shape)
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
        a = float_to_uint8(a)
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


def check_file(path: Path) -> None:
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


def open_image(path: Path) -> Image.Image:
    """Open an image file with clear errors for missing files, non-images and huge images."""
    check_file(path)
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


def pillow_to_rgb(img: Image.Image) -> np.ndarray:
    """A Pillow image as an (H, W, 3) uint8 array, EXIF orientation applied; a closed or
    broken image is refused in one line."""
    try:
        return np.asarray(mode_to_rgb(ImageOps.exif_transpose(img) or img))
    except (ValueError, OSError, AttributeError) as exc:
        raise StyleTransferError(f"cannot read the Pillow image ({exc}); give an open image, "
                                 "a path or an array") from None


def read_rgb(source: Any) -> np.ndarray:
    """``source`` (a path, a Pillow image or an array) as an (H, W, 3) uint8 RGB array, every
    check above made; anything else is refused in one line."""
    if isinstance(source, (str, Path)):
        rgb = pillow_to_rgb(open_image(Path(source)))
    elif isinstance(source, Image.Image):
        rgb = pillow_to_rgb(source)
    elif isinstance(source, np.ndarray):
        rgb = array_to_rgb(source)
    else:
        raise StyleTransferError(
            f"cannot load an image from a {type(source).__name__}; give a path or an array"
        )
    check_not_empty(rgb.shape)
    return rgb


def image_format(path: str | Path) -> str:
    """The Pillow format that writes ``path`` (by its suffix: ``.png`` -> PNG), or one line
    when Pillow writes no such files."""
    suffix = Path(path).suffix.lower()
    fmt = Image.registered_extensions().get(suffix)
    if fmt is None or fmt not in Image.SAVE:
        raise StyleTransferError(f"unknown image format {suffix!r}; save as .png or .jpg")
    return fmt



def write_rgb(rgb: np.ndarray, path: str | Path) -> Path:
    """Write the (H, W, 3) uint8 ``rgb`` to ``path`` (format from the suffix, PNG if none),
    atomically (:func:`helpers.files.atomic_write`: a failed write leaves the previous file),
    its folder made first; return the path written."""
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
