"""Style transfer by optimizing the pixels: :func:`stylize` (notebooks 00 and 05).

This module is named for the function it holds. It is not ``helpers/stylize.py``: the package
exports the *function* ``helpers.stylize``, and importing a submodule of the same name would put
the module in its place (``helpers.stylize(...)`` would then fail). Its near-namesakes hold other
things: :mod:`helpers.optimizers` the optimizers (L-BFGS-B, the restart loop, Adam) and
:mod:`helpers.objective` the function they minimize.

:func:`stylize` takes the steps notebook 05 takes by hand:

1. the settings, checked and resolved once, for the images and the backbone that runs
   (:func:`plan`: the defaults filled in, coarse-to-fine fitted to the photo, the precision
   chosen, a checkpoint to resume from checked; :mod:`helpers.run_plan`);
2. the images, loaded once (:class:`~helpers.run_images.Inputs`; the caller gives them: the
   engine picks none);
3. the network, its layers and memory checked (:func:`network`, :mod:`helpers.memory`);
4. for each coarse-to-fine scale, with its settings from
   :func:`helpers.run_plan.scale_settings`: the images at that size, the targets, the
   objective and the optimizer, from the last scale's result (:mod:`helpers.run_loop`);
5. a :class:`~helpers.result.Result`.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from helpers import backbone as bb
from helpers import checkpoints, control, images
from helpers.errors import StyleTransferError
from helpers.memory import check_memory, estimate_memory
from helpers.result import Result
from helpers.run_images import Inputs, Prepared, style_shape, style_side
from helpers.run_loop import Callback, Run
from helpers.run_plan import planned_settings, scale_settings
from helpers.settings import DEFAULTS, Settings, coarse_to_fine_sizes, default_scales
from helpers.targets import cache_info, clear_cache

__all__ = ["stylize", "plan", "Plan", "network", "Result", "Inputs", "Prepared", "DEFAULTS",
           "cache_info", "clear_cache", "coarse_to_fine_sizes", "default_scales",
           "estimate_memory", "check_memory", "style_side", "style_shape"]


def _settings_in_signature(func: Callable[..., Result]) -> Callable[..., Result]:
    """``func`` with every setting of :class:`~helpers.settings.Settings` in its signature, in
    place of ``**options``, each with its default: ``help(helpers.stylize)`` lists them all."""
    sig = inspect.signature(func)
    params = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
    params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default,
                                 annotation=f.type) for f in dataclasses.fields(Settings)]
    func.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return func


@_settings_in_signature
def stylize(
    content: images.ImageSource | None = None,
    style: images.ImageSource | Sequence[images.ImageSource] | None = None,
    *,
    masks: Sequence[images.ImageSource | None] | None = None,
    callback: Callback | None = None,
    preview: Callable[[np.ndarray], Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    force_resume: bool = False,
    progress: bool = True,
    **options: Any,
) -> Result:
    """Paint ``content`` in the style of ``style``; return a :class:`~helpers.result.Result`.

    Images are paths, arrays or Pillow images (the bundled ones: ``helpers.data``; leaving one
    out is refused in one line naming them); ``style`` may be a list of several.
    ``masks``: one per style (white = this style, ``None`` = everywhere); outside every mask the
    photo stays. ``options`` are the settings of :class:`~helpers.settings.Settings` (``size``,
    ``iterations``, ``content_weight``, ``style_weight``, ``tv_weight``, layers,
    ``style_scale``, ``preserve_color``, ``backbone``, ``init`` ... each documented there);
    ``init`` may also be an image to start from. ``callback(state)`` is called after every
    iteration with ``iteration``, the loss terms, ``seconds`` and ``image`` (uint8); returning
    True stops the run; ``preview(image)`` (the tuning app's) sees each point the first
    iteration tries before it is evaluated. Ctrl-C, a callback stop and a non-finite loss all
    return the best image so far (``stop_reason`` says why). ``checkpoint_every=k`` saves into
    ``checkpoint_dir`` every k iterations; ``resume`` continues from such a folder (another
    photo's, painting's, backbone's or size's is refused unless ``force_resume=True``).
    ``scales=k`` paints coarse-to-fine from ``size / 2**(k-1)``, doubling up to ``size``; the
    iterations are shared out (:func:`helpers.run_plan.plan_text` says how). Every check that
    needs no network runs before the network loads. A signal (KeyboardInterrupt; SIGTERM and
    SIGHUP under :func:`helpers.signals.stop_on_signals`) at any moment once a first image
    exists returns the best image so far at the requested size (``stop_reason`` "interrupted
    by ..."); before that it propagates.
    """
    init = options.get("init", Settings.init)
    start = None if isinstance(init, str) else images.load_image(init)
    asked = Settings.from_options(**{**options, "init": init if start is None else "image"})
    if asked.checkpoint_every and not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise StyleTransferError("checkpoint_every needs checkpoint_dir= (a folder's path)")
    inputs = Inputs.for_run(content, style, masks, init, asked, checkpoint_dir)
    planned = plan(asked, inputs, resume, force_resume)
    settings = planned.settings
    run = Run(callback, checkpoint_dir, planned.resumed, progress, inputs.fingerprint(settings),
              preview)
    try:
        net = network(planned, inputs, progress)
        for index in range(settings.scales):
            scale = scale_settings(settings, index)
            prepared = inputs.prepared(scale.size, scale)
            if run.result is not None:  # a finer scale starts from the last one's picture
                start = control.content_outside_masks(run.result.image, prepared.content,
                                                      prepared.masks)
            label = (f"scale {index + 1}/{settings.scales}, {scale.size} px"
                     if settings.scales > 1 else "stylize")
            if run.paint(net, prepared, scale, start, label):
                break
    except KeyboardInterrupt as exc:  # outside the optimizer: a scale's start or end
        run.interrupted(exc)
    return run.finish(settings, inputs, asked)


class Plan(NamedTuple):
    """What :func:`plan` decides: the run's resolved ``settings``, the checkpoint it resumes
    from (or ``None``), and why its precision was chosen (in words)."""

    settings: Settings
    resumed: checkpoints.Checkpoint | None
    precision_reason: str


def plan(settings: Settings, inputs: Inputs, resume: str | Path | None = None,
         force_resume: bool = False) -> Plan:
    """The run's settings, resolved once: for the backbone that runs, fitted to the images
    (:func:`helpers.run_plan.planned_settings`: scales included), the precision chosen; and the
    checkpoint to resume from, checked. Every check that needs no network is made before the
    network is asked or loaded."""
    shapes = [s.shape[:2] for s in inputs.styles]
    settings = planned_settings(settings, inputs.content.shape[:2], shapes, resume is not None)
    control.blend_weights(settings.style_blend_weights, len(inputs.styles))
    resumed = checkpoints.load(resume) if resume is not None else None
    if resumed is not None:
        if not force_resume:
            checkpoints.check_fingerprint(resumed, inputs.fingerprint(settings))
        shape = inputs.shape(settings.size)
        if resumed.x.shape != (1, *shape, 3):
            raise StyleTransferError(
                f"the checkpoint holds a {resumed.x.shape[1]}x{resumed.x.shape[2]} image but "
                f"this run is {shape[0]}x{shape[1]}; resume with the same content image and "
                "size")
    precision, why = bb.resolve_precision(settings.precision)
    return Plan(dataclasses.replace(settings, precision=precision), resumed, why)


def network(planned: Plan, inputs: Inputs, progress: bool = False) -> bb.Backbone:
    """Load the backbone for the ``planned`` settings, check its layers and that the largest
    scale fits in memory, and (with ``progress``) say which network runs."""
    settings = planned.settings
    net = bb.load_backbone(settings.backbone, weights=settings.weights, pooling=settings.pooling,
                           precision=settings.precision, padding=settings.padding)
    layers = [settings.content_layer, *settings.style_layers]
    bb.check_layers(net, layers)
    painting = max((s.shape[:2] for s in inputs.styles), key=lambda hw: hw[0] * hw[1])
    check_memory(net, inputs.shape(settings.size), layers, settings.size, settings.style_loss,
                 settings.style_layers,
                 style_shape(painting, settings.size, settings.style_scale))
    if progress:
        print(f"Backbone: {net.description} ({planned.precision_reason})")
    return net
