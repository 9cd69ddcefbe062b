"""How long grading a class takes (notebooks/exercises, graded by ``python -m helpers exercises
--grade``): a synthetic class of right, wrong, stub and one hanging submission graded through
the command line, with seconds per student, and where the time goes, step by step, as the
workers measured it (``NST_GRADE_TIMES``): the worker's start and reading the notebooks, the
ex07 target picture (painted once per run), the kernel's start (forked from a template that
imported TensorFlow once: :mod:`helpers.exercises.forking`), the notebook's first cell (its
imports: TensorFlow's is already done), its other cells, writing the hidden inputs, the
answering cells, stopping the kernel, and judging the answers (this side, no kernel).

    PYTHONPATH=. .venv/bin/python bench/bench_grading.py --students 20 --jobs 2

Target (issue 32): at most 15 s per 7-notebook submission on 2 cores. Say the machine's load
(``uptime``) with every figure: on a shared machine the figures mean little. The hanging
student's cell sleeps for ever: each of its 7 notebooks waits its full ``--cell-timeout``
(30 s here), while its core is lent to the next notebook (:mod:`helpers.exercises.lending`;
the grader's note says how many started so); ``--no-hang`` leaves the student out.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpers.exercises import EXERCISES_DIR, student_version  # noqa: E402

KINDS = ("right", "wrong", "stubs")
#: A wrong answer per exercise (replaces the solution cell's body).
WRONG = {"preprocess": "    return np.asarray(image, np.float32)[None]",
         "gram_matrix": "    return tf.matmul(tf.reshape(features, (-1, features.shape[-1])), "
                        "tf.reshape(features, (-1, features.shape[-1])))",
         "content_loss": "    return tf.reduce_mean(tf.abs(features - target))",
         "style_layer_loss": "    return tf.reduce_sum(features) * 0.0",
         "total_variation_loss": "    return tf.reduce_mean(tf.abs(x))",
         "my_settings": '    return {"style_weight": 1.0}'}


def _right(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = copy.deepcopy(nb)
    for cell in nb.cells:
        cell.source = "\n".join(line for line in cell.source.splitlines() if "### " not in line)
    return nb


def _wrong(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = _right(nb)
    for cell in nb.cells:
        for name, body in WRONG.items():
            if cell.cell_type == "code" and f"def {name}(" in cell.source:
                head = cell.source.split(f"def {name}(")[0]
                sig = cell.source.split(f"def {name}(")[1].split("\n")[0]
                cell.source = f"{head}def {name}({sig}\n{body}"
    return nb


def write_class(folder: Path, students: int, names: list[str], hang: bool = True) -> None:
    """``students`` folders cycling through right, wrong and stubs; the last one hangs (a
    cell of each of its notebooks sleeps for ever) unless ``hang`` is False."""
    for number in range(students):
        kind = KINDS[number % len(KINDS)]
        mine = folder / f"s{number:02d}-{kind}"
        mine.mkdir(parents=True)
        for name in names:
            nb = nbformat.read(EXERCISES_DIR / name, as_version=4)
            nb = {"right": _right, "wrong": _wrong, "stubs": student_version}[kind](nb)
            if hang and number == students - 1:
                nb.cells.insert(3, nbformat.v4.new_code_cell(
                    "import time\nwhile True:\n    time.sleep(1)", id="hang"))
            nbformat.write(nb, mine / name)


def kernel_costs() -> dict[str, float]:
    """Seconds to start a grading kernel and answer one cell, and to import TensorFlow in
    it (one of each, measured here)."""
    from helpers.exercises.runner import RunSettings, _run_once, new_token

    out = {}
    for what, code in (("kernel start", "pass"), ("kernel start + TensorFlow import",
                                                   "import tensorflow")):
        with tempfile.TemporaryDirectory() as tmp:
            nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code, id="c")])
            started = time.perf_counter()
            from helpers.exercises.runner import Outcome

            _run_once(nb, Path(tmp), [(0, nb.cells[0])], RunSettings(token=new_token()),
                      time.monotonic() + 300, Outcome())
            out[what] = time.perf_counter() - started
    return out


STEPS = ("worker start", "reading", "look picture", "kernel start", "first cell", "cells",
         "hidden inputs", "answers", "kernel stop", "judging")


def breakdown(folder: Path, students: int) -> str:
    """Seconds per student by step (summed over the workers, so with --jobs N they add up
    to about N times the wall time), and per exercise, from the workers' timing files."""
    records = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    by_exercise: dict[str, dict[str, float]] = {}
    for record in records:
        mine = by_exercise.setdefault(record["exercise"], {})
        for step, seconds in record["times"].items():
            mine[step] = mine.get(step, 0.0) + seconds
    steps = [s for s in STEPS if any(s in t for t in by_exercise.values())]
    lines = ["seconds per student (summed over workers), by exercise and step:",
             "exercise".ljust(24) + "".join(s[:12].rjust(13) for s in [*steps, "total"])]
    totals = dict.fromkeys([*steps, "total"], 0.0)
    for exercise, times in sorted(by_exercise.items()):
        row = [times.get(s, 0.0) / students for s in steps]
        row.append(sum(row))
        for step, value in zip([*steps, "total"], row, strict=True):
            totals[step] += value
        lines.append(exercise[:23].ljust(24) + "".join(f"{v:13.2f}" for v in row))
    lines.append("all".ljust(24) + "".join(f"{totals[s]:13.2f}" for s in [*steps, "total"]))
    return "\n".join(lines)


def main() -> None:
    """Grade the synthetic class and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--exercises", default="all",
                        help="comma-separated notebook names, or all (the seven)")
    parser.add_argument("--cell-timeout", default="30")
    parser.add_argument("--no-hang", action="store_true", help="no hanging student")
    parser.add_argument("--no-costs", action="store_true",
                        help="skip measuring one kernel's start and TensorFlow import alone")
    args = parser.parse_args()
    names = sorted(p.name for p in EXERCISES_DIR.glob("ex*.ipynb")) if args.exercises == "all" \
        else [n if n.endswith(".ipynb") else f"{n}.ipynb" for n in args.exercises.split(",")]
    missing = [n for n in names if not (EXERCISES_DIR / n).is_file()]
    if missing:
        parser.error(f"no exercise notebook {', '.join(missing)} in {EXERCISES_DIR}")
    print(f"load before: {os.getloadavg()}")
    costs = {} if args.no_costs else kernel_costs()
    for what, seconds in costs.items():
        print(f"{what}: {seconds:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        klass = Path(tmp) / "class"
        write_class(klass, args.students, names, hang=not args.no_hang)
        times = Path(tmp) / "times"
        times.mkdir()
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "helpers", "exercises", "--grade",
                               str(klass), "-o", str(Path(tmp) / "out" / "grades.csv"),
                               "--jobs", str(args.jobs), "--cell-timeout", args.cell_timeout,
                               "--memory-mb", "4000"], capture_output=True, text=True,
                              env={**os.environ, "PYTHONPATH": str(ROOT),
                                   "NST_GRADE_TIMES": str(times)})
        seconds = time.perf_counter() - started
        totals = [line for line in proc.stdout.splitlines()
                  if " points" in line or "sleeping one" in line]
        steps = breakdown(times, args.students)
    print(json.dumps({"students": args.students, "notebooks per student": len(names),
                      "jobs": args.jobs, "status": proc.returncode,
                      "seconds": round(seconds, 1),
                      "seconds per student": round(seconds / args.students, 1),
                      "seconds per notebook": round(seconds / args.students / len(names), 1)},
                     indent=1))
    print(f"load after: {os.getloadavg()}")
    print(steps)
    print("\n".join(totals))
    if proc.returncode:
        print(proc.stderr[-3000:])


if __name__ == "__main__":
    main()
