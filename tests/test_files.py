"""helpers.files.atomic_write: the target is the old file or the complete new one, never a
half-written one, and no temporary file is left behind."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from helpers.files import atomic_write


def test_success_replaces_the_target_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.json"
    target.write_text("old")
    with atomic_write(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".json" and tmp != target
        tmp.write_text("new")
        assert target.read_text() == "old"  # untouched until the body has finished
    assert target.read_text() == "new"
    assert os.listdir(tmp_path) == ["out.json"]


def test_a_failing_writer_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "out.png"
    target.write_bytes(b"old picture")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(target) as tmp:
            tmp.write_bytes(b"half a pic")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old picture"
    assert os.listdir(tmp_path) == ["out.png"]


def test_keyboard_interrupt_also_cleans_up(tmp_path):
    target = tmp_path / "checkpoint.npz"
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target) as tmp:
            np.savez(tmp, x=np.zeros(3))
            raise KeyboardInterrupt
    assert os.listdir(tmp_path) == []


def test_writers_that_pick_a_format_by_suffix_still_work(tmp_path):
    target = tmp_path / "checkpoint.npz"
    with atomic_write(target) as tmp:
        np.savez(tmp, x=np.arange(3))  # np.savez appends .npz unless the name ends with it
    with np.load(target) as data:
        np.testing.assert_array_equal(data["x"], np.arange(3))
    assert os.listdir(tmp_path) == ["checkpoint.npz"]


def test_two_writers_in_one_folder_never_share_a_temporary_name(tmp_path):
    target = tmp_path / "latest.png"
    names, ready = [], threading.Barrier(8)

    def write(i: int) -> None:
        with atomic_write(target) as tmp:
            names.append(tmp)
            ready.wait()  # all eight temporary files exist at the same time
            tmp.write_text(str(i))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(names)) == 8
    assert target.read_text() in {str(i) for i in range(8)}
    assert os.listdir(tmp_path) == ["latest.png"]


def test_new_files_get_the_usual_permissions_and_old_ones_keep_theirs(tmp_path):
    fresh = tmp_path / "fresh.txt"
    with atomic_write(fresh) as tmp:
        tmp.write_text("x")
    umask = os.umask(0)
    os.umask(umask)
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~umask
    kept = tmp_path / "kept.txt"
    kept.write_text("x")
    kept.chmod(0o640)
    with atomic_write(kept) as tmp:
        tmp.write_text("y")
    assert kept.stat().st_mode & 0o777 == 0o640


# The output guard, the input check and the writers every command shares (helpers.files).

from helpers.errors import StyleTransferError  # noqa: E402
from helpers.files import (  # noqa: E402
    check_input,
    check_output,
    read_bytes,
    same_file,
    write_text,
)


def test_check_output_refuses_an_input_by_path_symlink_dot_and_hard_link(tmp_path):
    photo = tmp_path / "photo.png"
    photo.write_bytes(b"the photo")
    (tmp_path / "link.png").symlink_to(photo)
    os.link(photo, tmp_path / "hard.png")
    (tmp_path / "alias").symlink_to(tmp_path)
    for written in (photo, tmp_path / "link.png", tmp_path / "hard.png",
                    tmp_path / "." / "photo.png", tmp_path / "alias" / "photo.png"):
        with pytest.raises(StyleTransferError, match="would overwrite the input"):
            check_output(written, [photo])
    assert photo.read_bytes() == b"the photo"
    assert check_output(tmp_path / "new.png", [photo]) == tmp_path / "new.png"


def test_check_output_keeps_the_name_and_refuses_folders_pipes_devices_long_names(tmp_path):
    assert check_output(tmp_path / "grid.jpg") == tmp_path / "grid.jpg"  # never renamed
    os.mkfifo(tmp_path / "pipe.png")
    cases = {tmp_path: "is a folder", tmp_path / "pipe.png": "pipe",
             "/dev/null": "device", tmp_path / ("x" * 300 + ".png"): "too long",
             "": "empty", " ": "empty"}
    for path, message in cases.items():
        with pytest.raises(StyleTransferError, match=message):
            check_output(path)


def test_check_output_refuses_a_folder_that_cannot_be_written(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StyleTransferError, match="is a file, not a folder"):
        check_output(tmp_path / "file" / "out.png")


def test_check_input_refuses_what_is_not_a_regular_file(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    for path, message in {tmp_path / "missing": "not found", tmp_path: "folder",
                          tmp_path / "pipe": "pipe", "/dev/zero": "device"}.items():
        with pytest.raises(StyleTransferError, match=message):
            check_input(path, "the notebook")


def test_read_bytes_stops_at_its_limit(tmp_path):
    big = tmp_path / "log"
    with open(big, "wb") as f:
        f.truncate(3 << 30)  # a 3 GB sparse file: read whole, it would exhaust memory
    assert len(read_bytes(big, 1000)) == 1000


def test_same_file_follows_links_and_dots(tmp_path):
    a = tmp_path / "a"
    a.write_text("a")
    assert same_file(a, tmp_path / "." / "a") and not same_file(a, tmp_path / "b")


def test_a_full_disk_is_one_line_and_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "out.json"
    target.write_text("old")

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StyleTransferError, match="No space left on device.*previous file"):
        write_text(target, "new")
    assert target.read_text() == "old" and os.listdir(tmp_path) == ["out.json"]


def test_atomic_write_refuses_to_replace_a_device(tmp_path):
    with pytest.raises(StyleTransferError, match="device"):
        write_text("/dev/null", "x")
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")


def test_a_trailing_slash_names_a_folder_even_before_it_exists(tmp_path):
    """Found by a cold review: Path() drops the slash, so 'newdir/' was saved as newdir.png."""
    with pytest.raises(StyleTransferError, match="is a folder"):
        check_output(f"{tmp_path}/newdir/")


def test_files_written_together_are_replaced_together_when_a_signal_comes(tmp_path,
                                                                        monkeypatch):
    """A signal between the two renames (the JSON is renamed before the image) waits: both
    files are the new ones, then the signal is raised."""
    import signal as signals

    from helpers.files import atomic_together
    from helpers.signals import Stopped, stop_on_signals

    png, meta = tmp_path / "r.png", tmp_path / "r.json"
    png.write_text("old picture")
    meta.write_text("old json")
    real, calls = os.replace, []

    def replace_then_signal(src, dst):
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signals.SIGTERM)
            signals.sigtimedwait([], 0.2)

    monkeypatch.setattr(os, "replace", replace_then_signal)
    with pytest.raises(Stopped):
        with stop_on_signals(), atomic_together(png, meta) as (a, b):
            a.write_text("new picture")
            b.write_text("new json")
    assert (png.read_text(), meta.read_text()) == ("new picture", "new json")
