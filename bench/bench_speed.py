"""Speed and memory of one style-transfer evaluation, all figures measured in one run.

    python bench/bench_speed.py [--height 400] [--evaluations 15] [--backbone auto]
                                [--precisions float32,bfloat16] [--style-loss gram]

Prints (a) median seconds per loss-and-gradient evaluation inside ``stylize``, (b) median
seconds of a bare forward+backward pass of the same truncated backbone, (c) their ratio, (d)
seconds per "iteration" of 20 evaluations (the old Keras example's unit, ~7 minutes), timed as
one ``fmin_l_bfgs_b`` call with ``maxfun=20``, (e) the per-evaluation time done the original
way (content, style and generated image through the network together at every evaluation), (f)
peak memory, (g) one L-BFGS iteration over a bare forward+backward, then where its time beyond
the evaluations goes (scipy's compiled L-BFGS-B, timed in the same run, and our Python between
evaluations) and what scipy's part is on a trivial objective with as many values as ``stylize``
runs it (one BLAS thread) and at BLAS's default threads, without bounds, with m = 5, (h) the
same for the sliced loss with its sort before issue 35 and now (the iterations of one run
taking turns), (i) a ``--default-size`` px run with every default (coarse-to-fine, the sliced
loss) before issue 35 and now (the code paths of the benches' switches, the same pictures). The
style loss is the Gram loss unless ``--style-loss`` says otherwise (``sliced``, the offline
backbone's default, sorts every layer's projections: its (c) is higher). Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import resource
import statistics
import time
import timeit

import numpy as np
from machine import cpu_model, load
from scipy.optimize import fmin_l_bfgs_b

import helpers
from helpers import backbone as bb
from helpers import data, fast_ops, images, losses, optimizers, run_loop, stylizing
from helpers._tf import tf  # TensorFlow without its C++ start-up lines
from helpers.settings import CHOICES

ORIGINAL_SECONDS_PER_ITERATION = 7 * 60  # "about 7 minutes for one iteration" (Keras example)


def peak_rss_gib() -> float:
    """Peak resident memory of this process so far, GiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up (tracing)
    return statistics.median(timeit.repeat(fn, number=1, repeat=repeats))


@contextlib.contextmanager
def timed_setulb(spent: list[float]):
    """While it lasts, ``spent[0]`` adds up the seconds spent in scipy's compiled L-BFGS-B
    (``_lbfgsb.setulb``, which ``optimizers.lbfgsb`` and ``fmin_l_bfgs_b`` look up at each
    call)."""
    from scipy.optimize import _lbfgsb

    original = _lbfgsb.setulb

    def setulb(*args):
        started = time.perf_counter()
        try:
            return original(*args)
        finally:
            spent[0] += time.perf_counter() - started

    _lbfgsb.setulb = setulb
    try:
        yield
    finally:
        _lbfgsb.setulb = original


def bare_pass(extractor):
    """Forward + backward of the truncated backbone alone (gradient of the summed outputs)."""

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = extractor(x, training=False)
            total = tf.add_n([tf.reduce_sum(v) for v in out.values()])
        return tape.gradient(total, x)

    return step


def original_pass(extractor, content, style, x, content_layer, style_layers):
    """The old Keras example's evaluation: one batch of [content, style, generated] each time."""
    c, s = tf.constant(content), tf.constant(style)

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = extractor(tf.concat([c, s, x], axis=0), training=False)
            loss = losses.content_loss(out[content_layer][2], out[content_layer][0])
            for name in style_layers:
                loss += losses.style_layer_loss(out[name][2], losses.gram_matrix(out[name][1]))
            loss += losses.total_variation_loss(x)
        return loss, tape.gradient(loss, x)

    return lambda: step(x)[1].numpy()


def measure(content, style, name: str, precision: str, evaluations: int,
            style_loss: str = "gram", sorts: tuple[bool, ...] = (True,),
            restart: bool = True) -> dict:
    """Figures (a), (b) and (d) for one precision, plus the run's result.

    (a) and (b) are measured interleaved, under the same conditions: after every L-BFGS
    iteration of the ``stylize`` run, a callback times one bare pass on the current image.
    Measured one after the other, machine drift (other jobs, clock changes) alone moved the
    ratio by +-0.03 between runs. With ``sorts`` = (False, True) the iterations take turns
    on the sliced loss's sort before issue 35 and today's (``fast_ops.LEAN_SORT``; the same
    points either way): ``per_eval`` and ``wall`` are then dicts by that switch.
    """
    h, w = content.shape[:2]
    d = stylizing.DEFAULTS[name]
    # The network stylize runs: its pooling and padding (reflection for vgg16-hed).
    net = bb.load_backbone(name, pooling=d["pooling"], precision=precision, padding=d["padding"])
    extractor = bb.feature_extractor(net, d["style_layers"], [d["content_layer"]])
    step = bare_pass(extractor)
    step(tf.constant(images.preprocess(content)))  # warm-up (tracing)
    bare_times, callback_seconds, setulb_seconds, in_setulb = [], {}, {}, [0.0]

    path = {}  # iteration -> the sort its next step runs with

    def time_bare_pass(info: dict) -> None:
        fast_ops.LEAN_SORT = path[info["iteration"]] = sorts[info["iteration"] % len(sorts)]
        started = time.perf_counter()
        x = tf.constant(images.preprocess(info["image"]))
        t = time.perf_counter()
        step(x).numpy()
        bare_times.append(time.perf_counter() - t)
        callback_seconds[info["iteration"]] = time.perf_counter() - started
        setulb_seconds[info["iteration"]] = in_setulb[0]

    fast_ops.LEAN_SORT = sorts[0]
    with timed_setulb(in_setulb):
        result = stylizing.stylize(content, style, size=max(h, w),
                                  iterations=evaluations * len(sorts), backbone=name,
                                  precision=precision, scales=1, progress=False,
                                  style_loss=style_loss, callback=time_bare_pass)
    fast_ops.LEAN_SORT = True
    hist = result.history
    steps = list(zip(hist[1:], hist[2:], strict=False))  # skip 0->1: tracing, scipy set-up

    def figures(sort: bool) -> tuple[float, float]:
        """(a): the evaluations' own time; the wall time per evaluation leaves out the
        callback."""
        mine = [(a, b) for a, b in steps if path[a["iteration"]] == sort]
        return (statistics.median((b["eval_seconds"] - a["eval_seconds"]) /
                                  (b["evaluations"] - a["evaluations"]) for a, b in mine),
                statistics.median((b["seconds"] - a["seconds"] - callback_seconds[a["iteration"]])
                                  / (b["evaluations"] - a["evaluations"]) for a, b in mine))

    by_sort = {sort: figures(sort) for sort in sorts}
    per_eval = {sort: f[0] for sort, f in by_sort.items()}
    wall = {sort: f[1] for sort, f in by_sort.items()}
    if len(sorts) == 1:
        per_eval, wall = per_eval[sorts[0]], wall[sorts[0]]
    evals_per_iter = (hist[-1]["evaluations"] - hist[0]["evaluations"]) / (len(hist) - 1)
    setulb = statistics.median(setulb_seconds[b["iteration"]] - setulb_seconds[a["iteration"]]
                               for a, b in steps)
    figures_ = dict(result=result, per_eval=per_eval, wall=wall, evals_per_iter=evals_per_iter,
                    setulb=setulb,
                    bare=statistics.median(bare_times), bare_n=len(bare_times), net=net,
                    extractor=extractor)
    if not restart:
        return figures_
    # (d) timed: one iteration the original way, one fmin_l_bfgs_b call with maxfun=20.
    restart = stylizing.stylize(content, style, size=max(h, w), iterations=1,
                               lbfgs_mode="restart", maxfun=20, backbone=name,
                               precision=precision, scales=1, style_loss=style_loss,
                               progress=False).history
    return dict(figures_, restart_seconds=restart[1]["seconds"] - restart[0]["seconds"],
                restart_evals=restart[1]["evaluations"] - restart[0]["evaluations"])


@functools.cache
def lbfgsb_seconds(n: int, one_thread: bool, bounded: bool = True, m: int = 10,
                   iterations: int = 24) -> float:
    """Median seconds per iteration that scipy's L-BFGS-B spends outside the objective on
    ``n`` values (a separable quadratic of spread curvatures, never converged in
    ``iterations``; iterations after the first ``m`` + 2, its memory full): with the pixels'
    bounds through ``optimizers.lbfgsb`` as ``stylize`` runs it, or without bounds through
    ``fmin_l_bfgs_b``; its BLAS at one thread (``run_loop.one_blas_thread``, as ``stylize``
    runs it) or at the library's default."""
    rng = np.random.default_rng(0)
    target, curvature = rng.normal(0.0, 1.0, n), np.exp(rng.uniform(-6.0, 6.0, n))
    spent, ends = [0.0], []

    def quadratic(v: np.ndarray) -> tuple[float, np.ndarray]:
        started = time.perf_counter()
        d = v - target
        out = float(np.sum(curvature * d * d)), 2.0 * curvature * d
        spent[0] += time.perf_counter() - started
        return out

    def step(_: np.ndarray) -> None:
        ends.append((time.perf_counter(), spent[0]))

    box = np.tile([[-1e3, 1e3]], (n, 1))
    run_loop.ONE_BLAS_THREAD = one_thread
    with run_loop.one_blas_thread():
        if bounded:
            optimizers.lbfgsb(quadratic, np.zeros(n), box, iterations, 10 * iterations, step,
                              m=m, factr=0.0)
        else:
            fmin_l_bfgs_b(quadratic, np.zeros(n), maxiter=iterations, maxfun=10 * iterations,
                          m=m, factr=0.0, pgtol=0.0, callback=step)
    run_loop.ONE_BLAS_THREAD = True
    full = ends[m + 2:]
    return statistics.median((b[0] - a[0]) - (b[1] - a[1]) for a, b in
                             zip(full, full[1:], strict=False))


def where_the_rest_goes(m: dict, n: int) -> None:
    """Print (g)'s rest per iteration split into scipy's compiled L-BFGS-B (timed inside the
    run) and our Python between evaluations, then scipy's arithmetic on a trivial objective
    with the same number of values as ``stylize`` runs it and at BLAS's default threads,
    without bounds, and with m = 5 (what those levers would give)."""
    rest = m["evals_per_iter"] * (m["wall"] - m["per_eval"])
    print(f"(g) the rest per iteration, {rest:.3f} s: scipy's compiled L-BFGS-B "
          f"{m['setulb']:.3f} s (timed in the same run), our Python between evaluations "
          f"(the driver's and the objective's copies, conversions and checks, the callback's "
          f"picture) {rest - m['setulb']:.3f} s")
    levers = {"as stylize runs it (one BLAS thread, bounds, m = 10)":
              lbfgsb_seconds(n, one_thread=True),
              "BLAS at its default threads": lbfgsb_seconds(n, one_thread=False),
              "without bounds": lbfgsb_seconds(n, one_thread=True, bounded=False),
              "with m = 5": lbfgsb_seconds(n, one_thread=True, m=5)}
    print(f"(g) scipy's L-BFGS-B per iteration on {n} values (a trivial objective): "
          + ", ".join(f"{k} {v:.3f} s" for k, v in levers.items()) + f" (load {load()})")


def sliced_iteration(content, style, name: str, precision: str, evaluations: int) -> None:
    """Print (h): (g) for the sliced loss, the iterations of one run taking turns on the sort
    before issue 35 and today's (the prepared bounds cost nothing per iteration)."""
    m = measure(content, style, name, precision, evaluations, "sliced", (False, True),
                restart=False)
    for sort, label in ((False, "before issue 35"), (True, "now")):
        iteration = m["evals_per_iter"] * m["wall"][sort]
        print(f"(h) sliced loss, {label}: one L-BFGS iteration / bare forward+backward: "
              f"{iteration / m['bare']:.2f}; one evaluation {m['per_eval'][sort]:.3f} s, "
              f"with L-BFGS-B's arithmetic {m['wall'][sort]:.3f} s, bare pass "
              f"{m['bare']:.3f} s (load {load()})")


def use_path(path: str) -> None:
    """The bench-only switches: ``old`` is the code before issue 35 (scipy's own
    ``fmin_l_bfgs_b`` with its bounds loop, the sort as it was, the blank loss computed at
    every run, BLAS at its own threads), ``new`` today's; the same pictures either way
    (tests/test_speed_paths.py; BLAS's threads only add in another order)."""
    from helpers.style_losses import sliced

    optimizers.PREPARED_BOUNDS = fast_ops.LEAN_SORT = run_loop.ONE_BLAS_THREAD = path == "new"
    if path == "old":
        sliced._BLANK.clear()


def default_runs(size: int, pairs: int) -> None:
    """Print (i): seconds of a ``size`` px run with every default (bundled images, coarse-to-
    fine, the sliced loss), before issue 35 and now, the two taking turns ``pairs`` times; the
    network is loaded before, the targets built and the graph traced in each run."""
    content, style = data.default_content(), data.default_style()
    seconds: dict[str, list[float]] = {"old": [], "new": []}
    pictures = {}
    stylizing.stylize(content, style, size=64, iterations=1, progress=False)  # load the network
    for i in range(pairs):
        for path in ("old", "new") if i % 2 == 0 else ("new", "old"):
            use_path(path)
            stylizing.clear_cache()  # each run builds its targets and traces, as a command does
            started = time.perf_counter()
            pictures[path] = stylizing.stylize(content, style, size=size, progress=False).image
            seconds[path].append(time.perf_counter() - started)
            print(f"(i) {size} px with the defaults, {path} path: {seconds[path][-1]:.1f} s "
                  f"(load {load()})")
    use_path("new")
    diff = np.abs(pictures["old"].astype(int) - pictures["new"].astype(int)).max()
    print(f"(i) {size} px with the defaults: median {statistics.median(seconds['old']):.1f} s "
          f"before issue 35, {statistics.median(seconds['new']):.1f} s now "
          f"({statistics.median(seconds['old']) / statistics.median(seconds['new']):.2f}x); "
          f"the pictures differ by at most {diff} grey levels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=400, help="image height, px")
    parser.add_argument("--evaluations", type=int, default=15, help="timed repeats per figure")
    parser.add_argument("--backbone", default="auto")
    parser.add_argument("--precisions", default=None,
                        help="comma-separated, e.g. float32,bfloat16 (default: float32, plus "
                             "bfloat16 where the CPU/GPU computes it natively)")
    parser.add_argument("--style-loss", default="gram", choices=CHOICES["style_loss"],
                        help="the style loss of the runs (default: gram, the loss of goal (c))")
    parser.add_argument("--default-size", type=int, default=512,
                        help="(i): the size of the runs with every default, px (0: none)")
    parser.add_argument("--default-pairs", type=int, default=1,
                        help="(i): how many times the old and new paths take turns")
    args = parser.parse_args()

    content = images.load_image(data.default_content(), height=args.height)
    style = images.resize_to(data.default_style(), content.shape[:2])
    h, w = content.shape[:2]
    name = bb.resolve_name(args.backbone)
    d = stylizing.DEFAULTS[name]
    flags = sorted(bb.cpu_flags() & {"amx_bf16", "avx512_bf16"}) or ["no native bfloat16"]
    import psutil

    memory = psutil.virtual_memory().total / 2**30
    print(f"Machine: {cpu_model()} ({', '.join(flags)}), {os.cpu_count()} cores, "
          f"{memory:.0f} GiB memory; "
          f"TensorFlow {tf.__version__}, helpers {helpers.__version__}; load {load()}")
    print(f"Image: {h}x{w} px (bundled content and style); "
          f"auto precision here: {bb.resolve_precision('auto')[0]}")

    native = bb.resolve_precision("auto")[0] == "bfloat16"
    precisions = (args.precisions.split(",") if args.precisions
                  else ["float32", "bfloat16"] if native else ["float32"])
    if not native and "bfloat16" not in precisions:
        print("bfloat16 left out: this machine has no native bfloat16, where it is emulated and "
              "much slower (--precisions float32,bfloat16 to time it anyway)")
    figures = {}
    for precision in precisions:
        figures[precision] = m = measure(content, style, name, precision, args.evaluations,
                                         args.style_loss)
        print(f"\n[{precision}] {m['result'].backbone}, style_loss={args.style_loss!r}")
        print(f"(a) one loss-and-gradient evaluation inside stylize (median over the run): "
              f"{m['per_eval']:.3f} s; with L-BFGS-B's own arithmetic: {m['wall']:.3f} s")
        print(f"(b) bare forward+backward of the truncated backbone: {m['bare']:.3f} s "
              f"(median of {m['bare_n']}, one after each iteration of the same run)")
        print(f"(c) ratio (a)/(b): {m['per_eval'] / m['bare']:.2f}  (goal <= 1.10)")
        print(f"(d) one iteration as the original example counted it (one fmin_l_bfgs_b call, "
              f"maxfun=20), timed: {m['restart_seconds']:.1f} s for {m['restart_evals']} "
              f"evaluations, vs ~{ORIGINAL_SECONDS_PER_ITERATION} s in the original example "
              f"({ORIGINAL_SECONDS_PER_ITERATION / m['restart_seconds']:.0f}x faster); one "
              f"L-BFGS iteration of our single run: {m['evals_per_iter'] * m['wall']:.2f} s "
              f"({m['evals_per_iter']:.2f} evaluations)")
        iteration = m["evals_per_iter"] * m["wall"]
        scipy_share = m["evals_per_iter"] * (m["wall"] - m["per_eval"])
        print(f"(g) one L-BFGS iteration / bare forward+backward: {iteration / m['bare']:.2f} "
              f"(goal <= 1.25); of the iteration, the network and losses take "
              f"{m['evals_per_iter'] * m['per_eval']:.3f} s, scipy's L-BFGS-B arithmetic and "
              f"the Python between them {scipy_share:.3f} s ({scipy_share / m['bare']:.2f} of "
              f"a bare pass)")
        where_the_rest_goes(m, content.size)
        sliced_iteration(content, style, name, precision, args.evaluations)
    peak_stylize = peak_rss_gib()

    f32, b16 = figures.get("float32"), figures.get("bfloat16")
    if f32 is None:  # (e), (f) and the precision comparison are float32 figures
        print("\n(e), (f): float32 not measured (--precisions); skipped")
    else:
        original_and_memory(f32, b16, content, style, d, (h, w), peak_stylize, args)
    if args.default_size and args.default_pairs > 0:
        print()
        default_runs(args.default_size, args.default_pairs)


def original_and_memory(f32: dict, b16: dict | None, content, style, d: dict,
                        shape: tuple[int, int], peak_stylize: float, args) -> None:
    """(e) the original way's evaluation, (f) peak memory, and bfloat16 against float32."""
    h, w = shape
    # (e) the original way: three images through the network at every evaluation (float32).
    x = tf.constant(images.preprocess(content))
    orig = median_seconds(
        original_pass(f32["extractor"], images.preprocess(content), images.preprocess(style), x,
                      d["content_layer"], list(d["style_layers"])),
        max(3, args.evaluations // 3),
    )
    layers = [*d["style_layers"], d["content_layer"]]
    estimate = stylizing.estimate_memory(
        f32["net"], (h, w), layers, args.style_loss, d["style_layers"],
        stylizing.style_shape(style.shape[:2], max(h, w), d["style_scale"])) / 2**30

    print()
    print(f"(e) one evaluation the original way (3 images per pass, float32): {orig:.3f} s "
          f"({orig / f32['per_eval']:.2f}x ours in float32)")
    print(f"(f) peak memory: {peak_stylize:.2f} GiB after the stylize runs, "
          f"{peak_rss_gib():.2f} GiB after all figures; stylize's estimate: {estimate:.2f} GiB")
    if b16 is not None:
        compare_precisions(f32, b16, orig, args.evaluations)


def compare_precisions(f32: dict, b16: dict, orig: float, evaluations: int) -> None:
    """The bfloat16 lines: its speed-up and how far its picture is from float32's."""
    diff = np.abs(f32["result"].image.astype(float) - b16["result"].image.astype(float)).mean()
    print(f"(e) in bfloat16 terms: the original way is {orig / b16['per_eval']:.2f}x ours")
    print(f"bfloat16 speed-up: {f32['per_eval'] / b16['per_eval']:.2f}x per evaluation, "
          f"{f32['wall'] / b16['wall']:.2f}x per L-BFGS iteration, "
          f"{f32['bare'] / b16['bare']:.2f}x for the bare network")
    print(f"mean |float32 - bfloat16| after {evaluations} iterations: {diff:.2f} grey levels"
          f" (of 255); final losses {f32['result'].history[-1]['total']:.4g} vs "
          f"{b16['result'].history[-1]['total']:.4g}")


if __name__ == "__main__":
    main()
