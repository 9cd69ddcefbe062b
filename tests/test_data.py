"""helpers.data: the bundled images, and classic() against a local HTTP server."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from helpers import data
from helpers.errors import StyleTransferError
from helpers.images import save_image


def test_default_content_comes_from_scikit_image():
    img = data.default_content()
    assert img.shape == (300, 451, 3) and img.dtype == np.uint8


def test_the_bundled_style_is_exactly_what_paint_swirls_makes():
    """data/swirls.png is the project's own: regenerating it gives the same pixels."""
    np.testing.assert_array_equal(data.default_style(), data.paint_swirls())


def test_the_painting_is_colourful_and_textured():
    img = data.paint_swirls(size=128, seed=3).astype(float)
    assert img.std(axis=(0, 1)).min() > 20  # every channel varies
    assert np.abs(np.diff(img, axis=1)).mean() > 5  # brush-stroke texture, not a gradient


def test_the_second_bundled_style_is_exactly_what_paint_mosaic_makes():
    np.testing.assert_array_equal(data.second_style(), data.paint_mosaic())
    img = data.paint_mosaic(size=128, seed=4).astype(float)
    assert img.std(axis=(0, 1)).min() > 20
    assert (img.max(axis=-1) < 40).mean() > 0.03  # dark lead lines between the cells


def test_bundled_images_by_name():
    assert list(data.BUNDLED) == ["chelsea", "swirls", "mosaic"]
    np.testing.assert_array_equal(data.bundled_image("chelsea"), data.default_content())
    np.testing.assert_array_equal(data.bundled_image("mosaic"), data.second_style())


def test_classic_downloads_once_checks_the_hash_and_caches(server, tmp_path, photo):
    path = save_image(photo, tmp_path / "painting.png")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    img = data.classic("test_painting", url=f"{server}/painting.png", sha256=digest,
                       cache_dir=str(cache))
    np.testing.assert_array_equal(img, photo)
    path.unlink()  # the second call must come from the cache
    again = data.classic("test_painting", url=f"{server}/painting.png", sha256=digest,
                         cache_dir=str(cache))
    np.testing.assert_array_equal(again, photo)


def test_classic_rejects_a_corrupt_download(server, tmp_path, photo):
    save_image(photo, tmp_path / "painting.png")
    with pytest.raises(StyleTransferError, match="does not match its SHA-256"):
        data.classic("bad", url=f"{server}/painting.png", sha256="0" * 64,
                     cache_dir=str(tmp_path / "cache"))


def test_classic_records_the_hash_of_its_first_download_and_checks_it(server, tmp_path, photo,
                                                                      painting):
    """Without a known hash, the first download's SHA-256 is recorded beside the file; a
    damaged cached copy is then fetched again, and a changed source file is refused."""
    source = save_image(photo, tmp_path / "painting.png")
    cache = tmp_path / "cache"
    url = f"{server}/painting.png"
    np.testing.assert_array_equal(data.classic("p", url=url, cache_dir=str(cache)), photo)
    record = cache / "datasets" / "p.png.sha256"
    assert record.read_text() == hashlib.sha256(source.read_bytes()).hexdigest()
    (cache / "datasets" / "p.png").write_bytes(b"damaged")
    np.testing.assert_array_equal(data.classic("p", url=url, cache_dir=str(cache)), photo)
    save_image(painting, source)  # the file changed at its source
    (cache / "datasets" / "p.png").write_bytes(b"damaged")
    with pytest.raises(StyleTransferError, match=f"delete {record}"):
        data.classic("p", url=url, cache_dir=str(cache))


def test_classic_offline_and_unknown_names_fail_clearly(server, tmp_path):
    with pytest.raises(StyleTransferError, match="could not download"):
        data.classic("gone", url=f"{server}/missing.png", cache_dir=str(tmp_path / "c"))
    with pytest.raises(StyleTransferError, match="unknown painting 'mona'.*starry_night"):
        data.classic("mona")
