"""Hostile input for ``python -m helpers sweep`` and ``helpers.sweep`` (issue 31): every bad
input ends in one ``error:`` line and exit status 2 (or a StyleTransferError) before Dask or
TensorFlow starts, no input is ever changed, every file is written whole, the cluster listens
on this machine only, and a signal keeps every finished run and leaves no worker behind.

The fail-fast cases run the command with TensorFlow, Dask and distributed made unimportable,
so a check that came after either would end in a traceback and fail the test.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
from PIL import Image

from helpers.errors import StyleTransferError
from helpers.sweeps import checks, engine
from helpers.sweeps import grid as sweep_grid
from helpers.sweeps.command import grid_from_args

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
#: Runs the command with TensorFlow and Dask unimportable: any use of them is a traceback.
NO_ENGINE = ("import sys\nfor m in ('tensorflow', 'keras', 'dask', 'distributed'):\n"
             "    sys.modules[m] = None\nfrom helpers.cli import main\n"
             "sys.exit(main(sys.argv[1:]))")
TINY = ["--size", "64", "--iterations", "2", "--backbone", "vgg16-hed"]


def cli(*args: str, engine_allowed: bool = False, timeout: float = 60
        ) -> subprocess.CompletedProcess:
    """``python -m helpers sweep ARGS`` in a subprocess (TensorFlow and Dask blocked unless
    ``engine_allowed``)."""
    start = [sys.executable, "-m", "helpers"] if engine_allowed else [
        sys.executable, "-c", NO_ENGINE]
    return subprocess.run([*start, "sweep", *args], capture_output=True, text=True, env=ENV,
                          timeout=timeout, cwd=ROOT)


def refused(done: subprocess.CompletedProcess, *words: str) -> str:
    """Assert exit status 2, one stderr line starting ``error:`` (holding ``words``) and no
    traceback; return the line."""
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    lines = done.stderr.splitlines()
    assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), (
        done.returncode, done.stderr)
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def digest(folder: Path) -> dict[str, str]:
    """SHA-256 of every regular file under ``folder`` (FIFOs and links to folders left out)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def picture(path: Path, shape=(48, 72), value=90) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*shape, 3), value, np.uint8)).save(path)
    return path


@pytest.fixture
def pairs(tmp_path: Path) -> Path:
    """A pairs folder: one photo, one painting."""
    folder = tmp_path / "pairs"
    picture(folder / "content" / "cat.png")
    picture(folder / "style" / "art.png", (64, 64), 200)
    return folder


# --- 1. values: the settings' own parser --------------------------------------------------

def test_pyramid_levels_and_every_list_setting_are_read_by_their_field_type(pairs):
    from helpers.cli import build_parser

    args = build_parser().parse_args(["sweep", "--pyramid-levels", "1,4", "--style-layers",
                                      "conv1-2,block1_conv1+block2_conv1", "--scale-iterations",
                                      "10+5", "--scales", "2", "-o", "out"])
    grid = grid_from_args(args)
    assert grid["pyramid_levels"] == [1, 4]
    assert grid["style_layers"] == ["conv1-2", ("block1_conv1", "block2_conv1")]
    runs = sweep_grid.plan(grid, pairs, size=128, backbone="vgg16-hed")
    assert sorted({r.options["pyramid_levels"] for r in runs}) == [1, 4]
    from helpers import settings
    from helpers.sweeps import command

    assert command.parse_value is settings.parse_value  # no parser of its own


def test_pyramid_levels_1_4_on_the_command_line_passes_every_check(pairs, tmp_path):
    """It reaches the last check (here: too many runs for --max-runs), not a type error."""
    done = cli(str(pairs), "--pyramid-levels", "1,4", "--max-runs", "1", "-o",
               str(tmp_path / "out"), *TINY)
    refused(done, "makes 2 runs, more than 1")


# --- 2.-5. fail fast, one line, before Dask or TensorFlow ---------------------------------

FAIL_FAST = [
    # the cases
    (["--workers", "-1"], "--workers must be a whole number >= 1"),
    (["--workers", "0"], "--workers must be a whole number >= 1"),
    (["--scheduler", "not a url"], "not an address"),
    (["--scheduler", "http://127.0.0.1:8787"], "is a web address"),
    (["--scheduler", "tcp://[::1"], "not an address"),
    (["--rows", "banana", "--style-weight", "1,2"], "--rows banana: not a swept setting"),
    (["--size", "10"], "needs at least 32 px"),
    (["--style-layers", "block1_conv1+block3_conv4", "--backbone", "vgg16-hed"],
     "unknown layer 'block3_conv4' for vgg16-hed"),
    (["--content-layer", "block9_conv1"], "unknown layer"),
    (["--style-weight", ",".join(map(str, range(1, 31))), "--tv-weight",
      ",".join(str(k / 10) for k in range(1, 21))], "makes 1,200 runs, more than 500"),
    (["--content-weight", "0", "--style-weight", "0"], "nothing to optimize"),
    (["--style-weight", "1e13"], "absurdly large"),
    (["--scale-iterations", "10+5", "--scales", "3"], "scale_iterations for 3 scales"),
    (["--style-layers", "block1_conv1", "--style-layer-weights", "1+2"],
     "2 style layer weights for 1 style layers"),
    # new hostile cases
    (["--workers", "abc"], "--workers must be a whole number"),
    (["--workers", "100000"], "must be a whole number from 1 to"),
    (["--max-runs", "0"], "--max-runs must be a whole number >= 1"),
    (["--scheduler", "tcp://127.0.0.1:99999"], "not an address"),
    (["--scheduler", "udp://127.0.0.1:8786"], "unknown protocol"),
    (["--listen", "every where"], "not a host to listen on"),
    (["--dashboard-address", "nowhere"], "not an address"),
    (["--rows", "style_weight", "--cols", "style_weight", "--style-weight", "1,2"],
     "both style_weight"),
    (["--style-weight", "10,10"], "the same values"),
    (["--style-weight", ","], "has no values"),
    (["--size", "99999"], "beyond the 8192 px limit"),
    (["--scales", "3", "--size", "64"], "needs at least 32 px"),
    (["--iterations", "1e9"], "iterations must be a whole number"),
    (["--checkpoint-every", "5"], "checkpoint_every is not for sweeps"),
    (["--weights", "/nonexistent/vgg.h5"], "weights file not found"),
    (["--balance-style-layers", "maybe"], "must be true or false"),
    (["--style-layers", "conv1-9"], "unknown layer"),
    (["--content-layer", "block1_pool"], "unknown layer"),
    (["--iter", "5"], "unrecognized arguments: --iter"),  # no prefixes of --iterations
    (["-o", ""], "empty"),
    (["-o", "/dev/null"], "not a folder"),
    (["-o", "/proc/no-such-folder"], "cannot write into"),
    (["-o", "x" * 300], "too long"),
]


@pytest.mark.parametrize("args, words", FAIL_FAST, ids=[" ".join(a)[:40] for a, _ in FAIL_FAST])
def test_bad_input_is_one_line_before_dask_or_tensorflow(args, words, tmp_path):
    if "-o" not in args:
        args = [*args, "-o", str(tmp_path / "out")]
    done = cli(*args)
    refused(done, words)
    assert not (tmp_path / "out").exists()


def test_output_a_file_or_a_device_or_a_pipe_is_refused_and_kept(pairs, tmp_path):
    before = digest(pairs)
    photo = pairs / "content" / "cat.png"
    for out in (photo, pairs / "style"):
        refused(cli(str(pairs), "-o", str(out), *TINY))
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    refused(cli(str(pairs), "-o", str(fifo), *TINY), "not a folder")
    assert digest(pairs) == before


@pytest.mark.parametrize("inside", ["content", "content/results", "style"])
def test_output_inside_the_pairs_folder_s_inputs_is_refused(pairs, inside):
    before = digest(pairs)
    refused(cli(str(pairs), "-o", str(pairs / inside), *TINY), "would become inputs")
    assert digest(pairs) == before
    assert not (pairs / "content" / "results").exists()


def test_a_file_the_sweep_writes_that_is_an_input_is_refused(pairs, tmp_path):
    """index.csv or a run's PNG that is (a link to) an input: refused, the input kept."""
    out = tmp_path / "out"
    out.mkdir()
    photo = pairs / "content" / "cat.png"
    before = digest(pairs)
    (out / "index.csv").symlink_to(photo)
    with pytest.raises(StyleTransferError, match="would overwrite the input"):
        engine.sweep({"style_weight": [1]}, pairs, out, **dict(size=64, backbone="vgg16-hed"))
    (out / "index.csv").unlink()
    (out / "sheet.png").mkdir()
    with pytest.raises(StyleTransferError, match="is a folder"):
        engine.sweep({"style_weight": [1]}, pairs, out, size=64, backbone="vgg16-hed")
    (out / "sheet.png").rmdir()
    (out / "index.csv").mkdir()
    refused(cli(str(pairs), "-o", str(out), *TINY), "index.csv", "folder")
    assert digest(pairs) == before


@pytest.mark.parametrize("out", ["file", 123, ""])
def test_the_api_refuses_an_output_that_is_no_folder(out, pairs, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "local_client", lambda *a, **k: pytest.fail("cluster started"))
    if out == "file":
        out = pairs / "content" / "cat.png"
    before = digest(pairs)
    with pytest.raises(StyleTransferError):
        engine.sweep({"style_weight": [1]}, pairs, out, size=64, backbone="vgg16-hed")
    assert digest(pairs) == before


@pytest.mark.parametrize("bad", [{"workers": 0}, {"workers": -1}, {"workers": True},
                                 {"workers": 1.5}, {"max_runs": 0}, {"host": "a b"},
                                 {"dashboard_address": "x"}, {"client": "tcp://x:1"},
                                 {"on_result": 5}])
def test_the_api_refuses_bad_cluster_arguments_before_a_cluster(bad, tmp_path, monkeypatch):
    monkeypatch.setattr(engine, "local_client", lambda *a, **k: pytest.fail("cluster started"))
    with pytest.raises(StyleTransferError):
        engine.sweep({"style_weight": [1]}, [("chelsea", "swirls")], tmp_path / "o", **bad,
                     size=64, backbone="vgg16-hed")


def test_a_long_name_in_the_pairs_folder_or_output_is_one_line(tmp_path):
    long = tmp_path / ("p" * 300)
    refused(cli(str(long), "-o", str(tmp_path / "out"), *TINY), "too long")
    refused(cli("-o", str(tmp_path / ("o" * 300) / "x"), *TINY), "too long")


# --- hostile pairs folders ----------------------------------------------------------------

def test_a_fifo_among_the_photos_is_refused_without_reading_it(pairs):
    os.mkfifo(pairs / "content" / "pipe.png")
    refused(cli(str(pairs), "-o", str(pairs / "out"), *TINY), "pipe.png", "not a regular file")


@pytest.mark.parametrize("make, words", [
    (lambda f: (f / "content" / "gone.png").symlink_to(f / "nowhere.png"), "not found"),
    (lambda f: (f / "content" / "loop.png").symlink_to(f / "content" / "loop.png"),
     "cannot read"),
    (lambda f: (f / "content" / "dir.png").mkdir(), "a folder"),
    (lambda f: (f / "content" / "empty.png").write_bytes(b""), "not an image"),
    (lambda f: (f / "style" / "text.jpg").write_text("not a picture"), "not an image"),
    (lambda f: picture(f / "content" / "thin.png", (8, 400)), "needs at least 32 px"),
])
def test_a_bad_file_among_the_images_is_one_line(make, words, pairs):
    make(pairs)
    refused(cli(str(pairs), "-o", str(pairs / "out"), *TINY), *words.split("|"))


@pytest.mark.parametrize("make, words", [
    (lambda f: None, "no images in"),                                   # no pairs folder
    (lambda f: (f / "content").mkdir(parents=True), "no images in"),     # empty content/
    (lambda f: f.mkdir() or (f / "content").write_text("x"), "no images in"),  # a file
    (lambda f: os.mkfifo(f), "no images in"),                           # the folder a FIFO
])
def test_a_missing_or_empty_pairs_folder_is_one_line(make, words, tmp_path):
    folder = tmp_path / "pairs"
    make(folder)
    refused(cli(str(folder), "-o", str(tmp_path / "out"), *TINY), words)


def test_names_differing_in_suffix_case_or_unicode_make_distinct_runs(pairs):
    picture(pairs / "content" / "cat.jpg", value=30)
    picture(pairs / "content" / "Cat.png", value=60)
    picture(pairs / "content" / "ça été 🐈.png", value=120)
    picture(pairs / "content" / "._cat.png").write_bytes(b"AppleDouble junk")  # hidden: left out
    runs = sweep_grid.plan({"style_weight": [1, 2]}, pairs, size=64, backbone="vgg16-hed")
    assert len(runs) == 8
    names = [r.name for r in runs]
    assert len({n.lower() for n in names}) == 8
    assert {r.content.name for r in runs} == {"cat.png", "cat.jpg", "Cat.png", "ça été 🐈"}
    assert all(n.isascii() for n in names)


def test_a_symlink_to_an_image_elsewhere_is_an_image(pairs, tmp_path):
    (pairs / "content" / "linked.png").symlink_to(picture(tmp_path / "elsewhere.png"))
    runs = sweep_grid.plan({"style_weight": [1]}, pairs, size=64, backbone="vgg16-hed")
    assert {r.content.name for r in runs} == {"cat", "linked"}


def test_a_grid_of_a_trillion_runs_is_refused_without_making_them(monkeypatch):
    grid = {k: list(range(1, 101)) for k in ("seed", "maxfun", "iterations")}
    grid["style_weight"] = [float(v) for v in range(1, 1001)]
    monkeypatch.setattr(sweep_grid, "grid_points", lambda *a: pytest.fail("grid expanded"))
    with pytest.raises(StyleTransferError, match="makes 2,000,000,000 runs"):
        sweep_grid.plan(grid, None, max_runs=500)


def test_bad_pairs_from_python_are_one_line():
    for bad in ([("chelsea",)], "", [123], [(1, 2)], 7):
        with pytest.raises(StyleTransferError):
            sweep_grid.plan({"style_weight": [1]}, bad, size=64)


# --- the scheduler: no hangs --------------------------------------------------------------

def test_a_scheduler_that_accepts_but_never_answers_fails_in_one_line(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        port = server.getsockname()[1]
        done = cli("--scheduler", f"tcp://127.0.0.1:{port}", "-o", str(tmp_path / "o"),
                   "--style-weight", "1", *TINY, engine_allowed=True, timeout=60)
    finally:
        stop.set()
        thread.join()
        server.close()
    refused(done, "no Dask scheduler answered", "within 5 s")
    assert accepted  # it did connect, and waited for no answer past its timeout


def test_a_closed_port_is_one_line(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    done = cli("--scheduler", f"127.0.0.1:{port}", "-o", str(tmp_path / "o"), *TINY,
               engine_allowed=True)
    refused(done, "cannot reach the Dask scheduler", "refused")


# --- resume, the index and the lock (a real cluster, a task that paints no picture) ------

def fake_paint_task():
    """A task that writes a PNG and JSON as a run would, at once and without TensorFlow
    (made here so that it pickles by value for the workers)."""
    def fake(options, content, style, path, grouped=True):
        import json as _json

        import numpy as _np

        from helpers.files import write_text
        from helpers.images import save_image

        out = save_image(_np.full((40, 60, 3), 99, _np.uint8), path)
        history = [{"iteration": 2, "total": 3.0, "content": 1.0, "style": 1.5, "tv": 0.5,
                    "seconds": 0.01}]
        write_text(out.with_suffix(".json"), _json.dumps(
            {"settings": {k: v for k, v in options.items()}, "history": history,
             "stop_reason": "fake"}, default=str))
        return {"total": 3.0, "content_loss": 1.0, "style_loss": 1.5, "tv_loss": 0.5,
                "iterations_done": 2, "seconds": 0.01, "worker": "fake", "image": out.name,
                "stop_reason": "fake"}
    return fake


@pytest.fixture(scope="module")
def client():
    c = engine.local_client(64, workers=1)
    yield c
    engine.close(c)


FIXED = {"size": 64, "iterations": 2, "backbone": "vgg16-hed"}
GRID = {"style_weight": [10, 100]}
PAIR = [("chelsea", "swirls")]


def index_rows(out: Path) -> list[dict[str, str]]:
    with open(out / "index.csv", newline="") as f:
        return list(csv.DictReader(f))


def test_other_fixed_settings_paint_new_files_and_keep_the_old(client, tmp_path):
    first = engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                         progress=False, content_weight=1, **FIXED)
    assert first.ran == 2
    old = digest(tmp_path)
    again = engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                         progress=False, content_weight=2, **FIXED)
    assert (again.ran, again.skipped) == (2, 0)  # not "2 already on disk"
    now = digest(tmp_path)
    assert all(now[k] == v for k, v in old.items() if k.endswith((".png", ".json"))
               and k != "sheet.png")
    names = [r["name"] for r in index_rows(tmp_path)]
    assert len(names) == 4 == len(set(names))
    same = engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                        progress=False, content_weight=2, **FIXED)
    assert (same.ran, same.skipped) == (0, 2)
    assert len(index_rows(tmp_path)) == 4


@pytest.mark.parametrize("damage", [
    lambda p: p.write_text('{"history": [{"total": 1'),                        # truncated
    lambda p: p.write_text('{"settings": {}, "stop_reason": "x"}'),             # no history
    lambda p: p.write_text('{"history": [{"total": "NaN?", "content": 1, "style": 1, '
                           '"tv": 1}]}'),                                      # not a number
    lambda p: p.write_bytes(os.urandom(300)),                                   # binary
    lambda p: p.write_text("[]"),                                               # not a dict
    lambda p: (p.unlink(), p.mkdir()),                                          # a folder
])
def test_a_damaged_run_json_means_paint_it_again(damage, client, tmp_path):
    engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(), progress=False,
                 sheet=False, **FIXED)
    meta = sorted(tmp_path.glob("*.json"))[0]
    (tmp_path / "index.csv").unlink()
    damage(meta)
    if meta.is_dir():  # a folder where a JSON goes: refused before anything starts
        with pytest.raises(StyleTransferError, match="is a folder"):
            engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                         progress=False, **FIXED)
        return
    report = engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                          progress=False, **FIXED)
    assert (report.ran, report.skipped) == (1, 1)
    assert json.loads(meta.read_text())["history"][-1]["total"] == 3.0
    assert len(index_rows(tmp_path)) == 2


@pytest.mark.parametrize("damage", [
    lambda p: p.write_bytes(p.read_bytes()[:100]),                 # truncated, not empty (W31)
    lambda p: p.write_bytes(p.read_bytes()[:-20]),                 # its end chunk cut off
    lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(300)),  # a header, then noise
    lambda p: p.write_bytes(b""),                                  # empty
])
def test_a_damaged_run_picture_means_paint_it_again(damage, client, tmp_path):
    engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(), progress=False,
                 sheet=False, **FIXED)
    png = sorted(p for p in tmp_path.glob("*.png") if p.name != "sheet.png")[0]
    damage(png)  # its JSON and index row are whole: the picture alone is damaged
    with pytest.raises((OSError, SyntaxError, ValueError)), Image.open(png) as broken:
        broken.verify()
    report = engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                          progress=False, sheet=False, **FIXED)
    assert (report.ran, report.skipped) == (1, 1)
    with Image.open(png) as again:
        again.load()
        assert again.size == (60, 40)
    assert len(index_rows(tmp_path)) == 2


@pytest.mark.parametrize("content, words", [
    (b"\xff\xfe\x00binary\x00\x9c" * 40, "not a sweep index"),
    (b"a,b\n1,2\n", "lists other settings"),
])
def test_a_damaged_index_is_one_line_and_kept(content, words, pairs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.csv").write_bytes(content)
    refused(cli(str(pairs), "-o", str(out), *TINY, engine_allowed=True), words)
    assert (out / "index.csv").read_bytes() == content


def test_an_index_with_duplicate_rows_and_bad_losses_is_read_once(client, tmp_path):
    engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(), progress=False,
                 **FIXED)
    text = (tmp_path / "index.csv").read_text()
    header, *lines = text.splitlines()
    broken = [line.replace(",3.0,", ",banana,", 1) for line in lines]
    (tmp_path / "index.csv").write_text("\n".join([header, *lines, *broken]) + "\n")
    report = engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(),
                          progress=False, **FIXED)
    assert (report.ran, report.skipped) == (0, 2) and report.sheet is not None
    engine.sweep({"style_weight": [10, 100, 1000]}, PAIR, tmp_path, client=client,
                 task=fake_paint_task(), progress=False, **FIXED)
    names = [r["name"] for r in index_rows(tmp_path)]
    assert len(names) == len(set(names)) == 3


def test_a_second_sweep_into_the_same_folder_is_refused_naming_it(pairs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    with checks_lock(out):
        done = cli(str(pairs), "-o", str(out), *TINY, engine_allowed=True)
        refused(done, "another sweep is writing into", str(out))
        with pytest.raises(StyleTransferError, match="another sweep"):
            engine.sweep(GRID, PAIR, out, **FIXED)
    assert not (out / "index.csv").exists()


def checks_lock(out: Path):
    return engine.folder_lock(out.resolve())


def test_index_and_sheet_are_replaced_whole(client, tmp_path, monkeypatch):
    """Every write of index.csv and sheet.png goes through the atomic writer."""
    from helpers import files

    written = []
    real = files._atomic  # atomic_write's work, and write_text's and write_bytes'

    def spy(path):
        written.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(files, "_atomic", spy)
    engine.sweep(GRID, PAIR, tmp_path, client=client, task=fake_paint_task(), progress=False,
                 **FIXED)
    assert written.count("index.csv") == 2 and written.count("sheet.png") == 1
    assert not list(tmp_path.glob(".*.tmp*"))


# --- localhost, signals, no orphans (real runs: 64 px, 2 iterations, 1 worker) -----------

def listening(pid: int) -> set[tuple[str, int]]:
    """The listening sockets of process ``pid`` and its children."""
    found = set()
    try:
        me = psutil.Process(pid)
        procs = [me, *me.children(recursive=True)]
    except psutil.Error:
        return found
    for p in procs:
        try:
            found |= {(c.laddr.ip, c.laddr.port) for c in p.net_connections(kind="inet")
                      if c.status == psutil.CONN_LISTEN}
        except psutil.Error:
            continue
    return found


@pytest.mark.slow
def test_a_real_sweep_listens_on_this_machine_only(tmp_path):
    seen: set[tuple[str, int]] = set()
    report = engine.sweep(GRID, PAIR, tmp_path, workers=1, progress=False,
                          on_result=lambda row: seen.update(listening(os.getpid())), **FIXED)
    assert report.ran == 2 and report.failed == {}
    assert len(seen) >= 3  # the scheduler, its dashboard, the worker (and its nanny)
    assert {ip for ip, _ in seen} <= {"127.0.0.1", "::1"}, seen


def wait_for(check, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < end, "timed out"
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("signum, status, when, group", [
    (signal.SIGTERM, 143, "first row", False), (signal.SIGHUP, 129, "first row", True),
    (signal.SIGINT, 130, "first row", True), (signal.SIGTERM, 143, "cluster start", False),
    (signal.SIGINT, 130, "cluster start", True),
])
def test_a_signal_keeps_every_finished_run_and_leaves_no_worker(signum, status, when, group,
                                                                tmp_path):
    """``group``: sent to the whole process group, workers included, as a terminal sends
    Ctrl-C and its hang-up."""
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers", "sweep", "--style-weight", "1,2,3,4,5,6", *TINY,
         "--workers", "1", "--quiet", "-o", str(out)], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT, start_new_session=True)
    workers: set[int] = set()

    def started() -> bool:
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
            workers.update(k.pid for k in kids if "spawn_main" in " ".join(k.cmdline()))
        except psutil.Error:
            pass
        return bool(workers) if when == "cluster start" else (out / "index.csv").exists()

    try:
        wait_for(started)
        if group:
            os.killpg(proc.pid, signum)
        else:
            proc.send_signal(signum)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == status, stderr
    assert "Traceback" not in stdout + stderr
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: stopped by"), stderr
    wait_for(lambda: not any(psutil.pid_exists(p) and psutil.Process(p).status()
                             != psutil.STATUS_ZOMBIE for p in workers), 30)
    if when == "first row":
        rows = index_rows(out)
        assert rows and all((out / r["image"]).exists() and (out / r["image"]).with_suffix(
            ".json").exists() for r in rows)
        assert len({r["name"] for r in rows}) == len(rows)


# --- the checks module alone --------------------------------------------------------------

def test_scheduler_addresses():
    assert checks.check_scheduler("127.0.0.1:8786") == ("tcp://127.0.0.1:8786", "127.0.0.1",
                                                       8786)
    assert checks.check_scheduler("tcp://[::1]:8786")[1:] == ("::1", 8786)
    for bad in ("tcp://host", "tcp://host:port", "tcp://a b:1", "tcp://h:1/path", "ws//x"):
        with pytest.raises(StyleTransferError):
            checks.check_scheduler(bad)


# --- more hostile cases -------------------------------------------------------------------

def test_an_output_folder_that_links_into_the_photos_is_refused(pairs, tmp_path):
    (tmp_path / "out").symlink_to(pairs / "content")
    before = digest(pairs)
    refused(cli(str(pairs), "-o", str(tmp_path / "out"), *TINY), "would become inputs")
    assert digest(pairs) == before


def test_the_pairs_folder_itself_may_hold_the_results(pairs):
    runs = sweep_grid.plan({"style_weight": [1, 2]}, pairs, size=64, backbone="vgg16-hed")
    assert checks.check_out(pairs, runs, pairs) == pairs.resolve()


def test_a_sheet_or_lock_that_is_an_input_or_a_pipe_is_refused(pairs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    before = digest(pairs)
    (out / "sheet.png").symlink_to(pairs / "style" / "art.png")
    refused(cli(str(pairs), "-o", str(out), *TINY), "would overwrite the input")
    (out / "sheet.png").unlink()
    os.mkfifo(out / checks.LOCK)
    refused(cli(str(pairs), "-o", str(out), *TINY), "pipe")
    assert digest(pairs) == before


def test_a_web_server_given_as_the_scheduler_is_one_line(tmp_path):
    import http.server

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = cli("--scheduler", f"tcp://127.0.0.1:{server.server_port}", "-o",
                   str(tmp_path / "o"), *TINY, engine_allowed=True)
    finally:
        server.shutdown()
    refused(done, "no Dask scheduler answered")


class Stranger:
    """A server on 127.0.0.1 that answers every connection with ``banner`` (what a web or SSH
    server says first), reads what comes and hangs up: no Dask scheduler."""

    def __init__(self, banner: bytes) -> None:
        self.banner, self.served = banner, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn = self.server.accept()[0]
            except OSError:
                continue
            with conn:
                conn.settimeout(0.5)
                conn.sendall(self.banner)
                self.served += 1
                try:
                    conn.recv(4096)
                except OSError:
                    pass

    def __enter__(self) -> Stranger:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.server.close()


BANNERS = [b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
           b"SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6\r\n"]


@pytest.mark.parametrize("banner", BANNERS, ids=["http-400", "ssh"])
@pytest.mark.parametrize("scheme", ["tcp://", ""])
def test_a_server_that_answers_in_another_protocol_is_one_line(banner, scheme, pairs,
                                                               tmp_path):
    before = digest(pairs)
    with Stranger(banner) as server:
        done = cli("--scheduler", f"{scheme}127.0.0.1:{server.port}", str(pairs), "-o",
                   str(tmp_path / "o"), *TINY, engine_allowed=True, timeout=60)
    line = refused(done, "does not answer as a Dask scheduler", f"127.0.0.1:{server.port}")
    assert "within" not in line and server.served  # it answered, at once, in a foreign tongue
    assert digest(pairs) == before and not list((tmp_path / "o").iterdir())


@pytest.mark.parametrize("banner", BANNERS, ids=["http-400", "ssh"])
def test_connect_to_a_server_that_is_not_dask_raises_our_error(banner):
    from helpers.sweeps import connect

    with Stranger(banner) as server, pytest.raises(
            StyleTransferError, match="does not answer as a Dask scheduler"):
        connect(f"tcp://127.0.0.1:{server.port}")


def test_ctrl_c_while_connecting_is_not_taken_for_a_foreign_server(monkeypatch):
    from helpers.sweeps import cluster

    async def interrupted(address, timeout):
        raise KeyboardInterrupt

    with Stranger(BANNERS[0]) as server:
        monkeypatch.setattr(cluster, "_identity", interrupted)
        with pytest.raises(KeyboardInterrupt):
            cluster.connect(f"tcp://127.0.0.1:{server.port}")


def test_the_same_pair_twice_or_an_empty_grid_is_one_line(monkeypatch):
    with pytest.raises(StyleTransferError, match="the same values"):
        sweep_grid.plan({"style_weight": [1]}, [("chelsea", "swirls")] * 2, size=64)
    for grid in ({"style_weight": {}}, {"style_weight": []}, [("style_weight", 1)]):
        with pytest.raises(StyleTransferError):
            sweep_grid.plan(grid, None, size=64)
    with pytest.raises(StyleTransferError, match="did you mean 'style_weight'"):
        sweep_grid.plan({"style_weights": [1]}, None, size=64)
    with pytest.raises(StyleTransferError, match="init 'image'"):
        sweep_grid.plan({"init": ["image"]}, None, size=64)


def test_labels_that_clean_to_one_file_name_still_make_two_files():
    runs = sweep_grid.plan({"style_weight": {"a b": 1, "a_b": 2, "a/b": 3}},
                           [("chelsea", "swirls")], size=64)
    assert len({r.name for r in runs}) == 3
    assert all("/" not in r.name and " " not in r.name for r in runs)


def test_an_empty_or_bom_index_resumes(tmp_path):
    from helpers.sweeps.engine import RESULT_COLUMNS, Index

    columns = ["name", "content", "style", "style_weight", *RESULT_COLUMNS]
    (tmp_path / "index.csv").write_bytes(b"")
    assert Index(tmp_path / "index.csv", columns).open().names == set()
    row = "r1,chelsea,swirls,10,1,1,1,1,2,0.1,w,done,r1.png\n"
    (tmp_path / "index.csv").write_text("\ufeff" + ",".join(columns) + "\n" + row)
    assert Index(tmp_path / "index.csv", columns).open().names == {"r1"}


def test_the_live_grid_shows_a_damaged_run_as_empty(tmp_path):
    from helpers.sweeps.live import LiveGrid

    runs = sweep_grid.plan({"style_weight": [1, 2]}, [("chelsea", "swirls")], size=64)
    live = LiveGrid(runs, tmp_path, ncols=2)
    first, second = (r.name for r in runs)
    live.add({"name": first, "image": "missing.png", "total": "1"})
    picture(tmp_path / f"{second}.png")
    (tmp_path / f"{second}.json").write_text("{broken")
    live.add({"name": second, "image": f"{second}.png", "total": "banana"})
    assert live.buttons[second].description.endswith(("2", "2 "))  # no loss to show
    live.select(second)
    assert live.load_button.disabled
    with pytest.raises(StyleTransferError, match="holds no settings"):
        live.recorded_settings(second)


@pytest.mark.slow
def test_a_scheduler_that_dies_mid_sweep_ends_in_one_line_keeping_the_finished(tmp_path):
    script = tmp_path / "scheduler.py"
    script.write_text(
        "import time\nfrom distributed import LocalCluster\nif __name__ == '__main__':\n"
        "    c = LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=None)\n"
        "    print(c.scheduler_address, flush=True)\n    time.sleep(600)\n")
    scheduler = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, env=ENV)
    out = tmp_path / "out"
    try:
        address = scheduler.stdout.readline().strip()
        sweep = subprocess.Popen(
            [sys.executable, "-m", "helpers", "sweep", "--scheduler", address,
             "--style-weight", "1,2,3,4,5,6", *TINY, "--quiet", "-o", str(out)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
        wait_for(lambda: (out / "index.csv").exists())
        for p in [*psutil.Process(scheduler.pid).children(recursive=True),
                  psutil.Process(scheduler.pid)]:
            p.kill()
        stdout, stderr = sweep.communicate(timeout=60)
    finally:
        scheduler.kill()
    refused(subprocess.CompletedProcess([], sweep.returncode, stdout, stderr),
            "lost the Dask scheduler")
    rows = index_rows(out)
    assert rows and all((out / r["image"]).exists() for r in rows)
