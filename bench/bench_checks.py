"""Seconds per exercise check (helpers.exercises.check), ex01-ex05, as a student meets them.

    python bench/bench_checks.py [--repeat 3]

Each check is timed, in one fresh process after TensorFlow has been imported and has run one
operation (a notebook's kernel has done both before its first check):
(a) cold: the first call of that check in the process, a right answer (the hidden inputs are
    made, their reference computed);
(b) worst wrong: an answer no diagnosis fits (the reference plus a constant, or a power of
    it), so the whole mutation search runs, singles, scaled singles and pairs, on a
    check whose mutants are not cached yet;
(c) warm: the same wrong answer again (mutants cached on the hidden inputs), median of
    --repeat;
(d) a wrong answer the search names (a pair of mutations, or float16 overflow).
Prints the CPU, the cores and the load. The goal (issue 34): every figure under 2 s on
2 cores. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import time
import warnings
from typing import Any, Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from machine import cores, cpu_model, load  # noqa: E402

from helpers._tf import tf  # noqa: E402
from helpers.images import IMAGENET_MEAN_BGR  # noqa: E402

MEAN = IMAGENET_MEAN_BGR.astype(np.float64)


def gram(f: Any) -> Any:
    flat = tf.reshape(f, (-1, f.shape[-1]))
    return tf.matmul(flat, flat, transpose_a=True)


def layer(f: Any, a: Any, dtype: Any = tf.float32) -> Any:
    n, m = f.shape[-1], f.shape[1] * f.shape[2]
    g = tf.cast(gram(tf.cast(f, dtype)), tf.float32)
    return tf.reduce_sum(tf.square(g - a)) / (4.0 * n**2 * m**2)


def style(fs: dict, ts: dict, ws: dict, dtype: Any = tf.float32) -> Any:
    return tf.add_n([ws[n] * layer(fs[n], ts[n] * (fs[n].shape[1] * fs[n].shape[2]), dtype)
                     for n in ts])


def tv(x: Any) -> Any:
    a = tf.pad(tf.square(x[:, 1:] - x[:, :-1]), [[0, 0], [0, 1], [0, 0], [0, 0]])
    b = tf.pad(tf.square(x[:, :, 1:] - x[:, :, :-1]), [[0, 0], [0, 0], [0, 1], [0, 0]])
    return tf.reduce_mean((a + b) ** 1.25)


def preprocess(i: np.ndarray) -> np.ndarray:
    return (np.asarray(i, np.float32)[..., ::-1] - MEAN.astype(np.float32))[None]


def deprocess(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint((np.asarray(x, np.float64)[0] + MEAN)[..., ::-1]), 0,
                   255).astype(np.uint8)


#: check -> (right answer, an answer nothing explains, an answer the search names)
ANSWERS: dict[str, tuple[Callable, Callable, Callable]] = {
    "preprocess": (preprocess, lambda i: preprocess(i) * 1.01 + 3.3,
                   lambda i: (np.asarray(i, np.float64) - i.mean(axis=(0, 1)))[None]),
    "deprocess": (deprocess, lambda x: np.clip(deprocess(x).astype(np.int64) + 7, 0, 255).astype(
        np.uint8), lambda x: (np.asarray(x[0]).astype(np.uint8) + MEAN.astype(np.uint8))),
    "gram": (gram, lambda f: gram(f) + 1.0,
             lambda f: tf.cast(tf.linalg.band_part(gram(tf.cast(f, tf.float16)), 0, -1),
                               tf.float32)),
    "content": (lambda f, p: tf.reduce_mean(tf.square(f - p)),
                lambda f, p: tf.reduce_mean(tf.square(f - p)) + 0.5,
                lambda f, p: tf.reduce_mean(tf.square(tf.reshape(f, (-1, 1))
                                                      - tf.reshape(p, (1, -1))))),
    "style_layer": (layer, lambda f, a: layer(f, a) + 0.5,
                    lambda f, a: layer(f, a, tf.float16)),
    "style": (style, lambda fs, ts, ws: style(fs, ts, ws) + 0.5,
              lambda fs, ts, ws: style(fs, ts, ws, tf.float16)),
    "tv": (tv, lambda x: tv(x) ** 1.01,
           lambda x: tf.reduce_mean(((tf.roll(x, -1, 1) - x) ** 2
                                     + (tf.roll(x, -1, 2) - x) ** 2) ** 1.25)),
}


def timed(name: str, answer: Callable) -> tuple[float, str]:
    """Seconds for one check, and its first line (✓ … or ✗ …)."""
    from helpers import exercises as ex

    start = time.perf_counter()
    try:  # NumPy warns of casts past uint8's range (the network values of one hidden input)
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ex.check(name, answer)
        line = "✓"
    except ex.CheckFailed as failure:
        line = str(failure).splitlines()[0]
    return time.perf_counter() - start, line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tf.reduce_sum(tf.ones(3)).numpy()  # TensorFlow's first operation, as in a kernel
    print(f"{cpu_model()}, {cores()} cores, load {load()}")
    print(f"{'check':<12} {'cold ✓':>7} {'worst ✗':>8} {'warm ✗':>7} {'named ✗':>8}  named as")
    worst = 0.0
    for name, (right, unexplained, named) in ANSWERS.items():
        cold, _ = timed(name, right)
        first, _ = timed(name, unexplained)
        warm = statistics.median(timed(name, unexplained)[0] for _ in range(args.repeat))
        seconds, line = timed(name, named)
        worst = max(worst, cold, first, warm, seconds)
        print(f"{name:<12} {cold:7.2f} {first:8.2f} {warm:7.2f} {seconds:8.2f}  {line[:70]}")
    print(f"slowest: {worst:.2f} s (goal: under 2 s)")


if __name__ == "__main__":
    main()
