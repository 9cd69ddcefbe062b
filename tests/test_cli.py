"""python -m helpers: bad input gives one line and exit status 2, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from helpers import cli
from helpers.images import load_image, save_image


def run_cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    """The CLI in a fresh process, as a user runs it (TensorFlow's C++ logging as it is)."""
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([sys.executable, "-m", "helpers", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd, env=env)


def main_here(capsys, *args: str) -> subprocess.CompletedProcess:
    """``cli.main(args)`` in this process, as a CompletedProcess: for the many bad-input cases
    that end before TensorFlow loads (a fresh process costs ~0.4 s of imports each; the
    fresh-process tests below run such cases as a user does). argparse's exit is the status;
    a warning would be a second line on a user's terminal, so none may be raised."""
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            status = cli.main(list(args))
        except SystemExit as exc:  # argparse's own exit
            status = exc.code
    shown = [w for w in caught if not issubclass(w.category, (DeprecationWarning,
                                                             PendingDeprecationWarning))]
    assert not shown, [str(w.message) for w in shown]
    out = capsys.readouterr()
    return subprocess.CompletedProcess(args, status, out.out, out.err)


@pytest.fixture
def pair(tmp_path, photo, painting):
    return str(save_image(photo, tmp_path / "c.png")), str(save_image(painting, tmp_path / "s.png"))


def assert_one_clear_line(proc: subprocess.CompletedProcess, *fragments: str) -> None:
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_help_explains_every_flag_with_its_default():
    proc = run_cli("stylize", "--help")
    assert proc.returncode == 0
    for flag in ("--size", "--iterations", "--content-weight", "--style-weight", "--tv-weight",
                 "--style-layers", "--content-layer", "--backbone", "--pooling", "--init",
                 "--seed", "--checkpoint-every", "--resume", "-o"):
        assert flag in proc.stdout
    assert "(default: 384)" in proc.stdout and "(default: auto)" in proc.stdout


@pytest.mark.parametrize(
    "args,fragments",
    [
        (["missing.jpg", "{style}"], ["image file not found: missing.jpg"]),
        (["{notimage}", "{style}"], ["not an image"]),
        (["{content}", "{style}", "-o", "{blocker}/out.png"], ["is a file, not a folder"]),
        (["{content}", "{style}", "--style-weight", "-1"], ["--style-weight", ">= 0"]),
        (["{content}", "{style}", "--content-weight", "nan"], ["--content-weight", "finite"]),
        (["{content}", "{style}", "--size", "0"], ["--size", "size must be a whole number >= 1"]),
        (["{content}", "{style}", "--size", "abc"], ["--size", "must be a whole number, not"]),
        (["{content}"], ["both CONTENT and STYLE"]),
        (["{content}", "{style}", "--backbone", "resnet"], ["--backbone", "invalid choice"]),
        (["{content}", "{style}", "-o", "{tmp}/out.gif"], ["endings .png, .jpg"]),
        (["{content}", "{style}", "--preserve-color", "sepia"], ["--preserve-color",
                                                                "invalid choice"]),
        (["{content}", "{style}", "--style-loss", "l1"], ["--style-loss", "invalid choice"]),
        (["{content}", "{style}", "--style-blend-weights", "1,x"], ["must be a number"]),
        (["{content}", "{style}", "--style", "missing.png"], ["image file not found"]),
        (["{content}", "{style}", "--mask", "{notimage}"], ["not an image"]),
        (["{content}", "--style", "{style}"], ["both CONTENT and STYLE"]),
        (["{content}", "{style}", "--scales", "0"], ["--scales", "from 1 to 6"]),
        (["{content}", "{style}", "--seed", "-1"], ["--seed", "whole number >= 0"]),
        (["{content}", "{style}", "--checkpoint-every", "-2"], ["--checkpoint-every",
                                                               "whole number >= 0"]),
        (["{tmp}", "{style}"], ["is a folder, not an image file"]),
        (["{content}", "{style}", "--style-scale", "9"], ["style_scale must be between 0.1 and 4"]),
        (["{content}", "{style}", "--scales", "9"], ["scales must be a whole number from 1 to 6"]),
    ],
)
def test_bad_input_fast_path(pair, tmp_path, capsys, args, fragments):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    notimage = tmp_path / "notes.png"
    notimage.write_text("not an image")
    fill = dict(content=pair[0], style=pair[1], blocker=blocker, notimage=notimage, tmp=tmp_path)
    assert_one_clear_line(main_here(capsys, "stylize", *[a.format(**fill) for a in args]),
                          *fragments)


@pytest.mark.parametrize("args,fragment", [
    (["missing.jpg", "{style}"], "image file not found: missing.jpg"),  # ours
    (["{content}", "{style}", "--size", "abc"], "must be a whole number"),  # argparse's
    (["{content}", "{style}", "-o", "{content}"], "would overwrite the input"),
])
def test_bad_input_in_a_fresh_process_is_one_line_too(pair, args, fragment):
    """A few of the cases above as a user meets them: nothing else (no import-time warning or
    logging) reaches the terminal."""
    fill = dict(content=pair[0], style=pair[1])
    assert_one_clear_line(run_cli("stylize", *[a.format(**fill) for a in args]), fragment)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--content-weight", "0", "--style-weight", "0"], "both 0"),
        (["--size", "8"], "at least 32 px"),
        (["--size", "8000"], "use size"),
        (["--style-layers", "block1_conv1,block9_conv9"], "unknown layer 'block9_conv9'"),
        (["--content-layer", "fc7"], "valid layers: block1_conv1"),
        (["--style-blend-weights", "1,1"], "2 style blend weights for 1 style images"),
        (["--style-blend-weights", "0"], "are all 0"),
        (["--mask", "none", "--mask", "none"], "2 masks for 1 style images"),
    ],
)
def test_bad_input_after_loading_the_network(pair, tmp_path, capsys, monkeypatch, args, fragment):
    from helpers import memory

    monkeypatch.setattr(memory, "available_memory", lambda: int(4e9))
    status = cli.main(["stylize", *pair, "-o", str(tmp_path / "o.png"), "--backbone",
                       "vgg16-hed", "--quiet", *args])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and err.startswith("error: ")
    assert fragment in err


def test_errors_found_after_tensorflow_loads_are_one_line_too(pair, tmp_path):
    """TensorFlow's C++ start-up lines (oneDNN, CUDA stub, cuInit) bypass Python's stderr and
    TF_CPP_MIN_LOG_LEVEL; the CLI keeps them off the terminal."""
    proc = run_cli("stylize", *pair, "-o", str(tmp_path / "o.png"), "--backbone", "vgg16-hed",
                   "--style-layers", "block1_conv1,block9_conv9")
    assert_one_clear_line(proc, "unknown layer 'block9_conv9'")


def test_a_damaged_checkpoint_gives_one_line(pair, tmp_path, capsys):
    folder = tmp_path / "ck"
    folder.mkdir()
    (folder / "checkpoint.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    status = cli.main(["stylize", *pair, "-o", str(tmp_path / "o.png"), "--size", "64",
                       "--backbone", "vgg16-hed", "--quiet", "--resume", str(folder)])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "damaged or not a checkpoint" in err and "start again without resume" in err


def test_an_unreadable_file_gives_one_line(pair, tmp_path, capsys, monkeypatch):
    """(As root a chmod cannot make a file unreadable, so the denial is simulated.)"""
    from PIL import Image

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", denied)
    status = cli.main(["stylize", *pair, "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1
    assert "Permission denied; give the path of a readable image file" in err


def test_help_names_no_empty_defaults():
    text = cli.build_parser()._subparsers._group_actions[0].choices["stylize"].format_help()
    assert "(default: None)" not in text and "(default: [])" not in text
    assert "(default: False)" not in text and "(default: 0)" in text  # --seed


def test_a_small_run_writes_the_result_and_its_settings(pair, tmp_path, capsys):
    out = tmp_path / "deep" / "result.png"
    status = cli.main(["stylize", *pair, "-o", str(out), "--size", "64", "--iterations", "2",
                       "--backbone", "vgg16-hed", "--checkpoint-every", "1"])
    printed = capsys.readouterr().out
    assert status == 0
    assert f"Result: {out}" in printed and "Backbone: vgg16-hed" in printed
    assert load_image(out).shape == (48, 64, 3)
    meta = out.with_suffix(".json").read_text()
    assert '"iterations": 2' in meta and '"backbone": "vgg16-hed"' in meta
    assert (tmp_path / "deep" / "result_checkpoints" / "checkpoint.npz").exists()
    status = cli.main(["stylize", *pair, "-o", str(out), "--size", "64", "--iterations", "3",
                       "--backbone", "vgg16-hed", "--quiet",
                       "--resume", str(tmp_path / "deep" / "result_checkpoints")])
    assert status == 0 and "after 3 iterations" in capsys.readouterr().out


def test_every_control_flag_reaches_the_run(pair, tmp_path, capsys):
    mask = tmp_path / "mask.png"
    left = np.zeros((72, 96, 3), np.uint8)
    left[:, :48] = 255
    save_image(left, mask)
    out = tmp_path / "controls.png"
    status = cli.main(["stylize", *pair, "-o", str(out), "--size", "96", "--iterations", "1",
                       "--backbone", "vgg16-hed", "--quiet", "--style", pair[1],
                       "--style-blend-weights", "3,1", "--style-scale", "1.5",
                       "--mask", str(mask), "--mask", "none", "--preserve-color", "luminance",
                       "--style-loss", "w2", "--scales", "2",
                       # two shallow layers: W2's eigen-decompositions of 512 channels (block5)
                       # made this run cost seconds per graph
                       "--style-layers", "block1_conv1,block2_conv1"])
    assert status == 0, capsys.readouterr().err
    import json

    settings = json.loads(out.with_suffix(".json").read_text())["settings"]
    assert settings["styles"] == 2 and settings["style_blend_weights"] == [0.75, 0.25]
    assert settings["style_scale"] == 1.5 and settings["masks"] is True
    assert settings["preserve_color"] == "luminance" and settings["style_loss"] == "w2"
    assert settings["scales"] == 2 and settings["scale_sizes"] == [48, 96]
    assert settings["style_layers"] == ["block1_conv1", "block2_conv1"]


def test_no_images_means_the_bundled_defaults(tmp_path, capsys):
    out = tmp_path / "default.png"
    assert cli.main(["stylize", "-o", str(out), "--size", "48", "--iterations", "4",
                     "--backbone", "vgg16-hed", "--quiet"]) == 0
    img = load_image(out)
    assert img.shape == (32, 48, 3)
    from helpers import data
    from helpers.images import resize

    photo = resize(data.default_content(), size=48).astype(float)
    grey = [a.astype(float).mean(-1).ravel() for a in (img, photo)]  # the start is recoloured
    assert np.corrcoef(*grey)[0, 1] > 0.8  # the cat...
    assert np.abs(img - photo).mean() > 1  # ...painted


def test_help_states_the_real_defaults():
    from helpers.code import setting_text
    from helpers.settings import STYLE_WEIGHTS
    from helpers.stylizing import DEFAULTS

    stylize = cli.build_parser()._subparsers._group_actions[0].choices["stylize"]
    helps = {a.dest: a.help for a in stylize._actions}
    for key in ("content_weight", "tv_weight", "style_scale", "style_loss"):
        stated = helps[key].rsplit("default per backbone: ", 1)[1].rstrip(")")
        if "vgg19" in stated:  # "vgg19 5.0, vgg16-hed 2.0"
            per = dict(part.split() for part in stated.split(", "))
            assert per == {name: setting_text(d[key]) for name, d in DEFAULTS.items()}, key
        else:
            assert all(setting_text(d[key]) == stated for d in DEFAULTS.values()), key
    stated = helps["style_weight"].rsplit("default per style loss: ", 1)[1].rstrip(")")
    assert {loss: float(w) for loss, w in (part.split() for part in stated.split(", "))} == \
        STYLE_WEIGHTS
    assert all(d["content_layer"] in helps["content_layer"] for d in DEFAULTS.values())
    assert all(d["pooling"] in helps["pooling"] for d in DEFAULTS.values())


def test_gallery_renders_every_content_style_pair_of_a_folder(tmp_path, photo, painting, capsys):
    for part, imgs in (("content", [photo]), ("style", [painting, 255 - painting])):
        (tmp_path / part).mkdir()
        for i, img in enumerate(imgs):
            save_image(img, tmp_path / part / f"{part}{i}.png")
    out = tmp_path / "grid.png"
    assert cli.main(["gallery", str(tmp_path), "-o", str(out), "--size", "64",
                     "--iterations", "1", "--backbone", "vgg16-hed"]) == 0
    printed = capsys.readouterr().out
    assert "content0 x style0: 1 iteration," in printed  # what ran, said for each pair
    assert "content0 x style1: 1 iteration," in printed
    assert load_image(out).shape[1] > 3 * 64  # three panels across: content + two styles


def test_gallery_explains_the_folder_layout(tmp_path):
    assert_one_clear_line(run_cli("gallery", str(tmp_path)), "no images in",
                          "put photos in")


@pytest.mark.parametrize("args,fragment", [
    (["-o", ""], "-o is empty"),
    (["-o", "{tmp}/"], "is a folder"),
    (["-o", "{tmp}"], "is a folder"),
    (["-o", "{tmp}/" + "x" * 300 + ".png"], "is too long"),
    (["-o", "{content}"], "would overwrite the input"),
    (["--checkpoint-every", "2", "--checkpoint-dir", "{blocker}"], "is a file, not a folder"),
    (["--checkpoint-every", "2", "--checkpoint-dir", "/proc/nst"],
     "cannot write into /proc/nst"),
    (["--weights", "typo.h5"], "weights file not found: typo.h5"),
    (["--style-weights", "100"], "unrecognized arguments"),
])
def test_outputs_that_would_lose_data_or_fail_late_are_refused_first(pair, tmp_path, capsys,
                                                                     args, fragment):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    before = {p: Path(p).read_bytes() for p in pair}
    fill = dict(content=pair[0], tmp=tmp_path, blocker=blocker)
    proc = main_here(capsys, "stylize", *pair, *[a.format(**fill) for a in args])
    assert_one_clear_line(proc, fragment)
    assert {p: Path(p).read_bytes() for p in pair} == before  # the inputs are untouched


def test_overwrite_replaces_an_input_only_when_asked(pair, tmp_path, capsys):
    content = Path(pair[0])
    before = content.read_bytes()
    args = ["stylize", *pair, "-o", str(content), "--size", "64", "--iterations", "2",
            "--backbone", "vgg16-hed", "--quiet"]
    assert cli.main(args) == 2 and content.read_bytes() == before
    assert cli.main([*args, "--overwrite"]) == 0 and content.read_bytes() != before


def test_interrupted_run_saves_its_best_picture_at_full_size_and_exits_130(pair, tmp_path,
                                                                          monkeypatch, capsys):
    from helpers import run_loop

    real = run_loop.Scale.after_iteration

    def ctrl_c(self, y):
        real(self, y)
        if len(self.history) == 3:  # during the coarse scale of two
            raise KeyboardInterrupt

    monkeypatch.setattr(run_loop.Scale, "after_iteration", ctrl_c)
    out = tmp_path / "out.png"
    status = cli.main(["stylize", *pair, "-o", str(out), "--size", "128", "--scales", "2",
                       "--iterations", "5", "--backbone", "vgg16-hed", "--quiet"])
    assert status == 130
    assert load_image(out).shape == (96, 128, 3)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["stop_reason"].startswith("interrupted") and meta["settings"]["size"] == 128
    assert "Stopped: interrupted" in capsys.readouterr().out


# --- issue #35 item 4: honest counts and messages ------------------------------------------


def test_the_plan_in_words_is_the_schedule_stylize_runs():
    from helpers.run_plan import plan_text, scale_settings
    from helpers.settings import Settings

    default = Settings().resolved("vgg16-hed")  # 100 iterations asked at 384 px
    assert plan_text(default) == "70 iterations: 60 at 192 px, then 10 at 384 px"
    assert [(s.size, s.iterations) for s in (scale_settings(default, i) for i in range(2))] \
        == [(192, 60), (384, 10)]
    assert plan_text(Settings(size=200, iterations=1).resolved("vgg16-hed")) == \
        "1 iteration at 200 px"
    assert plan_text(Settings(size=1536).resolved("vgg16-hed")) == \
        "72 iterations: 60 at 384 px, then 10 at 768 px, then 2 at 1536 px"


def test_the_run_says_its_plan_first_and_its_json_records_what_was_asked_and_what_ran(
        pair, tmp_path, capsys):
    out = tmp_path / "planned.png"
    status = cli.main(["stylize", *pair, "-o", str(out), "--size", "96", "--iterations", "10",
                       "--scales", "2", "--backbone", "vgg16-hed", "--precision", "float32"])
    printed = capsys.readouterr().out.splitlines()
    assert status == 0
    assert printed[0] == ("Plan: 7 iterations: 6 at 48 px, then 1 at 96 px (coarse to fine, "
                          "from --iterations 10; --scale-iterations sets each scale's)")
    assert any(line.startswith("Loss: ") and "after 7 iterations (6 at 48 px + 1 at 96 px)"
               in line for line in printed)
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["asked"]["iterations"] == 10 and meta["asked"]["scales"] == 2
    assert meta["asked"]["backbone"] == "vgg16-hed" and meta["asked"]["style_weight"] is None
    assert meta["settings"]["iterations"] == 10  # the whole run's, not the last scale's
    assert meta["settings"]["scale_iterations"] == [6, 1]
    ran = meta["ran"]
    assert ran["iterations"] == 7 == ran["planned_iterations"]
    assert ran["scales"] == [{"size": 48, "planned": 6, "iterations": 6},
                             {"size": 96, "planned": 1, "iterations": 1}]
    assert ran["backbone"] == "vgg16-hed" and ran["precision"] == "float32"
    assert ran["stopped_early"] is False and ran["stop_reason"] == meta["stop_reason"]
    assert [h["size"] for h in meta["history"]] == [48] * 7 + [96] * 2


def test_a_single_scale_plan_needs_no_explanation(pair, tmp_path, capsys):
    status = cli.main(["stylize", *pair, "-o", str(tmp_path / "one.png"), "--size", "64",
                       "--iterations", "2", "--backbone", "vgg16-hed", "--quiet"])
    assert status == 0
    assert capsys.readouterr().out.splitlines()[0] == "Plan: 2 iterations at 64 px"


@pytest.mark.parametrize("name", [f.name for f in __import__("dataclasses").fields(
    __import__("helpers.settings", fromlist=["Settings"]).Settings)])
def test_a_misspelt_flag_gets_the_same_did_you_mean_as_the_python_call(capsys, name):
    from helpers.code import flag
    from helpers.errors import StyleTransferError
    from helpers.settings import Settings

    with pytest.raises(StyleTransferError) as python:
        Settings.from_options(**{name + "s": 1})
    assert f"did you mean {name!r}?" in str(python.value)
    proc = main_here(capsys, "stylize", flag(name) + "s", "1")
    assert_one_clear_line(proc, f"did you mean {flag(name)}?")


@pytest.mark.parametrize("short", ["--iter", "--style-w", "--size=64"[:4], "--out"])
def test_no_flag_may_be_abbreviated(capsys, short):
    proc = main_here(capsys, "stylize", short, "5")
    assert_one_clear_line(proc, "unrecognized arguments", short)


@pytest.mark.parametrize("command", ["", "stylize", "gallery", "sweep", "exercises"])
def test_help_is_plain_text_wrapped_at_word_boundaries_in_80_columns(command):
    env = {**os.environ, "COLUMNS": "80"}
    proc = subprocess.run([sys.executable, "-m", "helpers", *([command] if command else []),
                           "--help"], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0 and proc.stderr == ""
    text = proc.stdout
    assert all(len(line) <= 80 for line in text.splitlines()), text
    for markup in ("``", ":func:", ":mod:", ":class:", ":data:"):
        assert markup not in text
    words = " ".join(text.split())
    parser = cli.build_parser()
    sub = parser._subparsers._group_actions[0].choices.get(command, parser)
    for action in sub._actions:  # every word of every help, whole: none cut at the edge
        if action.help and action.help != argparse_suppress():
            assert " ".join(action.help.split()) in words, action.help
    assert " ".join(sub.description.split()) in words


def argparse_suppress() -> str:
    import argparse

    return argparse.SUPPRESS
