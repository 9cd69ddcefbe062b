"""Hostile input for ``stylize``, ``gallery``, the command line and the Python API (issue #31):
nothing lost, one line, fail fast.

Every command-line case runs the real command in a fresh process and asserts its exit status,
exactly one stderr line starting ``error:``, no traceback, that TensorFlow was not loaded for
the checks that need no network, and that every input file is byte-identical afterwards.
Signals are sent to real processes, timed by polling their progress output.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from helpers import checkpoints, images
from helpers.errors import StyleTransferError
from helpers.images import load_image, preprocess, save_image
from helpers.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
LONG = "x" * 300
#: The command line in a fresh process, saying on stderr if TensorFlow got loaded.
NO_TF = ("import sys\nfrom helpers.cli import main\nstatus = main(sys.argv[1:])\n"
         "if 'tensorflow' in sys.modules: print('TENSORFLOW WAS LOADED', file=sys.stderr)\n"
         "sys.exit(status)\n")


def cli(*args: str, cwd: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """``python -m helpers ARGS`` (through :data:`NO_TF`) in a fresh process."""
    return subprocess.run([sys.executable, "-c", NO_TF, *args], capture_output=True, text=True,
                          env=ENV, cwd=cwd, timeout=timeout)


def refused(proc: subprocess.CompletedProcess, *fragments: str) -> str:
    """The one stderr line of a refusal (exit 2, ``error:``, no traceback, no TensorFlow)."""
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    lines = proc.stderr.splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (
        proc.returncode, proc.stderr)
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def digests(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``folder`` and of the bundled images."""
    files = [p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()]
    files += [DATA / "swirls.png", DATA / "mosaic.png"]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def history(size: int, n: int = 2) -> list[dict[str, float]]:
    return [{"iteration": i, "size": size, "total": 1.0, "content": 0.5, "style": 0.5, "tv": 0.0,
             "seconds": 0.1 * i, "evaluations": i, "eval_seconds": 0.05 * i} for i in range(n)]


def write_checkpoint(folder: Path, photo, painting, backbone="vgg16-hed", size=64, **change):
    """A checkpoint of a ``size`` px run of ``photo`` x ``painting`` (``change``: its history
    entries' changes, or ``fingerprint=None`` for an old one)."""
    shape = images.target_shape(photo.shape[:2], size=size)
    x = preprocess(images.resize_to(photo, shape))
    entries = [{**h, **change.get("entry", {})} for h in history(size)]
    for key in change.get("drop", ()):
        for h in entries:
            h.pop(key)
    fp = change.get("fingerprint", checkpoints.fingerprint(photo, [painting], backbone, size))
    checkpoints.save(folder, x, entries, fp)
    return folder


@pytest.fixture
def world(tmp_path, photo, painting):
    """A folder of inputs and traps: the pair, a mask, photos/latest.png, a weights file,
    checkpoints good and bad, a folder named like an image, a FIFO, a symlink loop."""
    t = tmp_path
    save_image(photo, t / "c.png")
    save_image(painting, t / "s.png")
    save_image(np.full((72, 96, 3), 255, np.uint8), t / "mask.png")
    (t / "photos").mkdir()
    save_image(photo, t / "photos" / "latest.png")
    (t / "X.json").mkdir()
    (t / "adir.png").mkdir()
    (t / "w.png").write_bytes(b"\x89HDF not really weights")
    (t / "blocker").write_text("a file where a folder should be")
    os.mkfifo(t / "fifo.png")
    (t / "loop.png").symlink_to(t / "loop.png")
    write_checkpoint(t / "ck_ok", photo, painting)
    write_checkpoint(t / "ck_other_photo", 255 - photo, painting)
    write_checkpoint(t / "ck_other_painting", photo, 255 - painting)
    write_checkpoint(t / "ck_other_backbone", photo, painting, backbone="vgg19")
    write_checkpoint(t / "ck_other_size", photo, painting, size=96)
    write_checkpoint(t / "ck_old", photo, painting, fingerprint=None)
    write_checkpoint(t / "ck_nosize", photo, painting, drop=["size"])
    write_checkpoint(t / "ck_strings", photo, painting, entry={"evaluations": "5"})
    (t / "ck_garbage").mkdir()
    (t / "ck_garbage" / "checkpoint.npz").write_bytes(b"PK\x03\x04 not a zip")
    (t / "ck_pickle").mkdir()
    np.savez(t / "ck_pickle" / "checkpoint.npz", x=np.zeros((1, 48, 64, 3), np.float32),
             history=np.array([{"iteration": 0}], dtype=object))
    (t / "ck_fifo").mkdir()
    os.mkfifo(t / "ck_fifo" / "checkpoint.npz")
    (t / "ck_bomb").mkdir()  # a zip whose history unpacks to 65 MB
    with zipfile.ZipFile(t / "ck_bomb" / "checkpoint.npz", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("history.npy", b"\0" * (65 << 20))
    (t / "link.png").symlink_to(t / "c.png")
    os.link(t / "s.png", t / "hard.png")
    os.mkfifo(t / "P.json")
    (t / "J.json").symlink_to(t / "c.png")
    (t / "ünï😀.png").write_bytes((t / "c.png").read_bytes())
    return t


def fill(args, t: Path) -> list[str]:
    return [a.format(t=t, data=DATA, long=LONG) for a in args]


PAIR = ["{t}/c.png", "{t}/s.png"]
HED = ["--backbone", "vgg16-hed", "--size", "64"]

#: (arguments, fragments of the one error line): each refused before TensorFlow loads.
STYLIZE_REFUSALS = [
    # the output guard: files the run reads on its own, the JSON, names kept
    (["-o", "{data}/swirls.png"], ["would overwrite the input", "swirls.png"]),
    (["chelsea", "mosaic", "-o", "{data}/mosaic.png"], ["would overwrite the input"]),
    (["{t}/photos/latest.png", "{t}/s.png", "-o", "{t}/o.png", "--checkpoint-every", "1",
      "--checkpoint-dir", "{t}/photos"], ["--checkpoint-dir", "would overwrite the input"]),
    ([*PAIR, "-o", "{t}/X.png"], ["its JSON", "is a folder"]),
    ([*PAIR, "-o", "{t}/adir.png"], ["is a folder"]),
    ([*PAIR, "-o", "/dev/null"], ["/dev/null is a device"]),
    ([*PAIR, "-o", "{t}/noext"], ["endings .png, .jpg"]),
    ([*PAIR, "--mask", "{t}/mask.png", "-o", "{t}/mask.png"], ["would overwrite the input"]),
    ([*PAIR, "--backbone", "vgg19", "--weights", "{t}/w.png", "-o", "{t}/w.png"],
     ["would overwrite the input"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_ok", "-o", "{t}/ck_ok/latest.png"],
     ["would overwrite the input"]),
    ([*PAIR, "-o", ""], ["-o is empty"]),
    # fail fast: settings that cannot run
    ([*PAIR, "--content-weight", "0", "--style-weight", "0"], ["both 0"]),
    ([*PAIR, "--style-layer-weights", "1,2"], ["2 style layer weights for 5 style layers"]),
    ([*PAIR, "--backbone", "vgg16-hed", "--scale-iterations", "5,5,5"], ["one per scale"]),
    ([*PAIR, "--style-layers", ""], ["style_layers has no values"]),
    ([*PAIR, "--style-layers", ","], ["style_layers has no values"]),
    ([*PAIR, "--size", "40"], ["at least 32 px"]),
    ([*PAIR, "--size", "99999"], ["8192 px limit"]),
    ([*PAIR, "--style-weight", "1e13"], ["absurdly large"]),
    ([*PAIR, "--style-layers", "block1_conv1,block9_conv1"], ["unknown layer 'block9_conv1'"]),
    ([*PAIR, "--content-layer", "block4_conv9"], ["unknown layer 'block4_conv9'"]),
    ([*PAIR, "--optimizer", "adam", "--learning-rate", "0"], ["learning_rate must be above 0"]),
    ([*PAIR, "-o", "{t}/loop.png"], ["symlink loop"]),
    ([*PAIR, "--weights", "{t}/w.png", "--backbone", "vgg16-hed"],
     ["vgg16-hed brings its own weights"]),
    # resume: missing, garbage, another run's, damaged histories
    ([*PAIR, *HED, "--resume", "{t}/missing"], ["no checkpoint at"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_garbage"], ["damaged or not a checkpoint"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_pickle"], ["damaged or not a checkpoint"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_other_photo"], ["another photo", "--force-resume"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_other_painting"], ["another painting"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_other_backbone"], ["another backbone (vgg19)"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_other_size"], ["another size"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_old"], ["does not record", "--force-resume"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_nosize"], ["lacks one of", "size"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_strings"], ["evaluations is '5', not a whole number"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_fifo"], ["is a pipe"]),
    # flags: no abbreviations, the closest one named
    ([*PAIR, "--style-weights", "10"], ["did you mean --style-weight?"]),
    ([*PAIR, "--iter", "5"], ["did you mean --iterations?"]),
    ([*PAIR, "--style-w", "10"], ["did you mean --style-weight?"]),
    # a 300-character path component anywhere
    (["{t}/{long}.png", "{t}/s.png"], ["too long"]),
    ([*PAIR, "--mask", "{t}/{long}.png"], ["too long"]),
    ([*PAIR, "--backbone", "vgg19", "--weights", "{t}/{long}.h5"], ["too long"]),
    ([*PAIR, "-o", "{t}/{long}/o.png"], ["too long"]),
    ([*PAIR, "--checkpoint-every", "1", "--checkpoint-dir", "{t}/{long}"], ["too long"]),
    ([*PAIR, "--resume", "{t}/{long}"], ["too long"]),
]


#: Cases found while attacking the above (issue #31, "attack it again yourself").
OWN_CASES = [
    (["{t}/fifo.png", "{t}/s.png"], ["is not a regular file (a pipe"]),
    (["{t}/c.png", "{t}/loop.png"], ["Too many levels of symbolic links"]),
    ([*PAIR, "-o", "{t}/fifo.png"], ["is a pipe (FIFO)"]),
    ([*PAIR, "-o", "{t}/link.png"], ["would overwrite the input", "c.png"]),
    ([*PAIR, "-o", "{t}/hard.png"], ["would overwrite the input", "s.png"]),
    (["c.png", "s.png", "-o", "./c.png"], ["would overwrite the input"]),
    ([*PAIR, "-o", "{t}/P.png"], ["its JSON", "is a pipe (FIFO)"]),
    ([*PAIR, "-o", "{t}/J.png"], ["its JSON", "would overwrite the input"]),
    ([*PAIR, "-o", "{t}/ck9/latest.png", "--checkpoint-every", "1", "--checkpoint-dir",
      "{t}/ck9"], ["both write"]),
    ([*PAIR, "-o", "/proc/x.png"], ["cannot write into /proc"]),
    ([*PAIR, "-o", "/sys/x.png"], ["cannot write into /sys"]),
    ([*PAIR, "-o", "{t}/blocker/o.png"], ["is a file, not a folder"]),
    ([*PAIR, "-o", "{t}/newdir/"], ["is a folder"]),
    ([*PAIR, "-o", "-"], ["endings .png"]),
    (["{t}/ünï😀.png", "{t}/s.png", "-o", "{t}/ünï😀.png"], ["would overwrite", "ünï😀.png"]),
    (["{t}/a\nb.png", "{t}/s.png"], ["a\\nb.png"]),
    ([*PAIR, "--mask", "{t}/adir.png"], ["is a folder"]),
    ([*PAIR, "--backbone", "vgg19", "--weights", "{t}/fifo.png"], ["is a pipe"]),
    ([*PAIR, "--resume", "{t}/fifo.png"], ["is a pipe"]),
    ([*PAIR, *HED, "--resume", "{t}/ck_bomb"], ["too large"]),
    ([*PAIR, "--size", "64", "--scales", "2"], ["at least 32 px"]),
    ([*PAIR, "--size", "1e3"], ["size must be a whole number, not '1e3'"]),
    ([*PAIR, "--style-layer-weights", "1,nan,1,1,1"], ["finite"]),
    ([*PAIR, "--style-weight="], ["style_weight is empty"]),
    ([*PAIR, "--style-blend-weights", "1,1"], ["2 style blend weights for 1"]),
    ([*PAIR, "--mask", "none", "--mask", "none"], ["2 masks for 1"]),
    ([*PAIR, "--no-bal"], ["did you mean --no-balance-style-layers?"]),
    ([*PAIR, "{t}/s.png"], ["unrecognized arguments"]),
]


@pytest.mark.parametrize("args,fragments", OWN_CASES, ids=[f"{i}" for i in range(len(OWN_CASES))])
def test_own_hostile_cases_are_refused_in_one_line(world, args, fragments):
    before = digests(world)
    refused(cli("stylize", *fill(args, world), cwd=world), *fragments)
    assert digests(world) == before
    assert not (world / "ck9").exists() and not (world / "newdir").exists()


def test_a_refused_run_leaves_no_folder_behind(world):
    refused(cli("stylize", *fill(PAIR, world), "-o", str(world / "new" / "deeper" / "o.png"),
                "--checkpoint-every", "1", "--checkpoint-dir", str(world / "blocker" / "ck")),
            "is a file, not a folder")
    assert not (world / "new").exists()


@pytest.mark.parametrize("args,fragments", STYLIZE_REFUSALS,
                         ids=[f"{i}" for i in range(len(STYLIZE_REFUSALS))])
def test_stylize_refuses_before_tensorflow_and_keeps_every_input(world, args, fragments):
    before = digests(world)
    line = refused(cli("stylize", *fill(args, world), cwd=world), *fragments)
    assert "allow_pickle" not in line
    assert digests(world) == before


def test_checkpoint_dir_without_checkpoint_every_makes_no_folder(world):
    refused(cli("stylize", *fill(PAIR, world), "--checkpoint-dir", str(world / "new")),
            "needs --checkpoint-every")
    assert not (world / "new").exists()


@pytest.fixture
def gallery_folder(tmp_path, photo, painting):
    for part, img in (("content", photo), ("style", painting)):
        (tmp_path / "F" / part).mkdir(parents=True)
        save_image(img, tmp_path / "F" / part / f"{part[0]}.png")
    return tmp_path / "F"


@pytest.mark.parametrize("args,fragments", [
    (["{F}", "-o", "{F}/content/c.png"], ["would overwrite the input"]),
    (["{F}", "-o", "{F}"], ["is a folder"]),
    (["{F}", "-o", ""], ["-o is empty"]),
    (["-o", "{data}/swirls.png"], ["would overwrite the input"]),
    (["{F}", "-o", "{F}/grid.gif"], ["endings .png, .jpg"]),
    (["{F}", "-o", "{F}/grid.png", "--size", "99999"], ["8192 px limit"]),
    (["{F}/missing"], ["no images in"]),
    (["{F}", "--iter", "3"], ["did you mean --iterations?"]),
])
def test_gallery_refuses_before_any_work(gallery_folder, args, fragments):
    before = digests(gallery_folder)
    args = [a.format(F=gallery_folder, data=DATA) for a in args]
    refused(cli("gallery", *args), *fragments)
    assert digests(gallery_folder) == before


@pytest.mark.slow
def test_gallery_writes_the_name_it_was_given_atomically(gallery_folder, tmp_path):
    out = tmp_path / "grid.jpg"
    proc = cli("gallery", str(gallery_folder), "-o", str(out), "--size", "64",
               "--iterations", "1", "--backbone", "vgg16-hed", timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).format == "JPEG" and not (tmp_path / "grid.png").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["F", "grid.jpg"]  # no temp file


def test_gallery_keeps_two_images_that_share_a_stem(tmp_path):
    from helpers.cli.gallery_command import folder_images

    for name in ("a.png", "a.jpg", "b.png"):
        save_image(np.zeros((40, 40, 3), np.uint8), tmp_path / name)
    assert sorted(folder_images(tmp_path)) == ["a.jpg", "a.png", "b"]


# --- the Python API -----------------------------------------------------------------------

@pytest.mark.parametrize("options,message", [
    (dict(weights=123), "weights must be 'imagenet', None or the path"),
    (dict(weights="x" * 300 + ".h5"), "too long"),
    (dict(scale_iterations=5), "scale_iterations must be a list of whole numbers"),
    (dict(style_layers=5), "style_layers must be a list of layer names"),
    (dict(init=np.zeros((4, 4, 3))), "helpers.stylize(init=...)"),
    (dict(size=np.arange(100)), "size must be a whole number >= 1, not a ndarray"),
    (dict(backbone=None), "unknown backbone None"),
    (dict(optimizer=None), "unknown optimizer None"),
    (dict(weights=b"x"), "weights must be 'imagenet', None or the path"),
])
def test_bad_settings_are_one_line_not_a_traceback(options, message):
    with pytest.raises(StyleTransferError) as caught:
        Settings(**options)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_load_image_of_a_closed_pillow_image_or_a_huge_path_is_one_line(tmp_path):
    img = Image.new("RGB", (8, 8))
    img.close()
    for source in (img, "x" * 5000, tmp_path / ("y" * 300 + ".png")):
        with pytest.raises(StyleTransferError) as caught:
            load_image(source)
        assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_result_save_refuses_empty_names_folders_and_devices(tmp_path):
    from helpers.stylizing import Result

    result = Result(np.zeros((40, 40, 3), np.uint8), history(40), "net", "finished")
    (tmp_path / "DIR").mkdir()
    (tmp_path / "X.json").mkdir()
    for name in ("", tmp_path / "DIR", "/dev/null", tmp_path / "X.png"):
        with pytest.raises(StyleTransferError):
            result.save(name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["DIR", "X.json"]  # nothing written
    assert result.save(tmp_path / "DIR" / "r.png") == tmp_path / "DIR" / "r.png"


def test_result_save_refuses_the_runs_inputs_and_the_bundled_images(photo, painting, tmp_path,
                                                                   monkeypatch):
    """Found by a cold attack: Result.save wrote over the photo the run read, and over
    data/swirls.png."""
    from helpers import data, stylizing

    files = {name: tmp_path / f"{name}.png" for name in ("c", "s")}
    images.save_image(photo, files["c"])
    images.save_image(painting, files["s"])
    inputs = stylizing.Inputs.load(str(files["c"]), files["s"], None)
    assert inputs.files == (str(files["c"]), str(files["s"]))
    result = stylizing.Result(photo, history(96), "net", "finished", inputs=inputs.files)
    before = {p: p.read_bytes() for p in (*files.values(), data.bundled_file("swirls"))}
    for target in (*files.values(), data.bundled_file("swirls"), data.bundled_file("chelsea")):
        with pytest.raises(StyleTransferError, match="would overwrite the input"):
            result.save(target)
    assert {p: p.read_bytes() for p in before} == before


def test_the_api_never_checkpoints_over_an_input(photo, painting, tmp_path):
    """Found by a cold review: only the CLI checked the checkpoint folder against the inputs;
    stylize('w/latest.png', ..., checkpoint_dir='w') replaced the photo."""
    from helpers import stylizing

    (tmp_path / "w").mkdir()
    images.save_image(photo, tmp_path / "w" / "latest.png")
    before = (tmp_path / "w" / "latest.png").read_bytes()
    with pytest.raises(StyleTransferError, match="would overwrite the input"):
        stylizing.stylize(str(tmp_path / "w" / "latest.png"), painting, size=64, iterations=1,
                         backbone="vgg16-hed", checkpoint_every=1,
                         checkpoint_dir=tmp_path / "w", progress=False)
    assert (tmp_path / "w" / "latest.png").read_bytes() == before


def test_a_symlink_loop_as_the_output_is_one_line(tmp_path):
    from helpers.files import atomic_write, check_output

    (tmp_path / "a.png").symlink_to(tmp_path / "b.png")
    (tmp_path / "b.png").symlink_to(tmp_path / "a.png")
    for call in (lambda: check_output(tmp_path / "a.png"),
                 lambda: atomic_write(tmp_path / "a.png").__enter__()):
        with pytest.raises(StyleTransferError, match="symlink loop"):
            call()


def test_a_full_disk_keeps_both_previous_files_and_says_so_in_one_line(tmp_path, monkeypatch):
    from helpers.stylizing import Result

    out = tmp_path / "r.png"
    Result(np.zeros((40, 40, 3), np.uint8), history(40), "net", "old").save(out)
    before = digests(tmp_path)
    new = Result(np.full((40, 40, 3), 200, np.uint8), history(40, 5), "net", "new")
    real_replace = os.replace

    def json_fails(src, dst):
        if str(dst).endswith(".json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    for target, fake in ((os, "fsync"), (os, "replace")):
        with monkeypatch.context() as m:
            m.setattr(target, fake, json_fails if fake == "replace" else
                      lambda fd: (_ for _ in ()).throw(OSError(28, "No space left on device")))
            with pytest.raises(StyleTransferError) as caught:
                new.save(out)
        assert "No space left on device" in str(caught.value)
        assert "previous file" in str(caught.value) and "\n" not in str(caught.value)
        assert digests(tmp_path) == before  # the PNG and its JSON: both the old ones


def test_a_failing_checkpoint_write_warns_once_and_the_run_goes_on(photo, painting, tmp_path,
                                                                   monkeypatch, capsys):
    from helpers import stylizing

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoints.np, "savez", full)
    result = stylizing.stylize(photo, painting, size=64, iterations=3, backbone="vgg16-hed",
                              checkpoint_every=1, checkpoint_dir=tmp_path / "ck", progress=False)
    assert result.stop_reason != "" and len(result.history) == 4
    warnings = capsys.readouterr().err.splitlines()
    assert len(warnings) == 1 and "No space left on device" in warnings[0]
    assert "the run goes on" in warnings[0] and not list((tmp_path / "ck").iterdir())


@pytest.mark.parametrize("kwargs,message", [
    (dict(content_weight=0, style_weight=0), "both 0"),
    (dict(style_layer_weights=[1.0, 2.0]), "one weight per layer"),
    (dict(scales=2, scale_iterations=[5, 5, 5]), "one per scale"),
    (dict(style_layers=[]), "no style layers"),
    (dict(size=40), "at least 32 px"),
    (dict(size=99999), "8192 px limit"),
    (dict(resume="missing-folder"), "no checkpoint at"),
    (dict(resume="x" * 300), "too long"),
    (dict(style_blend_weights=[1, 1]), "2 style blend weights for 1"),
    (dict(masks=[None, None]), "2 masks for 1"),
    (dict(resume=0), "resume must be the path of a checkpoint folder"),
    (dict(checkpoint_every=1, checkpoint_dir=123), "checkpoint_dir= \\(a folder's path"),
])
def test_the_api_refuses_before_the_network_loads(photo, painting, monkeypatch, kwargs, message):
    from helpers import backbone, stylizing

    def no_network(*args, **kwargs):
        raise AssertionError("the network was loaded before the check")

    monkeypatch.setattr(backbone, "load_backbone", no_network)
    monkeypatch.setattr(backbone, "resolve_name", no_network)
    masks = kwargs.pop("masks", None)
    with pytest.raises(StyleTransferError, match=message):
        stylizing.stylize(photo, painting, masks=masks, backbone="vgg16-hed", progress=False,
                         **kwargs)


def test_resume_refuses_another_runs_checkpoint_unless_forced(photo, painting, tmp_path):
    from helpers import stylizing

    folder = write_checkpoint(tmp_path / "ck", 255 - photo, painting)
    with pytest.raises(StyleTransferError, match="another photo"):
        stylizing.stylize(photo, painting, iterations=3, resume=folder, backbone="vgg16-hed",
                         size=64, progress=False)
    result = stylizing.stylize(photo, painting, iterations=3, resume=folder, force_resume=True,
                              backbone="vgg16-hed", size=64, progress=False)
    assert [h["iteration"] for h in result.history] == [0, 1, 2, 3]


@pytest.mark.parametrize("stop", [KeyboardInterrupt(), "SIGTERM"])
def test_a_signal_while_the_next_scales_targets_build_keeps_the_coarse_picture(
        photo, painting, monkeypatch, stop):
    from helpers import run_loop, stylizing
    from helpers.signals import Stopped

    stop = Stopped(signal.SIGTERM) if stop == "SIGTERM" else stop
    real, calls = run_loop.cached_targets, []

    def second_raises(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise stop
        return real(*args, **kwargs)

    monkeypatch.setattr(run_loop, "cached_targets", second_raises)
    result = stylizing.stylize(photo, painting, size=96, scales=2, scale_iterations=[3, 3],
                              backbone="vgg16-hed", progress=False)
    name = "SIGTERM" if isinstance(stop, Stopped) else "Ctrl-C"
    assert result.stop_reason.startswith(f"interrupted by {name} after 3 iterations")
    assert result.interrupted and result.image.shape == (72, 96, 3)
    assert result.signum == (signal.SIGTERM if name == "SIGTERM" else signal.SIGINT)


def test_a_signal_before_any_image_propagates(photo, painting, monkeypatch):
    from helpers import run_loop, stylizing

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_loop, "cached_targets", interrupted)
    with pytest.raises(KeyboardInterrupt):
        stylizing.stylize(photo, painting, size=64, iterations=2, backbone="vgg16-hed",
                         progress=False)


# --- signals sent to a real run -------------------------------------------------------------

def start_run(world: Path, *extra: str) -> tuple[subprocess.Popen, Path]:
    """A 96 px run in two scales (a long second one), its stderr (progress) in a file."""
    err = world / "stderr.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers", "stylize", *fill(PAIR, world), "-o",
         str(world / "out.png"), "--size", "96", "--scales", "2", "--backbone", "vgg16-hed",
         *extra], stdout=subprocess.PIPE, stderr=err.open("w"), text=True, env=ENV)
    return proc, err


def wait_for(condition, proc: subprocess.Popen, limit: float = 240) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert proc.poll() is None and time.monotonic() < deadline, "the run ended first"
        time.sleep(0.05)


@pytest.mark.slow
@pytest.mark.parametrize("signum,status,name,when", [
    (signal.SIGTERM, 143, "SIGTERM", "scale 2/2"),
    (signal.SIGHUP, 129, "SIGHUP", "scale 1/2"),
    (signal.SIGINT, 130, "Ctrl-C", "scale 2/2"),
])
def test_a_signal_mid_run_saves_the_best_picture_at_full_size_with_its_json(
        world, signum, status, name, when):
    before = digests(world)
    iterations = "300,300" if when == "scale 1/2" else "2,300"
    proc, err = start_run(world, "--scale-iterations", iterations)
    wait_for(lambda: f"{when}, " in err.read_text() and "1/" in err.read_text().split(when)[-1],
             proc)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == status, err.read_text()[-2000:]
    assert "Traceback" not in err.read_text() + out
    meta = json.loads((world / "out.json").read_text())
    assert meta["stop_reason"].startswith(f"interrupted by {name}")
    assert load_image(world / "out.png").shape == (72, 96, 3) and meta["settings"]["size"] == 96
    assert f"Stopped: interrupted by {name}" in out
    after = digests(world)
    assert {k: v for k, v in after.items() if k in before} == before


@pytest.mark.slow
def test_a_signal_before_any_image_writes_nothing_and_says_so(world):
    proc, err = start_run(world, "--scale-iterations", "2,2", "--checkpoint-every", "1",
                          "--checkpoint-dir", str(world / "ck_new"))
    wait_for((world / "ck_new").exists, proc)  # made by the checks, before TensorFlow loads
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert err.read_text().splitlines() == [
        "interrupted by SIGTERM before any image was painted; nothing was written"]
    assert not (world / "out.png").exists() and not (world / "out.json").exists()
    assert not (world / "ck_new").exists()  # the folder the checks made is gone again


@pytest.mark.slow
def test_a_run_under_nohup_outlives_its_terminal(world):
    """SIGHUP ignored (as ``nohup`` does) stays ignored: the run finishes."""
    err = world / "stderr.txt"
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers", "stylize", *fill(PAIR, world), "-o",
         str(world / "out.png"), "--size", "96", "--scales", "2", "--scale-iterations", "3,3",
         "--backbone", "vgg16-hed"], stdout=subprocess.PIPE, stderr=err.open("w"), text=True,
        env=ENV, preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    wait_for(lambda: "scale 1/2, " in err.read_text(), proc)
    proc.send_signal(signal.SIGHUP)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, err.read_text()[-2000:]
    meta = json.loads((world / "out.json").read_text())
    assert not meta["stop_reason"].startswith("interrupted")


@pytest.mark.slow
def test_a_full_disk_at_the_end_of_a_command_line_run_keeps_the_old_pair(world, capsys,
                                                                        monkeypatch):
    from helpers import cli

    args = ["stylize", *fill(PAIR, world), "-o", str(world / "r.png"), *HED, "--iterations",
            "2", "--quiet", "--checkpoint-every", "1", "--checkpoint-dir", str(world / "ck")]
    assert cli.main(args) == 0
    before = digests(world)
    real_replace = os.replace

    def json_fails(src, dst):
        if str(dst).endswith("r.json"):
            raise OSError(28, "No space left on device")
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", json_fails)
    capsys.readouterr()
    # resuming into the checkpoint folder it reads from is allowed (the checkpoint goes on)
    assert cli.main([*args, "--resume", str(world / "ck"), "--iterations", "3"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot write") and "r.json" in err[0]
    after = digests(world)
    assert {k: after[k] for k in before if "/ck/" not in k} == {
        k: v for k, v in before.items() if "/ck/" not in k}  # r.png and r.json: the old ones
    assert checkpoints.load(world / "ck").history[-1]["iteration"] == 3  # the run went on


def test_a_signal_while_the_result_is_saved_waits_for_the_save(world, capsys, monkeypatch):
    """SIGTERM in the middle of writing the PNG and its JSON: both are written whole, then the
    run exits with SIGTERM's status."""
    from helpers import cli
    from helpers.stylizing import Result

    real_save, calls = Result.save, []

    def save_with_a_signal(self, path):
        calls.append(path)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.2)  # the handler would run here, mid-save
        return real_save(self, path)

    monkeypatch.setattr(Result, "save", save_with_a_signal)
    status = cli.main(["stylize", *fill(PAIR, world), "-o", str(world / "r.png"), *HED,
                       "--iterations", "2", "--quiet"])
    assert status == 143, capsys.readouterr().err
    assert len(calls) == 1  # not cut short and saved again: held until the save was done
    assert json.loads((world / "r.json").read_text())["stop_reason"].startswith("reached")
    assert load_image(world / "r.png").shape == (48, 64, 3)


def test_a_warm_start_from_an_array_still_runs(photo, painting):
    """The tuning app restarts warm with init=<the last picture> (an array): the guard that
    collects the files a run reads must not compare an array with names."""
    from helpers import stylizing

    result = stylizing.stylize(photo, painting, init=photo, size=64, iterations=1,
                              backbone="vgg16-hed", progress=False)
    assert result.inputs == () and result.image.shape[:2] == (48, 64)
