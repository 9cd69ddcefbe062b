"""Output quality a user sees at once: clean borders on the bundled pair."""

from __future__ import annotations

import numpy as np
import pytest

from helpers import data, optimize


def saturated(image: np.ndarray) -> np.ndarray:
    """(H, W) bool: pixels with any channel at <= 5 or >= 250 (blown-out or crushed)."""
    return ((image <= 5) | (image >= 250)).any(axis=-1)


def border_ratio(image: np.ndarray, band: int = 8) -> tuple[float, float]:
    """Fraction of saturated pixels in the ``band``-px frame and in the interior."""
    sat = saturated(image)
    inner = np.zeros_like(sat)
    inner[band:-band, band:-band] = True
    return float(sat[~inner].mean()), float(sat[inner].mean())


@pytest.mark.slow
def test_the_bundled_pair_has_no_saturated_border_at_256_px():
    """Stated bound: the 8-px border band holds at most 1.5x the interior's share of
    near-saturated pixels (plus one pixel in a thousand, so that a spotless interior does
    not demand a spotless border)."""
    result = optimize.stylize(data.default_content(), data.default_style(), size=256,
                              iterations=60, backbone="vgg16-hed", progress=False)
    edge, interior = border_ratio(result.image)
    assert edge <= 1.5 * interior + 1e-3, (edge, interior)


def test_color_matched_init_is_the_photo_in_the_paintings_colours(photo, painting):
    """init="color_matched" starts from the photo recoloured to the painting's colour mean and
    covariance (README "Choosing defaults"): the painting's mean colour, the photo's shapes."""
    from helpers import images
    from helpers.settings import Settings

    settings = Settings(init="color_matched").resolved("vgg16-hed")
    prepared = optimize.Prepared(photo, [painting], photo, [painting], [1.0], None)
    start = images.deprocess(optimize._start_image(settings, prepared, None))
    assert start.shape == photo.shape
    np.testing.assert_allclose(start.reshape(-1, 3).mean(0), painting.reshape(-1, 3).mean(0),
                               atol=6)
    grey = [x.astype(float).mean(-1).ravel() for x in (start, photo)]
    assert abs(np.corrcoef(*grey)[0, 1]) > 0.9
