"""Speed of a sweep against a plain loop, all figures measured in one run (not a test).

    python bench/bench_sweep.py [--size 256] [--iterations 50] [--backbone vgg16-hed]

Paints the same 8 runs (style weight 10, 30, 100, 300 x TV weight 1e-4, 1e-3 on chelsea x
swirls: one target group) four ways, each timed from nothing to 8 results on disk (so
TensorFlow's import and the cluster's start count):

(a) a plain loop of ``helpers.stylize`` calls in one fresh process, TensorFlow's default threads;
(b) the sweep on 1 worker with 1 thread;
(c) the sweep on 2 workers with 1 thread each;
(d) as (c) but ungrouped: each run forgets the cached targets first (rebuilt and retraced).

Prints the ratios (b)/(c), (a)/(c), (d)/(c) of wall seconds and of CPU seconds (the workers'
own, or the loop process's: on a shared machine wall time depends on the others' load, CPU
time much less), the median wall seconds per L-BFGS iteration inside the runs (after their
first, so without any start-up: whether the network itself ran slower or faster in the workers),
the CPU and the load average before and after each part; writes build/bench_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from machine import cpu_model, load

GRID = {"style_weight": [10, 30, 100, 300], "tv_weight": [1e-4, 1e-3]}
PAIR = [("chelsea", "swirls")]
OUT = Path("build/bench_sweep")

LOOP = """
import itertools, sys, time
t0 = time.perf_counter()
import helpers
from helpers.data import default_content, default_style
photo, painting = default_content(), default_style()
size, iterations, backbone, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for sw, tv in itertools.product({sw}, {tv}):
    r = helpers.stylize(photo, painting, size=size, iterations=iterations,
                        backbone=backbone, style_weight=sw, tv_weight=tv, progress=False)
    r.save(f"{{out}}/loop_{{sw}}_{{tv}}.png")
import resource
use = resource.getrusage(resource.RUSAGE_SELF)
print(time.perf_counter() - t0, use.ru_utime + use.ru_stime)
"""


def cpu_seconds() -> float:
    """CPU seconds (user + system) this process has used."""
    import resource

    use = resource.getrusage(resource.RUSAGE_SELF)
    return use.ru_utime + use.ru_stime


def seconds_per_iteration(folder: Path) -> float:
    """Median over the runs saved in ``folder`` of the wall seconds per L-BFGS iteration after
    the first (its evaluation includes tracing): how fast the runs themselves went, without
    the process or cluster start-up."""
    import statistics

    per_run = []
    for path in folder.glob("*.json"):
        history = json.loads(path.read_text()).get("history", [])
        if len(history) > 2:
            per_run.append((history[-1]["seconds"] - history[1]["seconds"])
                           / (history[-1]["iteration"] - history[1]["iteration"]))
    return statistics.median(per_run) if per_run else float("nan")


def plain_loop(args: argparse.Namespace) -> tuple[float, float, Path]:
    """(a): wall and CPU seconds for the 8 runs as stylize calls in one new process."""
    out = OUT / "loop"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    code = LOOP.format(sw=GRID["style_weight"], tv=GRID["tv_weight"])
    done = subprocess.run([sys.executable, "-c", code, str(args.size), str(args.iterations),
                           args.backbone, str(out)], capture_output=True, text=True,
                          check=True)
    wall, cpu = done.stdout.split()[-2:]
    return float(wall), float(cpu), out


def swept(args: argparse.Namespace, workers: int, grouped: bool = True
          ) -> tuple[float, float, Path]:
    """(b)-(d): wall seconds for the 8 runs as a sweep on a new local cluster, and the CPU
    seconds its workers used."""
    from helpers.sweeps.engine import local_client, sweep

    out = OUT / f"sweep_{workers}_{'grouped' if grouped else 'ungrouped'}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    client = local_client(args.size, workers=workers, threads=1)
    try:
        report = sweep(GRID, PAIR, out, client=client, grouped=grouped, progress=False,
                       sheet=False, size=args.size, iterations=args.iterations,
                       backbone=args.backbone)
        wall = time.perf_counter() - t0
        cpu = sum(client.run(cpu_seconds).values())
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert report.ran == 8, report
    return wall, cpu, out


def main() -> None:
    """Run the four parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=50,
                        help="per run (with 10, a run lasts seconds and the workers' start-up "
                             "decides every ratio)")
    parser.add_argument("--backbone", default="vgg16-hed")
    args = parser.parse_args()
    parts = {"a_plain_loop": lambda: plain_loop(args),
             "b_sweep_1x1": lambda: swept(args, 1),
             "c_sweep_2x1": lambda: swept(args, 2),
             "d_sweep_2x1_ungrouped": lambda: swept(args, 2, grouped=False)}
    figures: dict[str, object] = {"cpu": cpu_model(), "cores": os.cpu_count(),
                                  "size": args.size, "iterations": args.iterations,
                                  "backbone": args.backbone, "runs": 8}
    for name, part in parts.items():
        before = load()
        seconds, cpu, out = part()
        per_iteration = seconds_per_iteration(out)
        figures[name] = {"seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
                         "seconds_per_iteration": round(per_iteration, 3),
                         "load_before": before, "load_after": load()}
        print(f"{name}: {seconds:.1f} s wall, {cpu:.1f} CPU s, {per_iteration:.3f} s per "
              f"iteration inside a run (load average {before} -> {load()})", flush=True)
    for unit in ("seconds", "cpu_seconds"):
        a, b, c, d = (figures[k][unit] for k in parts)
        figures[f"ratios_{unit}"] = {"b_over_c": round(b / c, 2), "a_over_c": round(a / c, 2),
                                     "d_over_c": round(d / c, 2)}
        print(f"{unit}: scaling (b)/(c) = {b / c:.2f} (goal >= 1.8 on 2 cores), plain loop / "
              f"sweep (a)/(c) = {a / c:.2f} (goal >= 1), ungrouped / grouped (d)/(c) = "
              f"{d / c:.2f}")
    # Which backbone ran, with its pooling, padding and precision ("auto" is bfloat16 where the
    # CPU computes it natively), as the runs themselves recorded it.
    run = json.loads(next((OUT / "loop").glob("*.json")).read_text())
    figures["backbone_ran"] = run["backbone"]
    print(f"CPU: {figures['cpu']} ({figures['cores']} cores); {args.size} px, "
          f"{args.iterations} iterations, {run['backbone']}")
    OUT.mkdir(parents=True, exist_ok=True)
    Path("build/bench_sweep.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
