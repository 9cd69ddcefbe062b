"""The fast paths of issue 35 change no result: the sliced loss's sort orders as NumPy's stable
argsort does, the prepared bounds walk L-BFGS-B through the same points as scipy's
``fmin_l_bfgs_b``, a run gives the same history and picture on the old and the new paths, and
the app's preview after k iterations is the full run's picture after k iterations at that
size. (Their speed is measured by ``bench/bench_preview.py`` and ``bench/bench_speed.py``; no
test here is timed.)
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.optimize import fmin_l_bfgs_b

from helpers import fast_lbfgsb, fast_ops, optimizers


def awkward_rows(seed: int = 0) -> np.ndarray:
    """(6, 4000) float32 rows with ties (rounded values), 0.0 beside -0.0, infinities and
    the smallest normal numbers (not subnormals: where TensorFlow has set the CPU to flush
    them to zero, adding 0.0 makes them tie), and one row without a tie."""
    rng = np.random.default_rng(seed)
    rows = (rng.standard_normal((6, 4000)) * rng.gamma(1.0, 1.0, (6, 4000))).astype(np.float32)
    rows[1] = np.round(rows[1] * 3)  # many ties
    rows[2, ::3], rows[2, 1::3] = 0.0, -0.0
    rows[3, :4] = [np.inf, -np.inf, np.float32(2e-38), -np.float32(2e-38)]
    rows[4, 100:200] = rows[4, 7]
    return rows


@pytest.mark.parametrize("shape", [(6, 4000), (2, 3, 4000), (1, 1), (3, 0)])
def test_argsort_orders_as_numpys_stable_argsort(shape):
    values = np.resize(awkward_rows(), shape).astype(np.float32)
    expected = np.argsort(values, axis=-1, kind="stable")
    np.testing.assert_array_equal(fast_ops.argsort(values), expected)
    np.testing.assert_array_equal(fast_ops.argsort_before(values), expected)


def test_matched_gives_each_value_the_target_of_its_rank_on_both_sorts(monkeypatch):
    proj = awkward_rows(1)[:, :3000]
    proj[3, :2] = [5.0, -5.0]  # no infinities in a projection
    target = np.sort(np.random.default_rng(2).normal(size=proj.shape).astype(np.float32), -1)
    out = fast_ops.matched(proj, target)
    ranks = np.argsort(np.argsort(proj, axis=-1, kind="stable"), axis=-1, kind="stable")
    np.testing.assert_array_equal(out, np.take_along_axis(target, ranks, axis=-1))
    monkeypatch.setattr(fast_ops, "LEAN_SORT", False)
    np.testing.assert_array_equal(fast_ops.matched(proj, target), out)


def bumpy(n: int, seed: int = 0):
    """A smooth function of ``n`` values whose minimum lies partly outside [-1, 1.5]."""
    rng = np.random.default_rng(seed)
    target, weights = rng.normal(0, 2, n), rng.uniform(0.5, 5, n)

    def f(v: np.ndarray) -> tuple[float, np.ndarray]:
        return (float(np.sum(weights * (v - target) ** 2 + np.sin(3 * v))),
                2 * weights * (v - target) + 3 * np.cos(3 * v))

    return f


@pytest.mark.parametrize(("maxiter", "maxfun"), [(30, 1000), (30, 6), (200, 10_000)])
def test_prepared_bounds_walk_through_scipys_points(maxiter, maxfun):
    n = 500
    f, box = bumpy(n), np.tile([[-1.0, 1.5]], (n, 1))
    start = np.random.default_rng(1).uniform(-1, 1.5, n)
    assert fast_lbfgsb.same_as_scipy()  # else lbfgsb falls back to fmin_l_bfgs_b itself
    ours: list[np.ndarray] = []
    theirs: list[np.ndarray] = []
    info = optimizers.lbfgsb(f, start, box, maxiter, maxfun, lambda v: ours.append(v.copy()))
    _, _, expected = fmin_l_bfgs_b(f, start, bounds=box, maxiter=maxiter, maxfun=maxfun, m=10,
                                   factr=1e5, pgtol=0.0, callback=lambda v: theirs.append(v.copy()))
    assert len(ours) == len(theirs) > 1
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)
    assert {k: info[k] for k in ("task", "funcalls", "nit", "warnflag")} == \
        {k: expected[k] for k in ("task", "funcalls", "nit", "warnflag")}
    assert optimizers.stop_reason(info) == optimizers.stop_reason(expected)
    assert (ours[-1] >= -1).all() and (ours[-1] <= 1.5).all()


def test_a_callback_that_raises_ends_the_prepared_run():
    f, box = bumpy(20), np.tile([[-1.0, 1.5]], (20, 1))

    def stop(_: np.ndarray) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        optimizers.lbfgsb(f, np.zeros(20), box, 10, 100, stop)


def untimed(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in h.items() if k not in ("seconds", "eval_seconds")}
            for h in history]


@pytest.mark.parametrize("case", ["sliced", "masks", "restart"])
def test_old_and_new_paths_give_the_same_run(photo, painting, monkeypatch, case):
    """The default (sliced) loss on the pixels with bounds, with masks, and the restart loop:
    the prepared bounds and the lean sort against scipy's own call and the sort before, to
    the bit, in one process."""
    from helpers import stylize

    kwargs = dict(size=64, iterations=3, backbone="vgg16-hed", precision="float32",
                  progress=False, scales=1)
    style = painting
    if case == "masks":
        left = np.zeros(photo.shape[:2], np.uint8)
        left[:, : photo.shape[1] // 2] = 255
        kwargs["masks"], style = [left, 255 - left], [painting, painting[::-1]]
    if case == "restart":
        kwargs.update(lbfgs_mode="restart", iterations=2, maxfun=5)
    new = stylize(photo, style, **kwargs)
    monkeypatch.setattr(optimizers, "PREPARED_BOUNDS", False)
    monkeypatch.setattr(fast_ops, "LEAN_SORT", False)
    old = stylize(photo, style, **kwargs)
    assert untimed(new.history) == untimed(old.history)
    np.testing.assert_array_equal(new.image, old.image)
    assert new.stop_reason == old.stop_reason


class Recorder:
    """The app's runner: runs ``stylize`` and keeps each iteration's picture, the first-step
    pictures the app is shown before they are evaluated (``early``) and what it was given;
    asks the run to stop after ``k`` iterations."""

    def __init__(self, k: int) -> None:
        self.k, self.pictures, self.calls, self.early = k, {}, [], []
        self.done = threading.Event()

    def __call__(self, content, style, callback, preview, **kwargs):
        from helpers import stylize

        self.calls.append((content, style, kwargs))

        def shown_early(image):
            self.early.append((len(self.pictures), image))
            preview(image)

        kwargs["preview"] = shown_early

        def keep(state):
            self.pictures[state["iteration"]] = state["image"]
            return callback(state) or state["iteration"] >= self.k

        try:
            return stylize(content, style, callback=keep, **kwargs)
        finally:
            self.done.set()


def test_the_previews_first_steps_are_the_full_runs():
    """A slider change then Run in the app (500 iterations asked, its preview size) paints,
    iteration by iteration, what a default run of the same images at that size paints; the
    first step it shows before evaluating it (before iteration 1 ends) is the full run's
    iteration 1 when that iteration took one step, as it does here."""
    from helpers import stylize, widgets

    k, size = 3, 64
    runner = Recorder(k)
    app = widgets.tuning_app(backbone="vgg16-hed", preview_size=size, iterations=500,
                             runner=runner)
    app.controls["style_weight"].value = 20.0
    assert app.run()
    assert runner.done.wait(300) and app.wait(60)
    content, style, kwargs = runner.calls[0]
    assert kwargs["size"] == size and kwargs["iterations"] == 500
    full: dict[int, np.ndarray] = {}
    result = stylize(
        content, style, size=size, backbone="vgg16-hed", style_weight=20.0,
        precision=kwargs.get("precision", "auto"), progress=False,
        callback=lambda s: full.__setitem__(s["iteration"], s["image"]) or s["iteration"] >= k)
    assert sorted(full) == sorted(runner.pictures) == list(range(1, k + 1))
    for i in full:
        np.testing.assert_array_equal(runner.pictures[i], full[i])
    assert result.history[1]["evaluations"] == 2  # the start, then one step: accepted
    assert len(runner.early) == 1 and runner.early[0][0] == 0  # shown before iteration 1
    np.testing.assert_array_equal(runner.early[0][1], full[1])


def test_a_remembered_recolouring_is_computed_once_per_images_and_gives_copies():
    """The start image the tuning app asks for at every run: the same values as computing
    it, computed once for the same images, again for other images; a caller that writes into
    its answer changes no later answer."""
    from helpers import images

    calls = []

    def counted(photo, reference):
        calls.append(1)
        return images.gradient_mapped(photo, reference)

    recolour = fast_ops.remembered(counted, size=2)
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    paint = rng.integers(0, 256, (500, 3)).astype(np.uint8)
    first = recolour(photo, paint)
    np.testing.assert_array_equal(first, images.gradient_mapped(photo, paint))
    first[:] = 0
    np.testing.assert_array_equal(recolour(photo.copy(), paint), images.gradient_mapped(photo,
                                                                                       paint))
    assert len(calls) == 1
    other = photo.copy()
    other[0, 0, 0] ^= 1
    recolour(other, paint)
    recolour(photo, paint.astype(np.float64))  # the same values in another type: another key
    assert len(calls) == 3
    recolour(photo, paint)  # dropped: two kept
    assert len(calls) == 4


def test_remembered_resizes_key_on_the_size_too():
    """The resized photo and painting of a run (optimize.Inputs.prepared): another size is
    another answer, the same size the same values."""
    from helpers import images

    calls = []
    resize = fast_ops.remembered(lambda image, size: calls.append(size) or
                                 images.resize(image, size=size))
    photo = np.random.default_rng(1).integers(0, 256, (80, 120, 3), dtype=np.uint8)
    np.testing.assert_array_equal(resize(photo, size=64), images.resize(photo, size=64))
    np.testing.assert_array_equal(resize(photo, size=96), images.resize(photo, size=96))
    resize(photo, size=64)
    assert calls == [64, 96]
