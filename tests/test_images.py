"""helpers.images: every input mode, resizing, the caffe round trip, saving, clear errors."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image

from helpers import image_files, images
from helpers.errors import StyleTransferError


def _save(img: Image.Image, tmp_path, name: str, **kw):
    path = tmp_path / name
    img.save(path, **kw)
    return path


@pytest.mark.parametrize("mode", ["RGB", "L", "P", "CMYK", "1", "I;16", "LA"])
def test_every_pillow_mode_loads_as_rgb_uint8(tmp_path, photo, mode):
    base = Image.fromarray(photo)
    if mode == "I;16":
        arr16 = (np.asarray(base.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        img = Image.fromarray(arr16)
    else:
        img = base.convert(mode)
    suffix = ".tif" if mode == "CMYK" else ".png"
    out = images.load_image(_save(img, tmp_path, f"x{suffix}"))
    assert out.shape == (72, 96, 3) and out.dtype == np.uint8
    if mode in ("L", "I;16", "LA"):  # grey: three equal channels, true to the grey values
        grey = np.asarray(base.convert("L"))
        np.testing.assert_array_equal(out[..., 0], out[..., 2])
        assert np.abs(out[..., 0].astype(int) - grey).max() <= 1


def test_sixteen_bit_png_keeps_its_range(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    path = _save(Image.fromarray(ramp), tmp_path, "ramp16.png")
    out = images.load_image(path)
    assert out.min() == 0 and out.max() == 255


def test_rgba_is_composited_on_white(tmp_path, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # fully transparent corner
    out = images.load_image(_save(Image.fromarray(rgba, "RGBA"), tmp_path, "a.png"))
    assert (out[:10, :10] == 255).all()
    np.testing.assert_array_equal(out[20:, 20:], photo[20:, 20:])


def test_palette_with_transparency(tmp_path):
    img = Image.new("P", (40, 40), 0)
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.paste(1, (0, 0, 20, 40))
    img.info["transparency"] = 0
    out = images.load_image(_save(img, tmp_path, "p.png", transparency=0))
    assert (out[:, 25:] == 255).all()  # transparent red -> white
    assert (out[:, :15] == [0, 0, 255]).all()


def test_exif_rotated_jpeg_is_turned_upright(tmp_path, photo):
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = _save(Image.fromarray(photo), tmp_path, "rot.jpg", exif=exif.tobytes())
    out = images.load_image(path)
    assert out.shape == (96, 72, 3)


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((30, 40), np.uint8),
        np.zeros((30, 40, 1), np.float32),
        np.ones((30, 40, 3), np.float64),  # floats in 0..1 are scaled to 0..255
        np.full((30, 40, 4), 200, np.uint8),
        np.full((30, 40, 3), 65535, np.uint16),
        np.zeros((1, 30, 40, 3), np.uint8),
    ],
)
def test_arrays_of_every_common_layout(array):
    out = images.load_image(array)
    assert out.shape == (30, 40, 3) and out.dtype == np.uint8


def test_float_arrays_in_0_1_scale_to_255():
    assert images.load_image(np.ones((8, 8, 3)))[0, 0, 0] == 255
    assert images.load_image(np.full((8, 8, 3), 100.0))[0, 0, 0] == 100


@pytest.mark.parametrize(
    "size,height,expected",
    [(48, None, (36, 48)), (None, 36, (36, 48)), (97, None, (73, 97)), (None, 51, (51, 68))],
)
def test_resize_keeps_aspect_ratio(photo, size, height, expected):
    assert images.load_image(photo, size=size, height=height).shape[:2] == expected


@pytest.mark.parametrize("size", [4, 20, 100_000])
def test_absurd_sizes_are_refused_clearly(photo, size):
    with pytest.raises(StyleTransferError, match="size"):
        images.resize(photo, size=size)


@settings(max_examples=30, deadline=None)
@given(arrays(np.float32, (5, 7, 3), elements=st.floats(0, 255, width=32)))
def test_deprocess_inverts_preprocess_exactly_before_clipping(img):
    x = images.preprocess(img)
    assert x.shape == (1, 5, 7, 3) and x.dtype == np.float32
    np.testing.assert_allclose(images.deprocess(x, clip=False), img, atol=1e-4)


def test_preprocess_is_bgr_minus_the_imagenet_mean():
    x = images.preprocess(np.array([[[255, 0, 10]]], np.uint8))
    np.testing.assert_allclose(x[0, 0, 0], [10 - 103.939, 0 - 116.779, 255 - 123.68], rtol=1e-6)


def test_deprocess_clips_to_valid_uint8():
    x = np.full((1, 2, 2, 3), 1000.0, np.float32)
    out = images.deprocess(x)
    assert out.dtype == np.uint8 and (out == 255).all()


def test_save_and_reload_round_trip(tmp_path, photo):
    path = images.save_image(photo, tmp_path / "sub" / "out")
    assert path.suffix == ".png"
    np.testing.assert_array_equal(images.load_image(path), photo)


def test_save_into_a_file_instead_of_a_folder_fails_clearly(tmp_path, photo):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(StyleTransferError, match="cannot create the output folder"):
        images.save_image(photo, blocker / "out.png")


def test_missing_file_and_folder_and_non_image(tmp_path):
    with pytest.raises(StyleTransferError, match="not found"):
        images.load_image(tmp_path / "nope.jpg")
    with pytest.raises(StyleTransferError, match="is a folder"):
        images.load_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("hello, not an image")
    with pytest.raises(StyleTransferError, match="not an image"):
        images.load_image(text)


def test_decompression_bomb_is_refused(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (200, 200)), tmp_path, "big.png")
    monkeypatch.setattr(image_files, "MAX_PIXELS", 10_000)
    with pytest.raises(StyleTransferError, match="too large"):
        images.load_image(path)


def test_pillows_own_decompression_bomb_guard_gives_the_same_message(tmp_path, monkeypatch):
    path = _save(Image.new("RGB", (200, 200)), tmp_path, "big.png")
    monkeypatch.setattr(image_files, "MAX_PIXELS", 10**9)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 10_000)  # Pillow warns above, errs at 2x
    with pytest.raises(StyleTransferError, match="too large to load safely .more than 10,000"):
        images.load_image(path)


def test_image_arrays_with_nan_are_refused():
    with pytest.raises(StyleTransferError, match="NaN"):
        images.load_image(np.full((8, 8, 3), np.nan))


def test_image_grid_titles_every_panel(photo, painting):
    fig = images.image_grid([photo, painting, photo], ["content", "style", "result"],
                            suptitle="Demo")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert titles == ["content", "style", "result"]
    assert fig._suptitle.get_text() == "Demo"


def test_pixel_bounds_are_the_valid_range():
    box = images.pixel_bounds((2, 3))
    assert box.shape == (18, 2)
    lo = images.deprocess(box[:, 0].reshape(1, 2, 3, 3), clip=False)
    hi = images.deprocess(box[:, 1].reshape(1, 2, 3, 3), clip=False)
    np.testing.assert_allclose(lo, 0, atol=1e-4)
    np.testing.assert_allclose(hi, 255, atol=1e-4)


# --- issue 15: nothing lost, no hangs, no silent surprises --------------------------------

def test_a_failed_save_keeps_the_old_file_and_leaves_no_temporary_file(
    tmp_path, photo, monkeypatch
):
    path = images.save_image(photo, tmp_path / "out.png")
    before = path.read_bytes()

    def broken_save(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"half a PNG")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", broken_save)
    with pytest.raises(StyleTransferError, match="No space left"):
        images.save_image(photo[::-1], path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_saving_an_image_with_nan_says_so(tmp_path):
    bad = np.full((8, 8, 3), 0.5)
    bad[2, 3, 1] = np.nan
    with pytest.raises(StyleTransferError, match="NaN or infinite") as info:
        images.save_image(bad, tmp_path / "x.png")
    assert "format" not in str(info.value)
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_non_regular_files_are_refused_before_opening(tmp_path, kind):
    done = threading.Event()
    if kind == "fifo":
        path = tmp_path / "pipe.png"
        os.mkfifo(path)  # opening it for reading would wait for a writer forever

        def unblock() -> None:  # if load_image does open it, fail after 3 s instead of hanging
            if not done.wait(3.0):
                os.close(os.open(path, os.O_RDWR))

        threading.Thread(target=unblock, daemon=True).start()
    else:
        path = Path("/dev/null")
    try:
        with pytest.raises(StyleTransferError, match="not a regular file"):
            images.load_image(path)
    finally:
        done.set()


@pytest.mark.parametrize(
    "array", [np.zeros((0, 0, 3), np.uint8), np.zeros((0, 5, 3)), np.zeros((4, 0)),
              Image.new("RGB", (0, 0))],
)
def test_empty_images_are_refused_clearly(array):
    with pytest.raises(StyleTransferError, match="empty"):
        images.load_image(array, size=64)


def test_float_images_in_0_1_with_a_little_overshoot_stay_0_1():
    img = np.full((8, 8, 3), 0.5)
    img[0, 0, 0], img[0, 1, 0] = 1.02, -0.01  # e.g. after a Lanczos resize
    out = images.load_image(img)
    assert out[0, 0, 0] == 255 and out[0, 1, 0] == 0 and out[4, 4, 1] == 128
    assert images.load_image(np.full((8, 8, 3), 1.1))[0, 0, 0] == 255  # the tolerance's edge
    assert images.load_image(np.full((8, 8, 3), 1.2))[0, 0, 0] == 1  # beyond it: 0..255
    grey = images.load_image(Image.fromarray(img[..., 0].astype(np.float32)))  # Pillow mode F
    assert grey[0, 0, 0] == 255 and grey[0, 1, 0] == 0 and grey[4, 4, 0] == 128


def _gradient_map_by_hand(image: np.ndarray, reference: np.ndarray, groups: int) -> np.ndarray:
    """The gradient map written out pixel by pixel: quantile -> reference colour, in loops."""
    lum = lambda x: x.astype(float) @ [0.299, 0.587, 0.114]  # noqa: E731 (YIQ's Y row)
    y, pixels = lum(image).ravel(), reference.reshape(-1, 3).astype(float)
    ordered = pixels[np.argsort(lum(pixels), kind="stable")]
    parts = np.array_split(ordered, groups)
    centres, start = [], 0
    for g in parts:
        centres.append((start + len(g) / 2) / len(ordered))
        start += len(g)
    means = [g.mean(0) for g in parts]
    out = np.empty((len(y), 3))
    for i, v in enumerate(y):
        q = ((y < v).sum() + ((y == v).sum() + 1) / 2 - 0.5) / len(y)  # average rank, tied
        j = np.searchsorted(centres, q)
        if j == 0 or j == groups:
            out[i] = means[min(j, groups - 1)]
        else:
            t = (q - centres[j - 1]) / (centres[j] - centres[j - 1])
            out[i] = (1 - t) * means[j - 1] + t * means[j]
    return np.clip(np.rint(out), 0, 255).astype(np.uint8).reshape(image.shape)


@settings(max_examples=25, deadline=None)
@given(arrays(np.uint8, (6, 7, 3)), arrays(np.uint8, (5, 9, 3)), st.integers(1, 45))
def test_gradient_map_matches_the_formula_written_out(image, reference, groups):
    np.testing.assert_allclose(images.gradient_mapped(image, reference, groups).astype(int),
                               _gradient_map_by_hand(image, reference, groups), atol=1)


def test_gradient_map_gives_dark_pixels_the_paintings_dark_colours(photo):
    """A painting that is dark blue where dark and bright orange where bright: the photo's
    darkest tenth turns blue, its brightest tenth orange, ties one colour, brightness order kept."""
    painting = np.zeros((20, 20, 3), np.uint8)
    painting[:10] = (10, 20, 90)
    painting[10:] = (250, 160, 40)
    out = images.gradient_mapped(photo, painting)
    y_in, y_out = images.to_yiq(photo)[..., 0].ravel(), images.to_yiq(out)[..., 0].ravel()
    order = np.argsort(y_in, kind="stable")
    tenth = len(order) // 10
    dark, bright = out.reshape(-1, 3)[order[:tenth]], out.reshape(-1, 3)[order[-tenth:]]
    np.testing.assert_array_equal(np.unique(dark, axis=0), [[10, 20, 90]])
    np.testing.assert_array_equal(np.unique(bright, axis=0), [[250, 160, 40]])
    assert np.all(np.diff(y_out[order]) >= -1.0)
    flat = images.gradient_mapped(np.full((4, 5, 3), 128, np.uint8), painting)
    assert len(np.unique(flat.reshape(-1, 3), axis=0)) == 1


def test_image_grid_second_row_titles_clear_the_first_row():
    """Two rows of wide panels with two-line titles: no title of the second row overlaps a
    picture of the first (the title space is sized per row, not once for the figure)."""
    wide = np.zeros((100, 300, 3), dtype=np.uint8)
    fig = images.image_grid([wide] * 6, [f"panel {i}\nsecond line" for i in range(6)], ncols=3,
                            suptitle="two rows")
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    axes = fig.axes
    for top, below in zip(axes[:3], axes[3:], strict=True):
        picture = top.get_images()[0].get_window_extent(renderer)
        title = below.title.get_window_extent(renderer)
        assert title.y1 <= picture.y0, (title, picture)
