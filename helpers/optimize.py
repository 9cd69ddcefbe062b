"""Style transfer by optimising the pixels: :func:`stylize` (notebooks 00 and 05).

:func:`stylize` follows the steps notebook 05 takes by hand: the settings are checked once
(:class:`~helpers.settings.Settings`), the images prepared (:class:`Inputs`), the targets built
and cached (:mod:`helpers.targets`), an :class:`~helpers.objective.Objective` returns loss and
gradient, an optimiser runs (:mod:`helpers.optimizers`), and a :class:`Result` comes back.
Coarse-to-fine is a plain loop over sizes around those steps, each scale starting from the
upsampled result of the last.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from helpers import backbone as bb
from helpers import checkpoints, control, fast_ops, images, optimizers, style_losses
from helpers.errors import StyleTransferError
from helpers.files import atomic_together, check_output
from helpers.objective import NonFiniteLoss, Objective, loss_weights
from helpers.settings import (
    DEFAULTS,
    Settings,
    check_run,
    coarse_to_fine_sizes,
    default_scales,
    for_images,
)
from helpers.signals import signal_name
from helpers.targets import cache_info, cached_targets, clear_cache

__all__ = ["stylize", "Result", "Inputs", "Prepared", "DEFAULTS", "cache_info", "clear_cache",
           "coarse_to_fine_sizes", "default_scales", "estimate_memory", "check_memory"]

#: Bytes TensorFlow, the backbone and Python need beside the activations (measured).
MEMORY_OVERHEAD = 1.2e9
#: Activation memory per float value of the truncated network, forward+backward (measured
#: with the Gram loss at 1024 px, default layers: 13 B in bfloat16, 20 B in float32).
BYTES_PER_ACTIVATION = {"bfloat16": 16, "float32": 20}
Callback = Callable[[dict[str, Any]], "bool | None"]


@dataclass
class Result:
    """What :func:`stylize` returns.

    ``image``: the best (lowest-loss) image, (H, W, 3) uint8 RGB. ``history``: one dict per
    iteration, starting with iteration 0 (the initial image), with ``iteration``, ``size``,
    ``total``, ``content``, ``style``, ``tv`` (weighted terms), ``seconds`` since the start,
    ``evaluations`` so far and ``eval_seconds``, the part of ``seconds`` spent computing loss
    and gradient (the rest is the optimiser's own arithmetic and Python). ``backbone``: the
    line describing the network that ran. ``stop_reason``: why the optimiser stopped, in
    words. ``settings``: the resolved settings. ``signum``: the signal that ended the run
    (Ctrl-C: SIGINT), if one did.
    """

    image: np.ndarray
    history: list[dict[str, float]]
    backbone: str
    stop_reason: str
    settings: dict[str, Any] = field(default_factory=dict)
    signum: int | None = None
    #: The files the run read (its photo, paintings and masks, where given as paths); with
    #: the bundled images, what :meth:`save` refuses to write over.
    inputs: tuple[str, ...] = ()

    @property
    def interrupted(self) -> bool:
        """True when a signal (Ctrl-C, SIGTERM, SIGHUP) ended the run (the image is the best
        so far)."""
        return self.stop_reason.startswith("interrupted")

    def iterations_text(self) -> str:
        """The iterations run, per scale when there were several: "80 iterations (60 at 192 px +
        20 at 384 px)", or "20 iterations"."""
        per_scale: dict[int, int] = {}
        for h in self.history:
            per_scale[h["size"]] = h["iteration"]
        total = sum(per_scale.values())
        if len(per_scale) < 2:
            return f"{total} iterations"
        return f"{total} iterations (" + " + ".join(
            f"{n} at {size} px" for size, n in per_scale.items()) + ")"

    def save(self, path: str | Path) -> Path:
        """Save the image (format from the suffix; a name without one gets ``.png``) and
        ``<name>.json`` with settings, history and stop reason; return the image's path.

        Both files are checked first (an empty name, a folder, a pipe or a device is refused)
        and written together: a failed write (a full disk) leaves both previous files and
        raises one StyleTransferError line."""
        from helpers import data

        read = (*self.inputs, *map(data.bundled_file, data.BUNDLED))
        out = check_output(path, read, what="the result's file")
        out = out if out.suffix else out.with_suffix(".png")
        meta = out.with_suffix(".json")
        for name in (out, meta):
            check_output(name, read, what="the result's file")
        fmt = images.image_format(out)
        rgb = images.load_image(self.image)
        text = json.dumps({"backbone": self.backbone, "stop_reason": self.stop_reason,
                           "settings": self.settings, "history": self.history},
                          indent=1, default=str)
        with atomic_together(out, meta) as (image_tmp, meta_tmp):
            images.Image.fromarray(rgb).save(image_tmp, format=fmt)
            meta_tmp.write_text(text)
        return out


@dataclass
class Prepared:
    """The images of one run at one size: the photo at the result's shape, the paintings at
    ``size * style_scale``, what the network sees of them (:func:`helpers.control.
    network_images`), the blend weights and the masks at the result's shape."""

    content: np.ndarray
    styles: list[np.ndarray]
    net_content: np.ndarray
    net_styles: list[np.ndarray]
    blend: list[float]
    masks: list[np.ndarray | None] | None

    @property
    def shape(self) -> tuple[int, int]:
        """The result's (height, width)."""
        return self.content.shape[:2]


def style_side(size: int, style_scale: float) -> int:
    """The long side, px, of the paintings the network sees for a ``size`` px result
    (:func:`helpers.images.style_side`)."""
    return images.style_side(size, style_scale)


def style_shape(painting: tuple[int, int], size: int, style_scale: float) -> tuple[int, int]:
    """The (height, width) the network sees of a ``painting`` of that shape, for a ``size``
    px result."""
    return images.target_shape(painting, size=style_side(size, style_scale))


@dataclass
class Inputs:
    """The user's images, loaded once: the photo, the paintings and one mask source per
    painting (or ``None``)."""

    content: np.ndarray
    styles: list[np.ndarray]
    masks: list | None
    files: tuple[str, ...] = ()

    @classmethod
    def load(cls, content: Any, style: Any, masks: Any) -> Inputs:
        """Load the images (``None``: the bundled photo and painting); ``files`` keeps the
        paths among them."""
        from helpers import data

        style_list = control.style_list(data.default_style() if style is None else style)
        mask_list = control.mask_list(masks, len(style_list))
        files = tuple(str(x) for x in (content, *style_list, *(mask_list or ()))
                      if isinstance(x, (str, os.PathLike)))
        content = images.load_image(data.default_content() if content is None else content)
        return cls(content, [images.load_image(s) for s in style_list], mask_list, files)

    def shape(self, size: int) -> tuple[int, int]:
        """The result's (height, width) at ``size`` px."""
        return images.target_shape(self.content.shape[:2], size=size)

    def fingerprint(self, settings: Settings) -> dict[str, Any]:
        """What a checkpoint of a run on these images with ``settings`` records (and what
        resuming checks): :func:`helpers.checkpoints.fingerprint`."""
        return checkpoints.fingerprint(self.content, self.styles, settings.backbone,
                                       settings.size)

    def prepared(self, size: int, settings: Settings) -> Prepared:
        """Every image resized for a ``size`` px result."""
        shape = self.shape(size)
        content = _RESIZED_TO(self.content, shape)
        styles = [_RESIZED(s, size=style_side(size, settings.style_scale)) for s in self.styles]
        blend = control.blend_weights(settings.style_blend_weights, len(styles))
        masks = control.load_masks(self.masks, shape)
        net_content, net_styles = control.network_images(content, styles,
                                                         settings.preserve_color)
        return Prepared(content, styles, net_content, net_styles, blend, masks)


#: images.resize_to and images.resize, each answer kept for the same image and size (the tuning
#: app's runs resize the same photo and painting again and again).
_RESIZED_TO = fast_ops.remembered(images.resize_to, 8)
_RESIZED = fast_ops.remembered(images.resize, 8)


def _inputs_guarded(content: Any, style: Any, masks: Any, init: Any, settings: Settings,
                    checkpoint_dir: str | Path | None) -> Inputs:
    """The run's images (:meth:`Inputs.load`), their ``files`` with the start image and the
    weights file where given as paths; before any work, a checkpoint that would replace one of
    them is refused."""
    inputs = Inputs.load(content, style, masks)
    inputs.files += tuple(str(x) for x in (init, settings.weights)  # init may be an array
                          if isinstance(x, os.PathLike) or (isinstance(x, str)
                                                           and x != "imagenet"
                                                           and Path(x).is_file()))
    if settings.checkpoint_every:
        for name in checkpoints.FILES:
            check_output(Path(checkpoint_dir) / name, inputs.files, "checkpoint_dir")
    return inputs


def _settings_in_signature(func: Callable[..., Result]) -> Callable[..., Result]:
    """``func`` with every setting of :class:`~helpers.settings.Settings` in its signature, in
    place of ``**options``, each with its default: ``help(helpers.stylize)`` lists them all."""
    import inspect

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
    callback: Callback | None = None, preview: Callable[[np.ndarray], Any] | None = None,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    force_resume: bool = False,
    progress: bool = True,
    **options: Any,
) -> Result:
    """Paint ``content`` in the style of ``style``; return a :class:`Result`.

    Images are paths, arrays or Pillow images (``None``: the bundled defaults); ``style`` may
    be a list of several. ``masks``: one per style (white = this style, ``None`` =
    everywhere); outside every mask the photo stays. ``options`` are the settings of
    :class:`~helpers.settings.Settings` (``size``, ``iterations``, ``content_weight``,
    ``style_weight``, ``tv_weight``, layers, ``style_scale``, ``preserve_color``, ``backbone``,
    ``init`` ... each documented there); ``init`` may also be an image to start from.
    ``callback(state)`` is called after every iteration with ``iteration``, the loss terms,
    ``seconds`` and ``image`` (uint8); returning True stops the run. Ctrl-C, a callback stop
    and a non-finite loss all return the best image so far, with the reason in
    ``stop_reason``. ``checkpoint_every=k`` saves into ``checkpoint_dir`` every k iterations;
    ``resume`` continues from such a folder (a checkpoint of another photo, painting, backbone
    or size is refused unless ``force_resume=True``). ``scales=k`` paints coarse-to-fine:
    first at ``size / 2**(k-1)``, doubling up to ``size``, each scale starting from the last
    result. Every check that needs no network runs before the network loads. A signal
    (KeyboardInterrupt; SIGTERM and SIGHUP under :func:`helpers.signals.stop_on_signals`) at
    any moment once a first image exists returns the best image so far at the requested size
    (``stop_reason`` "interrupted by ..."); before that it propagates.
    """
    init = options.get("init", Settings.init)
    start = None if isinstance(init, str) else images.load_image(init)
    settings = Settings.from_options(**{**options, "init": init if start is None else "image"})
    if settings.checkpoint_every and not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise StyleTransferError("checkpoint_every needs checkpoint_dir= (a folder's path)")
    inputs = _inputs_guarded(content, style, masks, init, settings, checkpoint_dir)
    settings, resumed = _plan(settings, inputs, resume, force_resume)
    run = _Run(callback, checkpoint_dir, resumed, progress, inputs.fingerprint(settings), preview)
    schedule = settings.scale_schedule()
    try:
        net, settings = _network(settings, inputs, progress)
        for i, (size, iterations) in enumerate(schedule):
            prepared = inputs.prepared(size, settings)
            if run.result is not None:
                start = control.content_outside_masks(run.result.image, prepared.content,
                                                      prepared.masks)
            last = i == len(schedule) - 1
            label = (f"scale {i + 1}/{len(schedule)}, {size} px" if len(schedule) > 1
                     else "stylize")
            scale_settings = dataclasses.replace(  # the pyramid paints the first of several
                settings, size=size, iterations=iterations, pyramid_levels=(
                    settings.pyramid_levels if i == 0 and not last else 1),
                checkpoint_every=settings.checkpoint_every if last else 0)
            if run.paint(net, prepared, scale_settings, start, label):
                break
    except KeyboardInterrupt as exc:  # outside the optimiser: a scale's start or end
        run.interrupted(exc)
    return run.finish(settings, schedule, inputs)


def _plan(settings: Settings, inputs: Inputs, resume: str | Path | None, force_resume: bool
          ) -> tuple[Settings, checkpoints.Checkpoint | None]:
    """The settings for the backbone that runs, fitted to the images
    (:func:`helpers.settings.for_images`), and the checkpoint to resume from, checked: every
    check that needs no network, made before the network is asked or loaded."""
    shapes = [s.shape[:2] for s in inputs.styles]
    content_shape = inputs.content.shape[:2]
    fitted = check_run(settings, content_shape, shapes, resume is not None)
    control.blend_weights(settings.style_blend_weights, len(inputs.styles))
    resumed = checkpoints.load(resume) if resume is not None else None
    name = bb.resolve_name(settings.backbone, settings.weights)
    settings = fitted.get(name) or for_images(settings, name, content_shape, shapes,
                                              resume is not None)
    if resumed is not None:
        if not force_resume:
            checkpoints.check_fingerprint(resumed, inputs.fingerprint(settings))
        shape = inputs.shape(settings.size)
        if resumed.x.shape != (1, *shape, 3):
            raise StyleTransferError(
                f"the checkpoint holds a {resumed.x.shape[1]}x{resumed.x.shape[2]} image but "
                f"this run is {shape[0]}x{shape[1]}; resume with the same content image and "
                "size")
    return settings, resumed


def _network(settings: Settings, inputs: Inputs, progress: bool) -> tuple[bb.Backbone, Settings]:
    """Load the backbone for ``settings`` (precision resolved), check its layers and that the
    largest scale fits in memory, and say which network runs."""
    precision, why = bb.resolve_precision(settings.precision)
    settings = dataclasses.replace(settings, precision=precision)
    net = bb.load_backbone(settings.backbone, weights=settings.weights, pooling=settings.pooling,
                           precision=precision, padding=settings.padding)
    layers = [settings.content_layer, *settings.style_layers]
    bb.check_layers(net, layers)
    painting = max((s.shape[:2] for s in inputs.styles), key=lambda hw: hw[0] * hw[1])
    check_memory(net, inputs.shape(settings.size), layers, settings.size, settings.style_loss,
                 settings.style_layers,
                 style_shape(painting, settings.size, settings.style_scale))
    if progress:
        print(f"Backbone: {net.description} ({why})")
    return net, settings


def _start_image(settings: Settings, prepared: Prepared, start: np.ndarray | None
                 ) -> np.ndarray:
    """The (1, H, W, 3) preprocessed starting image: ``start`` (an image: a warm start or the
    last scale's result), else the photo, the photo repainted in the painting's colours (in
    order of brightness, ``"gradient_map"``, :func:`helpers.images.gradient_mapped`; or to its
    colour mean and covariance, ``"color_matched"``, :func:`helpers.images.color_matched`: the
    run starts with the painting's palette, README "Choosing defaults"), the painting or seeded
    noise."""
    if start is not None:
        start = images.resize_to(start, prepared.shape)
        return images.preprocess(images.luminance_image(start)
                                 if settings.preserve_color == "luminance" else start)
    if settings.init == "content":
        return images.preprocess(prepared.net_content)
    if settings.init in RECOLOURINGS:
        return images.preprocess(_recoloured_start(settings, prepared))
    if settings.init == "style":
        return images.preprocess(images.resize_to(prepared.net_styles[0], prepared.shape))
    rng = np.random.default_rng(settings.seed)
    return images.preprocess(rng.uniform(0, 255, (*prepared.shape, 3)))


#: The starts that repaint the photo in the painting's colours, by ``init`` name.
RECOLOURINGS = {"gradient_map": fast_ops.remembered(images.gradient_mapped),
                "color_matched": fast_ops.remembered(images.color_matched)}


def _recoloured_start(settings: Settings, prepared: Prepared) -> np.ndarray:
    """The photo repainted in the paintings' colours (``RECOLOURINGS[settings.init]``): within
    each mask in its painting's (the photo stays as it is outside every mask), else in all the
    paintings' pixels together; the photo itself when its colours are to be kept
    (``preserve_color``)."""
    photo, recolour = prepared.net_content, RECOLOURINGS[settings.init]
    if settings.preserve_color != "none":
        return photo
    if prepared.masks is None:
        return recolour(
            photo, np.concatenate([s[..., :3].reshape(-1, 3) for s in prepared.net_styles]))
    out = photo.astype(np.float64)
    for style, mask in zip(prepared.net_styles, prepared.masks, strict=True):
        if mask is not None:
            out += mask[..., None] * (recolour(photo, style) - out)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


class _Run:
    """The parts of a run that outlive one scale (the history, the last result, checkpoints,
    the callback), and what one scale does between the optimiser's iterations."""

    def __init__(self, callback: Callback | None, checkpoint_dir: str | Path | None,
                 resumed: checkpoints.Checkpoint | None, progress: bool,
                 fingerprint: dict[str, Any], preview: Callable[[np.ndarray], Any] | None = None
                 ) -> None:
        self.callback, self.resumed, self.progress = callback, resumed, progress
        self.preview = preview
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self.fingerprint = fingerprint
        self.history: list[dict[str, float]] = []
        self.result: Result | None = None
        self.scale: _Scale | None = None  # the scale being painted, until its result is kept
        self.signum: int | None = None
        self.warned = False

    def paint(self, net: bb.Backbone, prepared: Prepared, settings: Settings,
              start: np.ndarray | None, label: str) -> bool:
        """Run one scale; True when the run was stopped (callback, a signal, a NaN)."""
        targets = cached_targets(
            net, prepared.net_content, prepared.net_styles, prepared.blend, prepared.masks,
            settings.content_layer if settings.content_weight > 0 else None,
            settings.style_layers if settings.style_weight > 0 else [],
            settings.style_loss, settings.tv_form)
        weights = loss_weights(settings, targets, prepared.blend, prepared.masks)
        history: list[dict[str, float]] = []
        if self.resumed is not None:  # checked against this run by _plan
            x0, history = self.resumed.x, list(self.resumed.history)
        else:
            x0 = _start_image(settings, prepared, start)
        objective = Objective(targets.loss_and_grad, weights, x0.shape,
                              rescaled=settings.optimizer == "lbfgs")
        if history:  # a resumed run counts on
            objective.evaluations = history[-1].get("evaluations", 0)
            objective.eval_seconds = history[-1].get("eval_seconds", 0.0)
        self.backbone = net.description
        self.scale = _Scale(self, objective, prepared, settings, history, label)
        reason = self.scale.optimise(objective.to_y(x0))
        self.keep(reason)
        return reason.startswith(("stopped", "interrupted", "the loss became"))

    def keep(self, reason: str) -> None:
        """Make the current scale's best image the run's result (its history appended)."""
        scale = self.scale
        image = scale.picture(scale.objective.best_y)
        shift = self.history[-1]["seconds"] if self.history else 0.0
        history = self.history + [{**h, "seconds": h["seconds"] + shift} for h in scale.history]
        result = Result(image, history, self.backbone, reason,
                        _record(scale.settings, scale.prepared))
        self.history, self.result, self.scale = history, result, None

    def interrupted(self, exc: KeyboardInterrupt) -> None:
        """A signal outside the optimiser (targets building, between scales): keep the best
        image so far, or let the signal through when there is none yet."""
        self.signum = getattr(exc, "signum", signal.SIGINT)
        if self.scale is not None and self.scale.history:
            self.keep(_interrupted_text(exc, self.done(self.scale.history)))
        elif self.result is not None:
            self.result.stop_reason = _interrupted_text(exc, self.done())
        else:
            raise exc

    def done(self, scale_history: Sequence[dict[str, float]] = ()) -> int:
        """The iterations run so far: every finished scale's and ``scale_history``'s."""
        return sum(1 for h in [*self.history, *scale_history] if h["iteration"] > 0)

    def warn(self, exc: StyleTransferError) -> None:
        """Say once, in one line, that a checkpoint could not be written (the run goes on)."""
        if not self.warned:
            print(f"warning: {exc}; the run goes on (this is said once)", file=sys.stderr)
            self.warned = True

    def finish(self, settings: Settings, schedule: list[tuple[int, int]], inputs: Inputs
               ) -> Result:
        """The result, its settings those of the whole run; a run stopped at a coarse scale
        gives its picture at the requested size."""
        result = self.result
        shape = inputs.shape(settings.size)
        if result.image.shape[:2] != shape:
            result.image = images.resize_to(result.image, shape)
        if len(schedule) > 1:
            result.settings.update(size=settings.size, scales=settings.scales,
                                   scale_sizes=[s for s, _ in schedule],
                                   scale_iterations=[n for _, n in schedule],
                                   pyramid_levels=settings.pyramid_levels)
        result.signum, result.inputs = self.signum, inputs.files
        return result


def _interrupted_text(exc: KeyboardInterrupt, iterations: int) -> str:
    """The stop reason of a run a signal ended."""
    return (f"interrupted by {signal_name(exc)} after {max(iterations, 0)} iterations; kept "
            "the best image so far")


def _record(settings: Settings, prepared: Prepared) -> dict[str, Any]:
    """The settings a result records (JSON-able): the resolved settings, how many styles,
    their normalised blend weights, and whether masks were used."""
    out = {k: list(v) if isinstance(v, tuple) else v
           for k, v in dataclasses.asdict(settings).items()}
    out.update(styles=len(prepared.styles), style_blend_weights=prepared.blend,
               masks=prepared.masks is not None)
    return out


class _Scale:
    """One scale of a run: records each iteration, updates the progress bar, saves
    checkpoints, calls the callback, and runs the optimiser."""

    def __init__(self, run: _Run, objective: Objective, prepared: Prepared, settings: Settings,
                 history: list[dict[str, float]], label: str) -> None:
        self.run, self.objective, self.prepared, self.settings = run, objective, prepared, settings
        self.history = history
        self.t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)
        self.bar = _progress_bar(settings.iterations, run.progress, label)

    def picture(self, y: np.ndarray) -> np.ndarray:
        """The (H, W, 3) uint8 picture the user sees of the point ``y``."""
        return control.finished(images.deprocess(self.objective.image(y)),
                                self.prepared.content, self.settings.preserve_color)

    def record(self, y: np.ndarray) -> dict[str, Any]:
        """Append the history entry of ``y`` (evaluated already in the usual case)."""
        objective = self.objective
        objective(y)
        total, c, s, t = objective.last_terms
        entry = {"iteration": len(self.history), "size": max(self.prepared.shape),
                 "total": float(total), "content": float(c), "style": float(s), "tv": float(t),
                 "seconds": time.perf_counter() - self.t0,
                 "evaluations": objective.evaluations, "eval_seconds": objective.eval_seconds}
        self.history.append(entry)
        return entry

    def after_iteration(self, y: np.ndarray) -> None:
        """Record, show progress, save a checkpoint when due, and ask the callback."""
        entry = self.record(y)
        self.bar.update(1)
        self.bar.set_postfix(**{k: f"{entry[k]:.3g}" for k in ("total", "content", "style",
                                                                "tv")})
        every = self.settings.checkpoint_every
        if every and entry["iteration"] % every == 0:
            self.checkpoint()
        if self.run.callback is not None and self.run.callback(
                {**entry, "image": self.picture(y)}):
            raise _Stop("stopped by the callback")

    def peeking(self, y: np.ndarray) -> tuple[float, np.ndarray]:
        """The objective; a new point tried in the first iteration is first shown by the
        run's ``preview``."""
        objective = self.objective
        if len(self.history) == 1 and not np.array_equal(y, objective.last_y):
            self.run.preview(self.picture(y))
        return objective(y)

    def checkpoint(self) -> None:
        """Save the best image so far and the history; a failed write (a full disk) is said
        once and the run goes on."""
        try:
            checkpoints.save(self.run.checkpoint_dir,
                             self.objective.image(self.objective.best_y), self.history,
                             self.run.fingerprint)
        except StyleTransferError as exc:
            self.run.warn(exc)

    def optimise(self, y0: np.ndarray) -> str:
        """Run the optimiser from ``y0``; return why it stopped."""
        s = self.settings
        remaining = s.iterations - max(len(self.history) - 1, 0)
        box = images.pixel_bounds(self.prepared.shape) / self.objective.scale
        reason = "finished"
        objective = self.objective if self.run.preview is None else self.peeking
        try:
            if not self.history:
                self.record(y0)  # iteration 0: the starting image
            if remaining <= 0:
                reason = "the checkpoint already has all iterations"
            elif s.optimizer == "adam":
                reason = optimizers.adam(objective, y0, remaining, self.after_iteration,
                                         box, s.learning_rate)
            elif s.pyramid_levels > 1 and s.lbfgs_mode == "single":
                reason = optimizers.lbfgs_pyramid(
                    objective, y0, remaining, self.after_iteration, box, s.maxfun,
                    s.pyramid_levels, (*self.prepared.shape, 3))
            else:
                run = optimizers.lbfgs if s.lbfgs_mode == "single" else optimizers.lbfgs_restart
                reason = run(objective, y0, remaining, self.after_iteration, box, s.maxfun)
        except _Stop as stop:
            reason = str(stop)
        except NonFiniteLoss as bad:
            reason = (f"{bad} at iteration {len(self.history)}; kept the last good image. "
                      "Lower the weights (or the learning rate) and try again")
            if self.run.progress:
                print(f"Warning: {reason}")
        except KeyboardInterrupt as exc:
            if not self.history:  # not even the start evaluated: the run keeps what it has
                raise
            self.run.signum = getattr(exc, "signum", signal.SIGINT)
            reason = _interrupted_text(exc, self.run.done(self.history))
        finally:
            self.bar.close()
        if s.checkpoint_every and self.history:
            self.checkpoint()
        return reason


class _Stop(Exception):
    """Raised between iterations to end a run (the callback asked)."""


def available_memory() -> int:
    """Bytes of memory available to this process now."""
    import psutil

    return int(psutil.virtual_memory().available)


def estimate_memory(backbone: bb.Backbone, shape: tuple[int, int], layers: Sequence[str],
                    style_loss: str = "gram", style_layers: Sequence[str] = (),
                    style_shape: tuple[int, int] | None = None) -> int:
    """Estimated peak bytes of a run whose result has ``shape`` = (H, W): the network's
    activations, and what the style loss adds per value of ``style_layers`` at ``shape`` and
    at the painting's ``style_shape`` (default: ``shape``; :mod:`helpers.style_losses`: the
    sliced loss's projections)."""
    need = MEMORY_OVERHEAD + BYTES_PER_ACTIVATION[backbone.precision] * sum(
        bb.activation_sizes(backbone, shape, layers))
    loss = style_losses.get(style_loss)
    if style_layers and (loss.BYTES_AT_RESULT or loss.BYTES_AT_PAINTING):
        need += loss.BYTES_AT_RESULT * bb.layer_values(backbone, shape, style_layers)
        need += loss.BYTES_AT_PAINTING * bb.layer_values(backbone, style_shape or shape,
                                                         style_layers)
    return int(need)


def check_memory(
    backbone: bb.Backbone, shape: tuple[int, int], layers: Sequence[str], size: int,
    style_loss: str = "gram", style_layers: Sequence[str] = (),
    style_shape: tuple[int, int] | None = None,
) -> None:
    """Raise a clear error (with the largest size that fits) if a ``size`` px run, result
    ``shape``, needs more memory than is available (:func:`estimate_memory`)."""
    need = estimate_memory(backbone, shape, layers, style_loss, style_layers, style_shape)
    have = available_memory()
    if need <= have:
        return
    scale = math.sqrt(max(have - MEMORY_OVERHEAD, 0) / max(need - MEMORY_OVERHEAD, 1))
    fits = int(size * scale * 0.95)
    raise StyleTransferError(
        f"size {size} px needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is "
        f"available; use size {fits} or less (or close other programs)"
    )


def _progress_bar(total: int, enabled: bool, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="it", disable=not enabled, leave=True)
