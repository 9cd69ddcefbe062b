"""The instructor notebooks work in nbgrader itself (pinned in requirements.txt): their cell
metadata passes nbgrader's validator, ``generate_assignment`` releases them, and
``autograde`` scores a right and a wrong submission from the check cells."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.nbgraderformat import MetadataValidator, ValidationError

from helpers.exercises import EXERCISES_DIR
from helpers.exercises.metadata import cell_metadata, metadata_problems

pytestmark = pytest.mark.notebooks  # runs notebooks (left out by make test-fast)

sys.path.insert(0, str(Path(__file__).parent / "data"))
import submissions  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = sorted(EXERCISES_DIR.glob("ex[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_metadata_is_the_points_table_and_nbgrader_validates_it(path):
    nb = nbformat.read(path, as_version=4)
    assert [c.metadata.get("nbgrader") for c in nb.cells] == [cell_metadata(c) for c in nb.cells]
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert graded and all(c.metadata["nbgrader"]["locked"] for c in graded)
    assert not metadata_problems(nb)
    MetadataValidator().validate_nb(nb)  # raises ValidationError


def test_broken_metadata_is_refused_by_both_validators():
    nb = nbformat.read(EXERCISES_DIR / "ex04_style.ipynb", as_version=4)
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    checks[1].metadata["nbgrader"]["grade_id"] = checks[0].metadata["nbgrader"]["grade_id"]
    del checks[0].metadata["nbgrader"]["points"]
    assert metadata_problems(nb) == [
        "cell 6 (cell-06): a grade cell needs points >= 0",
        "cell 10 (cell-10): duplicate grade_id 'check-style_layer'"]
    with pytest.raises(ValidationError):
        MetadataValidator().validate_nb(nb)


def test_a_grade_id_that_is_a_list_is_one_problem_not_a_crash():
    nb = nbformat.read(EXERCISES_DIR / "ex04_style.ipynb", as_version=4)
    checks = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    checks[0].metadata["nbgrader"]["grade_id"] = ["check", "style_layer"]
    assert metadata_problems(nb) == [
        "cell 6 (cell-06): grade_id must be letters, digits, _ or -"]


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # alembic, which nbgrader runs, lives there
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""),
           "PYTHONPATH": str(ROOT), "NST_FAST": "1", "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args,
                           f"--CourseDirectory.root={course}"], cwd=course, env=env,
                          capture_output=True, text=True, timeout=300)


def test_generate_assignment_and_autograde_score_the_check_cells(tmp_path):
    from nbgrader.api import Gradebook

    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    shutil.copy(EXERCISES_DIR / submissions.NOTEBOOK, course / "source" / "ps1")
    made = nbgrader(course, "generate_assignment", "ps1")
    assert made.returncode == 0, made.stderr[-3000:]
    released = nbformat.read(course / "release" / "ps1" / submissions.NOTEBOOK, as_version=4)
    sources = [c.source for c in released.cells]
    assert not [s for s in sources if "### BEGIN SOLUTION" in s]
    assert 'check("preprocess", preprocess)' in sources
    for student, make in [("alice", submissions.right), ("bob", submissions.wrong)]:
        folder = course / "submitted" / student / "ps1"
        folder.mkdir(parents=True)
        nbformat.write(make(), folder / submissions.NOTEBOOK)
    graded = nbgrader(course, "autograde", "ps1", "--create")
    assert graded.returncode == 0, graded.stderr[-3000:]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {s: {g.name: g.score for g in gb.find_submission_notebook(
            "ex01_preprocess", "ps1", s).grades} for s in ("alice", "bob")}
    assert scores == {"alice": {"check-preprocess": 2.0, "check-deprocess": 2.0},
                      "bob": {"check-preprocess": 0.0, "check-deprocess": 0.0}}
    bob = nbformat.read(course / "autograded" / "bob" / "ps1" / submissions.NOTEBOOK,
                        as_version=4)
    error = next(o for c in bob.cells if c.id == "cell-06" for o in c.outputs
                 if o.output_type == "error")
    assert error.ename == "CheckFailed" and "still in RGB order" in error.evalue


def test_generate_assignment_with_the_projects_config_keeps_hints_and_stub_messages(tmp_path):
    """nbgrader's own ClearSolutions writes one fixed stub; with the project's config
    (helpers.exercises.nbgrader_hints) every released code cell is what --student writes."""
    from helpers.exercises import student_version
    from helpers.exercises.student import exercise_number

    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    for path in EXERCISES:
        shutil.copy(path, course / "source" / "ps1")
    (course / "nbgrader_config.py").write_text(
        "from helpers.exercises.nbgrader_hints import configure\nconfigure(c)\n")
    made = nbgrader(course, "generate_assignment", "ps1")
    assert made.returncode == 0, made.stderr[-3000:]
    hints = messages = 0
    for path in EXERCISES:
        nb = nbformat.read(path, as_version=4)
        expected = student_version(nb, exercise_number(nb, path))
        released = nbformat.read(course / "release" / "ps1" / path.name, as_version=4)
        mine = [c.source for c in released.cells if c.cell_type == "code"]
        assert mine == [c.source for c in expected.cells if c.cell_type == "code"], path.name
        text = "\n".join(mine)
        hints += text.count("# Hint: ")
        messages += len(re.findall(r'NotImplementedError\("exercise \d+: write \w+', text))
        assert "### BEGIN SOLUTION" not in text and "### HINT:" not in text
    assert messages >= len(EXERCISES) and hints >= 5


def test_unmatched_markers_stop_generate_assignment_with_nbgraders_error(tmp_path):
    course = tmp_path / "course"
    (course / "source" / "ps1").mkdir(parents=True)
    nb = nbformat.read(EXERCISES[1], as_version=4)
    answer = next(c for c in nb.cells if "### END SOLUTION" in c.source)
    answer.source = answer.source.replace("### END SOLUTION", "")
    nbformat.write(nb, course / "source" / "ps1" / EXERCISES[1].name)
    (course / "nbgrader_config.py").write_text(
        "from helpers.exercises.nbgrader_hints import configure\nconfigure(c)\n")
    made = nbgrader(course, "generate_assignment", "ps1")
    assert made.returncode != 0 and "without ### END SOLUTION" in made.stderr + made.stdout
