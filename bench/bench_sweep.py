"""Speed of a sweep against a plain loop, all figures measured in one run (not a test).

    python bench/bench_sweep.py [--size 256] [--iterations 10] [--backbone vgg16-hed]

Paints the same 8 runs (style weight 10, 30, 100, 300 x TV weight 1e-4, 1e-3 on chelsea x
swirls: one target group) four ways, each timed from nothing to 8 results on disk (so
TensorFlow's import and the cluster's start count):

(a) a plain loop of ``helpers.stylize`` calls in one fresh process, TensorFlow's default threads;
(b) the sweep on 1 worker with 1 thread;
(c) the sweep on 2 workers with 1 thread each;
(d) as (c) but ungrouped: each run forgets the cached targets first (rebuilt and retraced).

Prints the scaling (b)/(c), (a)/(c), (d)/(c), the CPU and the load average before and after
each part (the machine may be shared); writes build/bench_sweep.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
print(time.perf_counter() - t0)
"""


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (or platform's guess)."""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def load() -> str:
    """The 1-minute load average."""
    return f"{os.getloadavg()[0]:.1f}"


def plain_loop(args: argparse.Namespace) -> float:
    """(a): seconds for the 8 runs as stylize calls in one new process."""
    out = OUT / "loop"
    out.mkdir(parents=True, exist_ok=True)
    code = LOOP.format(sw=GRID["style_weight"], tv=GRID["tv_weight"])
    done = subprocess.run([sys.executable, "-c", code, str(args.size), str(args.iterations),
                           args.backbone, str(out)], capture_output=True, text=True,
                          check=True)
    return float(done.stdout.split()[-1])


def swept(args: argparse.Namespace, workers: int, grouped: bool = True) -> float:
    """(b)-(d): seconds for the 8 runs as a sweep on a new local cluster."""
    from helpers.sweeps.engine import local_client, sweep

    out = OUT / f"sweep_{workers}_{'grouped' if grouped else 'ungrouped'}"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    client = local_client(args.size, workers=workers, threads=1)
    try:
        report = sweep(GRID, PAIR, out, client=client, grouped=grouped, progress=False,
                       sheet=False, size=args.size, iterations=args.iterations,
                       backbone=args.backbone)
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()
    assert report.ran == 8, report
    return time.perf_counter() - t0


def main() -> None:
    """Run the four parts and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=10)
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
        seconds = part()
        figures[name] = {"seconds": round(seconds, 1), "load_before": before,
                         "load_after": load()}
        print(f"{name}: {seconds:.1f} s (load average {before} -> {load()})", flush=True)
    a, b, c, d = (figures[k]["seconds"] for k in parts)
    figures.update(scaling_b_over_c=round(b / c, 2), loop_over_sweep_a_over_c=round(a / c, 2),
                   ungrouped_over_grouped_d_over_c=round(d / c, 2))
    print(f"CPU: {figures['cpu']} ({figures['cores']} cores); {args.size} px, "
          f"{args.iterations} iterations, {args.backbone}")
    print(f"scaling (b)/(c) = {b / c:.2f}  (goal >= 1.8 on 2 cores)")
    print(f"plain loop / sweep (a)/(c) = {a / c:.2f}  (goal >= 1)")
    print(f"ungrouped / grouped (d)/(c) = {d / c:.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    Path("build/bench_sweep.json").write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
