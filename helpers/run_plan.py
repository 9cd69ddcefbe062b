"""The plan of a run, before any network loads (notebook 05 walks through it; notebook 08
teaches coarse-to-fine): the settings resolved for the backbone that runs and fitted to the
images (:func:`for_images`: a default coarse-to-fine schedule loses the scales too small for the
photo), every check that needs no TensorFlow (:func:`check_run`), each scale's own settings
(:func:`scale_settings`: the one place they are made) and the plan in words
(:func:`plan_text`: "70 iterations: 60 at 192 px, then 10 at 384 px"), which the command line
prints before it starts. :func:`helpers.stylize` and the command line both plan here, so what
one says is what the other runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from helpers import backbones
from helpers.backbone import resolve_name
from helpers.errors import StyleTransferError
from helpers.settings import DEFAULTS, Settings, coarse_to_fine_sizes


def candidate_backbones(backbone: str, weights: Any = "imagenet") -> tuple[str, ...]:
    """The backbones a run may use, known without TensorFlow or the network: the one named,
    VGG19 for ``"auto"`` with a local weights file, else every backbone (``"auto"`` takes VGG19
    only when its weights can be had, :func:`helpers.backbone.resolve_name`)."""
    if backbone != "auto":
        return (backbone,)
    return ("vgg19",) if weights not in ("imagenet", None) else tuple(DEFAULTS)


def _fits(shape: tuple[int, int], size: int) -> bool:
    """Whether a ``shape`` image scaled to ``size`` px is one the network takes."""
    from helpers.images import target_shape

    try:
        target_shape(shape, size=size)
    except StyleTransferError:
        return False
    return True


def check_layers(settings: Settings, backbone: str) -> None:
    """Refuse a content or style layer the ``backbone`` does not have, naming the ones it has
    (its table of conv layers, :func:`helpers.backbones.layer_names`: no TensorFlow)."""
    valid = backbones.layer_names(backbone)
    used = [settings.content_layer] if settings.content_weight else []
    for layer in (*used, *(settings.style_layers if settings.style_weight else ())):
        if layer not in valid:
            raise StyleTransferError(f"unknown layer {layer!r} for {backbone}; valid layers: "
                                     f"{', '.join(valid)}")


def for_images(settings: Settings, backbone: str, content_shape: tuple[int, int],
               style_shapes: Sequence[tuple[int, int]] = (), resume: bool = False) -> Settings:
    """``settings`` resolved for ``backbone`` (:meth:`Settings.resolved`) and fitted to the
    images of the run: a default coarse-to-fine schedule loses the coarse scales that would be
    too small for the photo (a panorama's short side), and the photo and every painting are
    checked at every scale's size. No TensorFlow: a run that cannot work is refused at once."""
    from helpers.images import style_side, target_shape

    out = settings.resolved(backbone, resume=resume)
    check_layers(out, backbone)
    if settings.scales is None and not resume:
        scales = out.scales
        while scales > 1 and not _fits(content_shape, coarse_to_fine_sizes(out.size, scales,
                                                                    out.scale_step)[0]):
            scales -= 1
        out = dataclasses.replace(out, scales=scales)
        out.check_together()
    for size in coarse_to_fine_sizes(out.size, out.scales, out.scale_step):
        target_shape(content_shape, size=size)
        for shape in style_shapes:
            try:
                target_shape(shape, size=style_side(size, out.style_scale))
            except StyleTransferError as exc:
                raise StyleTransferError(f"the style image {shape[0]}x{shape[1]}: {exc} (or "
                                         "crop the painting to a less extreme aspect)") from None
    return out


def check_run(settings: Settings, content_shape: tuple[int, int],
              style_shapes: Sequence[tuple[int, int]] = (), resume: bool = False
              ) -> dict[str, Settings]:
    """Every check of a run that needs neither TensorFlow nor the network (weights all zero,
    count mismatches, empty layer lists, sizes), for each backbone the run may use
    (:func:`candidate_backbones`): their settings (:func:`for_images`) by name, or the first
    error when no backbone would run."""
    fitted: dict[str, Settings] = {}
    errors = []
    for name in candidate_backbones(settings.backbone, settings.weights):
        try:
            fitted[name] = for_images(settings, name, content_shape, style_shapes, resume)
        except StyleTransferError as exc:
            errors.append(exc)
    if not fitted:
        raise errors[0]
    return fitted


def planned_settings(settings: Settings, content_shape: tuple[int, int],
                     style_shapes: Sequence[tuple[int, int]] = (), resume: bool = False
                     ) -> Settings:
    """The settings of a run, resolved once: every check of :func:`check_run`, then the
    settings for the backbone that runs (``"auto"`` resolved by
    :func:`helpers.backbone.resolve_name`, which loads no TensorFlow), fitted to the images
    (:func:`for_images`). :func:`helpers.stylize` plans with it, and the command line prints
    its plan from it before TensorFlow loads."""
    fitted = check_run(settings, content_shape, style_shapes, resume)
    name = resolve_name(settings.backbone, settings.weights)
    return fitted.get(name) or for_images(settings, name, content_shape, style_shapes, resume)


def scale_settings(settings: Settings, index: int) -> Settings:
    """The settings of scale ``index`` (0: the coarsest) of a run with resolved ``settings``:
    its size and iterations from :meth:`~helpers.settings.Settings.scale_schedule`, its content
    weight ``content_weight`` times ``scale_content_weight`` ** ``index``; the pyramid
    (``pyramid_levels``) paints only the first of several scales (a single scale, or a finer
    one, refines the pixels themselves); checkpoints are saved at the last scale only."""
    schedule = settings.scale_schedule()
    size, iterations = schedule[index]
    first, last = index == 0, index == len(schedule) - 1
    return dataclasses.replace(
        settings, size=size, iterations=iterations,
        content_weight=settings.content_weight * settings.scale_content_weight ** index,
        pyramid_levels=settings.pyramid_levels if first and not last else 1,
        checkpoint_every=settings.checkpoint_every if last else 0)


def plan_text(settings: Settings) -> str:
    """The plan of a run with resolved ``settings``, in words: "100 iterations at 384 px", or
    coarse to fine "70 iterations: 60 at 192 px, then 10 at 384 px" (the iterations asked for
    are shared out over the scales: :func:`helpers.settings.default_scale_iterations`)."""
    schedule = settings.scale_schedule()
    total = sum(n for _, n in schedule)
    if len(schedule) == 1:
        return f"{total} {_iterations(total)} at {schedule[0][0]} px"
    return f"{total} {_iterations(total)}: " + ", then ".join(
        f"{n} at {size} px" for size, n in schedule)


def _iterations(n: int) -> str:
    return "iteration" if n == 1 else "iterations"
