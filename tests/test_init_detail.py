"""init="detail_matched": the photo colour-matched to the painting where it has detail and
gradient-mapped elsewhere (helpers.run_images.detail_matched, docs/paintings.md)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import images, run_images
from helpers.errors import StyleTransferError
from helpers.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def half_flat() -> np.ndarray:
    """(64, 160, 3) uint8: a flat blue-grey left part (no detail, 112 px wide) and a busy
    right part (random light and dark blocks: detail everywhere, four times the mean)."""
    rng = np.random.default_rng(3)
    image = np.empty((64, 160, 3), np.uint8)
    image[:, :112] = (90, 110, 140)
    blocks = rng.integers(0, 256, (16, 12, 3), dtype=np.uint8)
    image[:, 112:] = np.kron(blocks, np.ones((4, 4, 1), np.uint8))
    return image


def test_detail_weight_is_one_where_the_photo_is_busy_and_zero_where_flat(half_flat):
    w = run_images.detail_weight(half_flat)
    assert w.shape == half_flat.shape[:2] and w.dtype.kind == "f"
    assert w.min() >= 0 and w.max() <= 1
    assert (w[:, :60] < 1e-9).all()  # far from the busy part: the gradient map
    assert (w[4:-4, 124:] == 1).all()  # inside the busy part: colour matched


def test_detail_weight_is_the_content_detail_map(photo):
    """One concept, one name: the weight is content_detail's map at full strength, halved
    and clipped (so the start and the content weight agree on where the detail is)."""
    from helpers.targets import detail_map

    shape = photo.shape[:2]
    expected = detail_map(photo, shape, 1.0, run_images.DETAIL_BLUR * max(shape)) / 2
    np.testing.assert_allclose(run_images.detail_weight(photo), np.clip(expected, 0, 1))


def test_detail_matched_blends_the_two_recolourings_by_detail(half_flat, painting):
    start = run_images.detail_matched(half_flat, painting)
    assert start.shape == half_flat.shape and start.dtype == np.uint8
    w = run_images.detail_weight(half_flat)
    busy, flat = w == 1, w < 1e-9  # a flat region's Sobel magnitude is 0 up to rounding
    assert busy.mean() > 0.25 and flat.mean() > 0.5
    matched = images.color_matched(half_flat, painting)
    mapped = images.gradient_mapped(half_flat, painting)
    np.testing.assert_array_equal(start[busy], matched[busy])
    np.testing.assert_array_equal(start[flat], mapped[flat])
    assert not np.array_equal(matched[flat], mapped[flat])  # the two starts differ there
    low = np.minimum(matched, mapped).astype(int) - 1
    high = np.maximum(matched, mapped).astype(int) + 1
    assert ((start >= low) & (start <= high)).all()  # in between, everywhere


def test_detail_matched_start_is_deterministic_and_what_start_image_gives(photo, painting):
    settings = Settings(init="detail_matched").resolved("vgg16-hed")
    prepared = run_images.Prepared(photo, [painting], photo, [painting], [1.0], None)
    first = run_images.start_image(settings, prepared, None)
    second = run_images.start_image(settings, prepared, None)
    assert first.shape == (1, *photo.shape)
    np.testing.assert_array_equal(first, second)
    start = images.deprocess(first)
    assert start.min() >= 0 and start.max() <= 255
    np.testing.assert_array_equal(start, run_images.detail_matched(photo, painting))
    np.testing.assert_array_equal(run_images.detail_matched(photo.copy(), painting.copy()),
                                  run_images.detail_matched(photo, painting))


def test_detail_matched_recolours_inside_each_mask_only(photo, painting):
    h, w = photo.shape[:2]
    left = np.zeros((h, w))
    left[:, : w // 2] = 1.0
    style = images.resize_to(painting, (h, w))
    prepared = run_images.Prepared(photo, [style], photo, [style], [1.0], [left])
    start = run_images.recolored_start(Settings(init="detail_matched"), prepared)
    np.testing.assert_array_equal(start[:, w // 2:], photo[:, w // 2:])
    np.testing.assert_array_equal(start[:, : w // 2],
                                  run_images.detail_matched(photo, style)[:, : w // 2])


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "helpers", *args], capture_output=True,
                          text=True, timeout=300, env=env)


def _digests(*paths: Path) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


@pytest.fixture
def files(tmp_path, photo, painting) -> tuple[Path, Path]:
    return (images.save_image(photo, tmp_path / "c.png"),
            images.save_image(painting, tmp_path / "s.png"))


def test_cli_runs_with_init_detail_matched_and_records_it(files, tmp_path):
    before = _digests(*files)
    out = tmp_path / "out.png"
    proc = _cli("stylize", *map(str, files), "-o", str(out), "--init", "detail_matched",
                "--size", "64", "--iterations", "2", "--backbone", "vgg16-hed", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    assert images.load_image(out).shape[:2] == (48, 64)
    assert json.loads(out.with_suffix(".json").read_text())["settings"]["init"] == \
        "detail_matched"
    assert _digests(*files) == before


def test_cli_refuses_a_misspelt_init_in_one_line(files, tmp_path):
    before = _digests(*files)
    out = tmp_path / "out.png"
    proc = _cli("stylize", *map(str, files), "-o", str(out), "--init", "detail_match",
                "--size", "64", "--backbone", "vgg16-hed")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "detail_match" in lines[0] and "detail_matched" in lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr
    assert not out.exists() and _digests(*files) == before


def test_python_api_refuses_a_misspelt_init_naming_the_choices():
    with pytest.raises(StyleTransferError, match="detail_matched") as caught:
        Settings(init="detail_match")
    assert "\n" not in str(caught.value)
