"""A 1024 px result coarse-to-fine vs single-scale, and with every default before and after
issue 35's speed work: time and peak memory, one run.

    python bench/bench_highres.py [--size 1024] [--precision auto] [--content PATH --style PATH]
                                  [--out DIR] [--variants defaults-old,defaults,...]
    python bench/bench_highres.py --runs 1024:bfloat16,512:float32 --variants defaults-old,defaults

``--runs SIZE:PRECISION,...`` measures several sizes and precisions in one command (issue
35's figures: 1024 px in bfloat16, 512 px in float32), each with every variant asked.

Each variant runs in its own process, so its peak resident memory is its own. Prints the
seconds, the peak memory (GiB), stylize's memory estimate for the largest scale, and the
final losses; writes the pictures to ``--out``. ``defaults`` is a run with every default (at
1024 px: 60 iterations at 512 px over the image pyramid, then 10 at 1024 px, the sliced loss);
``defaults-old`` the same on the code paths before issue 35 (scipy's own ``fmin_l_bfgs_b`` with
its bounds loop, the sort as it was: the same picture, which the bench checks). Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

VARIANTS = {
    "defaults-old": {},
    "defaults": {},
    "single-scale": dict(iterations=100, scales=1),
    "coarse-to-fine": dict(iterations=100, scales=3, scale_iterations=[100, 60, 30]),
}


def child(args: argparse.Namespace) -> None:
    """Run one variant; print a JSON line with its figures."""
    import helpers
    from helpers import backbone, data, fast_ops, images, optimizers, stylizing

    # The bench-only switches (tests/test_speed_paths.py: the same pictures either way).
    optimizers.PREPARED_BOUNDS = fast_ops.LEAN_SORT = not args.variant.endswith("-old")
    content = args.content or data.default_content()
    style = args.style or data.default_style()
    start = time.perf_counter()
    result = helpers.stylize(content, style, size=args.size, progress=False,
                             precision=args.precision, **VARIANTS[args.variant])
    seconds = time.perf_counter() - start
    shape = result.image.shape[:2]
    d = stylizing.DEFAULTS[backbone.resolve_name("auto")]
    net = backbone.load_backbone("auto", pooling=d["pooling"], padding=d["padding"],
                                 precision=result.settings["precision"])
    settings = result.settings
    painting = images.load_image(style).shape[:2]
    estimate = stylizing.estimate_memory(
        net, shape, [d["content_layer"], *d["style_layers"]], settings["style_loss"],
        settings["style_layers"],
        stylizing.style_shape(painting, args.size, settings["style_scale"]))
    out = Path(args.out) / f"{args.variant}_{args.size}_{result.settings['precision']}.png"
    images.save_image(result.image, out)
    print(json.dumps({
        "variant": args.variant, "seconds": seconds, "shape": shape,
        "precision": result.settings["precision"],
        "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
        "estimate_gib": estimate / 2**30, "backbone": result.backbone,
        "final": result.history[-1], "evaluations": result.history[-1]["evaluations"],
        "image": str(out),
    }))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024)
    parser.add_argument("--precision", default="auto", help="auto, float32 or bfloat16")
    parser.add_argument("--runs", default=None,
                        help="SIZE:PRECISION,... (e.g. 1024:bfloat16,512:float32): several "
                             "sizes and precisions in one command (default: --size, "
                             "--precision)")
    parser.add_argument("--content", default=None)
    parser.add_argument("--style", default=None)
    parser.add_argument("--out", default="build/bench")
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated, of {', '.join(VARIANTS)} (default: all)")
    parser.add_argument("--variant", choices=sorted(VARIANTS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.variant:
        child(args)
        return
    Path(args.out).mkdir(parents=True, exist_ok=True)
    runs = ([(int(size), precision) for size, precision in
             (run.split(":") for run in args.runs.split(","))] if args.runs
            else [(args.size, args.precision)])
    for size, precision in runs:
        args.size, args.precision = size, precision
        measure_size(args)


def measure_size(args: argparse.Namespace) -> None:
    """Run every variant at ``args.size`` px in ``args.precision``, each in its own process;
    print their figures."""
    rows = []
    for variant in args.variants.split(","):
        cmd = [sys.executable, __file__, "--variant", variant, "--size", str(args.size),
               "--precision", args.precision, "--out", args.out]
        for flag in ("content", "style"):
            if getattr(args, flag):
                cmd += [f"--{flag}", getattr(args, flag)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            sys.exit(f"{variant} failed:\n{proc.stderr[-2000:]}")
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"{variant}: {rows[-1]['seconds']:.0f} s (load {os.getloadavg()[0]:.1f})",
              flush=True)
    print(f"{rows[0]['backbone']}; {args.size} px result "
          f"({rows[0]['shape'][0]}x{rows[0]['shape'][1]}), {rows[0]['precision']}; "
          f"load {os.getloadavg()[0]:.1f}")
    for r in rows:
        print(f"{r['variant']:>15}: {r['seconds']:6.0f} s, peak memory {r['peak_gib']:.2f} GiB "
              f"(estimate for the largest scale {r['estimate_gib']:.2f} GiB), "
              f"{r['evaluations']} evaluations at full size, "
              f"final loss {r['final']['total']:.4g} -> "
              f"{r['image']}")
    by = {r["variant"]: r for r in rows}
    if {"single-scale", "coarse-to-fine"} <= by.keys():
        ratio = by["coarse-to-fine"]["seconds"] / by["single-scale"]["seconds"]
        print(f"coarse-to-fine took {ratio:.2f}x the time of single-scale")
    if {"defaults", "defaults-old"} <= by.keys():
        from helpers import images

        old, new = (images.load_image(by[v]["image"]) for v in ("defaults-old", "defaults"))
        print(f"with the defaults: {by['defaults-old']['seconds']:.0f} s before issue 35, "
              f"{by['defaults']['seconds']:.0f} s now "
              f"({by['defaults-old']['seconds'] / by['defaults']['seconds']:.2f}x); the pictures "
              f"differ by at most {np.abs(old.astype(int) - new.astype(int)).max()} grey levels")


if __name__ == "__main__":
    main()
