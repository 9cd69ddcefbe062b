"""Settings: checked in one place, with no TensorFlow, shared by stylize, the CLI and the app."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import cli
from helpers.code import command_line_flags, python_arguments
from helpers.errors import StyleTransferError
from helpers.settings import (
    CHOICES,
    DEFAULTS,
    MAX_SCALES,
    STYLE_WEIGHTS,
    Settings,
    channel_layer_weights,
    default_scale_iterations,
)

ROOT = Path(__file__).resolve().parent.parent


def test_settings_import_no_tensorflow():
    """`import helpers` and building Settings stay cheap: TensorFlow is not imported."""
    code = ("import sys, helpers; from helpers.settings import Settings; "
            "Settings(size=64, style_weight=3); import helpers.cli; "
            "print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=ROOT, check=True).stdout
    assert out.split() == ["False", "False"]


@pytest.mark.parametrize("options, message", [
    (dict(size=0), "size must be a whole number >= 1"),
    (dict(iterations=2.5), "iterations must be a whole number"),
    (dict(iterations=True), "iterations must be a whole number"),
    (dict(style_weight=-1), "style_weight must be a finite number >= 0"),
    (dict(tv_weight=float("nan")), "tv_weight must be a finite number >= 0"),
    (dict(content_weight="1"), "content_weight must be a number"),
    (dict(pooling="mean"), "unknown pooling 'mean'; choose one of avg, max"),
    (dict(style_layers="block1_conv1"), "a list of layer names, not the string"),
    (dict(style_scale=9), "style_scale must be between 0.1 and 4"),
    (dict(scales=9), "scales must be a whole number from 1 to 6"),
    (dict(checkpoint_every=-1), "checkpoint_every must be a whole number >= 0 (0: never)"),
])
def test_bad_settings_are_refused_with_one_clear_message(options, message):
    with pytest.raises(StyleTransferError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings(**options)


def test_numpy_numbers_are_accepted_and_normalised():
    s = Settings(size=np.int64(64), iterations=np.int32(5), style_weight=np.float32(2),
                 style_layers=["block1_conv1"], style_layer_weights=[np.float64(1)])
    assert (s.size, s.iterations, s.style_weight) == (64, 5, 2.0)
    assert type(s.iterations) is int and s.style_layers == ("block1_conv1",)


def test_a_misspelt_setting_names_the_right_one():
    with pytest.raises(StyleTransferError, match="unknown setting 'style_weights'; did you "
                                                 "mean 'style_weight'"):
        Settings.from_options(style_weights=10)


def test_resolved_fills_the_backbone_defaults_and_checks_settings_together():
    s = Settings(size=512).resolved("vgg16-hed")
    d = DEFAULTS["vgg16-hed"]
    assert (s.style_loss, s.style_scale, s.content_layer) == ("sliced", d["style_scale"],
                                                             d["content_layer"])
    assert s.style_weight == STYLE_WEIGHTS["sliced"] == 50
    # The default style weight follows the style loss; an explicit one is kept.
    assert Settings(style_loss="gram").resolved("vgg16-hed").style_weight == 100
    assert Settings(style_loss="gram", style_weight=7).resolved("vgg16-hed").style_weight == 7
    assert Settings().resolved("vgg19").style_loss == "gram"
    assert s.style_layers == d["style_layers"] and s.scales == 2
    assert s.balance_style_layers is d["balance_style_layers"] is False
    # The sliced loss weighs its layers equally, the Gram loss as neural-style (4/C²).
    assert s.style_layer_weights == (0.2,) * 5
    channels = (4 / 64**2, 4 / 128**2, 4 / 256**2, 4 / 512**2, 4 / 512**2)
    assert Settings(style_loss="gram").resolved("vgg16-hed").style_layer_weights == channels
    assert Settings(style_loss="w2").resolved("vgg16-hed").style_layer_weights == channels
    assert Settings().resolved("vgg19").style_layer_weights == channels
    assert Settings(balance_style_layers=True).resolved("vgg16-hed").style_layer_weights == \
        (0.2,) * 5
    assert Settings(style_layers=["block3_conv2"]).resolved("vgg19").style_layer_weights == \
        (4 / 256**2,)
    with pytest.raises(StyleTransferError, match="unknown layer 'pool1'"):
        Settings(style_layers=["pool1"]).resolved("vgg19")
    assert Settings(size=512).resolved("vgg16-hed", resume=True).scales == 1
    assert Settings(size=512).resolved("vgg19").scales == 1
    with pytest.raises(StyleTransferError, match="both 0"):
        Settings(content_weight=0, style_weight=0).resolved("vgg19")
    with pytest.raises(StyleTransferError, match="2 style layer weights for 5 style layers"):
        Settings(style_layer_weights=[1, 2]).resolved("vgg19")
    with pytest.raises(StyleTransferError, match="one per scale"):
        Settings(scales=2, scale_iterations=[3]).resolved("vgg19")


def test_coarse_to_fine_spends_most_iterations_at_the_coarsest_scale():
    assert default_scale_iterations(100, 1) == (100,)
    assert default_scale_iterations(100, 2) == (60, 10)
    assert default_scale_iterations(100, 3) == (60, 10, 2)
    assert default_scale_iterations(2, 3) == (1, 1, 1)
    assert Settings(size=512).resolved("vgg16-hed").scale_schedule() == [(256, 60), (512, 10)]
    assert Settings(size=512, scales=2, scale_iterations=[5, 4]).resolved(
        "vgg19").scale_schedule() == [(256, 5), (512, 4)]
    assert Settings(size=200, iterations=7).resolved("vgg16-hed").scale_schedule() == [(200, 7)]
    assert Settings(size=1535).resolved("vgg16-hed").scale_schedule() == [(768, 60), (1535, 10)]
    assert Settings(size=1536).resolved("vgg16-hed").scale_schedule() == [(384, 60), (768, 10),
                                                                          (1536, 2)]


def test_channel_layer_weights_turn_our_layer_loss_into_neural_styles():
    """jcjohnson/neural-style divides each Gram matrix by C*H*W and averages the squared
    difference over the C*C entries; that is 4/C² times our 1/(4 N² M²) sum (N = C channels,
    M = H*W positions), for any features and sizes."""
    rng = np.random.default_rng(0)
    for block, channels in ((1, 64), (3, 256), (5, 512)):
        f = rng.random((7 * 9, channels))  # the result's features, M = 63 positions
        s = rng.random((5 * 6, channels))  # the painting's, 30 positions
        m, m_s, n = f.shape[0], s.shape[0], channels
        theirs = np.mean((f.T @ f / (n * m) - s.T @ s / (n * m_s)) ** 2)
        ours = np.sum((f.T @ f - s.T @ s * m / m_s) ** 2) / (4 * n**2 * m**2)
        (w,) = channel_layer_weights([f"block{block}_conv2"])
        assert theirs == pytest.approx(w * ours, rel=1e-9)


SAMPLES = [
    Settings(),
    Settings(size=200, style_weight=123.0, tv_weight=1.5e-5, init="noise", seed=4),
    Settings(style_layers=("block1_conv1", "block3_conv1"), style_layer_weights=(0.3, 0.7),
             balance_style_layers=False, pooling="max", preserve_color="luminance",
             style_blend_weights=(3.0, 1.0), style_loss="w2", scales=2,
             scale_iterations=(10, 5), weights=None, padding="reflect", optimizer="adam",
             learning_rate=2.0, lbfgs_mode="restart", maxfun=7, tv_form="abs",
             checkpoint_every=3, precision="float32", backbone="vgg19"),
]


@pytest.mark.parametrize("settings", SAMPLES)
def test_the_command_line_and_python_code_give_back_the_same_settings(settings):
    args = cli.build_parser().parse_args(["stylize", *command_line_flags(settings)])
    assert Settings(**cli.settings_from_args(args)) == settings
    code = f"from helpers.settings import Settings\nout = Settings(\n{python_arguments(settings)})"
    scope: dict = {}
    exec(code, scope)
    assert scope["out"] == settings


def test_every_choice_is_offered_by_the_command_line():
    stylize = cli.build_parser()._subparsers._group_actions[0].choices["stylize"]
    offered = {a.dest: tuple(a.choices) for a in stylize._actions if a.choices}
    assert {k: offered[k] for k in CHOICES} == CHOICES


def test_bad_settings_fail_before_tensorflow_is_imported(tmp_path):
    """A tensorflow that cannot be imported does not matter to a bad command line: the
    settings, the paths and the output folder are checked before TensorFlow loads."""
    fake = tmp_path / "fake"
    (fake / "tensorflow").mkdir(parents=True)
    (fake / "tensorflow" / "__init__.py").write_text("raise ImportError('TensorFlow loaded')")
    env = {**os.environ, "PYTHONPATH": f"{fake}{os.pathsep}{ROOT}"}
    for args in (["--size", "0"], ["--style-layer-weights", "1,x"], ["missing.png", "swirls"],
                 ["chelsea", "swirls", "--init", "photo"], ["-o", "/proc/no/such/out.png"]):
        proc = subprocess.run([sys.executable, "-m", "helpers", "stylize", *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path)
        assert proc.returncode == 2 and "TensorFlow loaded" not in proc.stderr, proc.stderr
        assert len(proc.stderr.splitlines()) == 1, proc.stderr


def test_pyramid_levels_are_a_whole_number_from_1_to_the_most_scales():
    assert Settings(pyramid_levels=2).resolved("vgg16-hed").pyramid_levels == 2
    # per backbone: vgg16-hed paints its first scale over 4 levels, vgg19 over the pixels
    assert Settings().resolved("vgg16-hed").pyramid_levels == DEFAULTS["vgg16-hed"][
        "pyramid_levels"] == 4
    assert Settings().resolved("vgg19").pyramid_levels == 1
    assert Settings(pyramid_levels=3).resolved("vgg16-hed", resume=True).pyramid_levels == 1
    for bad in (0, 2.5, MAX_SCALES + 1):
        with pytest.raises(StyleTransferError, match="pyramid_levels must be"):
            Settings(pyramid_levels=bad)


# One parser of setting values (helpers.settings.parse_value), for the CLI, sweeps and the app.

from helpers.code import setting_text  # noqa: E402
from helpers.settings import parse_value  # noqa: E402


def _example(name):
    """A valid value of every setting other than its default."""
    examples = {"size": 200, "iterations": 7, "content_weight": 2.5, "style_weight": 1e3,
                "tv_weight": 0.0, "content_layer": "block3_conv2",
                "style_layers": ("block1_conv1", "block2_conv1"),
                "style_layer_weights": (0.5, 0.25), "balance_style_layers": True,
                "style_scale": 1.25, "style_blend_weights": (1.0, 3.0),
                "preserve_color": "luminance", "style_loss": "w2", "backbone": "vgg16-hed",
                "weights": None, "pooling": "avg", "precision": "float32",
                "padding": "reflect", "init": "noise", "seed": 3, "optimizer": "adam",
                "lbfgs_mode": "restart", "maxfun": 9, "learning_rate": 2.0,
                "tv_form": "abs", "content_detail": 0.5, "sliced_redraw": 5,
                "checkpoint_every": 4, "scales": 2,
                "scale_iterations": (5, 2), "scale_step": 1.5, "scale_content_weight": 0.5,
                "pyramid_levels": 3}
    return examples[name]


@pytest.mark.parametrize("name", [f.name for f in dataclasses.fields(Settings)])
def test_every_setting_round_trips_through_its_text(name):
    value = _example(name)
    assert parse_value(name, setting_text(value)) == value
    assert Settings(**{name: parse_value(name, setting_text(value))}) == Settings(**{name: value})


def test_parse_value_reads_the_field_type_not_the_default():
    assert parse_value("pyramid_levels", "4") == 4  # default None: was left a string
    assert parse_value("scales", "none") is None and parse_value("weights", "none") is None
    assert parse_value("style_layers", "block1_conv1+block2_conv1", sep="+") == (
        "block1_conv1", "block2_conv1")
    assert parse_value("balance_style_layers", "no") is False


@pytest.mark.parametrize("name, text, message", [
    ("size", "1.5", "whole number"), ("style_weight", "lots", "must be a number"),
    ("balance_style_layers", "maybe", "true or false"), ("iterations", "none", "whole number"),
    ("style_weightz", "1", "did you mean 'style_weight'"),
    ("style_layer_weights", ",", "no values"),
])
def test_parse_value_refuses_in_one_line(name, text, message):
    with pytest.raises(StyleTransferError, match=message):
        parse_value(name, text)


def test_help_of_stylize_lists_every_setting_with_its_default():
    import inspect

    import helpers

    params = inspect.signature(helpers.stylize).parameters
    for f in dataclasses.fields(Settings):
        assert params[f.name].default == f.default and params[f.name].kind == params[
            f.name].KEYWORD_ONLY
    assert "options" not in params and "callback" in params
