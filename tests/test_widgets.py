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

import ipywidgets as w
import numpy as np
import pytest
from PIL import Image

import helpers
from helpers import cli, stylizing, widgets
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
        return stylizing.stylize(content, style, **kwargs)


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
    """A list that grows by one each time the preview changes (once per iteration, and once
    for a run's first step, shown before it is evaluated)."""
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
    from helpers.report import loss_line  # the line the command line prints, too

    assert f"Loss: {loss_line(app.history[0]['result'].history[-1])}." in app.status.value


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
    n = result.history[-1]["iteration"]
    said = app.status.value
    assert f"Stopped after {n} iteration{'' if n == 1 else 's'} (" in said, said
    assert "callback" not in said
    assert app.preview.value == widgets.png_bytes(result.image, widgets.PREVIEW_WIDTH)


def test_second_run_with_another_weight_reuses_the_cached_targets(app):
    app.run()
    finish(app)
    before = stylizing.cache_info()
    app.controls["style_weight"].value = 3.0
    app.run()
    finish(app)
    after = stylizing.cache_info()
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


# -- issue 31: uploads, Save, text settings ---------------------------------------------------

def png_of(colour, shape=(40, 50)) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.full((*shape, 3), colour, np.uint8)).save(buffer, format="png")
    return buffer.getvalue()


def status_text(app) -> str:
    """The status line as the user reads it (one line, no markup)."""
    import re
    from html import unescape

    return unescape(re.sub(r"<[^>]+>", "", app.status.value))


def one_line_error(app) -> str:
    text = status_text(app)
    assert "color:#b00020" in app.status.value and "\n" not in text, text
    assert "Traceback" not in text
    return text


def test_a_rejected_upload_named_like_a_good_one_keeps_the_good_file(app):
    upload = app.panel.upload_buttons["style"]
    upload.value = uploaded("painting.png", png_of(90))
    good = Path(app.controls["style"].value)
    before = good.read_bytes()
    upload.value = uploaded("painting.png", b"not a picture")
    assert "not an image" in one_line_error(app)
    assert app.controls["style"].value == str(good) and good.read_bytes() == before
    assert app.uploads.files() == [good]


def test_uploads_live_in_a_temporary_folder_of_the_session_outside_the_checkout(tmp_path):
    import tempfile

    first, second = make_app(tmp_path), make_app(tmp_path)
    for one in (first, second):
        one.panel.upload_buttons["content"].value = uploaded("photo.png", png_of(30))
    a, b = (Path(one.controls["content"].value) for one in (first, second))
    assert a != b and a.read_bytes() == b.read_bytes()  # each session its own folder
    for path in (a, b):
        assert path.is_relative_to(Path(tempfile.gettempdir()).resolve()) or \
            path.is_relative_to(Path(tempfile.gettempdir()))
        assert not path.resolve().is_relative_to(ROOT)
    assert not (tmp_path / "tuning" / "uploads").exists()


def test_uploads_with_one_name_never_replace_each_other(app):
    upload = app.panel.upload_buttons["content"]
    upload.value = uploaded("photo.png", png_of(10))
    first = Path(app.controls["content"].value)
    upload.value = uploaded("photo.png", png_of(200))
    second = Path(app.controls["content"].value)
    assert first != second and first.name == second.name == "photo.png"
    assert first.read_bytes() == png_of(10) and second.read_bytes() == png_of(200)
    labels = {label for label, value in app.controls["style"].options
              if value in (str(first), str(second))}
    assert labels == {"upload: photo.png", "upload: photo.png (2)"}
    upload.value = uploaded("photo.png", png_of(200))  # the same bytes again: the same file
    assert Path(app.controls["content"].value) == second and len(app.uploads.files()) == 2


def test_uploads_are_written_with_the_atomic_writer(app, monkeypatch):
    from helpers import files

    written = []
    real = files.write_bytes
    monkeypatch.setattr(files, "write_bytes", lambda path, data: written.append(path)
                        or real(path, data))
    app.panel.upload_buttons["style"].value = uploaded("grey.png", png_of(128))
    assert written == [Path(app.controls["style"].value)]


@pytest.mark.parametrize("name, kept", [("../x.png", "x.png"), ("a/b.png", "b.png"),
                                        ("..\\win.png", "win.png"), ("café 猫.png", "café 猫.png")])
def test_a_path_like_upload_name_keeps_only_its_last_part(app, name, kept):
    app.panel.upload_buttons["style"].value = uploaded(name, png_of(60))
    path = Path(app.controls["style"].value)
    assert path.name == kept and path.parent.parent == app.uploads.folder
    text = status_text(app)
    assert text.startswith(f"Using {kept}") and "\n" not in text


@pytest.mark.parametrize("name, says", [("x" * 300 + ".png", "too long"),
                                        ("a\0b.png", "NUL"), ("", "not a file name"),
                                        ("..", "not a file name"), ("dir/", "not a file name")])
def test_an_unusable_upload_name_is_one_line_and_nothing_is_kept(app, name, says):
    app.panel.upload_buttons["style"].value = uploaded(name, png_of(60))
    assert says in one_line_error(app)
    assert app.controls["style"].value == "swirls" and app.uploads.files() == []
    assert not any(app.uploads.folder.iterdir()) if app.uploads.folder.exists() else True


def test_save_goes_through_the_output_guard_and_never_over_an_input(app, tmp_path, monkeypatch):
    from helpers import files

    app.panel.upload_buttons["content"].value = uploaded("me.png", png_of(70))
    photo = Path(app.controls["content"].value)
    app.run()
    finish(app)
    checked = []
    real = files.check_output
    monkeypatch.setattr(files, "check_output", lambda path, inputs=(), what="-o": checked.append(
        (Path(path), [Path(i) for i in inputs])) or real(path, inputs, what))
    for name in (str(photo), str(helpers.data.SWIRLS_FILE)):
        before = Path(name).read_bytes()
        assert app.save(name=name) is None
        assert "would overwrite the input" in one_line_error(app)
        assert Path(name).read_bytes() == before
    assert photo in checked[0][1] and helpers.data.SWIRLS_FILE in checked[-1][1]
    out = app.save(name="mine")  # no suffix: a PNG, said on the status
    assert out == tmp_path / "tuning" / "mine.png" and out.with_suffix(".json").is_file()
    assert "Saved" in status_text(app) and "mine.png" in status_text(app)
    before = out.read_bytes()
    assert app.save(name="mine.png") is None and "already exists" in one_line_error(app)
    assert out.read_bytes() == before


def test_save_writes_atomically_and_a_failed_write_leaves_nothing(app, tmp_path, monkeypatch):
    app.run()
    finish(app)

    def full_disk(self, fp, *args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Image.Image, "save", full_disk)
    assert app.save(name="full.png") is None
    assert "No space left" in one_line_error(app)
    assert list((tmp_path / "tuning").iterdir()) == []  # no half file, no temporary file


def test_save_picks_a_new_name_each_time(app, tmp_path):
    app.run()
    finish(app)
    saved = [app.save() for _ in range(3)]
    assert len(set(saved)) == 3 and all(p.is_file() for p in saved)
    saved[0].unlink()  # a gap in the numbers must not make the next Save reuse a name
    newest = saved[-1].read_bytes()
    assert app.save() not in saved[1:] and saved[-1].read_bytes() == newest


def test_text_settings_are_read_by_parse_value(app, monkeypatch):
    from helpers.app import controls

    seen = []
    real = controls.parse_value
    monkeypatch.setattr(controls, "parse_value", lambda name, text, sep=",": seen.append(name)
                        or real(name, text, sep))
    app.apply({"style_weight": "1e3", "iterations": "7", "balance_style_layers": "true",
               "style_layers": "block1_conv1,block3_conv1", "render_size": "640",
               "style_blend": "0.25", "pyramid_levels": "2", "content": "chelsea"})
    c = app.controls
    assert (c["style_weight"].value, c["iterations"].value, c["render_size"].value) == \
        (1000.0, 7, 640)
    assert c["balance_style_layers"].value is True and c["pyramid_levels"].value == 2
    assert c["style_blend"].value == 0.25
    assert [n for n, box in app.layer_boxes.items() if box.value] == ["block1_conv1",
                                                                     "block3_conv1"]
    assert set(seen) == {"style_weight", "iterations", "balance_style_layers", "style_layers",
                         "size", "style_scale", "pyramid_levels"}


def test_text_that_is_no_value_is_one_line_and_moves_no_control(app):
    before = app.settings()
    app.apply({"style_weight": "banana", "iterations": "5"})
    assert "style_weight must be a number, not 'banana'" in one_line_error(app)
    assert app.settings() == before
    app.apply({"style_blend": "half"})
    assert "style_blend must be a number" in one_line_error(app)


def test_a_value_beyond_its_slider_is_said(app):
    app.apply({"style_weight": 1e7})
    assert app.controls["style_weight"].value == pytest.approx(1e5)
    assert status_text(app) == "Style weight 1e+07 is beyond its slider: set to 100000."


def test_every_control_opens_at_the_backbones_default(app):
    defaults = DEFAULTS["vgg16-hed"]
    c = app.controls
    assert c["style_weight"].value == pytest.approx(STYLE_WEIGHTS[defaults["style_loss"]])
    assert c["content_weight"].value == pytest.approx(defaults["content_weight"])
    assert c["tv_weight"].value == pytest.approx(defaults["tv_weight"])
    assert c["style_scale"].value == defaults["style_scale"]
    assert c["pyramid_levels"].value == defaults["pyramid_levels"]
    assert (c["pooling"].value, c["content_layer"].value) == (defaults["pooling"],
                                                              defaults["content_layer"])
    assert [n for n, box in app.layer_boxes.items() if box.value] == \
        list(defaults["style_layers"])
    assert all(s.value == 1.0 for s in app.layer_weights.values())


def tab_named(app: widgets.TuningApp, title: str) -> w.Widget:
    """The page of the app's control tabs called ``title``."""
    todo = [app]
    while todo:
        widget = todo.pop()
        if isinstance(widget, w.Tab):
            return widget.children[list(widget.titles).index(title)]
        todo += list(getattr(widget, "children", ()))
    raise AssertionError("no tabs")


def test_the_start_sits_beside_the_weights_says_what_it_decides_and_runs(app):
    """Issue 33 item 4: the start image is chosen beside the weights (the default start
    named as such), the help says the start decides the colours and the weights the marks and
    structure, and the status names the start that runs."""
    weights = tab_named(app, "Weights")
    start = app.controls["init"]
    assert start in weights.children
    assert weights.children.index(start) == weights.children.index(app.controls["tv_weight"]) + 1
    help_text = weights.children[-1].value
    assert "start decides the colours" in help_text and "marks and the structure" in help_text
    labels = dict((value, label) for label, value in start.options)
    assert start.value == Settings.init and labels[Settings.init].endswith("(default)")
    assert labels["content"] == "photo as it is" and start.options[0][1] == Settings.init
    said = []
    app.status.observe(lambda change: said.append(change["new"]), names="value")
    app.runner = Recorder()
    start.value = "content"
    app.run()
    finish(app)
    assert app.runner.calls[0]["init"] == "content"
    assert any("from the photo as it is" in line for line in said), said
    assert "init='content'" in app.code_text() and "--init content" in app.code_text()


def test_the_first_step_is_shown_before_it_is_evaluated(app):
    """The preview changes before iteration 1's callback: stylize's ``preview`` shows the
    first step L-BFGS-B tries; its picture is what iteration 1 then shows."""
    shown, steps = [], []
    app.preview.observe(lambda change: shown.append((len(steps), change["new"])), names="value")
    real = stylizing.stylize

    def counted(content, style, callback, **kwargs):
        return real(content, style, callback=lambda s: steps.append(s) or callback(s),
                    **kwargs)

    app.runner = counted
    app.run()
    finish(app)
    assert shown[0][0] == 0  # on show before the first iteration ended
    first = widgets.png_bytes(steps[0]["image"], widgets.PREVIEW_WIDTH)
    if app.history[0]["result"].history[1]["evaluations"] == 2:  # the first try was taken
        assert shown[0][1] == first


def test_the_pyramid_levels_reach_the_run_and_the_copied_code(app):
    app.runner = Recorder()
    app.controls["pyramid_levels"].value = 2
    app.run()
    finish(app)
    assert app.runner.calls[0]["pyramid_levels"] == 2
    assert "pyramid_levels=2" in app.code_text() and "--pyramid-levels 2" in app.code_text()


def test_layer_names_are_known_without_building_a_network(tmp_path, monkeypatch):
    """The app lists the backbone's own table (tests/test_backbone.py compares it with the
    network's layers)."""
    from helpers import backbone, backbones

    monkeypatch.setattr(backbone, "load_backbone", lambda *a, **k: pytest.fail("built one"))
    app = make_app(tmp_path)
    assert list(app.controls["content_layer"].options) == list(backbones.layer_names("vgg16-hed"))
    assert list(app.layer_boxes) == [n for n in backbones.layer_names("vgg16-hed")
                                     if n.endswith("_conv1")]


def test_the_default_layer_weights_are_the_backbones_own():
    """A slider at 1 gives its layer's default weight, from the channels of the backbone the
    app runs (4 / C² for the Gram loss), not VGG's."""
    from helpers import backbones
    from helpers.app.controls import Controls

    class Toy:
        NAME, TAKES_WEIGHTS = "toy-app", False
        DEFAULTS = {**backbones.DEFAULTS["vgg19"], "style_loss": "gram"}
        LAYERS = backbones.layer_names("vgg19")

        @staticmethod
        def channels(layer):
            return 2

    backbones.register(Toy)
    try:
        panel = Controls("toy-app", SIZE, 128, ITERATIONS)
        assert panel.base_weights(["block1_conv1", "block5_conv1"]) == (1.0, 1.0)  # 4 / 2²
    finally:
        backbones.unregister("toy-app")


def test_an_upload_for_one_picker_leaves_the_others_choice(app):
    """Adding an option to a Dropdown resets it to its first option unless it is put back:
    an uploaded photo once turned the chosen painting back into the cat."""
    app.controls["style2"].value = "mosaic"
    app.panel.upload_buttons["style"].value = uploaded("painting.png", png_of(90))
    painting = app.controls["style"].value
    app.panel.upload_buttons["content"].value = uploaded("photo.png", png_of(30))
    assert app.controls["style"].value == painting and app.controls["style2"].value == "mosaic"
    assert app.controls["content"].value.endswith("photo.png")


def test_a_saved_json_applies_back_onto_a_new_app(app, tmp_path):
    """Settings read back from Save's JSON (as the sweeps' live grid loads them): every value
    the run recorded is taken, nothing refused."""
    app.controls["style_weight"].value = 321.0
    app.controls["pyramid_levels"].value = 3
    app.layer_boxes["block2_conv1"].value = False
    app.run()
    finish(app)
    shown = app.settings()
    saved = json.loads(app.save().with_suffix(".json").read_text())["settings"]
    fresh = make_app(tmp_path / "fresh")
    fresh.apply(saved)
    assert "color:#b00020" not in fresh.status.value, fresh.status.value
    again = fresh.settings()
    assert again.pop("style_layer_weights") == pytest.approx(shown.pop("style_layer_weights"))
    assert again == shown


def test_a_runs_recorded_settings_load_with_its_images(app):
    """What the sweeps' live grid calls: a Result's settings and the run's images."""
    app.load_run({"style_weight": 55.0, "size": 96, "style_layers": ["block1_conv1"],
                  "backbone": "vgg16-hed"}, "chelsea", "mosaic")
    shown = app.settings()
    assert "color:#b00020" not in app.status.value, app.status.value
    assert (shown["style_weight"], shown["size"], shown["style"]) == (55.0, 96, "mosaic")
    assert shown["style_layers"] == ["block1_conv1"]


def test_the_app_shows_without_loading_tensorflow(tmp_path):
    """The page's panel is built from the settings tables alone (TensorFlow takes 10-20 s to
    load: it loads at the first run, or in the background with warm_up)."""
    import os
    import subprocess
    import sys

    code = ("import sys; from helpers import widgets; "
            "app = widgets.tuning_app(backbone='vgg16-hed', folder=sys.argv[1]); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True,
                         text=True, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_run_settings_read_text_values_with_parse_value():
    ran = widgets.run_settings({"content": "chelsea", "style": "swirls", "style2": "mosaic",
                                "style_blend": "0.25", "style_weight": "30",
                                "iterations": "3", "style_layers": "block1_conv1"})
    assert (ran.style_blend_weights, ran.style_weight, ran.iterations) == ((0.75, 0.25), 30.0, 3)
    assert ran.style_layers == ("block1_conv1",)
    with pytest.raises(helpers.StyleTransferError, match="style_blend must be a number"):
        widgets.run_settings({"content": "chelsea", "style": "swirls", "style2": "mosaic",
                              "style_blend": "half"})


def test_the_app_notebook_only_builds_the_app_and_is_stored_clean():
    """What `make app` serves: a one-paragraph intro pointing to notebook 06, then the app
    (no demo cells that would move a slider before the page shows)."""
    import nbformat

    nb = nbformat.read(ROOT / "notebooks" / "app.ipynb", as_version=4)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert len(markdown) == 1 and "notebook 06" in markdown[0] and len(markdown[0]) < 400
    assert len(code) == 1 and not code[0].outputs and not code[0].execution_count
    lines = [line for line in code[0].source.splitlines() if line and not line.startswith("#")]
    assert lines[-1] == "widgets.tuning_app()" and ".value" not in code[0].source
    assert "notebooks/app.ipynb" in (ROOT / "Makefile").read_text()
