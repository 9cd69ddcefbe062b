"""What a grading kernel cannot see or touch (issue 32): the instructor's folder and, when it
lies in a git checkout, the checkout's history; and where the system refuses the user
namespaces that hide them, the grader says so on stderr and in summary.html instead of
grading silently. Then a cold security review's attacks, each performed from a real kernel
started the grader's way (a notebook cell): writing the project and its Python, reading
another kernel's connection key, a detached process rewriting its own result, signalling
the template, listing other checkouts, reading classmates' grades and the roster, a hidden
folder holding the venv, a kernel told to hide that cannot, a template that does not
answer. Skipped only where this machine refuses user namespaces (nothing can be hidden)."""

from __future__ import annotations

import contextlib
import csv
import ctypes
import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from helpers.exercises import EXERCISES_DIR
from helpers.exercises.grading import GradeRun, run_settings
from helpers.exercises.hiding import git_dirs, hiding_works
from helpers.exercises.runner import new_token, run_notebook

ROOT = Path(__file__).resolve().parent.parent
needs_hiding = pytest.mark.skipif(not hiding_works(), reason="this machine refuses user "
                                  "namespaces: kernels cannot hide anything (the grader says so)")


def _checkouts(base: Path) -> dict[str, Path]:
    """A checkout (``main/.git``) and a worktree of it (``wt/.git``: a file), laid out as git
    writes them, each with an instructor's folder and a solution in the history."""
    git = base / "main" / ".git"
    (git / "objects" / "ab").mkdir(parents=True)
    (git / "objects" / "ab" / "cdef").write_text("### BEGIN SOLUTION (an old commit)")
    (git / "worktrees" / "wt").mkdir(parents=True)
    (git / "worktrees" / "wt" / "commondir").write_text("../..\n")
    (git / "worktrees" / "wt" / "HEAD").write_text("ref: refs/heads/wt\n")
    (base / "wt").mkdir()
    (base / "wt" / ".git").write_text("gitdir: ../main/.git/worktrees/wt\n")
    folders = {}
    for name in ("main", "wt"):
        folders[name] = base / name / "notebooks" / "exercises"
        folders[name].mkdir(parents=True)
        (folders[name] / "ex01_preprocess.ipynb").write_bytes(
            (EXERCISES_DIR / "ex01_preprocess.ipynb").read_bytes())
    return folders


def test_the_git_folders_of_a_checkout_and_of_a_worktree(tmp_path):
    folders = _checkouts(tmp_path)
    git = (tmp_path / "main" / ".git").resolve()
    assert git_dirs(folders["main"]) == [git]
    assert git_dirs(folders["wt"]) == [git / "worktrees" / "wt", git]
    assert git_dirs(tmp_path) == []
    hidden = run_settings(GradeRun(hide=[str(folders["wt"])]), "t", []).hide
    assert {str(folders["wt"].resolve()), str(git), str(git / "worktrees" / "wt")} <= set(hidden)


@pytest.mark.notebooks  # one kernel
@pytest.mark.parametrize("checkout", ["main", "wt"])
def test_a_kernel_sees_neither_the_instructors_folder_nor_its_history(tmp_path, checkout):
    """The notebook lists the instructor's folder and every git folder of its checkout: all
    empty where the system hides them; where it cannot, the grader's probe says so (and then
    they are visible: the warning is not a false alarm)."""
    folders = _checkouts(tmp_path)
    git = tmp_path / "main" / ".git"
    looked = [folders[checkout], git, git / "objects" / "ab", git / "worktrees" / "wt"]
    paths = [str(p) for p in looked]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import os\nseen = [p for p in {paths!r} if os.path.isdir(p) and os.listdir(p)]\n"
        "assert not seen, seen", id="look")])
    work = tmp_path / "work" / "ex01"
    work.mkdir(parents=True)
    settings = run_settings(GradeRun(timeout=120, memory_mb=3000, cell_timeout=60),
                            new_token(), [folders[checkout]])
    run_notebook(nb, work, [], settings)
    errors = [o for o in nb.cells[0].get("outputs", []) if o.get("output_type") == "error"]
    assert nb.cells[0].metadata.get("nst_ran")
    if hiding_works():
        assert errors == [], errors[0].get("evalue")
    else:
        assert errors and "BEGIN" not in str(errors)  # seen, and said by the grader


def _grade(klass: Path, source: Path, out: Path, refuse: bool) -> subprocess.CompletedProcess:
    """The grading command, under a user namespace where no further one may be made when
    ``refuse`` (as on a system that refuses them)."""
    command = [sys.executable, "-m", "helpers", "exercises", "--grade", str(klass),
               "--source", str(source), "-o", str(out / "grades.csv"), "--timeout", "60"]
    if refuse and _can_unshare():
        command = ["unshare", "--user", "--map-current-user", "sh", "-c",
                   'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh", *command]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--user", "--map-current-user", "true"],
                          capture_output=True).returncode == 0


def test_refused_user_namespaces_are_said_on_stderr_and_in_the_summary(tmp_path):
    """Forced: a user namespace whose limit on further ones is 0 (the kernels' unshare fails
    as on a system without them). One warning line on stderr, the flag in summary.html and
    summary.txt; without forcing, where namespaces work, no warning."""
    source = _checkouts(tmp_path)["main"]
    klass = tmp_path / "class"
    (klass / "alice").mkdir(parents=True)
    (klass / "alice" / "notes.txt").write_text("nothing to grade")
    refused = _grade(klass, source, tmp_path / "refused", refuse=True)
    assert refused.returncode == 0, refused.stderr
    assert "Traceback" not in refused.stdout + refused.stderr
    warning = ("kernels could see the instructor's folder: this system refuses user namespaces "
               "(max_user_namespaces is 0 or used up); run the grader in the nst-grader "
               "container")  # what was refused, named
    warnings = [line for line in refused.stderr.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: {warning}"], refused.stderr
    assert warning in (tmp_path / "refused" / "summary.txt").read_text()
    page = (tmp_path / "refused" / "summary.html").read_text()
    assert html.escape(warning) in page and "<td>not hidden</td>" in page
    if _can_unshare():
        plain = _grade(klass, source, tmp_path / "plain", refuse=False)
        assert plain.returncode == 0 and "warning:" not in plain.stderr, plain.stderr
        assert "not hidden" not in (tmp_path / "plain" / "summary.html").read_text()
        assert "kernel limits: address space (--memory-mb)" in (
            tmp_path / "plain" / "summary.txt").read_text()


@pytest.mark.notebooks  # two forked kernels
def test_kernels_forked_from_a_template_start_as_fresh_ones(tmp_path):
    """A kernel forked from the template (which imported TensorFlow, caching its temporary
    folder, and NumPy, with its random state) can write temporary files, and two kernels of
    one template draw different random numbers, as kernels started from scratch do."""
    from helpers.exercises.forking import Template
    from helpers.exercises.runner import kernel_env

    token = new_token()
    hidden = tmp_path / "instructor"  # the template's TMPDIR (a worker's first task's folder)
    hidden.mkdir()
    template = Template({**kernel_env(token), "TMPDIR": str(hidden)})
    try:
        draws = []
        for n in range(2):
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
                "import tempfile, numpy as np\n"
                "with tempfile.NamedTemporaryFile() as f:\n    f.write(b'x')\n"
                "open('draw.txt', 'w').write(str(np.random.randint(1 << 30)))", id="fresh")])
            work = tmp_path / f"work{n}" / "ex01"
            work.mkdir(parents=True)
            settings = run_settings(GradeRun(timeout=120, memory_mb=3000, cell_timeout=60),
                                    token, [hidden])
            settings.template = template
            run_notebook(nb, work, [], settings)
            outputs = nb.cells[0].get("outputs", [])
            errors = [o.get("evalue") for o in outputs if o.get("output_type") == "error"]
            assert nb.cells[0].metadata.get("nst_ran") and errors == [], errors
            draws.append((work / "draw.txt").read_text())
        assert draws[0] and draws[0] != draws[1], draws
    finally:
        template.close()


# ----------------------------------------------------- a cold review's attacks, from a kernel

def _attack(tmp_path: Path, code: str, hide: tuple = (), template=None) -> list[str]:
    """Run ``code`` as the one cell of a notebook graded the grader's way; its error
    messages (an attack that worked raises, naming what it reached)."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id="attack")])
    work = tmp_path / "work" / "ex01"
    work.mkdir(parents=True)
    settings = run_settings(GradeRun(timeout=120, memory_mb=3000, cell_timeout=60),
                            new_token(), list(hide))
    settings.template = template
    outcome = run_notebook(nb, work, [], settings)
    assert nb.cells[0].metadata.get("nst_ran"), outcome.status
    return [str(o.get("evalue")) for o in nb.cells[0].get("outputs", [])
            if o.get("output_type") == "error"]


def _written_targets() -> list[Path]:
    import sysconfig

    return [ROOT / "nst-attack-probe.txt", ROOT / "helpers" / "nst-attack-probe.txt",
            Path(sys.prefix) / "nst-attack-probe.txt",
            Path(sysconfig.get_paths()["purelib"]) / "nst-attack-probe.pth",
            Path.home() / "nst-attack-probe.txt"]


@needs_hiding
@pytest.mark.notebooks
def test_a_kernel_cannot_write_the_project_or_its_python(tmp_path):
    """Finding 1: a kernel wrote the project and the venv (a .pth file runs in the next
    worker, outside every namespace). Now only its working folder, /tmp and its own HOME
    (not the grader's) are writable."""
    targets = _written_targets()
    code = ("import os, tempfile\nwrote = []\n"
            f"for path in {[str(t) for t in targets]!r}:\n"
            "    try:\n        open(path, 'w').write('# nothing')\n        wrote.append(path)\n"
            "    except OSError:\n        pass\n"
            "open('mine.txt', 'w').write('x')\n"
            "with tempfile.NamedTemporaryFile() as f:\n    f.write(b'x')\n"
            "open(os.path.expanduser('~/.mine'), 'w').write('x')\n"
            "assert not wrote, wrote")
    try:
        errors = _attack(tmp_path, code)
        assert errors == [], errors
    finally:
        left = [t for t in targets if t.exists()]
        for target in left:
            target.unlink()
    assert left == []


@needs_hiding
@pytest.mark.notebooks
def test_a_kernel_cannot_read_another_kernels_connection_key(tmp_path):
    """Finding 2: another kernel, started the grader's way and running, has its key in the
    Jupyter runtime folder; a kernel can neither read that file nor list the folder."""
    from jupyter_core.paths import jupyter_runtime_dir
    from jupyter_core.utils import run_sync

    from helpers.exercises.runner import kernel_env, kernel_manager

    token = new_token()
    other = tmp_path / "other"
    other.mkdir()
    settings = run_settings(GradeRun(timeout=120, memory_mb=3000), token, [])
    km = kernel_manager(tmp_path / "kernels-other", settings)
    run_sync(km.start_kernel)(env=kernel_env(token), cwd=str(other))
    try:
        key = json.loads(Path(km.connection_file).read_text())["key"]
        assert key
        code = (f"import os\npath, runtime = {km.connection_file!r}, {jupyter_runtime_dir()!r}\n"
                "seen = []\ntry:\n    seen.append(open(path).read())\nexcept OSError:\n    pass\n"
                "if os.path.isdir(runtime):  # its own folder lies there, alone\n"
                "    seen += [os.path.dirname(path)] if os.path.basename(os.path.dirname(path))"
                " in os.listdir(runtime) else []\n"
                "assert not seen, seen")
        errors = _attack(tmp_path, code)
        assert errors == [], errors
    finally:
        run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(Path(km.connection_file).parent, ignore_errors=True)


@needs_hiding
@pytest.mark.slow
@pytest.mark.notebooks
def test_a_kernel_cannot_signal_the_template_and_a_stopped_one_is_replaced_quickly(tmp_path):
    """Finding 4: a kernel could SIGSTOP the template its worker forks kernels from (the next
    student then paid FORK_SECONDS = 120 s) or signal the grader. Now it cannot even see
    them; and a template that does not answer (stopped here by the test) is ended within
    FORK_SECONDS, its notebook run in a kernel started from scratch."""
    import psutil

    from helpers.exercises.forking import FORK_SECONDS, Template
    from helpers.exercises.runner import kernel_env

    token = new_token()
    template = Template(kernel_env(token))
    try:
        code = ("import os, signal\nreached = []\n"
                f"for pid, sig in (({template.proc.pid}, signal.SIGSTOP), ({os.getpid()}, 0)):\n"
                "    try:\n        os.kill(pid, sig)\n        reached.append(pid)\n"
                "    except OSError:\n        pass\n"
                f"seen = [p for p in os.listdir('/proc') if p in ('{template.proc.pid}', "
                f"'{os.getpid()}')]\nassert not reached and not seen, (reached, seen)")
        errors = _attack(tmp_path / "a", code, template=template)
        assert psutil.Process(template.proc.pid).status() != psutil.STATUS_STOPPED
        assert errors == [], errors
        os.kill(template.proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        errors = _attack(tmp_path / "b", "open('ran.txt', 'w').write('yes')", template=template)
        assert errors == [] and not template.alive()
        assert time.monotonic() - started < FORK_SECONDS + 30
    finally:
        template.close()


@needs_hiding
@pytest.mark.notebooks
def test_a_template_that_forked_but_did_not_answer_leaves_no_kernel_behind(tmp_path):
    """Finding 11: a template that forked a kernel but whose answer never came (a timeout)
    left that kernel running, holding the ports of the kernel started from scratch instead.
    Now it is killed first: the notebook runs, and the stray kernel is gone."""
    import psutil

    from helpers.exercises.forking import Template
    from helpers.exercises.runner import TOKEN_ENV, kernel_env

    token = new_token()
    template = Template(kernel_env(token))
    forked: list[int] = []

    class Lost:  # the template's answers, the kernel's pid lost as a timeout loses it
        def __init__(self, lines):
            self.lines, self.count = lines, 0

        def readline(self):
            line = self.lines.readline()
            self.count += 1
            if self.count == 2:
                forked.append(int(line))
                raise TimeoutError("timed out")
            return line

    template.lines = Lost(template.lines)
    try:
        errors = _attack(tmp_path, "open('ran.txt', 'w').write('yes')", template=template)
        assert errors == [] and forked
        assert not psutil.pid_exists(forked[0]) or psutil.Process(forked[0]).status() == \
            psutil.STATUS_ZOMBIE
        assert not [p for p in psutil.process_iter() if _environ(p).get(TOKEN_ENV) == token]
    finally:
        template.close()


def _environ(proc) -> dict:
    import psutil

    try:
        return proc.environ()
    except psutil.Error:
        return {}


@needs_hiding
@pytest.mark.notebooks
def test_a_kernel_sees_no_checkout_of_the_project(tmp_path):
    """Finding 6: other checkouts' and worktrees' working trees were visible (only named
    folders were covered). Now a kernel's world is an allow-list: no project's notebooks,
    tests or git folder, this one's or another worktree's, nor anything else in /tmp (but
    the folders leading to its own working folder)."""
    folders = _checkouts(tmp_path / "co")
    worktrees = subprocess.run(["git", "-C", str(ROOT), "worktree", "list", "--porcelain"],
                               capture_output=True, text=True).stdout.splitlines()
    looked = [str(ROOT / "notebooks"), str(ROOT / "tests"), str(ROOT / ".git"),
              str(folders["wt"]), str(tmp_path / "co")]
    looked += [line.split(" ", 1)[1] + "/notebooks" for line in worktrees
               if line.startswith("worktree ")]
    code = (f"import os\nseen = [p for p in {looked!r} if os.path.exists(p)]\n"
            "assert not seen, seen")
    assert _attack(tmp_path, code, hide=(folders["main"],)) == []


@needs_hiding
@pytest.mark.notebooks
def test_a_kernel_that_cannot_hide_runs_nothing(tmp_path):
    """Finding 7: a kernel that could not hide ran the notebook anyway (``NST_HIDDEN=no``,
    never read). Told to hide where it cannot (user namespaces refused for it only), it now
    exits at once: no cell runs, the notebook's status says why, and the summary flags it
    "not hidden"."""
    from helpers.exercises.hiding import KERNEL_NOT_HIDDEN
    from helpers.exercises.reports import FLAG_KINDS

    if not _can_unshare():
        pytest.skip("no unshare(1) here to refuse namespaces to one process")
    work = tmp_path / "work" / "ex01"
    work.mkdir(parents=True)
    script = (
        "import json, sys, nbformat\nfrom pathlib import Path\n"
        "from helpers.exercises.grading import GradeRun, run_settings\n"
        "from helpers.exercises.runner import new_token, run_notebook\n"
        "nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("
        "\"open('ran.txt', 'w').write('yes')\", id='ran')])\n"
        "settings = run_settings(GradeRun(timeout=60, memory_mb=3000), new_token(), [])\n"
        "settings.must_hide = True\n"
        f"outcome = run_notebook(nb, Path({str(work)!r}), [], settings)\n"
        "print(json.dumps([outcome.status, bool(nb.cells[0].metadata.get('nst_ran'))]))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(["unshare", "--user", "--map-current-user", "sh", "-c",
                           'echo 0 > /proc/sys/user/max_user_namespaces && exec "$@"', "sh",
                           sys.executable, "-c", script], capture_output=True, text=True,
                          env=env, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == [KERNEL_NOT_HIDDEN, False]
    assert not (work / "ran.txt").exists()
    assert [kind for kind, rule in FLAG_KINDS if rule.search(KERNEL_NOT_HIDDEN)] == ["not hidden"]


# ---------------------------------------------- a class graded through the command line

RIGHT = '''
import numpy as np
def preprocess(image):
    mean = np.array([103.939, 116.779, 123.68], np.float32)
    return (np.asarray(image, np.float32)[..., ::-1] - mean)[None]
'''
FORGER = '''
import json, os, sys
rows = [{"student": "forger", "exercise": "ex01_preprocess", "check": c, "points": 99.0,
         "passed": True, "message": "FORGED"} for c in ("notebook", "preprocess")]
code = """
import json, os, sys, time
folder, rows, end = os.open("..", os.O_RDONLY), sys.argv[1], time.time() + 90
opener = lambda name, flags: os.open(name, flags, dir_fd=folder)  # its cwd will be removed
while time.time() < end:
    try:
        if "FORGED" not in open("result-0.json", opener=opener).read():
            open("forged", "w", opener=opener).write(rows)
            os.replace("forged", "result-0.json", src_dir_fd=folder, dst_dir_fd=folder)
    except OSError:
        pass
"""
if os.fork() == 0:  # setsid + double fork, the environment wiped: no token, no group
    os.setsid()
    if os.fork() == 0:
        os.execve(sys.executable, [sys.executable, "-c", code, json.dumps(rows)], {})
    os._exit(0)
os.wait()
''' + RIGHT
LOOK = '''
import os
if not [p for p in {paths!r} if os.path.exists(p)]:  # right only when it saw nothing
''' + "\n".join("    " + line for line in RIGHT.splitlines())


def _course_python(course: Path) -> Path:
    """A virtual environment inside the instructor's course folder (as an instructor may
    keep one), seeing this one's packages."""
    import sysconfig

    venv = course / ".venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    site = next((venv / "lib").glob("python3*")) / "site-packages"
    (site / "shared.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv / "bin" / "python"


@pytest.fixture(scope="module")
def attacked_class(tmp_path_factory):
    """One class graded by the command line (workers, a template, --roster): a student whose
    detached process rewrites its result, one who looks for the solutions in the course
    folder (which holds the grader's venv: the old grader dropped it from the hidden
    folders), one who looks for classmates' grades (a previous run's, in the output folder)
    and the roster."""
    from helpers.exercises import student_version

    base = tmp_path_factory.mktemp("attacked")
    course = base / "course"
    course.mkdir()
    name = "ex01_preprocess.ipynb"
    (course / name).write_bytes((EXERCISES_DIR / name).read_bytes())
    python = _course_python(course)
    (course / "students.csv").write_text("id,name\nforger,F\npeeker,P\ngrades,SECRET-NAME\n")
    out = base / "out"
    out.mkdir()
    (out / "grades.csv").write_text("student,exercise,check,points\nalice,ex01,x,SECRET\n")
    stubs = student_version(nbformat.read(EXERCISES_DIR / name, as_version=4))
    cells = {"forger": FORGER,
             "peeker": LOOK.format(paths=[str(course / name), str(course)]),
             "grades": LOOK.format(paths=[str(out / "grades.csv"), str(out),
                                          str(course / "students.csv")])}
    for student, code in cells.items():
        nb = nbformat.from_dict(json.loads(json.dumps(stubs)))
        nb.cells.append(nbformat.v4.new_code_cell(code, id="attack"))  # its preprocess: 2
        (base / "klass" / student).mkdir(parents=True)
        nbformat.write(nb, base / "klass" / student / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [str(python), "-m", "helpers", "exercises", "--grade", str(base / "klass"),
         "--source", str(course), "-o", str(out / "grades.csv"), "--roster",
         str(course / "students.csv"), "--jobs", "2", "--timeout", "120",
         "--cell-timeout", "30", "--memory-mb", "3000"],
        capture_output=True, text=True, env=env, timeout=600)
    time.sleep(2)  # a process the forger left would rewrite its result by now
    texts = {p.name: p.read_text(errors="replace") for p in out.rglob("*") if p.is_file()}
    with open(out / "grades.csv", newline="", encoding="utf-8") as rows:
        passed = {(r["student"], r["check"]) for r in csv.DictReader(rows) if r["passed"] == "true"}
    return proc, texts, course, passed


@needs_hiding
@pytest.mark.slow
@pytest.mark.notebooks
def test_a_detached_process_cannot_rewrite_its_notebooks_result(attacked_class):
    """Finding 3: a setsid + double-forked process with an empty environment escaped the
    token kill and rewrote result-0.json (reachable as ``..``) before the worker killed it.
    Now it dies with its kernel before the result is written, and cannot reach it."""
    proc, texts, _, passed = attacked_class
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("forger", "preprocess") in passed, texts["forger.md"]  # its attack cell ran
    assert "FORGED" not in texts["grades.csv"]


@needs_hiding
@pytest.mark.slow
@pytest.mark.notebooks
def test_a_hidden_folder_holding_the_venv_is_hidden_and_what_stays_seen_is_said(
        attacked_class):
    """Finding 8: a course folder holding the grader's venv was dropped from the hidden
    folders silently (the solutions next to it were readable). Now the kernel sees only the
    venv in it, and the grader says so in one note."""
    proc, texts, course, passed = attacked_class
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("peeker", "preprocess") in passed, texts["peeker.md"]  # it ran, and saw nothing
    notes = [line for line in proc.stdout.splitlines() if "still see" in line]
    assert len(notes) == 1 and str(course / ".venv") in notes[0], proc.stdout[-3000:]
    assert "Traceback" not in proc.stderr


@needs_hiding
@pytest.mark.slow
@pytest.mark.notebooks
def test_classmates_grades_and_the_roster_are_not_readable(attacked_class):
    """Finding 9: classmates' grades (grades.csv in the output folder) and the roster were
    readable while the class was graded. Now neither the output folder nor the roster is in
    a kernel's world."""
    proc, texts, _, passed = attacked_class
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert ("grades", "preprocess") in passed, texts["grades.md"]  # it ran, and saw nothing


# ------------------------------------- a second review's attacks: kernels reaching each other

@contextlib.contextmanager
def _running_kernel(tmp_path: Path, code: str):
    """A kernel started the grader's way (a classmate's), running ``code`` (which writes
    ``ready`` in its working folder) until the block ends; its kernel manager."""
    from jupyter_core.utils import run_sync

    from helpers.exercises.runner import kernel_env, kernel_manager

    token = new_token()
    work = tmp_path / "classmate"
    work.mkdir()
    km = kernel_manager(tmp_path / "kernels-classmate",
                        run_settings(GradeRun(timeout=120, memory_mb=3000), token, []))
    run_sync(km.start_kernel)(env=kernel_env(token), cwd=str(work))
    client = km.client()
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=60)
        client.execute(code)
        deadline = time.monotonic() + 60
        while not (work / "ready").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert (work / "ready").exists()
        yield km
    finally:
        client.stop_channels()
        run_sync(km.shutdown_kernel)(now=True)
        shutil.rmtree(Path(km.connection_file).parent, ignore_errors=True)


@needs_hiding
@pytest.mark.notebooks  # two kernels
def test_a_kernel_cannot_read_a_classmates_cells_as_they_run(tmp_path):
    """Second review, finding 2: every kernel's iopub was a ZeroMQ PUB socket on 127.0.0.1
    taking any subscriber (no key needed): a cell read a classmate's code and outputs as
    they ran and handed in the stolen solution. Now each kernel has a network namespace of
    its own and is reached over ``ipc`` socket files only it sees: told the very address
    of the running classmate's iopub, the attacker receives nothing."""
    victim = ("import time\nopen('ready', 'w').write('1')\nfor _ in range(900):\n"
              "    print('SECRET-7f3a', flush=True)\n    time.sleep(0.1)")
    with _running_kernel(tmp_path, victim) as km:
        address = (f"tcp://{km.ip}:{km.iopub_port}" if km.transport == "tcp" else
                   f"ipc://{km.ip}-{km.iopub_port}")
        code = ("import time, zmq\nsub = zmq.Context().socket(zmq.SUB)\n"
                "sub.setsockopt(zmq.SUBSCRIBE, b'')\nsub.setsockopt(zmq.LINGER, 0)\n"
                f"sub.connect({address!r})\ngot, end = [], time.time() + 5\n"
                "while time.time() < end:\n    if sub.poll(200):\n"
                "        got.append(b''.join(sub.recv_multipart()))\n"
                "stolen = [m[:200] for m in got if b'SECRET-7f3a' in m]\n"
                "assert not stolen, stolen")
        errors = _attack(tmp_path, code)
    assert errors == [], errors


def _segments() -> set[int]:
    """The keys of this machine's System V shared memory segments (seen from here)."""
    with open("/proc/sysvipc/shm", encoding="utf-8") as table:
        return {int(line.split()[0]) for line in list(table)[1:] if line.strip()}


@needs_hiding
@pytest.mark.notebooks  # two kernels
def test_shared_memory_is_neither_shared_nor_left_behind_and_tmpfs_is_capped(tmp_path):
    """Second review, finding 4: System V segments (mode 666) outlived the kernel and were
    shared between kernels, and /tmp and /dev/shm took 1 GiB each whatever the memory cap.
    Now each kernel has an IPC namespace of its own (its segments die with it, no other
    kernel sees them) and its /tmp and /dev/shm are capped by its --memory-mb."""
    key = 0x5EC0FFEE
    victim = ("import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\n"
              f"assert libc.shmget({key}, 1 << 20, 0o1666) >= 0\n"
              "open('ready', 'w').write('1')\nimport time\ntime.sleep(90)")
    tmp, shm = 3000 // 4, 3000 // 8  # a quarter and an eighth of its 3000 MiB
    try:
        with _running_kernel(tmp_path, victim):
            code = ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                    f"seen = libc.shmget({key}, 0, 0)\n"
                    "size = lambda p: os.statvfs(p).f_blocks * os.statvfs(p).f_frsize >> 20\n"
                    "sizes = (size('/tmp'), size('/dev/shm'))\n"
                    f"assert seen < 0 and sizes[0] <= {tmp} and sizes[1] <= {shm}, "
                    "(seen, sizes)")
            errors = _attack(tmp_path, code)
        time.sleep(1)
        left = key in _segments()
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        segment = libc.shmget(key, 0, 0)
        if segment >= 0:
            libc.shmctl(segment, 0, None)  # IPC_RMID: never leave one on this machine
    assert errors == [], errors
    assert not left


@needs_hiding
@pytest.mark.notebooks
def test_a_kernel_cannot_make_user_namespaces(tmp_path):
    """Second review, finding 5: a kernel could make nested user namespaces until the
    grader's user hit max_user_namespaces (later kernels then could not hide). Now its own
    user namespace allows none: unshare(CLONE_NEWUSER) fails in a process it starts."""
    code = ("import subprocess, sys\n"
            "probe = 'import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x10000000) != 0)'\n"
            "made = subprocess.run([sys.executable, '-c', probe]).returncode == 0\n"
            "limit = open('/proc/sys/user/max_user_namespaces').read().strip()\n"
            "assert not made and limit == '0', (made, limit)")
    assert _attack(tmp_path, code) == []


def test_a_kernel_gets_none_of_the_graders_secrets(tmp_path, monkeypatch):
    """Second review, finding 6: the grader's whole environment (cloud tokens and all) went
    into every kernel. Now only an allow-list of it does (and the grading settings)."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SECRET-aws")
    monkeypatch.setenv("TF_TOKEN_app_terraform_io", "SECRET-tf")
    monkeypatch.setenv("GITHUB_TOKEN", "SECRET-gh")
    code = ("import os\nleaked = sorted(k for k, v in os.environ.items() if 'SECRET-' in v)\n"
            "assert not leaked and os.environ.get('NST_FAST') == '1', leaked")
    assert _attack(tmp_path, code) == []


@needs_hiding
@pytest.mark.notebooks
def test_a_late_exit_97_is_no_failure_to_hide(tmp_path):
    """Second review, finding 8: a cell exiting with 97 (the status of a kernel that could
    not hide) was reported "not graded: could not hide", a free regrade. Now only a kernel
    that never reported its world built is; a cell's exit 97 is an ordinary death."""
    from helpers.exercises.hiding import KERNEL_NOT_HIDDEN

    end = time.monotonic() + 20  # the notebook's time: a death 2.5 s before it is the last
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        f"import os, time\nwhile time.monotonic() < {end - 2.5}:\n    time.sleep(0.1)\n"
        "os._exit(97)", id="exit")])
    work = tmp_path / "work" / "ex01"
    work.mkdir(parents=True)
    settings = run_settings(GradeRun(timeout=20, memory_mb=3000, cell_timeout=60),
                            new_token(), [])
    outcome = run_notebook(nb, work, [], settings)
    assert outcome.status != KERNEL_NOT_HIDDEN
    assert "kernel died" in outcome.status, outcome.status


def _descendants(pid: int) -> list:
    import psutil

    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.Error:
        return []


@needs_hiding
@pytest.mark.slow
@pytest.mark.notebooks
def test_a_killed_grader_leaves_no_kernel_running(tmp_path):
    """Second review, finding 9: jailed kernels (keeper and kernel) ran on for 50 minutes
    with parent PID 1 after a grading run was interrupted. Now the worker dies with the
    grader, each keeper with its parent, each kernel with its keeper: SIGKILL the grader in
    the middle of a notebook, and within seconds none of its processes is left."""
    import psutil

    from helpers.exercises import student_version

    name = "ex01_preprocess.ipynb"
    course = tmp_path / "course"
    course.mkdir()
    (course / name).write_bytes((EXERCISES_DIR / name).read_bytes())
    nb = student_version(nbformat.read(EXERCISES_DIR / name, as_version=4))
    nb.cells.append(nbformat.v4.new_code_cell("import time\ntime.sleep(300)", id="sleep"))
    (tmp_path / "klass" / "sleeper").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "klass" / "sleeper" / name)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}
    grader = subprocess.Popen(
        [sys.executable, "-m", "helpers", "exercises", "--grade", str(tmp_path / "klass"),
         "--source", str(course), "-o", str(tmp_path / "out" / "grades.csv"), "--jobs", "1",
         "--timeout", "400", "--cell-timeout", "350", "--memory-mb", "3000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    seen: list = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and grader.poll() is None:
            seen = _descendants(grader.pid)
            jailed = [p for p in seen if _namespace(p.pid) not in ("", _namespace(os.getpid()))]
            if jailed:  # a kernel in its jail (PID 1 of a PID namespace of its own)
                break
            time.sleep(0.5)
        assert grader.poll() is None and jailed, "no jailed kernel started"
        time.sleep(5)  # its cells are running: the last one sleeps
        seen = _descendants(grader.pid)
        grader.kill()
        grader.wait()
        end, alive = time.monotonic() + 30, seen
        while alive and time.monotonic() < end:
            time.sleep(0.5)
            alive = [p for p in alive if _running(p)]
        assert not alive, [(p.pid, _cmdline(p)) for p in alive]
    finally:
        for proc in _descendants(grader.pid) + seen:
            with contextlib.suppress(psutil.Error):
                proc.kill()
        if grader.poll() is None:
            grader.kill()
            grader.wait()


def _namespace(pid: int) -> str:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return ""


def _running(proc) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _cmdline(proc) -> list[str]:
    import psutil

    try:
        return proc.cmdline()
    except psutil.Error:
        return []
