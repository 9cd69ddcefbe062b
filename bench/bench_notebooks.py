"""Wall time of each tutorial notebook at its real (teaching) size. Not a test.

    python bench/bench_notebooks.py [--only 05_optimization] [--timeout 1800] [--save DIR]
    python bench/bench_notebooks.py --lab [--only 05_] [--timeout 900] [--save DIR] [--fast]

Runs every ``notebooks/NN_*.ipynb`` and ``NNx_*.ipynb`` (05b) top to bottom in a fresh
kernel with nbclient, the way a learner meets it: ``NST_FAST`` and ``MPLBACKEND`` unset
(figures are drawn by the inline backend). Prints one row per notebook: wall seconds, the
number of image outputs, and whether it stayed within the 5-minute goal; the CPU model, the
core count and the load average go above the table, since a shared machine inflates the
times. ``--save DIR`` keeps the executed notebooks (with their figures) in DIR, to look at
what the real sizes paint.

``--lab`` runs them as a learner does instead: JupyterLab (as `make lab` starts it, on a temporary
copy of notebooks/ so that nothing is saved back) and Chromium driven by Playwright click
Run > Run All Cells in each notebook; the seconds are from that click until every cell has
finished (no ``[*]`` prompt left, the kernel idle), the timeout is per notebook, and ``--save DIR``
writes a screenshot of every figure (``DIR/<notebook>/fig_NN.png``) and of the window
(``page.png``). ``--fast`` sets ``NST_FAST=1`` for the kernels (small sizes: a check of the bench
itself, not a timing).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from lab_walk import walk_lab
from machine import cores, cpu_model
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 5 * 60


def image_outputs(nb: nbformat.NotebookNode) -> int:
    """The number of PNG outputs (figures) in an executed notebook."""
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for out in cell.get("outputs", []))


def run(path: Path, timeout: int, save: Path | None) -> tuple[float, int, str]:
    """Execute one notebook in a fresh kernel; (wall seconds, image outputs, error or '')."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    error = ""
    try:
        client.execute()
    except CellExecutionError as exc:
        error = str(exc).strip().splitlines()[-1][:120]
    except TimeoutError as exc:  # nbclient raises a subclass of TimeoutError per cell
        error = " ".join(f"timed out: {exc}".split())[:120]
    if save is not None:
        save.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, save / path.name)
    return time.perf_counter() - start, image_outputs(nb), error


def kernel_env(fast: bool) -> dict[str, str]:
    """The environment for the kernels: a learner's (no NST_FAST, no MPLBACKEND; NST_FAST=1 with
    ``fast``), with the repository first on PYTHONPATH so that they import this checkout's
    helpers whatever their current directory."""
    env = {k: v for k, v in os.environ.items() if k not in ("NST_FAST", "MPLBACKEND")}
    if fast:
        env["NST_FAST"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def load_average() -> str:
    """The 1, 5 and 15-minute load averages, as printed above and below the table."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    return ", ".join(f"{v:.2f}" if isinstance(v, float) else v for v in load)


def parse_args() -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only notebooks whose file name contains NAME (repeatable)")
    parser.add_argument("--timeout", type=int,
                        help="seconds per cell (1800), with --lab per notebook (900)")
    parser.add_argument("--save", type=Path, metavar="DIR",
                        help="write the executed notebooks (with outputs) into DIR; with --lab "
                             "the screenshots, DIR/<notebook>/fig_NN.png and page.png")
    parser.add_argument("--lab", action="store_true",
                        help="run each notebook in JupyterLab in Chromium (Run All Cells)")
    parser.add_argument("--fast", action="store_true",
                        help="NST_FAST=1 for the kernels: small sizes, to check the bench itself")
    args = parser.parse_args()
    if args.timeout is None:
        args.timeout = 900 if args.lab else 1800
    return args


def main() -> None:
    """Run the chosen notebooks one after the other; print the machine, then the table."""
    args = parse_args()
    paths = sorted([*(ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"),
                    *(ROOT / "notebooks").glob("[0-9][0-9][a-z]_*.ipynb")])
    if args.only:
        paths = [p for p in paths if any(name in p.name for name in args.only)]
    if not paths:
        sys.exit("no notebook matches --only " + " ".join(args.only))
    env = kernel_env(args.fast)

    print(f"CPU: {cpu_model()}, {cores()} cores; load average before: {load_average()}")
    print(("JupyterLab in Chromium, Run All Cells" if args.lab else "nbclient")
          + (", NST_FAST=1 (small sizes)" if args.fast else ", real sizes"))
    print(f"{'notebook':32} {'seconds':>8} {'images':>7}  result")
    if args.lab:
        rows = walk_lab(paths, args.timeout, args.save, env)
    else:
        for name in ("NST_FAST", "MPLBACKEND"):
            os.environ.pop(name, None)
        os.environ.update(env)  # nbclient's kernels inherit this process's environment
        rows = ((path, *run(path, args.timeout, args.save)) for path in paths)
    total = 0.0
    for path, seconds, n_images, error in rows:
        total += seconds
        verdict = error or ("ok" if seconds <= GOAL_SECONDS else "over 5 minutes")
        print(f"{path.stem:32} {seconds:8.0f} {n_images:7d}  {verdict}", flush=True)
    print(f"{'total':32} {total:8.0f}; load average after: {load_average()}")


if __name__ == "__main__":
    main()
