"""The tuning app attacked as a hostile (or unlucky) user would: odd uploads, odd Save names,
buttons pressed at the wrong moment, text that is no value. Each case asserts one clear status
line (no traceback), no hang (every wait bounded), and that no input file changed (the
bundled images and every upload hashed before and after).

Runs are real (offline backbone, 64 px, 2 iterations) unless a case needs a run held open,
where the runner is wrapped, never replaced.
"""

from __future__ import annotations

import hashlib
import io
import re
import struct
import threading
import zlib
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import stylizing, widgets
from helpers.app import view

SIZE, ITERATIONS = 64, 2


@pytest.fixture(autouse=True)
def quick_loss_plot(monkeypatch):
    """A tiny stand-in for the matplotlib loss plot (0.3 s a draw; tests/test_widgets.py draws
    the real one)."""
    monkeypatch.setattr(view, "loss_plot_png", lambda history, size=None: view.png_bytes(
        np.full((1, 1 + len(history), 3), 255, np.uint8)))


@pytest.fixture
def app(tmp_path):
    app = widgets.tuning_app(backbone="vgg16-hed", preview_size=SIZE, iterations=ITERATIONS,
                             folder=tmp_path / "saves", uploads=tmp_path / "uploads")
    (tmp_path / "uploads").mkdir()
    before = hashes(app)
    yield app
    app.stop()
    assert app.wait(120), "a run did not end within 2 minutes"
    after = hashes(app)
    assert {k: after.get(k) for k in before} == before, "an input file changed or vanished"


def hashes(app) -> dict[str, str]:
    """SHA-256 of every file the app reads: the bundled images and the uploads so far."""
    paths = [*widgets.bundled_files(), *app.uploads.files()]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in paths if p.is_file()}


def uploaded(name, content: bytes) -> tuple[dict, ...]:
    item = {"type": "image/png", "size": len(content), "content": memoryview(content),
            "last_modified": datetime.now(UTC)}
    if name is not None:
        item["name"] = name
    return (item,)


def png_of(colour=120, shape=(40, 50), mode_array=None) -> bytes:
    buffer = io.BytesIO()
    array = mode_array if mode_array is not None else np.full((*shape, 3), colour, np.uint8)
    Image.fromarray(array).save(buffer, format="png")
    return buffer.getvalue()


def huge_png_header(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` pixels (a decompression bomb's
    first bytes): Pillow reads the size without decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def status(app) -> str:
    return unescape(re.sub(r"<[^>]+>", "", app.status.value))


def error_line(app) -> str:
    text = status(app)
    assert "color:#b00020" in app.status.value, text
    assert "\n" not in text and "Traceback" not in text and len(text) < 400, text
    return text


def upload(app, name, content, key="style"):
    app.panel.upload_buttons[key].value = uploaded(name, content)


def finish(app) -> None:
    assert app.wait(120), "the run did not end within 2 minutes"


# -- uploads ------------------------------------------------------------------------------

@pytest.mark.parametrize("name, content, says", [
    ("empty.png", b"", "the file is empty"),
    ("notes.png", b"just some text, not a picture", "not an image"),
    ("bomb.png", huge_png_header(30_000, 30_000), "too large to load safely"),
    ("cut.png", png_of(shape=(200, 200))[:300], "it"),
    ("big.png", b"\0" * (51 * 2**20), "at most 50 MB"),
    ("   ", png_of(), "not a file name"),
])
def test_a_bad_upload_is_one_line_and_keeps_nothing(app, name, content, says):
    upload(app, name, content)
    assert says in error_line(app)
    assert app.controls["style"].value == "swirls" and app.uploads.files() == []
    assert list(app.uploads.folder.iterdir()) == []  # its own sub-folder removed


def test_a_bad_upload_after_good_ones_leaves_them_and_the_choice(app):
    upload(app, "a.png", png_of(10))
    upload(app, "b.png", png_of(20), key="content")
    chosen = (app.controls["style"].value, app.controls["content"].value)
    for bad in (b"", b"junk", huge_png_header(20_000, 20_000)):
        upload(app, "a.png", bad)
        error_line(app)
        upload(app, "b.png", bad, key="content")
        error_line(app)
    assert (app.controls["style"].value, app.controls["content"].value) == chosen
    assert [Path(p).read_bytes() for p in chosen] == [png_of(10), png_of(20)]


@pytest.mark.parametrize("name", ["🎨 peinture é.png", "a\nb.png", "-rf.png", "$(touch x).png",
                                  "photo.PNG", ".hidden.png"])
def test_an_odd_but_usable_upload_name_works_and_copies_as_code(app, name):
    upload(app, name, png_of(77))
    path = Path(app.controls["style"].value)
    assert path.is_file() and path.read_bytes() == png_of(77)
    assert path.parent.parent == app.uploads.folder
    assert "\n" not in status(app) and status(app).startswith("Using ")
    code = app.code_text()
    assert repr(str(path)) in code and "temporary folder" in code


def test_greyscale_rgba_16_bit_and_animated_uploads_are_taken(app):
    grey = np.linspace(0, 255, 48 * 64, dtype=np.uint8).reshape(48, 64)
    rgba = np.dstack([np.full((30, 30, 3), 90, np.uint8), np.full((30, 30), 128, np.uint8)])
    deep = (np.arange(40 * 40, dtype=np.uint16).reshape(40, 40) * 40)
    gif = io.BytesIO()
    frames = [Image.new("RGB", (32, 32), c) for c in ("red", "blue")]
    frames[0].save(gif, format="gif", save_all=True, append_images=frames[1:])
    for name, content in (("grey.png", png_of(mode_array=grey)), ("rgba.png", png_of(
            mode_array=rgba)), ("deep.png", png_of(mode_array=deep)), ("anim.gif",
                                                                         gif.getvalue())):
        upload(app, name, content)
        assert status(app).startswith(f"Using {name}"), status(app)
    assert len(app.uploads.files()) == 4


def test_one_upload_as_photo_and_painting_then_a_run(app):
    upload(app, "same.png", png_of(shape=(80, 96), colour=140), key="content")
    upload(app, "same.png", png_of(shape=(80, 96), colour=140), key="style")
    assert app.controls["content"].value == app.controls["style"].value
    assert len(app.uploads.files()) == 1
    app.run()
    finish(app)
    assert status(app).startswith("Done"), status(app)  # a flat grey pair: nothing to lower


def test_a_strip_too_thin_to_paint_fails_in_one_line_at_run(app):
    upload(app, "strip.png", png_of(shape=(2, 400)), key="content")
    app.run()
    finish(app)
    assert "px" in error_line(app) and not app.history


def test_an_upload_deleted_from_disk_before_run_is_one_line(app):
    upload(app, "gone.png", png_of(33), key="content")
    Path(app.controls["content"].value).unlink()
    app.run()
    finish(app)
    assert "not found" in error_line(app) and not app.history


def test_an_upload_during_a_run_changes_nothing_that_runs(app):
    gate = threading.Event()
    real = stylizing.stylize

    def held(content, style, **kwargs):
        assert gate.wait(60)
        return real(content, style, **kwargs)

    app.runner = held
    app.run()
    upload(app, "mid.png", png_of(55))
    gate.set()
    finish(app)
    assert len(app.history) >= 1 and "Traceback" not in status(app)


# -- buttons at the wrong moment ---------------------------------------------------------

def test_stop_while_the_targets_build_stops_after_the_first_iteration(app):
    building = threading.Event()
    release = threading.Event()
    real = stylizing.stylize

    def slow_targets(content, style, **kwargs):
        building.set()
        assert release.wait(60)  # the targets "building": no iteration yet
        return real(content, style, **kwargs)

    app.runner = slow_targets
    app.controls["iterations"].value = 50
    app.run()
    assert building.wait(60)
    app.buttons["Stop"].click()
    assert status(app) == "Stopping: the run ends after its current iteration."
    release.set()
    finish(app)
    assert status(app).startswith("Stopped after 1 iteration ("), status(app)
    assert app.history[0]["result"].history[-1]["iteration"] == 1


def test_stop_run_render_and_restore_pressed_out_of_turn(app):
    app.buttons["Stop"].click()
    assert status(app) == "Nothing to stop: no run is going."
    gate = threading.Event()
    real = stylizing.stylize
    app.runner = lambda c, s, **k: gate.wait(60) and real(c, s, **k)
    app.buttons["Run"].click()
    app.buttons["Render"].click()
    assert status(app) == "A run is already going: press Stop first."
    app.buttons["Run"].click()
    assert status(app) == "A run is already going: press Stop first."
    gate.set()
    finish(app)
    assert len(app.history) == 1
    app.controls["iterations"].value = 40
    gate.clear()
    app.run()
    app.restore(0)  # a restore during a run: the run restarts with the restored settings
    gate.set()
    app.stop()
    finish(app)
    assert "Traceback" not in status(app) and len(app.history) >= 2


# -- Save to odd names -------------------------------------------------------------------

@pytest.fixture
def painted(app):
    app.run()
    finish(app)
    return app


@pytest.mark.parametrize("name, says", [
    ("/dev/null", "not a file"),
    ("a\0b.png", "NUL"),
    ("n" * 300 + ".png", "too long"),
    ("notes.txt", "not an image name"),
    ("meta.json", "not an image name"),
    ("/", "folder"),
])
def test_save_to_an_odd_name_is_one_line_and_writes_nothing(painted, tmp_path, name, says):
    assert painted.save(name=name) is None
    assert says in error_line(painted)
    saves = tmp_path / "saves"
    assert not saves.exists() or list(saves.iterdir()) == []


def test_save_over_an_input_a_folder_or_an_earlier_save_is_refused(painted, tmp_path):
    upload(painted, "mine.png", png_of(44), key="content")
    for name in (painted.controls["content"].value, str(widgets.bundled_files()[0])):
        assert painted.save(name=name) is None
        assert "would overwrite the input" in error_line(painted)
    (tmp_path / "saves" / "taken").mkdir(parents=True)
    assert painted.save(name="taken") is None  # a folder, though taken.png is free
    assert "is a folder" in error_line(painted)
    first = painted.save(name="keep.png")
    assert first is not None
    before = first.read_bytes()
    assert painted.save(name="keep.png") is None and "already exists" in error_line(painted)
    assert first.read_bytes() == before
    (tmp_path / "saves" / "other.json").write_text("{}")  # the JSON's name is taken
    assert painted.save(name="other.png") is None and "already exists" in error_line(painted)
    assert (tmp_path / "saves" / "other.json").read_text() == "{}"


def test_save_to_unicode_and_nested_names_and_into_a_file(painted, tmp_path):
    for name in ("ünï 猫.png", "sub/dir/x.jpg", "x.PNG"):
        out = painted.save(name=name)
        assert out is not None and out.is_file() and out.with_suffix(".json").is_file(), \
            status(painted)
    (tmp_path / "a file").write_text("not a folder")
    assert painted.save(folder=tmp_path / "a file" / "inside") is None
    assert "is a file, not a folder" in error_line(painted)
    assert (tmp_path / "a file").read_text() == "not a folder"


# -- text that is no value ---------------------------------------------------------------

@pytest.mark.parametrize("settings, says", [
    ({"iterations": "1e9"}, "iterations must be a whole number"),
    ({"style_layers": ",,,"}, "style_layers has no values"),
    ({"init": "banana"}, "init cannot be 'banana'"),
    ({"balance_style_layers": "maybe"}, "balance_style_layers must be true or false"),
    ({"content_weight": "nan"}, "content_weight must be a finite number, not 'nan'"),
    ({"style_blend": "inf"}, "style_blend must be a finite number"),
])
def test_text_that_is_no_value_is_one_line(app, settings, says):
    before = app.settings()
    app.apply(settings)
    text = status(app)
    assert says in text and "Traceback" not in text and "\n" not in text, text
    if "color:#b00020" in app.status.value:
        assert app.settings() == before


def test_a_run_that_started_from_an_image_file_loads_with_the_start_left_and_said(app):
    """A CLI run's JSON with ``--init photo.png`` records init "image", which the start
    control cannot offer: every other setting is applied, the start stays, one line says so."""
    app.controls["init"].value = "content"
    app.load_run({"init": "image", "style_weight": 7.0, "iterations": 3}, "chelsea", "mosaic")
    assert (app.controls["style_weight"].value, app.controls["iterations"].value) == (7.0, 3)
    assert app.controls["init"].value == "content" and app.controls["style"].value == "mosaic"
    text = status(app)
    assert "color:#b00020" not in app.status.value and "\n" not in text
    assert text == ("The run started from an image file, which the app does not offer: start "
                    "from stays photo as it is."), text
