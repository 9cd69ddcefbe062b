"""The coarse-to-fine scales' size ratio (``scale_step``) and content weight factor
(``scale_content_weight``), issue 36 (docs/paintings.md): the schedule they make, each scale's
settings, and their checks in Python and on the command line."""

from __future__ import annotations

import pytest

from helpers import run_plan
from helpers.errors import StyleTransferError
from helpers.settings import (
    Settings,
    coarse_to_fine_sizes,
    default_scale_iterations,
    parse_value,
)

ROOT2 = 2**0.5


def test_the_default_step_keeps_the_schedule():
    assert coarse_to_fine_sizes(512, 3) == [128, 256, 512]
    assert default_scale_iterations(100, 2) == (60, 10)
    assert Settings(size=512).resolved("vgg16-hed").scale_schedule() == [(256, 60), (512, 10)]


def test_root_two_steps_from_128_px():
    """crowsonkb's √2 growth: five scales from 128 to 512 px; each finer scale runs
    1/√6 of the one before (6 ** log2(step): a sixth per doubling, as with 2× steps)."""
    settings = Settings(size=512, scales=5, scale_step=ROOT2).resolved("vgg16-hed")
    assert settings.scale_schedule() == [(128, 60), (181, 24), (256, 10), (362, 4), (512, 2)]
    assert Settings(size=512, scales=2, scale_step=1.5).resolved(
        "vgg16-hed").scale_schedule()[0][0] == 341


def test_each_scale_has_its_content_weight():
    """STROTSS: the content weight halved at each finer scale, from content_weight at the
    coarsest; 1 (the default) keeps it at every scale."""
    settings = Settings(size=512, scales=3, content_weight=20,
                        scale_content_weight=0.5).resolved("vgg16-hed")
    assert [run_plan.scale_settings(settings, i).content_weight for i in range(3)] == [
        20, 10, 5]
    plain = Settings(size=512, scales=3).resolved("vgg16-hed")
    assert {run_plan.scale_settings(plain, i).content_weight for i in range(3)} == {5.0}


def test_a_fitted_schedule_uses_the_step():
    """A default schedule drops scales too small for a panorama at the step asked for."""
    settings = run_plan.for_images(Settings(size=512, scale_step=4), "vgg16-hed", (100, 800))
    assert settings.scales == 1
    assert run_plan.for_images(Settings(size=512, scale_step=ROOT2), "vgg16-hed",
                               (384, 512)).scale_schedule()[0][0] == 362


@pytest.mark.parametrize("name, value, words", [
    ("scale_step", 1.0, "scale_step must be from 1.1 to 4"),
    ("scale_step", 5, "scale_step must be from 1.1 to 4"),
    ("scale_step", "2", "scale_step must be a number"),
    ("scale_step", True, "scale_step must be a number"),
    ("scale_content_weight", 0, "scale_content_weight must be above 0"),
    ("scale_content_weight", -0.5, "scale_content_weight must be above 0"),
    ("scale_content_weight", 4.5, "scale_content_weight must be above 0, at most 4"),
    ("scale_content_weight", float("nan"), "scale_content_weight must be above 0"),
])
def test_bad_values_are_refused_in_one_line(name, value, words):
    with pytest.raises(StyleTransferError, match=words):
        Settings(**{name: value})


def test_the_one_parser_reads_them():
    assert parse_value("scale_step", "1.414") == 1.414
    assert parse_value("scale_content_weight", " 0.5 ") == 0.5
    with pytest.raises(StyleTransferError, match="scale_step must be a number"):
        parse_value("scale_step", "root2")


@pytest.mark.parametrize("flags, words", [
    (["--scale-step", "1"], "scale_step must be from 1.1 to 4"),
    (["--scale-step", "x"], "scale_step must be a number"),
    (["--scale-content-weight", "0"], "scale_content_weight must be above 0"),
])
def test_the_command_line_refuses_bad_values_in_one_line(refused_by_stylize, flags, words):
    refused_by_stylize(flags, words)
