"""The grader's files in a folder a student's kernel can write (notebooks/exercises, graded
by helpers.exercises.grading): the job files are written without following or reopening
anything the kernel puts there, no mode is copied from a file it planted, a forged answer
is refused before anything large is made, and a link at an answer's name is not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import errno
import io
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import threading
import tracemalloc
import zipfile
from pathlib import Path

import nbformat
import numpy as np
import pytest

from helpers import files
from helpers.errors import StyleTransferError
from helpers.exercises import judge

ROOT = Path(__file__).resolve().parent.parent
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
    _verdict("gram", ({"graded": []}, _empty_npz()), Path("."))  # its imports, not traced
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



# ------------------------------------------------------------- a kernel filling its folders

#: A cell trying to unmount its working folder or remount it bigger, then writing into it and
#: into its connection folder until refused (or 3x the cap: bounded even where nothing caps
#: it), then making empty files until refused (or 100 000), each measured and cleaned up
#: unless KEEP.
FILL = """import os, ipykernel.connect
def fill(path, bound):
    fd, written = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 0
    try:
        while written < bound:
            written += os.write(fd, bytes(2**20))
    except OSError as exc:
        return written, exc.errno
    finally:
        os.close(fd)
    return written, 0
def many(folder, bound):
    os.mkdir(folder)
    made = 0
    try:
        while made < bound:
            os.close(os.open(f"{folder}/{made}", os.O_WRONLY | os.O_CREAT, 0o600))
            made += 1
    except OSError as exc:
        return made, exc.errno
    return made, 0
private = os.path.dirname(ipykernel.connect.get_connection_file())
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
figures = []
for flags, data in ((None, None), (32 | 4096, b"size=100g"), (32, b"size=100g")):
    done = libc.umount2(b".", 2) if flags is None else libc.mount(b"none", b".", None, flags, data)
    figures.append(ctypes.get_errno() if done else 0)  # 0: unmounted or remounted
figures.append(os.statvfs(".").f_blocks * os.statvfs(".").f_frsize)
for path in ("big.bin", os.path.join(private, "big.bin")):
    figures += fill(path, 3 * CAP * 2**20)
    KEEP or os.unlink(path)
figures += many("many", 100_000)
if not KEEP:
    import shutil
    shutil.rmtree("many")
"""
#: The student's deprocess, on the hidden inputs, raises the figures (its traceback is shown).
SAY = """def deprocess(x):
    raise RuntimeError("NST-FIGURES " + " ".join(map(str, figures)))
"""


def _filling_class(folder: Path, cap_mb: int) -> Path:
    """mallory fills her folders, measures, cleans up, then answers (her deprocess says
    the figures); hoarder fills them and leaves them full (the grader cannot hand her the
    hidden inputs)."""
    sys.path.insert(0, str(Path(__file__).parent / "data"))
    import submissions

    for student, keep in (("mallory", False), ("hoarder", True)):
        nb = submissions.right()
        nb.cells.insert(1, nbformat.v4.new_code_cell(f"CAP, KEEP = {cap_mb}, {keep}\n{FILL}",
                                                     id="fill"))
        nb.cells.append(nbformat.v4.new_code_cell(SAY, id="say"))
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, folder / student / submissions.NOTEBOOK)
    return folder


def _figures(page: str) -> list[int]:
    found = re.search(r"NST-FIGURES ([\d ]+)", page)
    assert found, page[-2000:]
    return [int(n) for n in found.group(1).split()]


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_kernel_filling_its_folders_stops_at_the_cap_and_is_still_graded(tmp_path):
    """Issue 32, C: a cell writing gigabytes into its working folder or its connection
    folder, or making 100 000 files, stops at the notebook folder's cap (ENOSPC), the
    grader's disk untouched; mallory, who cleans up, is graded in full; hoarder, who leaves
    the folder full, gets each check's reason; every file the grader writes is on the disk,
    its user's."""
    from helpers.exercises import EXERCISES_DIR
    from helpers.exercises.hiding import hiding_works
    from helpers.exercises.worker import FOLDER_FILES, folder_mb

    if not hiding_works():
        pytest.skip("this machine refuses user namespaces: nothing is capped (the grader "
                    "says so)")
    cap = folder_mb(2048)
    source = tmp_path / "source"
    source.mkdir()
    (source / "ex01_preprocess.ipynb").write_bytes(
        (EXERCISES_DIR / "ex01_preprocess.ipynb").read_bytes())
    klass = _filling_class(tmp_path / "class", cap)
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "helpers", "exercises", "--grade", str(klass), "--source",
         str(source), "-o", str(out / "grades.csv"), "--memory-mb", "2048", "--timeout",
         "120", "--jobs", "2"], capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {(r["student"], r["check"]): r for r in csv.DictReader(f)}
    *lift, size, work, work_err, private, private_err, files_made, files_err = _figures(
        (out / "feedback" / "mallory.md").read_text())
    assert lift == [errno.EPERM] * 3 and size == cap * 2**20, (lift, size)  # cap stays
    assert work_err == errno.ENOSPC and cap * 2**20 * 0.9 < work <= cap * 2**20, work
    assert private_err == errno.ENOSPC and private <= cap * 2**20, private
    assert files_err == errno.ENOSPC and FOLDER_FILES * 0.9 < files_made < FOLDER_FILES, \
        files_made
    assert rows["mallory", "preprocess"]["passed"] == "true", rows["mallory", "preprocess"]
    for check in ("preprocess", "deprocess"):
        message = rows["hoarder", check]["message"]
        assert "hidden inputs could not be written" in message and f"{cap} MiB" in message
    for made in (out / "grades.csv", out / "feedback" / "mallory.md"):
        assert made.stat().st_uid == os.getuid() and made.stat().st_gid == os.getgid()


# -------------------------------------------------------- the kernel's socket files (D)

class _Manager:
    """What :func:`take_sockets` reads of a kernel manager: a kernel alive, its socket
    files' prefix ``ip`` and its ports (1 to 5)."""

    def __init__(self, ip: str) -> None:
        from helpers.exercises.kernel_sockets import CHANNELS

        self.ip, self.provisioner = ip, None
        for port, channel in enumerate(CHANNELS, 1):
            setattr(self, f"{channel}_port", port)

    async def is_alive(self) -> bool:
        return True


def _listening(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(8)
    return sock


@pytest.mark.parametrize("planted", ["link", "file", "pipe"])
def test_a_socket_file_that_is_not_a_socket_is_refused(tmp_path: Path, planted: str) -> None:
    """Before the first connect, each of the kernel's socket files must be a socket of this
    user: a link (to another socket of the grader's), a file or a pipe in one's place
    stops the kernel with "not graded: ..." and nothing is connected to."""
    from helpers.exercises.kernel_sockets import RefusedKernel, take_sockets

    private = tmp_path / "k"
    private.mkdir()
    victim = _listening(tmp_path / "victim.sock")
    victim.settimeout(0.2)
    kernel = [_listening(private / f"kernel-ipc-{port}") for port in range(1, 5)]
    bad = private / "kernel-ipc-5"
    {"link": lambda: bad.symlink_to(tmp_path / "victim.sock"), "file": bad.touch,
     "pipe": lambda: os.mkfifo(bad)}[planted]()
    km = _Manager(str(private / "kernel-ipc"))
    with pytest.raises(RefusedKernel, match=r"^not graded: .*kernel-ipc-5 is a "):
        asyncio.run(take_sockets(km, tmp_path / "grader"))
    assert km.ip == str(private / "kernel-ipc")  # never pointed at what it found
    with pytest.raises(TimeoutError):
        victim.accept()
    for sock in [victim, *kernel]:
        sock.close()


def test_the_grader_connects_through_links_of_its_own(tmp_path: Path) -> None:
    """Five sockets of this user: each is hard-linked into the grader's folder, where the
    kernel cannot replace it, and a connect through the link reaches the kernel's socket."""
    from helpers.exercises.kernel_sockets import take_sockets

    private = tmp_path / "k"
    private.mkdir()
    kernel = [_listening(private / f"kernel-ipc-{port}") for port in range(1, 6)]
    km = _Manager(str(private / "kernel-ipc"))
    asyncio.run(take_sockets(km, tmp_path / "grader"))
    assert km.ip == str(tmp_path / "grader" / "kernel-ipc")
    for port in range(1, 6):
        ours = tmp_path / "grader" / f"kernel-ipc-{port}"
        assert os.path.samestat(os.lstat(ours), os.lstat(private / f"kernel-ipc-{port}"))
    (private / "kernel-ipc-1").unlink()  # what the kernel does to its names is not seen
    (private / "kernel-ipc-1").symlink_to(tmp_path / "elsewhere")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.connect(str(tmp_path / "grader" / "kernel-ipc-1"))
        kernel[0].settimeout(5)
        kernel[0].accept()[0].close()
    for sock in kernel:
        sock.close()


@pytest.mark.parametrize("hidden", [True, False])
def test_the_graders_sockets_to_a_hidden_kernel_never_reconnect(tmp_path, hidden):
    """The manager's and the client's sockets to a hidden kernel (ipc) do not reconnect
    within a grading; to one that cannot hide (tcp) they keep ZeroMQ's retries (its first
    connect may come before the kernel listens)."""
    import zmq

    from helpers.exercises.kernel_sockets import NO_RECONNECT_MS
    from helpers.exercises.runner import RunSettings, kernel_manager

    km = kernel_manager(tmp_path / "kernels-x", RunSettings(must_hide=hidden))
    client = km.client()  # kept: a client destroys its context when collected
    for context in (km.context, client.context):
        with context.socket(zmq.DEALER) as sock:
            assert sock.getsockopt(zmq.RECONNECT_IVL) == (NO_RECONNECT_MS if hidden else 100)
            assert sock.getsockopt(zmq.MAXMSGSIZE) > 0
        context.destroy(linger=0)


@pytest.mark.notebooks
def test_a_kernel_planting_links_at_its_socket_names_reaches_no_other_socket(tmp_path):
    """Issue 32, D: a cell replaces each of its socket files by a link to a socket of the
    grader's and ends its kernel; the grader's sockets, disconnected, must not reconnect
    through the links (they reached the other socket before: the handshake's bytes)."""
    from helpers.exercises.grading import GradeRun, run_settings
    from helpers.exercises.hiding import hiding_works
    from helpers.exercises.runner import new_token, run_notebook

    if not hiding_works():
        pytest.skip("this machine refuses user namespaces: kernels use tcp, no socket files")
    victim = _listening(tmp_path / "victim.sock")
    victim.settimeout(0.2)
    reached: list[bytes] = []
    done = threading.Event()

    def accept() -> None:
        while not done.is_set():
            try:
                conn, _ = victim.accept()
            except OSError:
                continue
            conn.settimeout(1)
            with contextlib.suppress(OSError):
                reached.append(conn.recv(64))
            conn.close()

    watcher = threading.Thread(target=accept, daemon=True)
    watcher.start()
    code = ("import glob, os, time, ipykernel.connect\n"
            "folder = os.path.dirname(ipykernel.connect.get_connection_file())\n"
            "for path in glob.glob(folder + '/kernel-ipc-*'):\n"
            "    os.unlink(path)\n"
            f"    os.symlink({str(tmp_path / 'victim.sock')!r}, path)\n"
            "time.sleep(0.5)\nos._exit(1)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id="plant")])
    work = tmp_path / "work" / "ex01"
    work.mkdir(parents=True)
    settings = run_settings(GradeRun(timeout=60, memory_mb=3000, cell_timeout=20),
                            new_token(), [])
    try:
        outcome = run_notebook(nb, work, [], settings)
        assert any("the kernel died in cell 0" in note for note in outcome.notes), outcome
    finally:
        done.set()
        watcher.join()
        victim.close()
    assert reached == []


@pytest.mark.notebooks  # about 7 s
def test_where_namespaces_are_refused_the_worker_grades_as_before(tmp_path):
    """A system refusing user namespaces (forced: a user namespace allowing no further one):
    the worker cannot cap its folders and says so, the kernels run unhidden over tcp (their
    first connect retried until they listen), the student is graded in full, and nothing
    outside the grading's temporary folders is touched (the grader's working folder kept)."""
    import shutil

    from helpers.exercises import EXERCISES_DIR

    if shutil.which("unshare") is None or subprocess.run(
            ["unshare", "--user", "--map-current-user", "true"], capture_output=True).returncode:
        pytest.skip("cannot make a user namespace here to force the refusal")
    sys.path.insert(0, str(Path(__file__).parent / "data"))
    import submissions

    source, cwd = tmp_path / "source", tmp_path / "cwd"
    for folder in (source, cwd, tmp_path / "class" / "alice"):
        folder.mkdir(parents=True)
    (source / submissions.NOTEBOOK).write_bytes((EXERCISES_DIR / submissions.NOTEBOOK)
                                                .read_bytes())
    nbformat.write(submissions.right(), tmp_path / "class" / "alice" / submissions.NOTEBOOK)
    (cwd / "keep.txt").write_bytes(CANARY)
    proc = subprocess.run(
        ["unshare", "--user", "--map-current-user", "sh", "-c",
         'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", sys.executable,
         "-m", "helpers", "exercises", "--grade", str(tmp_path / "class"), "--source",
         str(source), "-o", str(tmp_path / "out" / "grades.csv"), "--memory-mb", "2048",
         "--timeout", "120"], capture_output=True, text=True, timeout=300, cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    with open(tmp_path / "out" / "grades.csv", newline="", encoding="utf-8") as f:
        rows = [(r["check"], r["passed"], r["message"]) for r in csv.DictReader(f)]
    assert rows == [("preprocess", "true", ""), ("deprocess", "true", "")], rows
    assert sorted(p.name for p in cwd.iterdir()) == ["keep.txt"]
    assert (cwd / "keep.txt").read_bytes() == CANARY
