"""The sliced loss's redrawn directions (``sliced_redraw``, issue 36, docs/paintings.md):
the draws, the variables that carry a redraw into the traced graph, the chunked optimizer, and
the setting's checks (CLI and Python)."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest

from helpers import images, redrawn, stylizing
from helpers.errors import StyleTransferError
from helpers.settings import Settings
from helpers.style_losses import sliced

LAYERS = ["block1_conv1", "block2_conv1", "block3_conv1"]
FAST = dict(backbone="vgg16-hed", size=64, progress=False)


def test_draw_zero_is_the_runs_first_draw_and_others_differ(hed, painting):
    from helpers.backbone import feature_extractor
    from helpers.targets import style_features

    feats = style_features(feature_extractor(hed, LAYERS, []), painting)
    first, again, other = (sliced.painting_stats(feats, LAYERS, d) for d in (0, 0, 1))
    plain = sliced.painting_stats(feats, LAYERS)
    for name in LAYERS:
        np.testing.assert_array_equal(first[name][1].numpy(), plain[name][1].numpy())
        np.testing.assert_array_equal(first[name][1].numpy(), again[name][1].numpy())
        d0, d1 = first[name][1].numpy(), other[name][1].numpy()
        assert d0.shape == d1.shape
        np.testing.assert_allclose(np.linalg.norm(d1, axis=0), 1.0, rtol=1e-5)
        assert np.abs(d0 - d1).max() > 0.1  # new directions, not the old ones
        assert not np.allclose(first[name][0].numpy(), other[name][0].numpy())


def _run_parts(hed, photo, painting, settings):
    """(targets, prepared, resolved settings) of a 64 px run, as the run loop has them."""
    from helpers.run_images import Inputs
    from helpers.targets import cached_targets

    settings = settings.resolved("vgg16-hed")
    prepared = Inputs(photo, [painting], None).prepared(64, settings)
    targets = cached_targets(hed, prepared.net_content, prepared.net_styles, prepared.blend,
                             None, settings.content_layer, settings.style_layers, "sliced",
                             settings.tv_form, settings.content_detail)
    return targets, prepared, settings


@pytest.mark.slow
@pytest.mark.parametrize("detail", [0.0, 1.0])
def test_a_redraw_reaches_the_traced_graph(hed, photo, painting, detail):
    """Before any redraw the redrawing objective is the run's own (content detail included);
    after ``redraw(1)`` it is the loss along the new directions, in the same traced graph."""
    from helpers._tf import tf
    from helpers.objective import compile_loss_and_grad, loss_weights
    from helpers.targets import StyleTerm, detail_map

    targets, prepared, settings = _run_parts(hed, photo, painting,
                                             Settings(content_detail=detail))
    weights = loss_weights(settings, targets, prepared.blend, None)
    x = tf.constant(images.preprocess(prepared.content), tf.float32)
    loss_and_grad, redraw = redrawn.redrawing(targets, prepared, settings)
    before, _ = loss_and_grad(x + 3.0, weights)
    plain, _ = targets.loss_and_grad(x + 3.0, weights)
    np.testing.assert_allclose(before.numpy(), plain.numpy(), rtol=1e-4)
    redraw(1)
    after, grad = loss_and_grad(x + 3.0, weights)
    assert abs(float(after[2]) - float(before[2])) > 1e-3 * abs(float(before[2]))
    np.testing.assert_allclose(after[1].numpy(), before[1].numpy(), rtol=1e-5)  # content
    feats = targets.extractor(tf.constant(images.preprocess(prepared.net_styles[0])),
                              training=False)
    fresh = [StyleTerm(sliced.blended_targets([sliced.painting_stats(
        feats, list(settings.style_layers), 1)], [1.0]))]
    content_map = None if detail == 0 else tf.constant(detail_map(
        prepared.net_content, targets.content_target.shape[1:3], detail)[None, ..., None],
        tf.float32)
    expected = compile_loss_and_grad(targets.extractor, settings.content_layer,
                                     targets.content_target, fresh, list(settings.style_layers),
                                     "sliced", settings.tv_form, content_map)
    want, want_grad = expected(x + 3.0, weights)
    np.testing.assert_allclose(after.numpy(), want.numpy(), rtol=1e-3)
    assert np.isfinite(grad.numpy()).all() and float(tf.norm(grad)) > 0


class FakeObjective:
    best, last_y, best_y = 1.0, "last", None


def test_in_chunks_redraws_between_chunks_and_restarts_from_the_best_point():
    calls, draws = [], []
    objective = FakeObjective()

    def optimize(function, y, n, after_iteration, box, *args):
        calls.append((y, n, args, objective.best, objective.last_y))
        for _ in range(n):
            after_iteration(y)
        objective.best_y = y + n
        return f"chunk of {n}"

    seen = []
    run = redrawn.in_chunks(optimize, 10, draws.append, objective)
    reason = run(lambda y: y, 0, 25, seen.append, "box", 20, "extra")
    assert [c[1] for c in calls] == [10, 10, 5]
    assert [c[0] for c in calls] == [0, 10, 20]  # each chunk from the last one's best point
    assert all(c[2] == (20, "extra") for c in calls)
    assert draws == [1, 2]
    assert calls[0][3:] == (1.0, "last") and calls[1][3:] == (math.inf, None)
    assert len(seen) == 25
    assert "chunk of 5" in reason and "3 chunks" in reason


class Quadratic:
    """An ill-conditioned quadratic whose minimum moves at each redraw (draw k: target k), with
    the attributes :class:`helpers.redrawn.InRun` resets (an Objective's best and last point)."""

    def __init__(self, targets):
        self.targets, self.target = targets, targets[0]
        self.weights = np.linspace(1.0, 50.0, targets[0].size)
        self.best, self.last_y, self.evaluations = math.inf, None, 0

    def redraw(self, draw):
        self.target = self.targets[min(draw, len(self.targets) - 1)]

    def __call__(self, y):
        """The loss and gradient; the last point's answered again without an evaluation."""
        if self.last_y is None or not np.array_equal(self.last_y, y):
            self.evaluations += 1
            self.last_y, d = y.copy(), y - self.target
            self.last = float(np.sum(self.weights * d * d)), 2 * self.weights * d
        return self.last


BOX = np.tile([[-5.0, 5.0]], (8, 1))


def _points(run):
    seen = []
    reason = run(lambda y: seen.append(y.copy()))
    return seen, reason


def test_a_redraw_that_changes_nothing_keeps_the_lbfgs_path():
    """Redraws inside one L-BFGS-B run keep its curvature memory: where the new draw is the old
    one, the run walks through the same points as a run without redraws (a restart would not:
    its first step is the gradient's again), evaluating each redraw point once more."""
    from helpers import optimizers

    same = [np.full(8, 1.5)] * 3
    plain, redrawn_run = Quadratic(same), Quadratic(same)
    y0 = np.zeros(8)
    a, _ = _points(lambda after: optimizers.lbfgs(plain, y0, 12, after, BOX))
    in_run = redrawn.InRun(3, redrawn_run.redraw, redrawn_run)
    b, reason = _points(lambda after: in_run.lbfgs(redrawn_run, y0, 12, after, BOX))
    assert len(a) == len(b) >= 6
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert in_run.draws == (len(b) - 1) // 3 >= 1 and in_run.offset == 0.0
    assert redrawn_run.evaluations == plain.evaluations + in_run.draws
    assert f"{in_run.draws} redraws" in reason and "one L-BFGS-B run" in reason


def test_the_pyramids_redraws_keep_its_path_too():
    """The same over the image pyramid (the first of several scales, unbounded levels): a
    no-change redraw leaves the points of scipy's own run unchanged."""
    from helpers import optimizers

    same = [np.full(8, 0.7)] * 3
    plain, redrawn_run = Quadratic(same), Quadratic(same)
    args = (np.zeros(8), 12)
    shape = dict(levels=2, shape=(2, 2, 2))
    a, _ = _points(lambda after: optimizers.lbfgs_pyramid(plain, *args, after, BOX, 20,
                                                          **shape))
    in_run = redrawn.InRun(3, redrawn_run.redraw, redrawn_run)
    b, reason = _points(lambda after: in_run.lbfgs_pyramid(redrawn_run, *args, after, BOX, 20,
                                                           **shape))
    assert len(a) == len(b) >= 6 and in_run.draws >= 1
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert "redraws of the directions" in reason


def test_a_redraw_moves_the_minimum_and_the_run_follows_it():
    """After each redraw L-BFGS-B goes on towards the new draw's minimum; the loss it sees is
    shifted to equal the old one at the redraw point, and the objective forgets its best."""
    targets = [np.full(8, 1.0), np.full(8, -2.0), np.linspace(-1, 1, 8)]
    quadratic = Quadratic(targets)
    in_run = redrawn.InRun(10, quadratic.redraw, quadratic)
    bests = []

    def after(y):
        bests.append(quadratic.best)
        quadratic.best = min(quadratic.best, quadratic(y)[0])

    in_run.lbfgs(quadratic, np.zeros(8), 40, after, BOX)
    assert in_run.draws == 3 and quadratic.target is targets[2]
    assert bests[10] == math.inf and bests[20] == math.inf  # forgotten at each redraw
    np.testing.assert_allclose(quadratic.last_y, targets[2], atol=1e-3)


def test_renew_needs_the_prepared_routine(monkeypatch):
    from helpers import fast_lbfgsb, optimizers

    monkeypatch.setattr(fast_lbfgsb, "same_as_scipy", lambda: False)
    with pytest.raises(ValueError, match="renew needs"):
        optimizers.lbfgsb(Quadratic([np.zeros(8)]), np.zeros(8), BOX, 5, 100,
                          renew=lambda x: None)


@pytest.mark.slow
def test_stylize_with_redrawn_directions_runs_and_records_the_setting(photo, painting,
                                                                      monkeypatch):
    redrawn_module = sys.modules["helpers.redrawn"]
    plain = stylizing.stylize(photo, painting, iterations=6, **FAST)
    redrawn = stylizing.stylize(photo, painting, iterations=6, sliced_redraw=2, **FAST)
    assert redrawn.settings["sliced_redraw"] == 2 and plain.settings["sliced_redraw"] == 0
    assert len(redrawn.history) == len(plain.history) == 7
    np.testing.assert_array_equal(redrawn.history[0]["total"], plain.history[0]["total"])
    assert not np.array_equal(redrawn.image, plain.image)
    assert np.isfinite([h["total"] for h in redrawn.history]).all()
    assert "redraws of the directions" in redrawn.stop_reason  # one L-BFGS-B run, redrawn
    monkeypatch.setattr(redrawn_module, "KEEP_MEMORY", False)
    chunked = stylizing.stylize(photo, painting, iterations=6, sliced_redraw=2, **FAST)
    assert "3 chunks" in chunked.stop_reason and not np.array_equal(chunked.image,
                                                                    redrawn.image)


@pytest.mark.parametrize("value", [-1, 2.5, True, "3"])
def test_sliced_redraw_must_be_a_whole_number(value):
    with pytest.raises(StyleTransferError, match="sliced_redraw must be a whole number >= 0"):
        Settings(sliced_redraw=value)


def test_sliced_redraw_needs_the_sliced_loss():
    Settings(sliced_redraw=5, style_loss="sliced").resolved("vgg16-hed")
    with pytest.raises(StyleTransferError, match="style_loss='sliced', or sliced_redraw=0"):
        Settings(sliced_redraw=5, style_loss="gram").resolved("vgg16-hed")


@pytest.mark.parametrize("flags, words", [
    (["--sliced-redraw", "-3"], "sliced_redraw must be a whole number >= 0"),
    (["--sliced-redraw", "two"], "sliced_redraw must be a whole number"),
    (["--sliced-redraw", "4", "--style-loss", "gram"], "set style_loss='sliced'"),
])
def test_the_command_line_refuses_a_bad_sliced_redraw_in_one_line(refused_by_stylize, flags, words):
    refused_by_stylize(flags, words)
