"""The grader's files in a folder a student's kernel can write (notebooks/exercises, graded
by helpers.exercises.grading): the job files are written without following or reopening
anything the kernel puts there, no mode is copied from a file it planted, a forged answer
is refused before anything large is made, and a link at an answer's name is not followed.
"""

from __future__ import annotations

import io
import json
import os
import signal
import stat
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest

from helpers import files
from helpers.errors import StyleTransferError
from helpers.exercises import judge

CANARY = b"grader-owned file outside the kernel's folder\n"


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A file outside the kernel's folder that nothing may change."""
    path = tmp_path / "outside" / "canary.txt"
    path.parent.mkdir()
    path.write_bytes(CANARY)
    path.chmod(0o600)
    return path


def _unchanged(canary: Path) -> None:
    assert canary.read_bytes() == CANARY
    assert stat.S_IMODE(os.lstat(canary).st_mode) == 0o600


@pytest.fixture
def swap_new_temp_files(monkeypatch: pytest.MonkeyPatch, canary: Path) -> list[str]:
    """Every hidden temporary file created is at once replaced by a link to the canary (what
    a kernel watching its folder with inotify does), between its creation and the write."""
    real_open, swapped = os.open, []

    def racing_open(path, flags, mode=0o777, *, dir_fd=None):  # noqa: ANN001, ANN202
        fd = real_open(path, flags, mode, dir_fd=dir_fd)
        name = os.path.basename(os.fsdecode(path))
        if flags & os.O_CREAT and name.startswith("."):
            os.unlink(path, dir_fd=dir_fd)
            os.symlink(canary, path, dir_fd=dir_fd)
            swapped.append(name)
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    return swapped


def _job_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "kernel-workdir"
    folder.mkdir()
    judge.start_run(1)
    return folder


def test_write_job_never_writes_or_chmods_through_a_link_swapped_in(
        tmp_path: Path, canary: Path, swap_new_temp_files: list[str]) -> None:
    folder = _job_folder(tmp_path)
    try:
        judge.write_job("gram", "gram_matrix", folder, "gram")
    except StyleTransferError:
        pass  # refusing is fine; writing or chmodding through the link is not
    assert swap_new_temp_files, "the hook saw no temporary file"
    _unchanged(canary)
    for entry in folder.iterdir():  # what is left is the kernel's links, never our data
        assert entry.is_symlink() or stat.S_IMODE(entry.lstat().st_mode) == 0o644


def test_write_job_copies_no_mode_from_a_planted_setuid_file(tmp_path: Path,
                                                           canary: Path) -> None:
    folder = _job_folder(tmp_path)
    for name in ("inputs-gram.npz", "job-gram.json"):
        (folder / name).write_bytes(b"planted")
        os.chmod(folder / name, 0o4777)
    (folder / "job-x.json").symlink_to(canary)
    judge.write_job("gram", "gram_matrix", folder, "gram")
    judge.write_job("gram", "gram_matrix", folder, "x")
    for name in ("inputs-gram.npz", "job-gram.json", "job-x.json", "inputs-x.npz"):
        info = os.lstat(folder / name)
        assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o644, name
    job = json.loads((folder / "job-gram.json").read_text())
    with np.load(folder / job["inputs"], allow_pickle=False) as npz:
        assert npz.files
    _unchanged(canary)


def test_atomic_write_drops_setuid_and_never_chmods_through_a_link(tmp_path: Path,
                                                                   canary: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o4755)
    files.write_bytes(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    with pytest.raises(StyleTransferError), files.atomic_write(target) as tmp:
        tmp.write_bytes(b"newer")
        tmp.unlink()
        tmp.symlink_to(canary)  # another process swaps the temporary file for a link
    assert target.read_bytes() == b"new" and not target.is_symlink()
    assert not any(p.name.startswith(".out.") for p in tmp_path.iterdir())
    _unchanged(canary)


def test_write_bytes_writes_through_its_descriptor(tmp_path: Path, canary: Path,
                                                   swap_new_temp_files: list[str]) -> None:
    with pytest.raises(StyleTransferError):
        files.write_bytes(tmp_path / "out.bin", b"data")
    assert swap_new_temp_files
    _unchanged(canary)


def test_a_link_at_an_answers_name_is_not_followed(tmp_path: Path, canary: Path) -> None:
    answer = tmp_path / "answer-gram.npz"
    answer.symlink_to(canary)
    with pytest.raises(StyleTransferError, match="symbolic link"):
        files.read_bytes(answer, 1 << 20, "an answer", follow_links=False)
    (tmp_path / "gone.npz").symlink_to(tmp_path / "missing")  # no probing: same refusal
    with pytest.raises(StyleTransferError, match="symbolic link"):
        files.read_bytes(tmp_path / "gone.npz", 1 << 20, "an answer", follow_links=False)
    assert files.read_bytes(answer, 1 << 20) == CANARY  # the default still follows links
    real = tmp_path / "real.npz"
    real.write_bytes(b"x" * 10)
    assert files.read_bytes(real, 4, follow_links=False) == b"xxxx"


def test_a_pipe_swapped_in_after_the_check_does_not_hang_a_read(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "answer.json"
    path.write_bytes(b"{}")
    real_check = files.check_input

    def then_swap(p, what="input"):  # noqa: ANN001, ANN202
        checked = real_check(p, what)
        path.unlink()
        os.mkfifo(path)
        return checked

    monkeypatch.setattr(files, "check_input", then_swap)
    old = signal.signal(signal.SIGALRM, lambda *_: pytest.fail("the read waited on a pipe"))
    signal.alarm(10)
    try:
        with pytest.raises(StyleTransferError, match="pipe"):
            files.read_bytes(path, 100, "an answer")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------------------ forged answers

def _npz_declaring(count: int, data: bytes, compress: bool = False) -> bytes:
    """An npz whose one member ``x.npy`` declares ``count`` float64 values but holds
    ``data`` after its header."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False,
                                                  "shape": (count,)})
    out = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(out, "w", method) as z, z.open("x.npy", "w", force_zip64=True) as f:
        f.write(header.getvalue())
        f.write(data)
    return out.getvalue()


def _verdict_and_peak(record: dict, data: bytes) -> tuple[float, str, int]:
    from helpers.exercises.grading import _verdict

    judge.start_run(1)
    tracemalloc.start()
    try:
        credit, message = _verdict("gram", (record, data), Path("."))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return credit, message, peak


def _empty_npz() -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("out", [
    {"k": "list", "len": 50_000_000},
    {"k": "tuple", "len": 1.5e308},
    {"k": "list", "len": 1, "items": [{"k": "list", "len": 1, "items": [5]}]},
    {"k": "py", "type": "int", "v": float("inf")},
    json.loads('{"k": "list", "len": 1, "items": [' * 40 + '{"k": "none"}' + "]}" * 40),
], ids=["long", "huge-float-length", "not-a-description", "infinite-int", "deep"])
def test_a_forged_description_is_refused_small(out: dict) -> None:
    record = {"graded": [{"status": "ok", "out": out}]}
    credit, message, peak = _verdict_and_peak(record, _empty_npz())
    assert credit == 0.0 and message.startswith("a forged answer"), message
    assert "\n" not in message and "Traceback" not in message
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB traced"


@pytest.mark.parametrize("count, data, compress", [
    (100_000_000, b"\0" * 64, False),         # the header lies about the member's size
    (9_000_000, b"\0" * 72_000_000, True),    # honest, but more than an answer holds
], ids=["lying-header", "over-the-cap"])
def test_a_forged_npz_member_is_refused_before_it_is_read(count: int, data: bytes,
                                                         compress: bool) -> None:
    record = {"graded": [{"status": "ok", "out": {"k": "ndarray", "key": "x"}}]}
    npz = _npz_declaring(count, data, compress)
    credit, message, peak = _verdict_and_peak(record, npz)
    assert credit == 0.0 and message.startswith("a forged answer"), message
    assert peak < 32 * 2**20, f"{peak / 2**20:.0f} MiB traced"


def test_a_damaged_member_is_refused_as_forged() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.arange(1000.0))
    data = bytearray(buffer.getvalue())
    data[data.index(b"\x00\x00\x00\x00\x00\x00\xf0?")] ^= 1  # 1.0 -> another: bad CRC
    record = {"graded": [{"status": "ok", "out": {"k": "ndarray", "key": "x"}}]}
    credit, message, _ = _verdict_and_peak(record, bytes(data))
    assert credit == 0.0 and message.startswith("a forged answer"), message
    assert "damaged" in message and "\n" not in message


def test_an_honest_answer_reads_through_the_checks() -> None:
    buffer = io.BytesIO()
    np.savez(buffer, x=np.arange(6.0).reshape(2, 3), y=np.float32(2.5))
    with np.load(io.BytesIO(buffer.getvalue()), allow_pickle=False) as npz:
        answers = judge.Answers(npz)
        assert not answers.forged and "x" in answers and sorted(answers.files) == ["x", "y"]
        got = judge.decode({"k": "tuple", "len": 3, "items": [
            {"k": "ndarray", "key": "x", "dtype": "float64"}, {"k": "scalar", "key": "y"}]},
            answers)
    assert isinstance(got, tuple) and len(got) == 3 and got[2] is None
    np.testing.assert_array_equal(got[0], np.arange(6.0).reshape(2, 3))
    assert got[1] == np.float32(2.5)


def test_the_runner_reads_no_answer_through_a_link_nor_a_forged_deep_record(tmp_path):
    """A link the kernel plants at an answer's name is no answer (its target is never
    read), and a record nested past Python's recursion limit is no answer, not a crash."""
    from helpers.exercises.runner import read_answer

    secret = tmp_path / "secret.json"
    secret.write_text('{"npz_sha256": "x"}')
    work = tmp_path / "work"
    work.mkdir()
    (work / "a.json").symlink_to(secret)
    (work / "a.npz").write_bytes(b"PK")
    assert read_answer(work, "a") == (None, b"")
    (work / "b.json").write_text("[" * 100_000 + "]" * 100_000)
    (work / "b.npz").write_bytes(b"PK")
    assert read_answer(work, "b") == (None, b"")


def test_write_into_refuses_a_folder_swapped_for_a_link(tmp_path: Path, canary: Path) -> None:
    """A kernel replaces its working folder by a link to a folder of the grader's: the job
    is refused, nothing is written there."""
    work = tmp_path / "kernel-workdir"
    work.symlink_to(canary.parent, target_is_directory=True)
    with pytest.raises(StyleTransferError, match="the folder is a symbolic link"):
        files.write_into(work, "job-gram.json", b"{}")
    assert sorted(p.name for p in canary.parent.iterdir()) == ["canary.txt"]
    _unchanged(canary)
    real = tmp_path / "real"
    real.mkdir()
    assert files.write_into(real, "job.json", b"{}").read_bytes() == b"{}"
