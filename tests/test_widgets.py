"""The tuning app without a browser: press its buttons from Python and check what ran.

Runs are real (offline backbone, 64 px, a few iterations); where a test must see *how*
``stylize`` was called, the app's runner is wrapped, never replaced.
"""

from __future__ import annotations

import io
import json
import shlex
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import helpers
from helpers import cli, optimize, widgets
from helpers.app import view
from helpers.settings import DEFAULTS, STYLE_WEIGHTS, Settings

SIZE, ITERATIONS = 64, 2
ROOT = Path(__file__).resolve().parent.parent
REAL_LOSS_PLOT = view.loss_plot_png


class Recorder:
    """A runner that records each call's arguments, then runs the real ``stylize``."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.calls: list[dict] = []
        self.gate = gate

    def __call__(self, content, style, **kwargs):
        self.calls.append({"content": content, "style": style, **kwargs})
        if self.gate is not None:
            assert self.gate.wait(60)
        return optimize.stylize(content, style, **kwargs)


@pytest.fixture(autouse=True)
def quick_loss_plot(monkeypatch):
    """Matplotlib takes about 0.3 s per loss plot, and the app draws one when it is made and
    at every iteration; most tests here are about buttons, threads and settings. They get a
    stand-in that reads the same fields and gives a different tiny PNG for each history. The
    real plot is drawn by test_loss_plot_shows_each_term_at_the_asked_size and by
    test_each_iteration_updates_the_preview_and_the_loss_plot (a whole app with it)."""
    def stand_in(history, size=(widgets.PANEL_WIDTH, 180)):
        terms = [[h[k] for k in ("iteration", "total", "content", "style", "tv")]
                 for h in history]
        return widgets.png_bytes(np.full((1, 1 + len(terms), 3), 255, np.uint8))

    monkeypatch.setattr(view, "loss_plot_png", stand_in)


def make_app(tmp_path) -> widgets.TuningApp:
    return widgets.tuning_app(backbone="vgg16-hed", preview_size=SIZE, iterations=ITERATIONS,
                              folder=tmp_path / "tuning")


@pytest.fixture
def app(tmp_path):
    return make_app(tmp_path)


def finish(app: widgets.TuningApp) -> None:
    assert app.wait(120), "the run did not end within 2 minutes"
    assert "color:#b00020" not in app.status.value, app.status.value


def previews(app: widgets.TuningApp) -> list[bytes]:
    """A list that grows by one each time the preview changes (once per iteration)."""
    seen: list[bytes] = []
    app.preview.observe(lambda change: seen.append(change["new"]), names="value")
    return seen


def wait_until(condition, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.02)


def test_run_gets_exactly_the_weights_and_layers_on_the_controls(app):
    app.controls["content_weight"].value = 2.5
    app.controls["style_weight"].value = 300.0
    app.controls["tv_weight"].value = 3e-5
    app.controls["content_layer"].value = "block3_conv2"
    app.controls["pooling"].value = "max"
    app.controls["precision"].value = "float32"
    app.layer_boxes["block5_conv1"].value = False
    app.layer_weights["block1_conv1"].value = 2.0
    app.buttons["Run"].click()
    finish(app)

    ran = app.history[0]["result"].settings
    assert (ran["content_weight"], ran["style_weight"], ran["tv_weight"]) == (2.5, 300.0, 3e-5)
    assert ran["content_layer"] == "block3_conv2"
    assert (ran["pooling"], ran["precision"], ran["size"]) == ("max", "float32", SIZE)
    assert ran["style_layers"] == ["block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1"]
    # a slider scales its layer's default weight, 1/L for vgg16-hed's sliced loss (the
    # sliders' mean counts as 1)
    relative = np.array([2.0, 1.0, 1.0, 1.0]) / 1.25
    assert ran["balance_style_layers"] is False and ran["style_loss"] == "sliced"
    np.testing.assert_allclose(ran["style_layer_weights"], relative / 4)
    assert app.history[0]["result"].history[-1]["iteration"] == ITERATIONS
    app.controls["balance_style_layers"].value = True  # balanced layers: 1/L each by default
    settings = app.settings()
    assert settings["balance_style_layers"] is True
    np.testing.assert_allclose(settings["style_layer_weights"], relative / 4)


def test_colour_style_scale_and_a_second_style_reach_the_run(app):
    app.controls["preserve_color"].value = "luminance"
    app.controls["style_scale"].value = 1.5
    app.controls["style2"].value = "mosaic"
    app.controls["style_blend"].value = 0.25
    app.run()
    finish(app)
    ran = app.history[0]["result"].settings
    assert (ran["preserve_color"], ran["style_scale"], ran["styles"]) == ("luminance", 1.5, 2)
    np.testing.assert_allclose(ran["style_blend_weights"], [0.75, 0.25])


def test_loss_plot_shows_each_term_at_the_asked_size():
    """The real plot: empty, one iteration, and several with a term that is 0 (not drawn on
    the log scale)."""
    history = [{"iteration": i, "total": 3.0 / (i + 1), "content": 0.0 if i == 0 else 1.0,
                "style": 2.0 / (i + 1), "tv": 1e-3} for i in range(4)]
    for part in ([], history[:1], history):
        png = REAL_LOSS_PLOT(part, size=(300, 120))
        assert Image.open(io.BytesIO(png)).size == (300, 120)
    assert REAL_LOSS_PLOT(history[:1]) != REAL_LOSS_PLOT(history)


def test_each_iteration_updates_the_preview_and_the_loss_plot(tmp_path, monkeypatch):
    monkeypatch.setattr(view, "loss_plot_png", REAL_LOSS_PLOT)
    app = make_app(tmp_path)
    before_preview, before_plot = app.preview.value, app.plot.value
    seen = previews(app)
    app.run()
    finish(app)
    assert len(seen) >= ITERATIONS  # one per iteration, then the best picture
    assert app.preview.value != before_preview and app.plot.value != before_plot
    shown = Image.open(io.BytesIO(app.preview.value))
    assert shown.width == widgets.PREVIEW_WIDTH
    assert "Done: 2 iterations" in app.status.value


def test_stop_ends_the_run_within_one_iteration_and_keeps_the_best_picture(app):
    app.controls["iterations"].value = 200
    seen = previews(app)
    app.buttons["Run"].click()
    wait_until(lambda: len(seen) >= 1)
    app.buttons["Stop"].click()
    reached = len(seen)  # iterations done by now; at most one more may finish
    finish(app)
    result = app.history[0]["result"]
    assert result.history[-1]["iteration"] <= reached + 1
    assert result.stop_reason == "stopped by the callback"
    assert app.preview.value == widgets.png_bytes(result.image, widgets.PREVIEW_WIDTH)


def test_second_run_with_another_weight_reuses_the_cached_targets(app):
    app.run()
    finish(app)
    before = optimize.cache_info()
    app.controls["style_weight"].value = 3.0
    app.run()
    finish(app)
    after = optimize.cache_info()
    assert after["hits"] == before["hits"] + 1
    assert after["misses"] == before["misses"]


def test_clicking_run_twice_starts_one_run(app):
    gate = threading.Event()
    app.runner = Recorder(gate)
    app.buttons["Run"].click()
    app.buttons["Run"].click()
    assert "already going" in app.status.value
    gate.set()
    finish(app)
    assert len(app.runner.calls) == 1 and len(app.history) == 1


@pytest.mark.parametrize("warm", [True, False])
def test_a_change_during_a_run_restarts_it_warm_or_from_scratch(app, warm):
    app.runner = Recorder()
    app.warm_toggle.value = warm
    app.controls["iterations"].value = 200
    seen = previews(app)
    app.run()
    wait_until(lambda: len(seen) >= 1)
    app.controls["style_weight"].value = 7.0
    wait_until(lambda: len(app.runner.calls) == 2)
    app.stop()
    finish(app)
    first, second = app.runner.calls
    assert first["style_weight"] == STYLE_WEIGHTS[DEFAULTS["vgg16-hed"]["style_loss"]]
    assert second["style_weight"] == 7.0
    assert len(app.history) == 2
    if warm:
        np.testing.assert_array_equal(second["init"], app.history[1]["result"].image)
    else:
        assert second.get("init", "content") == "content"  # the default start
    assert app.history[0]["warm"] is warm


def test_restore_from_history_brings_back_the_settings(app):
    app.controls["style_weight"].value = 500.0
    app.controls["init"].value = "noise"
    app.layer_boxes["block1_conv1"].value = False
    app.layer_weights["block3_conv1"].value = 0.5
    app.run()
    finish(app)
    first = app.settings()
    app.controls["style_weight"].value = 1.0
    app.controls["init"].value = "content"
    app.layer_boxes["block1_conv1"].value = True
    app.run()
    finish(app)
    assert app.settings() != first

    app.strip.children[1].children[-1].click()  # the older card's Restore button
    restored = app.settings()
    assert restored.pop("style_layer_weights") == pytest.approx(first.pop("style_layer_weights"))
    assert restored == first
    assert app.preview.value == widgets.png_bytes(app.history[1]["result"].image,
                                                  widgets.PREVIEW_WIDTH)


def test_save_writes_the_picture_and_its_settings_side_by_side(app, tmp_path):
    app.buttons["Save"].click()
    assert "Nothing to save" in app.status.value
    app.controls["tv_weight"].value = 2e-4
    app.run()
    finish(app)
    app.buttons["Save"].click()
    (png,) = (tmp_path / "tuning").glob("nst-*.png")
    meta = json.loads(png.with_suffix(".json").read_text())
    assert meta["settings"]["tv_weight"] == 2e-4
    assert meta["settings"]["content"] == "chelsea"
    assert len(meta["history"]) == ITERATIONS + 1
    saved = np.asarray(Image.open(png))
    np.testing.assert_array_equal(saved, app.history[0]["result"].image)


def _code_and_cli(text: str) -> tuple[str, str]:
    code, cli_part = text.split("# The same on the command line:\n")
    return code, cli_part


@pytest.mark.parametrize("case", ["defaults", "layer weights", "two styles"])
def test_copy_as_code_reproduces_the_settings(app, monkeypatch, case):
    """The Python call and the command line each give exactly the app's settings (checked by
    the same Settings), and name bundled images by name, never by a path of this machine."""
    app.controls["style_weight"].value = 123.0
    app.controls["tv_weight"].value = 1.5e-5
    app.controls["iterations"].value = 17
    app.controls["init"].value = "style"
    if case == "layer weights":
        app.layer_weights["block2_conv1"].value = 1.6
    if case == "two styles":
        app.controls["style2"].value = "mosaic"
        app.controls["style_blend"].value = 0.3
        app.controls["preserve_color"].value = "histogram"
        app.controls["style_scale"].value = 0.75
    app.buttons["Copy as code"].click()
    settings = app.settings()
    expected = widgets.run_settings(settings)
    code, line = _code_and_cli(app.code.value)
    assert str(helpers.data.DATA_DIR) not in app.code.value

    calls = []

    class Done:
        def save(self, path):
            calls.append(("save", path))

    def fake_stylize(content, style, **kwargs):
        calls.append((content, style, kwargs))
        return Done()

    monkeypatch.setattr(helpers, "stylize", fake_stylize, raising=False)
    exec(compile(code, "<copied code>", "exec"), {})
    content, style, kwargs = calls[0]
    assert Settings(**kwargs) == expected
    assert (kwargs["style_weight"], kwargs["iterations"], kwargs["init"]) == (123.0, 17, "style")
    np.testing.assert_array_equal(content, helpers.data.default_content())
    swirls, mosaic = helpers.data.default_style(), helpers.data.second_style()
    if case == "two styles":
        assert len(style) == 2
        np.testing.assert_array_equal(style[1], mosaic)
        style = style[0]
    np.testing.assert_array_equal(style, swirls)

    (command,) = [s for s in line.strip().splitlines() if not s.startswith("#")]
    args = cli.build_parser().parse_args(shlex.split(command)[3:])
    assert Settings(**cli.settings_from_args(args)) == expected
    assert (args.content, args.style) == ("chelsea", "swirls")
    assert args.more_styles == (["mosaic"] if case == "two styles" else [])


def uploaded(name: str, content: bytes) -> tuple[dict, ...]:
    """What a FileUpload's value holds after the user picked one file."""
    return ({"name": name, "type": "image/png", "size": len(content),
             "content": memoryview(content), "last_modified": datetime.now(UTC)},)


def test_an_uploaded_image_becomes_a_choice_and_a_bad_file_a_message(app, tmp_path):
    upload = app.panel.upload_buttons["style"]
    upload.value = uploaded("notes.png", b"hello")
    assert "not an image" in app.status.value and "Traceback" not in app.status.value
    assert app.controls["style"].value == "swirls"

    buffer = io.BytesIO()
    Image.fromarray(np.full((40, 50, 3), 200, np.uint8)).save(buffer, format="png")
    upload.value = uploaded("grey.png", buffer.getvalue())
    chosen = app.controls["style"].value
    assert chosen.endswith("grey.png") and Path(chosen).is_file()
    assert Path(chosen).is_relative_to(app.uploads.folder)
    assert not Path(chosen).resolve().is_relative_to(ROOT)  # never inside the checkout
    assert chosen in [value for _, value in app.controls["content"].options]

    code, line = _code_and_cli(app.code_text())
    assert repr(chosen) in code
    args = cli.build_parser().parse_args(shlex.split(line.strip().splitlines()[-1])[3:])
    assert (args.content, args.style) == ("chelsea", chosen)


def test_bad_settings_show_one_clear_message(app):
    for box in app.layer_boxes.values():
        box.value = False
    app.run()
    assert app.wait(60)
    assert "no style layers were given" in app.status.value
    assert "Traceback" not in app.status.value and not app.history


def test_image_choices_offer_the_bundled_images_and_files_under_data(tmp_path):
    (tmp_path / "more").mkdir()
    Image.new("RGB", (8, 8)).save(tmp_path / "more" / "tiny.jpg")
    (tmp_path / "readme.txt").write_text("not an image")
    choices = widgets.image_choices(tmp_path)
    assert choices["chelsea (content)"] == "chelsea"
    assert choices["mosaic"] == "mosaic"  # bundled images by name, never a machine path
    assert choices["more/tiny.jpg"] == str(tmp_path / "more" / "tiny.jpg")
    assert not any(source.endswith(".txt") for source in choices.values())


def test_done_is_shown_before_the_run_counts_as_ended(app):
    """Once ``running`` is False a new run may start; the old one must not overwrite its
    status afterwards."""
    said: list[tuple[str, bool]] = []
    app.status.observe(lambda change: said.append((change["new"], app.running)), names="value")
    app.run()
    finish(app)
    done = [running for text, running in said if "Done:" in text]
    assert done == [True]
    assert "Done:" in app.status.value


def test_history_keeps_its_cards_and_closes_the_one_that_drops_out(app):
    app.controls["iterations"].value = 1
    for _ in range(widgets.HISTORY_LENGTH):
        app.run()
        finish(app)
    cards = list(app.strip.children)
    oldest = cards[-1]
    parts = [oldest, *oldest.children, oldest.layout, *(c.layout for c in oldest.children)]
    app.run()
    finish(app)
    assert len(app.history) == len(app.strip.children) == widgets.HISTORY_LENGTH
    assert list(app.strip.children[1:]) == cards[:-1]  # the same card objects, not rebuilt
    assert all(part.comm is None for part in parts)  # closed: the front end can let go
    app.strip.children[-1].children[-1].click()  # a reused card restores its own entry
    assert app.current is app.history[-1]


def test_chosen_layers_all_at_weight_zero_give_one_clear_message(app):
    """stylize's own refusal reaches the status line; nothing is painted or remembered."""
    for name in app.layer_weights:
        app.layer_weights[name].value = 0.0
    before = app.preview.value
    app.run()
    assert app.wait(60)
    assert "every style layer weight is 0" in app.status.value
    assert "color:#b00020" in app.status.value
    assert not app.history and app.preview.value == before


def test_run_pressed_while_the_last_run_is_stopping_says_so(app):
    gate = threading.Event()
    app.runner = Recorder(gate)
    app.buttons["Run"].click()
    app.buttons["Stop"].click()
    app.buttons["Run"].click()
    assert "still stopping" in app.status.value
    gate.set()
    finish(app)
    assert len(app.runner.calls) == 1


def test_apply_offers_an_image_file_that_no_picker_lists(app, tmp_path):
    painting = tmp_path / "elsewhere" / "painting.png"
    painting.parent.mkdir()
    Image.new("RGB", (40, 40), (200, 30, 30)).save(painting)
    settings = {**app.settings(), "style": str(painting)}
    app.apply(settings)  # e.g. settings read back from a saved JSON
    assert app.controls["style"].value == str(painting)
    assert str(painting) in [value for _, value in app.controls["content"].options]


def test_helpers_exposes_widgets_and_exercises_lazily():
    from helpers import exercises

    assert helpers.__getattr__("widgets") is widgets
    assert helpers.__getattr__("exercises") is exercises
