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
