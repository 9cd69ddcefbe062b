"""Wall time of each tutorial notebook at its real (teaching) size. Not a test.

    python bench/bench_notebooks.py [--only 05_optimization] [--timeout 1800] [--save DIR]

Runs every ``notebooks/[0-9][0-9]_*.ipynb`` top to bottom in a fresh kernel with nbclient, the
way a learner meets it: ``NST_FAST`` and ``MPLBACKEND`` unset (figures are drawn by the inline
backend). Prints one row per notebook: wall seconds, the number of image outputs, and whether
it stayed within the 5-minute goal; the CPU model, the core count and the load average go
above the table, since a shared machine inflates the times. ``--save DIR`` keeps the executed
notebooks (with their figures) in DIR, to look at what the real sizes paint.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
from machine import cores, cpu_model
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 5 * 60


def image_outputs(nb: nbformat.NotebookNode) -> int:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help="run only notebooks whose file name contains NAME (repeatable)")
    parser.add_argument("--timeout", type=int, default=1800, help="seconds per cell (1800)")
    parser.add_argument("--save", type=Path, metavar="DIR",
                        help="write the executed notebooks (with outputs) into DIR")
    args = parser.parse_args()

    os.environ.pop("NST_FAST", None)
    os.environ.pop("MPLBACKEND", None)
    # The kernel imports the project's helpers, whatever the current directory.
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        paths = [p for p in paths if any(name in p.name for name in args.only)]
    if not paths:
        sys.exit("no notebook matches --only " + " ".join(args.only))

    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    print(f"CPU: {cpu_model()}, {cores()} cores; load average before: "
          + ", ".join(f"{v:.2f}" if isinstance(v, float) else v for v in load))
    print(f"{'notebook':32} {'seconds':>8} {'images':>7}  result")
    total = 0.0
    for path in paths:
        seconds, n_images, error = run(path, args.timeout, args.save)
        total += seconds
        verdict = error or ("ok" if seconds <= GOAL_SECONDS else "over 5 minutes")
        print(f"{path.stem:32} {seconds:8.0f} {n_images:7d}  {verdict}", flush=True)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    print(f"{'total':32} {total:8.0f}; load average after: "
          + ", ".join(f"{v:.2f}" if isinstance(v, float) else v for v in load))


if __name__ == "__main__":
    main()
