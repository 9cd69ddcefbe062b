"""What makes grading a class faster (issue 32, item 6) keeps every promise: a kernel forked
from the template reads its environment as a kernel started from scratch does, a cell that
timed out leaves the next cells their own output, and a sleeping notebook lends its core
(:mod:`helpers.exercises.lending`) while a busy one never does, with the same verdicts.
Speed itself is measured by ``bench/bench_grading.py``, not here."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import nbformat
import pytest

from helpers.exercises import EXERCISES_DIR, lending

ROOT = Path(__file__).resolve().parent.parent
FACTS = """import json, os, sys, tempfile
import keras, matplotlib
from keras.src.backend.config import keras_home
facts = {"backend": keras.config.backend(), "floatx": keras.config.floatx(),
         "keras_home": keras_home(),
         "mpl_backend": matplotlib.get_backend().lower(),
         "mpl_config": matplotlib.get_configdir(), "tmp": tempfile.gettempdir(),
         "mark": os.environ.get("LANGUAGE"), "fast": os.environ.get("NST_FAST")}
import scipy.ndimage, scipy.optimize
facts["lbfgs"] = round(float(scipy.optimize.fmin_l_bfgs_b(
    lambda x: ((x - 3.0) ** 2).sum(), [0.0], approx_grad=True)[0][0]), 3)
open("facts.json", "w").write(json.dumps(facts))"""


@pytest.mark.notebooks  # two kernels, one forked from a template
def test_a_forked_kernel_reads_its_environment_as_a_fresh_one(tmp_path, monkeypatch):
    """Keras' backend, float type and folder, Matplotlib's backend and folder, the temporary
    folder and the kernel's own variables, and SciPy's optimizer (preloaded) in a kernel
    forked from a template started earlier (in another TMPDIR) are what a kernel started
    from scratch in the same environment finds."""
    from helpers.exercises.forking import Template
    from helpers.exercises.runner import RunSettings, kernel_env, new_token, run_notebook

    for name, folder in (("KERAS_HOME", "keras"), ("MPLCONFIGDIR", "mpl")):
        (tmp_path / folder).mkdir()
        monkeypatch.setenv(name, str(tmp_path / folder))
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    token = new_token()
    (tmp_path / "first").mkdir()
    template = Template({**kernel_env(token), "TMPDIR": str(tmp_path / "first")})
    # after the template started; LANGUAGE: a variable on the kernels' allow-list
    monkeypatch.setenv("LANGUAGE", "the kernel's own")
    facts = {}
    try:
        for how, tpl in (("forked", template), ("fresh", None)):
            work = tmp_path / how / "ex01"
            work.mkdir(parents=True)
            monkeypatch.setenv("TMPDIR", str(work.parent))
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FACTS, id="f")])
            run_notebook(nb, work, [], RunSettings(timeout=300, memory_mb=4000, token=token,
                                                   cell_timeout=240, template=tpl))
            errors = [o.get("evalue") for o in nb.cells[0].get("outputs", [])
                      if o.get("output_type") == "error"]
            assert errors == [], errors
            facts[how] = json.loads((work / "facts.json").read_text())
            assert facts[how]["tmp"] == str(work.parent)
    finally:
        template.close()
    assert facts["forked"].pop("tmp") != facts["fresh"].pop("tmp")
    assert facts["forked"] == facts["fresh"], facts
    assert facts["fresh"]["keras_home"] == str(tmp_path / "keras")
    assert facts["fresh"]["mpl_config"] == str(tmp_path / "mpl")
    assert facts["fresh"]["mark"] == "the kernel's own" and facts["fresh"]["lbfgs"] == 3.0


# ------------------------------------------------------------------------------ lending

def _process(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code])


def _until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_a_sleeping_process_tree_is_idle_a_spinning_one_never(monkeypatch):
    monkeypatch.setattr(lending, "IDLE_SECONDS", 1.0)
    parent = _process("import subprocess, sys, time\n"  # the sleep is in a child
                      "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
                      "time.sleep(60)")
    spinner = _process("while True: pass")
    try:
        sleeping, spinning = lending.Slot(), lending.Slot()
        sleeping.pid, spinning.pid = parent.pid, spinner.pid
        assert not sleeping.idle(time.monotonic())  # not watched long enough yet
        assert _until(lambda: sleeping.idle(time.monotonic()), 20)
        assert not _until(lambda: spinning.idle(time.monotonic()), 4)
        assert not lending.Slot().idle(time.monotonic())  # no process named yet: busy
    finally:
        for proc in (parent, spinner):
            proc.kill()
            proc.wait()
    gone = lending.Slot()
    gone.pid = parent.pid
    assert not gone.idle(time.monotonic())


def test_the_lender_lends_only_while_a_slot_is_idle(monkeypatch):
    """jobs=1, lend=2: a second notebook starts while the first sleeps; a third waits while
    the second spins, though the first still sleeps and a slot is left to lend."""
    monkeypatch.setattr(lending, "IDLE_SECONDS", 1.0)
    lender = lending.Lender(jobs=1, lend=2)
    sleeper, spinner = _process("import time; time.sleep(60)"), _process("while True: pass")
    entered = [threading.Event() for _ in range(3)]
    release = threading.Event()

    def notebook(n: int, pid: int) -> None:
        with lender.slot():
            lender.attach(pid)
            entered[n].set()
            release.wait(60)

    threads = [threading.Thread(target=notebook, args=(n, pid))
               for n, pid in enumerate((sleeper.pid, spinner.pid, spinner.pid))]
    try:
        threads[0].start()
        assert entered[0].wait(10)
        threads[1].start()
        assert entered[1].wait(20) and lender.lent == 1
        threads[2].start()
        assert not entered[2].wait(4)  # the spinner is busy: jobs=1 busy already
        assert len(lender.slots) == 2 and lender.lent == 1
        lender.stop()  # a stop lets the waiting one go
        assert entered[2].wait(10)
    finally:
        release.set()
        for thread in threads:
            thread.join(30)
        for proc in (sleeper, spinner):
            proc.kill()
            proc.wait()


def test_the_lender_lends_only_with_memory_to_spare(monkeypatch):
    monkeypatch.setattr(lending, "IDLE_SECONDS", 1.0)
    lender = lending.Lender(jobs=1, lend=1)
    sleeper = _process("import time; time.sleep(60)")
    release = threading.Event()

    def first() -> None:
        with lender.slot():
            lender.attach(sleeper.pid)
            release.wait(60)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert _until(lambda: len(lender.slots) == 1, 10)
        slot = next(iter(lender.slots.values()))
        assert _until(lambda: slot.idle(time.monotonic()), 20)
        monkeypatch.setattr(lending, "LEND_FREE_MB", 2**40)  # more than any machine has
        with lender.cond:
            assert not lender._room()
        monkeypatch.setattr(lending, "LEND_FREE_MB", 0)
        with lender.cond:
            assert lender._room()
    finally:
        release.set()
        thread.join(30)
        sleeper.kill()
        sleeper.wait()


def _class(folder: Path, hang: str) -> None:
    """Two students with ex01 only: s0 hangs in a cell (``hang``), s1 is right."""
    nb = nbformat.read(EXERCISES_DIR / "ex01_preprocess.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if "### " not in line)
    for student, extra in (("s0", hang), ("s1", None)):
        mine = copy.deepcopy(nb)
        if extra:
            mine.cells.insert(3, nbformat.v4.new_code_cell(extra, id="hang"))
        (folder / student).mkdir(parents=True)
        nbformat.write(mine, folder / student / "ex01_preprocess.ipynb")


@pytest.mark.slow
@pytest.mark.parametrize("hang,lends,limit", [
    ("import time\nwhile True:\n    time.sleep(1)", True, 45),
    ("while True:\n    pass", False, 20)])
def test_a_sleeping_notebook_lends_its_core_a_spinning_one_does_not(tmp_path, hang, lends,
                                                                     limit):
    """With --jobs 1, a notebook sleeping in a cell lets the next student's notebook run
    (it finishes first); one spinning the CPU does not. Same verdicts either way: the hang
    is interrupted at its full --cell-timeout and both students get every point."""
    _class(tmp_path / "class", hang)
    proc = subprocess.run([sys.executable, "-m", "helpers", "exercises", "--grade",
                           str(tmp_path / "class"), "-o", str(tmp_path / "out" / "grades.csv"),
                           "--jobs", "1", "--cell-timeout", str(limit), "--memory-mb", "4000"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    order = [line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" points")]
    assert order == (["s1", "s0"] if lends else ["s0", "s1"]), proc.stdout
    assert "s0 ex01_preprocess: 4 / 4 points" in proc.stdout
    assert "s1 ex01_preprocess: 4 / 4 points" in proc.stdout
    assert ("started on the core of a sleeping one" in proc.stdout) == lends, proc.stdout
    grades = (tmp_path / "out" / "grades.csv").read_text()
    assert f"did not finish within {limit} s; it was interrupted" in grades


def test_the_cells_after_one_that_timed_out_keep_their_own_errors(tmp_path):
    """nbclient leaves the output reader of a timed-out cell running; it took the next
    cells' messages (each then waited 4 s for its own, and an nbgrader test cell's failed
    assert was lost: scored as passed). Every later cell's error is recorded."""
    from helpers.exercises.runner import RunSettings, new_token, run_notebook

    cells = [nbformat.v4.new_code_cell("while True:\n    pass", id="spin")]
    cells += [nbformat.v4.new_code_cell(f"assert False, 'cell {n}'", id=f"test{n}")
              for n in range(5)]
    nb = nbformat.v4.new_notebook(cells=cells)
    (tmp_path / "ex01").mkdir()
    outcome = run_notebook(nb, tmp_path / "ex01", [], RunSettings(
        timeout=300, memory_mb=4000, token=new_token(), cell_timeout=3))
    assert outcome.notes == ["cell 0 (spin) did not finish within 3 s; it was interrupted"]
    errors = {c.id: [o.get("evalue") for o in c.get("outputs", [])
                     if o.get("output_type") == "error"] for c in nb.cells[1:6]}
    assert errors == {f"test{n}": [f"cell {n}"] for n in range(5)}, errors
