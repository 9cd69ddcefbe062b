"""What a student installs holds no answers (issue #32, item 2): the wheel built from this
checkout (``pip wheel . --no-deps``) has no instructor notebook, no solution block, no line
of a solution outside the library's own answers, no ex07 target setting and no path to the
instructor's folder."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

from helpers.exercises.instructor import LOOK_TARGET_FILE, look_target
from helpers.exercises.student import BEGIN, END, HINT

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "notebooks" / "exercises"
#: The library's own answers (the reference the checks compare with, and refuse when a
#: student calls it): a short solution line may also be a line of these.
LIBRARY = {"helpers/losses.py", "helpers/images.py", "helpers/fast_ops.py",
           "helpers/objective.py"}
#: Lines any TensorFlow code writes (the checker's own gradient tapes): not an answer.
BOILERPLATE = {"with tf.GradientTape() as tape:"}


def copy_project(tmp: Path) -> Path:
    """A copy of this checkout's files (tracked and new, not ignored): builds there leave the
    checkout without build/ or egg-info folders."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    copy = tmp / "project"
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, copy / name)
    return copy


def build_wheel(tmp: Path) -> Path:
    """The wheel of this checkout (``pip wheel . --no-deps``), built in a copy of it."""
    copy = copy_project(tmp)
    out = tmp / "wheel"
    made = subprocess.run([sys.executable, "-m", "pip", "wheel", str(copy), "--no-deps",
                           "-q", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert made.returncode == 0, made.stderr[-3000:]
    (wheel,) = out.glob("nst_helpers-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def files(wheel) -> dict[str, str]:
    with zipfile.ZipFile(wheel) as zf:
        return {n: zf.read(n).decode("utf-8", "replace") for n in zf.namelist()}


def solution_blocks() -> list[list[str]]:
    """The stripped lines of every solution block of the instructor notebooks."""
    blocks = []
    for path in sorted(SOURCE.glob("ex*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            block: list[str] | None = None
            for line in cell.source.splitlines():
                if line.strip().startswith(BEGIN):
                    block = []
                elif line.strip().startswith(END):
                    blocks.append(block or [])
                    block = None
                elif block is not None and line.strip() and not line.strip().startswith(HINT):
                    block.append(line.strip())
    return blocks


def test_no_instructor_notebook_or_target_settings_file(files):
    assert not [n for n in files if n.endswith(".ipynb") or LOOK_TARGET_FILE in n
                or n.startswith("notebooks/")]


def test_no_solution_block_and_no_solution_line_outside_the_library(files):
    blocks = solution_blocks()
    assert len(blocks) >= 8 and sum(map(len, blocks)) >= 25
    stripped = {n: "\n".join(line.strip() for line in t.splitlines()) for n, t in files.items()}
    whole = [b for b in blocks if len(b) > 1 for t in stripped.values() if "\n".join(b) in t]
    assert not whole
    found = {(line, n) for b in blocks for line in b if len(line) >= 16
             for n, t in stripped.items() if line in t}
    assert not {(line, n) for line, n in found
                if n not in LIBRARY and line not in BOILERPLATE}, found


def test_no_target_setting_and_no_path_to_the_instructors_folder(files):
    settings = look_target(SOURCE)
    for key, value in settings.items():
        shown = re.escape(json.dumps(value)).replace(r"\ ", r"\s*").replace('"', "[\"']")
        if isinstance(value, float) and value.is_integer():
            shown = rf"{int(value)}(?:\.0*)?"
        pattern = re.compile(rf"{key}[\"']?\s*[:=]\s*{shown}")
        assert not [n for n, t in files.items() if pattern.search(t)], key
    assert not [n for n, t in files.items() if str(ROOT) in t or str(SOURCE) in t]


def test_the_checkout_finds_its_instructor_folder_and_an_install_says_pass_source(
        tmp_path, monkeypatch):
    from helpers.errors import StyleTransferError
    from helpers.exercises import instructor

    assert instructor.find_source(None) == SOURCE
    assert instructor.find_source(tmp_path) == tmp_path
    monkeypatch.setattr(instructor, "checkout_source", lambda: None)
    with pytest.raises(StyleTransferError, match="pass --source DIR"):
        instructor.find_source(None)


def test_the_hand_out_script_never_writes_into_an_existing_folder(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("kept")
    proc = subprocess.run(["sh", str(ROOT / "docker" / "hand-out.sh"), str(tmp_path / "out")],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.startswith("error:")
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["mine.txt"]
