"""Style transfer by optimising the pixels: :func:`stylize`.

One evaluation = ONE compiled TensorFlow call that runs the generated image through the
truncated backbone and returns every loss term and the gradient. The content and style
targets are computed once per (backbone, images, size, layers) and cached, so a run with
other weights starts at once. scipy's ``fmin_l_bfgs_b`` is called once with a
per-iteration callback, keeping its curvature memory (the old Keras example restarted it
every iteration; ``lbfgs_mode="restart"`` reproduces that for comparison).
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import math
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
from scipy.optimize import fmin_l_bfgs_b

from helpers import backbone as bb
from helpers import images, losses
from helpers._tf import tf
from helpers.errors import StyleTransferError

OPTIMIZERS = ("lbfgs", "adam")
LBFGS_MODES = ("single", "restart")
INITS = ("content", "noise", "style")

#: Gatys et al.'s layers (conv1 of every block for style, block4_conv2 for content) and
#: average pooling, with weights for our size-independent, layer-balanced losses.
_GATYS = {
    "content_layer": "block4_conv2",
    "style_layers": ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                     "block5_conv1"),
    "content_weight": 1.0,
    "style_weight": 30.0,
    "tv_weight": 1e-4,
    "pooling": "avg",
    "style_scale": 1.0,
    "coarse_to_fine": False,
}
#: Default layers, weights, style scale and coarse-to-fine policy per backbone
#: (:func:`default_scales`). ``vgg19`` keeps Gatys et al.'s choice; ``vgg16-hed`` (fine-tuned
#: for edges, so its texture is finer) overrides what its pictures need: see the README's
#: "Choosing defaults".
DEFAULTS: dict[str, dict[str, Any]] = {
    "vgg19": dict(_GATYS),
    "vgg16-hed": {**_GATYS, "style_scale": 1.5, "coarse_to_fine": True},
}
#: Bytes TensorFlow, the backbone and Python need beside the activations (measured).
MEMORY_OVERHEAD = 1.2e9
#: Activation memory per float value of the truncated network, forward+backward (measured).
BYTES_PER_ACTIVATION = 4 * 4


@dataclass
class Result:
    """What :func:`stylize` returns.

    ``image``: the best (lowest-loss) image, (H, W, 3) uint8 RGB. ``history``: one dict per
    iteration, starting with iteration 0 (the initial image), with ``iteration``, ``total``,
    ``content``, ``style``, ``tv`` (weighted terms), ``seconds`` since the start,
    ``evaluations`` so far and ``eval_seconds``, the part of ``seconds`` spent computing loss
    and gradient (the rest is the optimiser's own arithmetic and Python). ``backbone``: the
    line describing the network that ran. ``stop_reason``: why the optimiser stopped, in
    words. ``settings``: the resolved settings.
    """

    image: np.ndarray
    history: list[dict[str, float]]
    backbone: str
    stop_reason: str
    settings: dict[str, Any] = field(default_factory=dict)

    def save(self, path: str | Path) -> Path:
        """Save the image (and ``<name>.json`` with settings, history and stop reason)."""
        out = images.save_image(self.image, path)
        meta = {"backbone": self.backbone, "stop_reason": self.stop_reason,
                "settings": self.settings, "history": self.history}
        out.with_suffix(".json").write_text(json.dumps(meta, indent=1, default=str))
        return out


@dataclass
class _StyleTerm:
    """One style target set: per layer a normalised Gram matrix A = Fᵀ F / M (``"gram"``) or
    (μ, Σ, Σ^½) (``"w2"``), and the (H, W) mask in 0..1 of the region it applies to
    (``None``: the whole image)."""

    targets: dict[str, Any]
    mask: tf.Tensor | None = None


@dataclass
class _Targets:
    """Cached per (backbone, images, size, layers): extractor, targets, compiled function."""

    extractor: Any
    content_target: tf.Tensor
    terms: list[_StyleTerm]
    style_loss: str
    loss_and_grad: Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]

    @property
    def style_targets(self) -> dict[str, Any]:
        """The first (for one style: the only) style term's targets per layer."""
        return self.terms[0].targets if self.terms else {}

    def blank_style_losses(self) -> list[dict[str, float]]:
        """Per style term and layer, the loss of an all-zero feature map: the scale of that
        layer's style loss. Gram: sum(A²) / (4 N²); W2: (‖μ‖² + tr Σ) / N."""
        out = []
        for term in self.terms:
            blank = {}
            for name, t in term.targets.items():
                if self.style_loss == "gram":
                    blank[name] = float(tf.reduce_sum(tf.square(t))) / (4.0 * t.shape[0] ** 2)
                else:
                    mean, cov, _ = t
                    blank[name] = float(tf.reduce_sum(tf.square(mean)) + tf.linalg.trace(cov)
                                        ) / float(mean.shape[0])
            out.append(blank)
        return out


# The TV term is two dozen cheap operations on full-size images; XLA fuses them into one loop
# (23 ms -> 5 ms per evaluation at 400x601, 3 % of a bfloat16 evaluation; same values to 1e-7).
_total_variation_loss = tf.function(losses.total_variation_loss, jit_compile=True)

_CACHE: dict[tuple, _Targets] = {}
_CACHE_STATS = {"hits": 0, "misses": 0}
_CACHE_SIZE = 4


def cache_info() -> dict[str, int]:
    """Counts of target-cache hits and misses (a miss builds targets and traces the graph)."""
    return {**_CACHE_STATS, "size": len(_CACHE)}


def clear_cache() -> None:
    """Forget every cached target set (backbones stay loaded)."""
    _CACHE.clear()
    _CACHE_STATS.update(hits=0, misses=0)


def _digest(image: np.ndarray | None) -> str:
    if image is None:
        return "-"
    raw = np.ascontiguousarray(image).tobytes() + str(image.shape).encode()
    return hashlib.sha1(raw).hexdigest()


def _style_moments(
    extractor: Any, style: np.ndarray, style_layers: Sequence[str]
) -> dict[str, tuple[tf.Tensor, tf.Tensor]]:
    """Per layer, the style image's filter means (N,) and second moments Fᵀ F / M (N, N)."""
    feats = extractor(tf.constant(images.preprocess(style)), training=False)
    out = {}
    for name in style_layers:
        f = tf.cast(feats[name], tf.float32)  # targets: once per run, so in float32
        m = float(f.shape[1] * f.shape[2])
        out[name] = (tf.reduce_mean(tf.reshape(f, (-1, f.shape[-1])), 0),
                     losses.gram_matrix(f) / m)
    return out


def _style_term(
    moments: Sequence[dict[str, tuple[tf.Tensor, tf.Tensor]]], blend: Sequence[float],
    style_loss: str, mask: np.ndarray | None,
) -> _StyleTerm:
    """Blend the styles' moments with weights ``blend`` (the moments of the mixture, so the
    order of the styles does not matter) and turn them into targets."""
    targets: dict[str, Any] = {}
    for name in moments[0]:
        mean = sum(b * mom[name][0] for b, mom in zip(blend, moments, strict=True))
        second = sum(b * mom[name][1] for b, mom in zip(blend, moments, strict=True))
        if style_loss == "gram":
            targets[name] = second
        else:
            targets[name] = losses.gaussian_target(mean, second - mean[:, None] * mean[None, :])
    return _StyleTerm(targets, None if mask is None else tf.constant(mask, tf.float32))


def _build_targets(
    backbone: bb.Backbone,
    content: np.ndarray,
    styles: Sequence[np.ndarray],
    blend: Sequence[float],
    masks: Sequence[np.ndarray | None] | None,
    content_layer: str | None,
    style_layers: Sequence[str],
    style_loss: str,
    tv_form: str,
    jit_compile: bool,
) -> _Targets:
    """Extractor, targets and the compiled loss-and-gradient function. ``content_layer=None``
    or no ``style_layers`` leave that term out of the network (it is then 0). Without
    ``masks`` the styles are blended into one target set; with masks each style is a term
    of its own, applied inside its mask."""
    extractor = bb.feature_extractor(backbone, style_layers, [content_layer] if content_layer
                                     else [])
    content_target = tf.zeros(())
    if content_layer:
        content_feats = extractor(tf.constant(images.preprocess(content)), training=False)
        content_target = tf.cast(content_feats[content_layer], tf.float32)
    terms: list[_StyleTerm] = []
    if style_layers:
        moments = [_style_moments(extractor, s, style_layers) for s in styles]
        if masks is None:
            terms = [_style_term(moments, blend, style_loss, None)]
        else:
            terms = [_style_term([mom], [1.0], style_loss, mask)
                     for mom, mask in zip(moments, masks, strict=True)]
    layers = list(style_layers)

    def term_losses(feats: dict[str, tf.Tensor], term: _StyleTerm) -> list[tf.Tensor]:
        if style_loss == "w2":
            return [losses.w2_layer_loss(feats[n], term.targets[n], term.mask) for n in layers]
        if term.mask is not None:
            return [losses.masked_gram_loss(feats[n], term.targets[n], term.mask)
                    for n in layers]
        out = []
        for n in layers:
            shape = tf.shape(feats[n])
            m = tf.cast(shape[1] * shape[2], tf.float32)
            out.append(losses.style_layer_loss(feats[n], term.targets[n] * m))
        return out

    @tf.function(jit_compile=jit_compile, reduce_retracing=True)
    def loss_and_grad(x: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """x: (1, H, W, 3) preprocessed image; w: [content, style, tv, then one weight per
        (style term, layer)]."""
        with tf.GradientTape() as tape:
            tape.watch(x)
            feats = extractor(x, training=False)
            c = (w[0] * losses.content_loss(feats[content_layer], content_target)
                 if content_layer else tf.zeros(()))
            per_layer = [e for term in terms for e in term_losses(feats, term)]
            s = w[1] * tf.reduce_sum(w[3:] * tf.stack(per_layer)) if per_layer else tf.zeros(())
            t = w[2] * _total_variation_loss(x, tv_form)
            total = c + s + t
        return tf.stack([total, c, s, t]), tape.gradient(total, x)

    return _Targets(extractor, content_target, terms, style_loss, loss_and_grad)


def _targets(
    backbone: bb.Backbone, content: np.ndarray, styles: Sequence[np.ndarray],
    blend: Sequence[float], masks: Sequence[np.ndarray | None] | None, content_layer: str | None,
    style_layers: Sequence[str], style_loss: str, tv_form: str, jit_compile: bool,
) -> _Targets:
    key = (backbone.name, backbone.weights, backbone.pooling, backbone.precision, backbone.padding,
           _digest(content), tuple(_digest(s) for s in styles),
           tuple(blend) if masks is None else None,
           None if masks is None else tuple(_digest(m) for m in masks),
           content_layer, tuple(style_layers), style_loss, tv_form, jit_compile)
    if key in _CACHE:
        _CACHE_STATS["hits"] += 1
        _CACHE[key] = _CACHE.pop(key)  # most recently used last
        return _CACHE[key]
    _CACHE_STATS["misses"] += 1
    built = _build_targets(backbone, content, styles, blend, masks, content_layer, style_layers,
                           style_loss, tv_form, jit_compile)
    _CACHE[key] = built
    while len(_CACHE) > _CACHE_SIZE:
        _CACHE.pop(next(iter(_CACHE)))
    return built


def available_memory() -> int:
    """Bytes of memory available to this process now."""
    import psutil

    return int(psutil.virtual_memory().available)


def estimate_memory(backbone: bb.Backbone, shape: tuple[int, int], layers: Sequence[str]) -> int:
    """Estimated peak bytes of one evaluation at image ``shape`` = (H, W)."""
    activations = sum(bb.activation_sizes(backbone, shape, layers))
    return int(MEMORY_OVERHEAD + BYTES_PER_ACTIVATION * activations)


def check_memory(
    backbone: bb.Backbone, shape: tuple[int, int], layers: Sequence[str], size: int
) -> None:
    """Raise a clear error (with the largest size that fits) if ``shape`` needs too much memory."""
    need, have = estimate_memory(backbone, shape, layers), available_memory()
    if need <= have:
        return
    scale = math.sqrt(max(have - MEMORY_OVERHEAD, 0) / max(need - MEMORY_OVERHEAD, 1))
    fits = int(size * scale * 0.95)
    raise StyleTransferError(
        f"size {size} px needs about {need / 2**30:.1f} GiB but only {have / 2**30:.1f} GiB is "
        f"available; use size {fits} or less (or close other programs)"
    )


def _check_weight(name: str, value: float) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise StyleTransferError(f"{name} must be a number, not {value!r}") from None
    if not math.isfinite(value) or value < 0:
        raise StyleTransferError(f"{name} must be a finite number >= 0, not {value}")
    if value > 1e12:
        raise StyleTransferError(f"{name} = {value:g} is absurdly large; try a value below 1e6")
    return value


def _stop_reason(info: dict[str, Any]) -> str:
    task = info.get("task", "")
    task = task.decode() if isinstance(task, bytes) else str(task)
    if info.get("warnflag") == 0:
        return f"converged ({task.lower()})"
    if info.get("warnflag") == 1:
        return "reached the maximum number of iterations or evaluations"
    return f"stopped early: {task.lower()} (the line search could not lower the loss further)"


class _Stop(Exception):
    """Raised inside the optimiser loop to end a run (callback asked, or loss not finite)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _load_checkpoint(path: str | Path) -> tuple[np.ndarray, list[dict[str, float]]]:
    path = Path(path)
    file = path / "checkpoint.npz" if path.is_dir() else path
    if not file.is_file():
        raise StyleTransferError(f"no checkpoint at {path}; give a checkpoint folder or .npz file")
    try:
        with np.load(file) as data:
            return data["x"], json.loads(str(data["history"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise StyleTransferError(
            f"cannot read the checkpoint {file}: it is damaged or not a checkpoint "
            f"({type(exc).__name__}); resume from a folder written by "
            "checkpoint_every (--checkpoint-every), or start again without resume"
        ) from None


def _save_checkpoint(folder: Path, x: np.ndarray, history: list[dict[str, float]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / "checkpoint.tmp.npz"
    np.savez(tmp, x=x.astype(np.float32), history=json.dumps(history))
    tmp.replace(folder / "checkpoint.npz")
    images.save_image(images.deprocess(x), folder / "latest.png")


def stylize(
    content: images.ImageSource | None = None,
    style: images.ImageSource | Sequence[images.ImageSource] | None = None,
    *,
    size: int = 384,
    iterations: int = 100,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    content_layer: str | None = None,
    style_layers: Sequence[str] | None = None,
    style_layer_weights: Sequence[float] | None = None,
    balance_style_layers: bool = True,
    style_scale: float | None = None,
    style_blend_weights: Sequence[float] | None = None,
    masks: Sequence[images.ImageSource | None] | None = None,
    preserve_color: str = "none",
    style_loss: str = "gram",
    backbone: str = "auto",
    weights: str | Path | None = "imagenet",
    pooling: str | None = None,
    precision: str = "auto",
    padding: str = "zero",
    init: str | np.ndarray = "content",
    seed: int = 0,
    optimizer: str = "lbfgs",
    lbfgs_mode: str = "single",
    maxfun: int = 20,
    learning_rate: float = 5.0,
    tv_form: str = "power",
    bounds: bool = True,
    jit_compile: bool = False,
    callback: Callable[[dict[str, Any]], bool | None] | None = None,
    checkpoint_every: int = 0,
    checkpoint_dir: str | Path | None = None,
    resume: str | Path | None = None,
    progress: bool = True,
    scales: int | None = None,
    scale_iterations: Sequence[int] | None = None,
) -> Result:
    """Paint ``content`` in the style of ``style``; return a :class:`Result`.

    Images are paths, arrays or Pillow images (``None``: the bundled defaults). ``size`` is
    the output's longest side in px; the style image is scaled to ``size * style_scale``
    (larger: bigger brush strokes).

    Several styles: ``style=[a, b, ...]`` with ``style_blend_weights`` (default equal;
    normalised to sum 1). Without ``masks`` the styles' feature statistics are blended into
    one target, so their order does not matter. ``masks`` (one per style, white = this
    style, ``None`` = everywhere) confine each style to its region; outside every mask only
    the content and TV terms act, so the photo stays. ``preserve_color``: ``"none"``;
    ``"luminance"`` (optimise the luminance of content and style only, then put the content's
    chroma back), ``"histogram"`` (match the style image's colour mean and covariance to the
    content's first), ``"swap"`` (a normal run, then the content's chroma). ``style_loss``:
    ``"gram"`` (Gatys et al.) or ``"w2"`` (Wasserstein-2 distance between the features'
    means and covariances; :func:`helpers.losses.w2_distance`).
    Weights, layers and pooling default per backbone (:data:`DEFAULTS`).
    ``style_layer_weights`` (default 1/L each) are relative; with ``balance_style_layers``
    (default) each layer's loss is first divided by the loss an all-zero feature map would
    have there (:meth:`_Targets.blank_style_losses`), because the raw losses of ``block1`` and
    ``block5`` differ by about 10⁶ and the deep layers, which carry the large brush strokes,
    would otherwise not count. ``False`` gives Gatys et al.'s plain weighted sum. ``precision``:
    ``"auto"`` runs the network in bfloat16 where the hardware computes it natively, else
    float32; losses and the gradient handed to scipy are float32/float64 (Gram matrices are
    multiplied in the network's precision: :func:`helpers.losses.gram_matrix`). ``iterations``
    are L-BFGS iterations (one scipy call; with ``lbfgs_mode="restart"``, ``iterations`` calls of
    ``maxfun`` evaluations each, as the old Keras example did) or Adam steps. ``init`` is
    ``"content"``, ``"noise"`` (seeded by ``seed``), ``"style"``, or an image to start from
    (resized to fit; e.g. a smaller result, for coarse-to-fine or a warm start).

    ``callback(state)`` is called after every iteration with ``iteration``, the loss terms,
    ``seconds`` and ``image`` (uint8); returning True stops the run. Ctrl-C, a callback stop
    and a non-finite loss all return the best image so far, with the reason in
    ``stop_reason``. ``checkpoint_every=k`` saves to ``checkpoint_dir`` every k iterations;
    ``resume`` continues from such a folder.

    ``scales=k`` paints coarse-to-fine: first at ``size / 2**(k-1)``, then each scale
    doubles the size, starting from the upsampled previous result (bigger brush strokes,
    and most iterations run on small images). ``scale_iterations`` gives the iterations per
    scale (default: ``iterations`` at each); history entries carry the ``size`` they ran at.
    """
    args = dict(locals())  # the call, for coarse-to-fine (one call per scale)
    backbone = bb.resolve_name(backbone, weights)
    if scales is None:
        scales = default_scales(size, backbone) if resume is None else 1
    if not isinstance(scales, int) or not 1 <= scales <= 6:
        raise StyleTransferError(f"scales must be a whole number from 1 to 6, not {scales!r}")
    if optimizer not in OPTIMIZERS:
        raise StyleTransferError(f"unknown optimizer {optimizer!r}; choose one of {OPTIMIZERS}")
    if lbfgs_mode not in LBFGS_MODES:
        raise StyleTransferError(f"unknown lbfgs_mode {lbfgs_mode!r}; choose one of {LBFGS_MODES}")
    init_image = None if isinstance(init, str) else images.load_image(init)
    if init_image is not None:
        init = "image"
    elif init not in INITS:
        raise StyleTransferError(
            f"unknown init {init!r}; choose one of {', '.join(INITS)}, or give an image"
        )
    if tv_form not in losses.TV_FORMS:
        raise StyleTransferError(f"unknown tv_form {tv_form!r}; choose one of {losses.TV_FORMS}")
    if not isinstance(iterations, int) or iterations < 1:
        raise StyleTransferError(f"iterations must be a whole number >= 1, not {iterations!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise StyleTransferError(f"seed must be a whole number >= 0, not {seed!r}")
    if not isinstance(checkpoint_every, (int, np.integer)) or checkpoint_every < 0:
        raise StyleTransferError(
            f"checkpoint_every must be a whole number >= 0 (0: never), not {checkpoint_every!r}"
        )
    if checkpoint_every and checkpoint_dir is None:
        raise StyleTransferError("checkpoint_every needs checkpoint_dir= (a folder to write to)")
    style_scale = _check_weight("style_scale", DEFAULTS[backbone]["style_scale"]
                                if style_scale is None else style_scale)
    if not 0.1 <= style_scale <= 4.0:
        raise StyleTransferError(f"style_scale must be between 0.1 and 4, not {style_scale}")

    if preserve_color not in images.PRESERVE_COLOR:
        raise StyleTransferError(f"unknown preserve_color {preserve_color!r}; choose one of "
                                 f"{', '.join(images.PRESERVE_COLOR)}")
    if style_loss not in losses.STYLE_LOSSES:
        raise StyleTransferError(f"unknown style_loss {style_loss!r}; choose one of "
                                 f"{', '.join(losses.STYLE_LOSSES)}")

    from helpers import data

    content_img = images.load_image(data.default_content() if content is None else content)
    shape = images.target_shape(content_img.shape[:2], size=size)
    content_img = images.resize_to(content_img, shape)
    style_size = min(max(images.MIN_SIDE * 2, round(size * style_scale)), images.MAX_SIDE)
    style_imgs = [images.resize(images.load_image(s), size=style_size)
                  for s in _style_list(data.default_style() if style is None else style)]
    blend = _blend_weights(style_blend_weights, len(style_imgs))
    mask_arrays = _masks(masks, len(style_imgs), shape)
    # What the network sees: with colour preservation by luminance, grey images.
    net_content, net_styles = content_img, style_imgs
    if preserve_color == "histogram":
        net_styles = [images.color_matched(s, content_img) for s in style_imgs]
    elif preserve_color == "luminance":
        net_content = images.luminance_image(content_img)
        net_styles = [images.luminance_image(s, like=content_img) for s in style_imgs]

    def finished(image: np.ndarray) -> np.ndarray:
        """The picture the user sees: with the content's chroma where colour is kept."""
        if preserve_color in ("luminance", "swap"):
            return images.with_chroma_of(image, content_img)
        return image

    defaults = DEFAULTS[backbone]
    pooling = pooling or defaults["pooling"]
    cw = _check_weight("content_weight", defaults["content_weight"] if content_weight is None
                       else content_weight)
    sw = _check_weight("style_weight", defaults["style_weight"] if style_weight is None
                       else style_weight)
    tw = _check_weight("tv_weight", defaults["tv_weight"] if tv_weight is None else tv_weight)
    if cw == 0 and sw == 0:
        raise StyleTransferError(
            "content_weight and style_weight are both 0, so there is nothing to optimise; "
            "set at least one above 0"
        )
    content_layer = content_layer or defaults["content_layer"]
    style_layers = list(defaults["style_layers"] if style_layers is None else style_layers)
    if not style_layers and sw > 0:
        raise StyleTransferError(
            "no style layers were given but style_weight > 0; give at least one style layer, "
            "or set style_weight=0 to reconstruct the content alone"
        )
    if style_layer_weights is None:
        layer_w = [1.0 / len(style_layers)] * len(style_layers) if style_layers else []
    else:
        layer_w = [_check_weight("style layer weight", v) for v in style_layer_weights]
        if len(layer_w) != len(style_layers):
            raise StyleTransferError(
                f"{len(layer_w)} style layer weights for {len(style_layers)} style layers; "
                "give one weight per layer"
            )
        if sw > 0 and not any(layer_w):
            raise StyleTransferError(
                "every style layer weight is 0, so the style would do nothing; give at least "
                "one above 0, or set style_weight=0"
            )
    precision, why = bb.resolve_precision(precision)
    net = bb.load_backbone(backbone, weights=weights, pooling=pooling, precision=precision,
                           padding=padding)
    bb.check_layers(net, [content_layer, *style_layers])
    check_memory(net, shape, [content_layer, *style_layers], size)
    scale_label = _SCALE_LABEL.get()
    if progress and scale_label is None:
        print(f"Backbone: {net.description} ({why})")
    if scales > 1 and resume is None:  # every input checked, and the largest scale fits
        return _coarse_to_fine({**args, "backbone": backbone, "scales": scales})

    settings = dict(
        size=size, iterations=iterations, content_weight=cw, style_weight=sw, tv_weight=tw,
        content_layer=content_layer, style_layers=style_layers, style_layer_weights=layer_w,
        balance_style_layers=balance_style_layers,
        style_scale=style_scale, styles=len(style_imgs), style_blend_weights=blend,
        masks=mask_arrays is not None, preserve_color=preserve_color, style_loss=style_loss,
        backbone=backbone, pooling=pooling, precision=precision,
        padding=padding,
        init=init, seed=seed,
        optimizer=optimizer, lbfgs_mode=lbfgs_mode, tv_form=tv_form, bounds=bounds,
    )

    # Leave a term whose weight is 0 out of the network: reconstructions from one layer then
    # only run the network up to that layer.
    targets = _targets(net, net_content, net_styles, blend, mask_arrays,
                       content_layer if cw > 0 else None, style_layers if sw > 0 else [],
                       style_loss, tv_form, jit_compile)
    term_w = [1.0] if mask_arrays is None else [
        b * len(blend) * (1.0 if m is None else float(m.mean()))
        for b, m in zip(blend, mask_arrays, strict=True)]
    per_term_layer = []
    for tw_, blank in zip(term_w, targets.blank_style_losses(), strict=False):
        for v, n in zip(layer_w, style_layers, strict=True):
            per_term_layer.append(tw_ * v / (max(blank[n], 1e-30) if balance_style_layers else 1))
    w = tf.constant([cw, sw, tw, *(per_term_layer if sw > 0 else [])], dtype=tf.float32)
    x_shape = (1, *shape, 3)

    history: list[dict[str, float]] = []
    if resume is not None:
        x0, history = _load_checkpoint(resume)
        if x0.shape != x_shape:
            raise StyleTransferError(
                f"the checkpoint holds a {x0.shape[1]}x{x0.shape[2]} image but this run is "
                f"{shape[0]}x{shape[1]}; resume with the same content image and size"
            )
    elif init_image is not None:  # warm start, e.g. from an earlier (smaller) result
        start = images.resize_to(init_image, shape)
        x0 = images.preprocess(images.luminance_image(start) if preserve_color == "luminance"
                               else start)
    elif init == "content":
        x0 = images.preprocess(net_content)
    elif init == "style":
        x0 = images.preprocess(images.resize_to(net_styles[0], shape))
    else:
        rng = np.random.default_rng(seed)
        x0 = images.preprocess(rng.uniform(0, 255, (*shape, 3)))
    # L-BFGS-B's first step has length 1 (no bounds) or the gradient's length (bounds; see
    # f_scale in evaluate, which makes that length 1 too). Spread over every value, a unit
    # step would change the float32 loss by less than its rounding; optimising y = x / scale
    # with scale = sqrt(#values) makes it move the pixels by one grey level (RMS).
    lbfgs = optimizer == "lbfgs"
    scale = math.sqrt(x0.size) if lbfgs else 1.0
    x0 = np.asarray(x0, dtype=np.float64).ravel() / scale

    start_iteration = max(len(history) - 1, 0)
    state: dict[str, Any] = {"best_x": x0.copy(), "best": math.inf, "last_x": None,
                             "last_terms": None, "last_grad": None, "evaluations": 0,
                             "eval_seconds": 0.0, "f_scale": None}
    t0 = time.perf_counter() - (history[-1]["seconds"] if history else 0.0)

    def evaluate(x: np.ndarray) -> tuple[float, np.ndarray]:
        if state["last_x"] is not None and np.array_equal(state["last_x"], x):
            return float(state["last_terms"][0]) * state["f_scale"], state["last_grad"]
        started = time.perf_counter()
        image = tf.constant(x.reshape(x_shape) * scale, tf.float32)
        terms, grad = targets.loss_and_grad(image, w)
        terms = terms.numpy().astype(np.float64)
        grad = grad.numpy().astype(np.float64).ravel() * scale
        state["evaluations"] += 1
        state["eval_seconds"] += time.perf_counter() - started
        if not np.all(np.isfinite(terms)):
            raise _Stop(
                f"the loss became {terms[0]} at iteration {len(history)}; kept the last good "
                "image. Lower the weights (or the learning rate) and try again"
            )
        if state["f_scale"] is None:
            # With bounds, L-BFGS-B's first step is the raw gradient, so the loss's overall
            # scale (any weight setting) would change the path. Scale the objective scipy sees
            # to a unit gradient at the start (with y-scaling: one grey level RMS).
            state["f_scale"] = 1.0 / max(float(np.linalg.norm(grad)), 1e-30) if lbfgs else 1.0
        grad = grad * state["f_scale"]
        x = x.copy()  # scipy may reuse its array; one copy serves both records below
        if terms[0] < state["best"]:
            state["best"], state["best_x"] = terms[0], x
        state["last_x"], state["last_terms"], state["last_grad"] = x, terms, grad
        return float(terms[0]) * state["f_scale"], grad

    bar = _progress_bar(iterations, progress, scale_label or "stylize")

    def record(x: np.ndarray) -> dict[str, Any]:
        evaluate(x)  # free when x was the last point evaluated (the usual case)
        total, c, s, t = state["last_terms"]
        entry = {"iteration": len(history), "size": max(shape), "total": float(total),
                 "content": float(c), "style": float(s), "tv": float(t),
                 "seconds": time.perf_counter() - t0,
                 "evaluations": state["evaluations"], "eval_seconds": state["eval_seconds"]}
        history.append(entry)
        return entry

    def after_iteration(x: np.ndarray) -> None:
        entry = record(x)
        bar.update(1)
        total, c, s, t = (entry[k] for k in ("total", "content", "style", "tv"))
        bar.set_postfix(total=f"{total:.3g}", content=f"{c:.3g}", style=f"{s:.3g}", tv=f"{t:.3g}")
        if checkpoint_every and entry["iteration"] % checkpoint_every == 0:
            best = state["best_x"].reshape(x_shape) * scale
            _save_checkpoint(Path(checkpoint_dir), best, history)
        if callback is not None and callback(
            {**entry, "image": finished(images.deprocess(x.reshape(x_shape) * scale))}
        ):
            raise _Stop("stopped by the callback")

    remaining = iterations - start_iteration
    box = images.pixel_bounds(shape) / scale if bounds else None
    stop_reason = "finished"
    try:
        if not history:
            record(x0)  # iteration 0: the starting image
        if remaining <= 0:
            stop_reason = "the checkpoint already has all iterations"
        elif optimizer == "adam":
            stop_reason = _adam(evaluate, after_iteration, x0, remaining, learning_rate, box)
        elif lbfgs_mode == "single":
            _, _, info = fmin_l_bfgs_b(
                evaluate, x0, bounds=box, maxiter=remaining, maxfun=remaining * maxfun,
                m=10, factr=1e5, pgtol=0.0, callback=after_iteration,
            )
            stop_reason = _stop_reason(info)
        else:
            x = x0
            for _ in range(remaining):
                x, _, info = fmin_l_bfgs_b(evaluate, x, bounds=box, maxfun=maxfun, pgtol=0.0)
                after_iteration(x)
            stop_reason = (f"finished {remaining} restarts of {maxfun} evaluations; the last "
                           f"one: {_stop_reason(info)}")
    except _Stop as stop:
        stop_reason = stop.reason
        if "loss became" in stop.reason and progress:
            print(f"Warning: {stop.reason}")
    except KeyboardInterrupt:
        stop_reason = (f"interrupted after {max(len(history) - 1, 0)} iterations; kept the best "
                       "image so far")
    finally:
        bar.close()
    if checkpoint_every and history:
        _save_checkpoint(Path(checkpoint_dir), state["best_x"].reshape(x_shape) * scale, history)
    image = finished(images.deprocess(state["best_x"].reshape(x_shape) * scale))
    return Result(image, history, net.description, stop_reason, settings)


def _style_list(style: images.ImageSource | Sequence[images.ImageSource]) -> list[Any]:
    """One style image or several: a list/tuple is several, anything else (a path, an
    array, a Pillow image) is one."""
    if isinstance(style, (list, tuple)):
        if not style:
            raise StyleTransferError("style is an empty list; give at least one style image")
        return list(style)
    return [style]


def _blend_weights(weights: Sequence[float] | None, n: int) -> list[float]:
    """Blend weights for ``n`` styles, normalised to sum 1 (default: equal)."""
    if weights is None:
        return [1.0 / n] * n
    values = [_check_weight("style blend weight", v) for v in weights]
    if len(values) != n:
        raise StyleTransferError(
            f"{len(values)} style blend weights for {n} style images; give one per style"
        )
    total = sum(values)
    if total <= 0:
        raise StyleTransferError("the style blend weights are all 0; give at least one above 0")
    return [v / total for v in values]


def _masks(
    masks: Sequence[images.ImageSource | None] | None, n: int, shape: tuple[int, int]
) -> list[np.ndarray | None] | None:
    """Masks as (H, W) float arrays in 0..1 at the content's ``shape`` (white = 1), one per
    style (``None``: everywhere); ``None`` when no style has a mask."""
    if masks is None:
        return None
    if isinstance(masks, (str, Path, np.ndarray)) or not isinstance(masks, (list, tuple)):
        masks = [masks]
    if len(masks) != n:
        raise StyleTransferError(f"{len(masks)} masks for {n} style images; give one per "
                                 "style (None where a style applies everywhere)")
    if all(m is None for m in masks):
        return None
    out: list[np.ndarray | None] = []
    for m in masks:
        if m is None:
            out.append(None)
            continue
        grey = images.resize_to(images.load_image(m), shape).mean(axis=-1) / 255.0
        if grey.max() < 0.5:
            raise StyleTransferError("a mask is black everywhere, so its style applies "
                                     "nowhere; paint the style's region white")
        out.append(grey.astype(np.float32))
    return out


def default_scales(size: int, backbone: str) -> int:
    """How many coarse-to-fine scales ``stylize`` uses by default for a ``size`` px result:
    enough halvings that the coarsest scale is about 192-384 px (1 below 384 px, 2 up to
    767 px, 3 beyond), for backbones whose :data:`DEFAULTS` enable ``coarse_to_fine``."""
    if not DEFAULTS[backbone]["coarse_to_fine"] or size < 384:
        return 1
    return min(3, int(math.log2(size / 192)) + 1)


def coarse_to_fine_sizes(size: int, scales: int) -> list[int]:
    """The sizes of a coarse-to-fine schedule, smallest first: size / 2**(scales-1) ... size."""
    return [max(1, round(size / 2**k)) for k in range(scales - 1, -1, -1)]


#: Set by :func:`_coarse_to_fine` while it runs one scale: the progress bar's label (and the
#: backbone line, printed once for the whole run, is not repeated).
_SCALE_LABEL: contextvars.ContextVar[str | None] = contextvars.ContextVar("scale", default=None)


def _coarse_to_fine(args: dict[str, Any]) -> Result:
    """Run :func:`stylize` once per scale, each starting from the previous result."""
    sizes = coarse_to_fine_sizes(args["size"], args["scales"])
    per_scale = list(args["scale_iterations"] or [args["iterations"]] * len(sizes))
    if len(per_scale) != len(sizes):
        raise StyleTransferError(
            f"{len(per_scale)} scale_iterations for {len(sizes)} scales; give one per scale"
        )
    history: list[dict[str, float]] = []
    init, seconds = args["init"], 0.0
    for i, (size, iterations) in enumerate(zip(sizes, per_scale, strict=True)):
        last = i == len(sizes) - 1
        token = _SCALE_LABEL.set(f"scale {i + 1}/{len(sizes)}, {size} px")
        try:
            result = stylize(**{
                **args, "size": size, "iterations": iterations, "init": init, "scales": 1,
                "scale_iterations": None,
                "checkpoint_every": args["checkpoint_every"] if last else 0,
            })
        finally:
            _SCALE_LABEL.reset(token)
        history += [{**h, "seconds": h["seconds"] + seconds} for h in result.history]
        seconds = history[-1]["seconds"]
        init = result.image
        if result.stop_reason.startswith(("stopped", "interrupted", "the loss became")):
            break
        if not last and args["masks"] is not None:
            init = _content_outside_masks(result.image, args, sizes[i + 1])
    result.history = history
    result.settings.update(size=args["size"], scales=args["scales"], scale_sizes=sizes,
                           scale_iterations=per_scale)
    return result


def _content_outside_masks(image: np.ndarray, args: dict[str, Any], size: int) -> np.ndarray:
    """The start of the next coarse-to-fine scale of a masked run, (H, W, 3) uint8 at
    ``size``: the upsampled result inside the masks, the sharp content outside them (there
    only the content loss acts, and it does not restore the detail upsampling blurred)."""
    from helpers import data

    content = images.load_image(data.default_content() if args["content"] is None
                                else args["content"])
    shape = images.target_shape(content.shape[:2], size=size)
    styles = _style_list(data.default_style() if args["style"] is None else args["style"])
    masks = _masks(args["masks"], len(styles), shape)
    if masks is None or any(m is None for m in masks):
        return image  # some style applies everywhere
    inside = np.max(masks, axis=0)[..., None]
    mixed = (inside * images.resize_to(image, shape).astype(np.float32)
             + (1 - inside) * images.resize_to(content, shape).astype(np.float32))
    return np.clip(np.rint(mixed), 0, 255).astype(np.uint8)


def _adam(
    evaluate: Callable[[np.ndarray], tuple[float, np.ndarray]],
    after_iteration: Callable[[np.ndarray], None],
    x: np.ndarray,
    steps: int,
    learning_rate: float,
    box: np.ndarray | None,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> str:
    """Adam on the pixels, one evaluation per step, clipped to the valid range."""
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    _, g = evaluate(x)
    for step in range(1, steps + 1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1**step), v / (1 - beta2**step)
        x = x - learning_rate * m_hat / (np.sqrt(v_hat) + eps)
        if box is not None:
            x = np.clip(x, box[:, 0], box[:, 1])
        _, g = evaluate(x)
        after_iteration(x)
    return f"finished {steps} Adam steps"


def _progress_bar(total: int, enabled: bool, label: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=label, unit="it", disable=not enabled, leave=True)

