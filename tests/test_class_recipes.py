"""The recipes of a class's machines (issue #32, item 11): docker/hand-out.sh makes what
students get, docker/install.sh installs it (both Dockerfiles run it). No container daemon
runs here, so this runs the same steps in a fresh virtual environment (the project
environment's packages made visible by a .pth line, the wheel installed with --no-deps: no
downloads) and checks the result: no answers inside, the student notebooks in place, each
stopping at its first stub when run with the project's kernel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import nbformat
import pytest
from test_wheel import ROOT, SOURCE, copy_project

from helpers.exercises.instructor import LOOK_PICTURES, LOOK_TARGET_FILE
from helpers.exercises.student import solution_lines

pytestmark = pytest.mark.slow  # builds a wheel, paints the ex07 target, runs 7 notebooks

RUN_ALL = r"""
import json, sys
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

folder = Path(sys.argv[1])
probe = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
    "import helpers, sys; print(helpers.__file__, sys.executable)")])
NotebookClient(probe, kernel_name="nst", timeout=120).execute()
results = {"probe": probe.cells[0].outputs[0]["text"]}
for path in sorted(folder.glob("ex*.ipynb")):
    nb = nbformat.read(path, as_version=4)
    try:
        NotebookClient(nb, kernel_name="nst", timeout=600,
                       resources={"metadata": {"path": str(folder)}}).execute()
    except CellExecutionError:
        pass
    failed = [(i, o.get("ename"), o.get("evalue", "")) for i, c in enumerate(nb.cells)
              for o in c.get("outputs", []) if o.get("output_type") == "error"]
    results[path.name] = failed
print(json.dumps(results))
"""


def run(argv: list[str], cwd: Path, env: dict[str, str], timeout: int = 600
        ) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(venv python, home folder, environment): the hand-out made by docker/hand-out.sh from a
    copy of the checkout, installed by docker/install.sh into a fresh virtual environment."""
    tmp = tmp_path_factory.mktemp("recipes")
    project = copy_project(tmp)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    made = run(["sh", "docker/hand-out.sh", str(tmp / "hand-out")], project,
               {**env, "PYTHON": sys.executable, "PYTHONPATH": str(project),
                "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert made.returncode == 0, made.stderr[-3000:]
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    purelib = run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()"
                   "['purelib'])"], tmp, env).stdout.strip()
    # the project environment's packages, as --system-site-packages would give a base one
    # (a plain path line: its editable install of the checkout is not run)
    Path(purelib, "project-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    home = tmp / "home"
    env = {**env, "JUPYTER_DATA_DIR": str(tmp / "jupyter"), "MPLBACKEND": "Agg"}
    done = run(["sh", str(ROOT / "docker" / "install.sh"), str(tmp / "hand-out"), str(home)],
               tmp, {**env, "PYTHON": str(python), "PIP_FLAGS": "--no-deps"})
    assert done.returncode == 0, done.stderr[-3000:]
    return python, home, env, Path(purelib)


def test_the_install_holds_no_answers(installed):
    python, home, env, purelib = installed
    package = purelib / "helpers"
    assert (package / "exercises" / "instructor.py").is_file()
    assert not [p for p in package.rglob("*") if p.suffix == ".ipynb"
                or p.name == LOOK_TARGET_FILE]
    probe = run([str(python), "-c", "import helpers.exercises as ex; print(ex.__file__, "
                 "hasattr(ex, 'EXERCISES_DIR'), hasattr(ex, 'LOOK_TARGET'))"], home, env)
    assert probe.stdout.split() == [str(package / "exercises" / "__init__.py"), "False",
                                    "False"], probe.stderr[-2000:]
    refused = run([str(python), "-m", "helpers", "exercises", "--student", "out"], home, env)
    assert refused.returncode == 2 and "pass --source DIR" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1


def test_the_student_notebooks_are_in_place_without_solutions(installed):
    _, home, _, _ = installed
    folder = home / "exercises"
    names = sorted(p.name for p in folder.iterdir())
    expected = sorted(p.name for p in SOURCE.glob("ex*.ipynb"))
    assert names == sorted([*expected, *LOOK_PICTURES.values()])
    secret = {line for p in SOURCE.glob("ex*.ipynb")
              for c in nbformat.read(p, as_version=4).cells if c.cell_type == "code"
              for line in solution_lines(c.source) if len(line) >= 16}
    text = "\n".join(c.source for p in folder.glob("*.ipynb")
                     for c in nbformat.read(p, as_version=4).cells)
    assert secret and not [line for line in secret if line in text]
    assert "### BEGIN SOLUTION" not in text


def test_each_student_notebook_stops_at_its_first_stub(installed):
    python, home, env, purelib = installed
    folder = home / "exercises"
    done = run([str(python), "-c", RUN_ALL, str(folder)], home,
               {**env, "NST_FAST": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}, timeout=1800)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert results.pop("probe").startswith(str(purelib / "helpers"))
    assert len(results) == len(list(SOURCE.glob("ex*.ipynb")))
    for name, failed in results.items():
        nb = nbformat.read(folder / name, as_version=4)
        stub = next(i for i, c in enumerate(nb.cells) if "raise NotImplementedError(" in c.source)
        first_check = next(i for i, c in enumerate(nb.cells) if i > stub and "check(" in c.source)
        assert [(i, e) for i, e, _ in failed] == [(first_check, "CheckFailed")], (name, failed)
        assert "not implemented yet" in failed[0][2], (name, failed)
