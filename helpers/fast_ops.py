"""Speed tricks behind the loss formulas of :mod:`helpers.losses` (no notebook: notebooks 03, 04
and 07 teach the formulas; this module only makes them fast, and changes no value).

Each function computes what a plain TensorFlow or NumPy line would, faster:

- :func:`gram`: Fᵀ F with its gradient in one matmul instead of autodiff's two;
- :func:`pow_1_25`: u ** 1.25 as u·√√u, with a gradient that reuses the forward root;
- :func:`rank_matched` (the sliced loss's sort): each projection's partner of the same rank,
  sorted with :func:`argsort` (one int64 per value holding its bits and its index) in blocks
  spread over a thread pool;
- :func:`quantiles_once`: a target resampled once while a graph is traced (``tf.init_scope``)
  instead of at every evaluation;
- :func:`remembered`: a function of images answered from its last few answers when given the
  same images again (the start image recoloured once, not at each of the tuning app's runs).
"""

from __future__ import annotations

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

import numpy as np

from helpers._tf import tf


@tf.custom_gradient
def gram(f: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """Fᵀ F for F of shape (M, N), with the gradient F (dG + dGᵀ) in one matmul (autodiff
    would use two, one per factor)."""

    def grad(dg: tf.Tensor) -> tf.Tensor:
        return tf.matmul(f, dg + tf.transpose(dg))

    return tf.matmul(f, f, transpose_a=True), grad


@tf.custom_gradient
def pow_1_25(u: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
    """u ** 1.25 for u >= 0 as u * sqrt(sqrt(u)), several times cheaper than ``tf.pow``; the
    gradient 1.25 * u ** 0.25 reuses the forward root (plain autodiff would add two SqrtGrad
    ops; its value is also finite at 0 on TF 2.21)."""
    root = tf.sqrt(tf.sqrt(u))
    return u * root, lambda dy: dy * 1.25 * root


def quantiles_once(quantiles: Callable[[tf.Tensor, Any], tf.Tensor], target: tf.Tensor,
                   proj: tf.Tensor) -> tf.Tensor:
    """``quantiles(target, m)`` for the M = ``proj.shape[-1]`` projections. In a graph traced
    for one image size the style's quantiles at this M are a constant, resampled once while
    tracing instead of at every evaluation (0.3 s at 512 px); for a mask's count of positions,
    or a graph traced for any size, they are resampled in the graph."""
    m = proj.shape[-1]
    if m is not None and not tf.is_symbolic_tensor(target):
        with tf.init_scope():
            return quantiles(target, m)
    return quantiles(target, tf.shape(proj)[-1])


def rank_matched(proj: tf.Tensor, q: tf.Tensor) -> tf.Tensor:
    """For each projection (row k of the (K, M) ``proj``), the value of row k of ``q`` (sorted,
    (K, M)) of the same rank in its row, ties ranked by position: sorted on the CPU by
    :func:`matched`, outside the gradient (the ranks are held fixed)."""
    out = tf.numpy_function(matched, [tf.stop_gradient(proj), q], tf.float32, stateful=False)
    return tf.reshape(out, tf.shape(proj))


#: Values per block of rows that :func:`matched` sorts as one task (512 KiB of sort keys).
SORT_BLOCK = 2**16


def matched(proj: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each projection's partner: the target value of the same rank in its row, ties ranked
    by position. Rows are sorted in blocks of about 2¹⁶ values, the blocks spread over threads
    (NumPy's sort releases the GIL): one task per row cost more than the sorts themselves on
    small images, and larger blocks fall out of the cache on large ones."""
    out = np.empty(proj.shape, proj.dtype)  # C order: a block of rows is one flat run

    def block(rows: slice) -> None:
        order = argsort(proj[rows])
        order += np.arange(0, order.size, order.shape[-1])[:, None]  # flat indices into the block
        out[rows].reshape(-1)[order] = target[rows]

    if proj.size == 0:  # a mask that covers no position of this layer
        return out
    step = max(1, SORT_BLOCK // proj.shape[-1])
    list(_sort_pool().map(block, [slice(k, k + step) for k in range(0, proj.shape[0], step)]))
    return out


#: Bench-only switch (not a setting): False sorts by :func:`argsort_before`, the sort this
#: module had before, so that the benches can time both in one run (the same order either way).
LEAN_SORT = True


def argsort(values: np.ndarray) -> np.ndarray:
    """``np.argsort(values, axis=-1, kind="stable")`` for float32 values, 3-4x as fast: sort
    one int64 per value, the float's bits made a signed integer that sorts like the float
    (the negatives' other bits flipped) in the high half and its index in the low half
    (NumPy sorts 64-bit integers with SIMD; ``np.argsort`` of floats is slower, and not stable).
    Each step but the sort is done in place: the steps, not the sort, took most of the time."""
    if not LEAN_SORT:
        return argsort_before(values)
    bits = (values + np.float32(0.0)).view(np.int32)  # -0.0 + 0.0 = 0.0: they tie, as in NumPy
    key = bits >> 31
    key &= np.int32(0x7FFFFFFF)
    key ^= bits
    packed = key.astype(np.int64)
    packed <<= 32
    packed |= np.arange(values.shape[-1], dtype=np.int64)
    packed.sort(axis=-1)
    packed &= 0xFFFFFFFF
    return packed


def argsort_before(values: np.ndarray) -> np.ndarray:
    """:func:`argsort` as it was (an unsigned key built in new arrays at every step)."""
    bits = (values + np.float32(0.0)).view(np.uint32)
    key = np.where(bits >> 31, ~bits, bits | np.uint32(1 << 31)).astype(np.uint64)
    packed = (key << np.uint64(32)) | np.arange(values.shape[-1], dtype=np.uint64)
    packed.sort(axis=-1)
    return (packed & np.uint64(0xFFFFFFFF)).astype(np.intp)


@functools.cache
def _sort_pool() -> ThreadPoolExecutor:
    """Threads for :func:`matched`: as many as TensorFlow's intra-op threads (all cores
    unless set, as the sweep's workers set 1)."""
    threads = tf.config.threading.get_intra_op_parallelism_threads()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return ThreadPoolExecutor(threads or cores or 1)


def remembered(fn: Callable[..., np.ndarray], size: int = 4) -> Callable[..., np.ndarray]:
    """``fn(*args, **kwargs)``, the answers for the last ``size`` distinct arguments kept (an
    array by its bytes, shape and type; anything else by its ``repr``) and given again as
    copies: the same values, computed once. The tuning app paints one photo and painting
    again and again; their recoloured start (:func:`helpers.images.gradient_mapped`,
    0.09-0.35 s at 256 px on 2 cores) and their resized copies are the same each time."""
    kept: dict[tuple[str, ...], np.ndarray] = {}

    @functools.wraps(fn)
    def answer(*args: Any, **kwargs: Any) -> np.ndarray:
        key = tuple(_fingerprint(a) if isinstance(a, np.ndarray) else repr(a)
                    for a in (*args, *sorted(kwargs.items())))
        if key not in kept:
            while len(kept) >= size:
                kept.pop(next(iter(kept)))
            kept[key] = fn(*args, **kwargs)
        return kept[key].copy()

    return answer


def _fingerprint(array: np.ndarray) -> str:
    """A digest of ``array``'s values, shape and type."""
    array = np.ascontiguousarray(array)
    digest = hashlib.blake2b(array.view(np.uint8).reshape(-1), digest_size=16)
    digest.update(f"{array.shape}{array.dtype}".encode())
    return digest.hexdigest()
