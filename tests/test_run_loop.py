"""What the run loop and the objective do for speed (helpers.run_loop, helpers.objective): the
same numbers with fewer copies, and L-BFGS-B's BLAS at one thread while it runs."""

from __future__ import annotations

import contextlib
import sys

import numpy as np
import pytest

from helpers import run_loop, stylizing
from helpers._tf import tf
from helpers.objective import NonFiniteLoss, Objective

FAST = dict(backbone="vgg16-hed", size=64, progress=False, iterations=2)


def fake_loss(gradient: np.ndarray, seen: list[np.ndarray]):
    """A loss_and_grad that records the image it is given and answers a fixed gradient."""

    def loss_and_grad(x: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        seen.append(x.numpy())
        return tf.constant([3.0, 1.0, 1.5, 0.5]), tf.constant(gradient)

    return loss_and_grad


def test_objective_gives_the_numbers_of_the_plain_formulas():
    """float32(y * scale) goes in; float64(g) * scale * f_scale comes out, to the bit, in the
    order the plain formulas round (the copies cut from the wrapper change no value)."""
    shape = (1, 5, 7, 3)
    rng = np.random.default_rng(3)
    g32 = rng.normal(0.0, 1e-3, shape).astype(np.float32)
    seen: list[np.ndarray] = []
    objective = Objective(fake_loss(g32, seen), tf.constant([1.0]), shape)
    y = rng.normal(0.0, 4.0, np.prod(shape))
    loss, grad = objective(y)
    assert seen[0].dtype == np.float32
    assert np.array_equal(seen[0], (y.reshape(shape) * objective.scale).astype(np.float32))
    assert np.array_equal(objective.image32(y), objective.image(y).astype(np.float32))
    plain = g32.astype(np.float64).ravel() * objective.scale
    f_scale = 8.0 / np.linalg.norm(plain)
    assert objective.f_scale == f_scale
    assert grad.dtype == np.float64 and np.array_equal(grad, plain * f_scale)
    assert loss == 3.0 * f_scale
    y2 = y + 1.0  # a second point: the same f_scale, a fresh gradient array
    _, grad2 = objective(y2)
    assert np.array_equal(seen[1], (y2.reshape(shape) * objective.scale).astype(np.float32))
    assert np.array_equal(grad2, plain * f_scale) and grad2 is not grad
    y2[:] = 0.0  # scipy may overwrite its array: the objective kept its own copy
    assert objective.last_y[0] != 0.0 and np.array_equal(objective(objective.last_y)[1], grad2)


def test_objective_still_says_which_value_became_nan():
    shape = (1, 2, 2, 3)
    g32 = np.zeros(shape, np.float32)
    g32[0, 1, 0, 2] = np.inf
    objective = Objective(fake_loss(g32, []), tf.constant([1.0]), shape)
    with pytest.raises(NonFiniteLoss, match="the gradient became inf"):
        objective(np.zeros(12))


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_lbfgsb_runs_with_one_blas_thread_and_gives_the_threads_back(photo, painting):
    pytest.importorskip("threadpoolctl")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2, user_api="blas"):  # as on a 2-core machine
        before = blas_threads()
        during: list[list[int]] = []
        stylizing.stylize(photo, painting, callback=lambda info: during.append(blas_threads()),
                          **FAST)
        assert during and all(threads == [1] * len(before) for threads in during)
        assert blas_threads() == before  # [2, 2] where OpenBLAS may use two threads


def test_a_run_without_threadpoolctl_goes_on(monkeypatch, photo, painting):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # its import fails
    run_loop._blas_controller.cache_clear()
    assert isinstance(run_loop.one_blas_thread(), contextlib.nullcontext)
    try:
        result = stylizing.stylize(photo, painting, **FAST)
    finally:
        run_loop._blas_controller.cache_clear()  # found again with threadpoolctl importable
    assert [h["iteration"] for h in result.history] == [0, 1, 2]


def test_the_threads_come_back_when_a_run_ends_in_an_error(photo, painting):
    pytest.importorskip("threadpoolctl")
    before = blas_threads()

    def broken(info):
        assert blas_threads() == [1] * len(before)
        raise ValueError("a callback's own bug")

    with pytest.raises(ValueError, match="own bug"):
        stylizing.stylize(photo, painting, callback=broken, **FAST)
    assert blas_threads() == before
