"""helpers.code (copy as code) and helpers.report (the final loss line): one renderer for the
tuning app and the sweeps, and the round trip text -> Settings -> code -> Settings for every
setting."""

from __future__ import annotations

import dataclasses
import shlex
from pathlib import Path

import pytest

import helpers
from helpers import cli, code, data
from helpers.code import flag
from helpers.report import loss_line
from helpers.settings import SWITCHES, Settings

#: Each setting as a user types it on the command line, none of them its default.
TEXTS = {"size": "200", "iterations": "7", "content_weight": "2.5", "style_weight": "1e3",
         "tv_weight": "0", "content_layer": "block3_conv2",
         "style_layers": "block1_conv1,block2_conv1", "style_layer_weights": "0.5,0.25",
         "balance_style_layers": "true", "style_scale": "1.25",
         "style_blend_weights": "1,3", "preserve_color": "luminance", "style_loss": "w2",
         "backbone": "vgg16-hed", "weights": "none", "pooling": "avg", "precision": "float32",
         "padding": "reflect", "init": "noise", "seed": "3", "optimizer": "adam",
         "lbfgs_mode": "restart", "maxfun": "9", "learning_rate": "2", "tv_form": "abs",
         "content_detail": "0.5", "sliced_redraw": "5", "checkpoint_every": "4", "scales": "2",
         "scale_iterations": "5,2", "scale_step": "1.5", "scale_content_weight": "0.5",
         "pyramid_levels": "3"}
FIELDS = [f.name for f in dataclasses.fields(Settings)]


def from_command_line(argv: list[str]) -> tuple[Settings, object]:
    """The Settings (and the parsed arguments) of a ``python -m helpers stylize`` argv."""
    args = cli.build_parser().parse_args(argv)
    return Settings(**cli.settings_from_args(args)), args


def from_python(source: str, monkeypatch) -> tuple[Settings, list]:
    """Run copied Python with a stylize that records its call: (its Settings, its images)."""
    calls = []

    class Saved:
        def save(self, path):
            calls.append(path)

    def stylize(content, style, **kwargs):
        calls.extend([content, style])
        calls.append(Settings(**kwargs))
        return Saved()

    monkeypatch.setattr(helpers, "stylize", stylize, raising=False)
    for name, loader in data.BUNDLED.items():
        monkeypatch.setattr(data, loader.__name__, lambda name=name: f"<{name}>")
    exec(compile(source, "<copied code>", "exec"), {})
    content, style, settings, output = calls
    return settings, [content, style, output]


def test_every_setting_has_a_text():
    assert sorted(TEXTS) == sorted(FIELDS)


@pytest.mark.parametrize("name", FIELDS)
def test_each_setting_round_trips_through_the_copied_code(name, monkeypatch):
    """CLI text -> Settings -> copy as code (Python and command line) -> Settings, equal."""
    typed = [flag(name)] if name in SWITCHES else [flag(name), TEXTS[name]]
    settings, _ = from_command_line(["stylize", *typed])
    assert getattr(settings, name) != getattr(Settings(), name)  # the text was read
    python = code.python_code("chelsea", ["swirls"], settings, "build/out.png")
    assert from_python(python, monkeypatch) == (settings, ["<chelsea>", "<swirls>",
                                                           "build/out.png"])
    line = shlex.split(code.command_line("chelsea", ["swirls"], settings, "build/out.png"))
    assert line[:3] == ["python", "-m", "helpers"]
    assert from_command_line(line[3:])[0] == settings


def test_all_settings_at_once_and_files_with_awkward_names_round_trip(monkeypatch, tmp_path):
    argv = [part for name in FIELDS
            for part in ([flag(name)] if name in SWITCHES else [flag(name), TEXTS[name]])]
    settings, _ = from_command_line(["stylize", *argv])
    photo, painting = tmp_path / "my photo's.png", "chelsea"  # a file and a bundled name
    styles = [painting, Path("a b/c;rm.png")]
    python = code.python_code(photo, styles, settings, "o'ut.png", note="# a note\n")
    assert "# a note\nresult = helpers.stylize(" in python
    assert from_python(python, monkeypatch) == (settings, [str(photo), ["<chelsea>",
                                                                        "a b/c;rm.png"],
                                                           "o'ut.png"])
    line = shlex.split(code.command_line(photo, styles, settings, "o'ut.png"))
    again, args = from_command_line(line[3:])
    assert again == settings
    assert (args.content, args.style, args.more_styles, args.output) == (
        str(photo), "chelsea", ["a b/c;rm.png"], "o'ut.png")


def test_a_str_that_names_no_bundled_image_is_a_file():
    assert code.python_image("chelsea") == "helpers.data.default_content()"
    assert code.python_image(Path("chelsea")) == "'chelsea'"
    assert code.python_image("photos/cat.png") == "'photos/cat.png'"
    with pytest.raises(helpers.StyleTransferError, match="non-empty list"):
        code.python_code("chelsea", "swirls", Settings(), "x.png")


def test_the_app_and_the_sweeps_copy_the_same_code_for_the_same_run():
    from helpers.app.code import cli_command, stylize_code
    from helpers.sweeps import grid
    from helpers.sweeps.live import command_line, python_code

    (run,) = grid.plan({"style_weight": [30]}, [("chelsea", "mosaic")], size=64, iterations=3)
    app = {"content": "chelsea", "style": "mosaic", "size": 64, "iterations": 3,
           "style_weight": 30.0}
    output = f"build/{run.name}.png"
    assert python_code(run) == stylize_code(app).replace("build/tuning/result.png", output)
    assert command_line(run) == cli_command(app, output)


def test_the_loss_line():
    last = {"total": 123456.7, "content": 12.345, "style": 45678.9, "tv": 0.1234, "seconds": 2}
    assert loss_line(last) == "total 1.235e+05 (content 12.3, style 4.57e+04, tv 0.123)"
    assert loss_line(last, short=True) == "total 1.23e+05 (c 12.3, s 4.57e+04, tv 0.123)"
    assert loss_line({"total": "", "content": "1", "style": "x", "tv": 0}, short=True) == \
        "total  (c 1, s x, tv 0)"
