"""The ex07 target without its settings in the package (issue #32, item 2): the instructor's
folder keeps look_target.json, students get pictures, the practice check compares with the
picture beside the notebook, and everything that cannot be used is one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.errors import StyleTransferError
from helpers.exercises.instructor import LOOK_PICTURES, LOOK_TARGET_FILE, look_target

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "exercises"
PASSES = {"style_weight": 150.0, "style_layers": [f"block{b}_conv1" for b in (1, 2, 3)]}


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "helpers", "exercises", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})


@pytest.mark.parametrize("text,fragment", [
    (None, "not found: the ex07 target's settings are kept"),
    ("{", "is not JSON"),
    ("[300]", "must hold a JSON object"),
    ("{}", "must hold a JSON object"),
    ('{"style_wieght": 3}', "unknown setting 'style_wieght'"),
    ('{"style_weight": "lots"}', "style_weight must be a number"),
    ('{"style_layers": 5}', "style_layers must be a list of layer names"),
    (b"\xff\xfe{}", "is not JSON"),
])
def test_target_settings_that_cannot_be_used_are_one_line(tmp_path, text, fragment):
    if isinstance(text, bytes):
        (tmp_path / "look_target.json").write_bytes(text)
    elif text is not None:
        (tmp_path / "look_target.json").write_text(text)
    with pytest.raises(StyleTransferError, match=fragment):
        look_target(tmp_path)


def test_target_settings_that_are_a_pipe_are_refused_without_hanging(tmp_path):
    os.mkfifo(tmp_path / "look_target.json")
    with pytest.raises(StyleTransferError, match="pipe"):
        look_target(tmp_path)


def test_student_versions_with_unusable_target_settings_write_nothing(tmp_path):
    source = tmp_path / "mine"
    source.mkdir()
    shutil.copy(SOURCE / "ex07_match_the_look.ipynb", source)
    (source / "look_target.json").write_text('{"style_weight": [1, 2]}')
    proc = cli("--student", str(tmp_path / "out"), "--source", str(source))
    assert proc.returncode == 2 and "style_weight must be a number" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_a_picture_that_would_replace_the_settings_is_refused_before_writing(tmp_path):
    source = tmp_path / "mine"
    source.mkdir()
    shutil.copy(SOURCE / "ex07_match_the_look.ipynb", source)
    shutil.copy(SOURCE / LOOK_TARGET_FILE, source)
    before = (source / LOOK_TARGET_FILE).read_bytes()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "look_target.png").symlink_to(source / LOOK_TARGET_FILE)
    proc = cli("--student", str(tmp_path / "out"), "--source", str(source))
    assert proc.returncode == 2 and "would overwrite the input" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert (source / LOOK_TARGET_FILE).read_bytes() == before
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["look_target.png"]


def test_the_checkouts_settings_are_read_from_the_instructors_folder():
    settings = look_target(SOURCE)
    assert set(settings) <= {"content_weight", "style_weight", "tv_weight", "content_layer",
                             "style_layers", "style_layer_weights"} and settings


def test_student_versions_of_ex07_without_its_settings_are_refused_before_writing(tmp_path):
    source = tmp_path / "mine"
    source.mkdir()
    shutil.copy(SOURCE / "ex07_match_the_look.ipynb", source)
    proc = cli("--student", str(tmp_path / "out"), "--source", str(source))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ex07_match_the_look.ipynb needs")
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


@pytest.mark.slow  # two paintings and the distances: about 25 s on 2 busy cores
def test_the_practice_check_compares_with_the_picture_beside_the_notebook(
        tmp_path, monkeypatch, capsys):
    from helpers import exercises as ex
    from helpers.exercises.ex07_match_the_look import look_paint, look_picture
    from helpers.images import save_image

    monkeypatch.setenv("NST_FAST", "1")
    monkeypatch.chdir(tmp_path)
    from helpers.exercises import ex07_match_the_look

    # a student's install: no checkout around the package
    monkeypatch.setattr(ex07_match_the_look, "checkout_source", lambda: None)
    with pytest.raises(ex.CheckFailed, match="put the picture handed out with this notebook"):
        ex.check("look", PASSES)
    with pytest.raises(StyleTransferError, match="look_target_fast.png is not in"):
        look_picture()
    save_image(look_paint(look_target(SOURCE), fast=True), tmp_path / LOOK_PICTURES[True])
    ex.check("look", PASSES)
    assert capsys.readouterr().out.startswith("✓ look:")
    with pytest.raises(ex.CheckFailed, match="not there yet"):
        ex.check("look", {"style_weight": 30.0})
    monkeypatch.setenv("NST_FAST", "0")  # the full-size picture is not there
    with pytest.raises(StyleTransferError, match="look_target.png is not in"):
        look_picture()
    shutil.copy(tmp_path / LOOK_PICTURES[True], tmp_path / LOOK_PICTURES[False])
    with pytest.raises(StyleTransferError, match="64 px, not the 160 px"):
        look_picture()


@pytest.mark.slow
def test_make_student_paints_both_pictures_from_the_settings(tmp_path):
    from helpers.images import load_image

    proc = cli("--student", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert "Painted the ex07 target: look_target.png, look_target_fast.png" in proc.stdout
    sizes = {name: max(load_image(tmp_path / "out" / name).shape[:2])
             for name in LOOK_PICTURES.values()}
    assert sizes == {"look_target.png": 160, "look_target_fast.png": 64}
    assert not list((tmp_path / "out").glob("*.json"))
