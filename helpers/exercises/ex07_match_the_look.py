"""The open exercise of notebooks/exercises/ex07_match_the_look.ipynb: paint with the
student's settings and compare with a target painted with hidden ones.

The target's settings are not in this package: they stay in the instructor's folder
(``look_target.json``, read by :func:`helpers.exercises.instructor.look_target`), and students
get the target as a picture beside the notebook (``look_target.png``, ``look_target_fast.png``:
:func:`look_picture`)."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from helpers.errors import StyleTransferError
from helpers.exercises._engine import CheckFailed, call, first_line
from helpers.exercises.instructor import (
    LOOK_PICTURES,
    LOOK_SETTINGS,
    checkout_source,
    look_target,
)

#: What the exercise fixes whatever the library's defaults: the start (the photo), pooling and
#: padding, the Gram loss, and Gatys et al.'s weights with layers balanced by their all-zero
#: loss (notebook 03); the student's settings override the weights.
LOOK_BASE: dict[str, Any] = {"init": "content", "pooling": "avg", "padding": "zero",
                             "content_weight": 1.0, "style_weight": 30.0,
                             "balance_style_layers": True, "style_loss": "gram"}
#: Largest content distance and mean style distance to the target that pass (see
#: :func:`look_distances`). Calibrated at both sizes of :func:`look_size`: the target's layers
#: with style weights of about 100 to 300 pass; other layer sets, or style weight 30, do not.
LOOK_THRESHOLDS = {"content": 0.12, "style": 0.10}
_LOOK_LAYERS = [f"block{b}_conv1" for b in range(1, 6)]
_LOOK_SCALES = {"block1_conv1": "colours and the finest grain",
                "block2_conv1": "fine strokes", "block3_conv1": "brush strokes",
                "block4_conv1": "groups of strokes", "block5_conv1": "the largest swirls"}
_LOOK_CACHE: dict[tuple, Any] = {}


def fast_mode() -> bool:
    """True with NST_FAST=1 (the small size, for quick runs and grading)."""
    return os.environ.get("NST_FAST") == "1"


def look_size(fast: bool | None = None) -> tuple[int, int]:
    """(size in px, iterations) of the look exercise: small when ``fast`` (default: with
    NST_FAST=1)."""
    return (64, 10) if (fast_mode() if fast is None else fast) else (160, 30)


def look_picture(folder: str | Path = ".") -> np.ndarray:
    """The target picture of the look exercise, (H, W, 3) uint8: the one handed out beside
    the notebook (``look_target.png``, or ``look_target_fast.png`` with NST_FAST=1) in
    ``folder``; when running from the repository, painted from the instructor's settings."""
    from helpers.images import load_image

    name = LOOK_PICTURES[fast_mode()]
    path = Path(folder) / name
    if path.exists():
        picture = load_image(path)
        if max(picture.shape[:2]) != look_size()[0]:
            raise StyleTransferError(f"{path} is {max(picture.shape[:2])} px, not the "
                                     f"{look_size()[0]} px of this exercise: use the picture "
                                     "handed out with the notebook")
        return picture
    source = checkout_source()
    if source is None:
        raise StyleTransferError(f"the target picture {name} is not in {Path(folder).resolve()}"
                                 ": put the picture handed out with this notebook beside it")
    return look_paint(look_target(source))


def look_paint(settings: dict[str, Any], fast: bool | None = None) -> np.ndarray:
    """The bundled photo painted in the bundled style with ``settings``: (H, W, 3) uint8.
    Offline backbone, float32, a fixed size (:func:`look_size`), style scale and one scale,
    and :data:`LOOK_BASE`, so the same settings give the same picture whatever the library's
    defaults."""
    from helpers.data import default_content, default_style
    from helpers.stylizing import stylize

    size, iterations = look_size(fast)
    key = (size, iterations, repr(sorted(settings.items())))
    if key not in _LOOK_CACHE:
        _LOOK_CACHE[key] = stylize(default_content(), default_style(), size=size,
                                   iterations=iterations, backbone="vgg16-hed",
                                   precision="float32", style_scale=1.0, scales=1,
                                   progress=False, **{**LOOK_BASE, **settings}).image
    return _LOOK_CACHE[key]


def _look_features(image: np.ndarray) -> tuple[Any, dict[str, np.ndarray]]:
    """block4_conv2 features and the normalised Gram matrices (Fᵀ F / M) of five layers."""
    from helpers import backbone, images, losses

    key = ("extractor",)
    if key not in _LOOK_CACHE:
        net = backbone.load_backbone("vgg16-hed", pooling="avg")
        _LOOK_CACHE[key] = backbone.feature_extractor(net, _LOOK_LAYERS, ["block4_conv2"])
    feats = _LOOK_CACHE[key](images.preprocess(image))
    grams = {n: losses.gram_matrix(feats[n]).numpy() / np.prod(feats[n].shape[1:3])
             for n in _LOOK_LAYERS}
    return feats["block4_conv2"].numpy(), grams


def look_distances(image: np.ndarray, reference: np.ndarray) -> tuple[float, dict[str, float]]:
    """How far ``image`` is from ``reference`` (same size): the content distance
    Σ (F − F_ref)² / Σ F_ref² at block4_conv2, and per style layer Σ (G − G_ref)² / Σ G_ref²
    of the normalised Gram matrices. Both 0 for the same picture, about 1 for unrelated ones."""
    (f, g), (fr, gr) = _look_features(image), _look_features(reference)
    content = float(np.sum((f - fr) ** 2) / np.sum(fr**2)) if f.shape == fr.shape else math.nan
    return content, {n: float(np.sum((g[n] - gr[n]) ** 2) / np.sum(gr[n] ** 2)) for n in g}


def _look_advice(mine: np.ndarray, target: np.ndarray) -> str:
    """What differs most, compared through the two source images."""
    from helpers import data, images

    photo = images.resize_to(images.load_image(data.default_content()), mine.shape[:2])
    painting = images.load_image(data.default_style(), size=max(mine.shape[:2]))
    photo_mine, photo_target = look_distances(mine, photo)[0], look_distances(target, photo)[0]
    paint_mine, paint_target = look_distances(mine, painting)[1], look_distances(target,
                                                                                 painting)[1]
    advice = []
    if photo_mine < 0.7 * photo_target:
        advice.append("your picture keeps more of the photo than the target does")
    elif photo_mine > 1.4 * photo_target:
        advice.append("your picture keeps less of the photo than the target does")
    ratios = {n: paint_mine[n] / max(paint_target[n], 1e-12) for n in paint_mine}
    closer, further = min(ratios, key=ratios.get), max(ratios, key=ratios.get)
    if ratios[closer] < 1 / 1.5:
        advice.append(f"yours is {1 / ratios[closer]:.1f}× closer to the painting at {closer} "
                      f"({_LOOK_SCALES[closer]}): that scale counts for more in yours")
    if ratios[further] > 1.5:
        advice.append(f"the target is {ratios[further]:.1f}× closer to the painting at "
                      f"{further} ({_LOOK_SCALES[further]}): that scale counts for more in the "
                      "target")
    return "; ".join(advice) or "the difference is spread over every layer"


def run_look(name: str, answer: Any) -> None:
    """Paint with the student's settings and compare with the target picture."""
    from helpers.images import image_grid

    settings = call(name, answer) if callable(answer) else answer
    mine = paint_settings(name, settings, type(settings).__name__)
    try:
        target = look_picture()
    except StyleTransferError as exc:
        raise CheckFailed(name, str(exc)) from None
    if target.shape != mine.shape:
        raise CheckFailed(name, f"the target picture is {target.shape[1]}×{target.shape[0]} "
                                f"px, yours {mine.shape[1]}×{mine.shape[0]}: use the picture "
                                "handed out with this notebook")
    content, style = look_scores(mine, target)
    limit_c, limit_s = LOOK_THRESHOLDS["content"], LOOK_THRESHOLDS["style"]
    fig = image_grid([target, mine], ["Target", "Yours"], ncols=2, panel_size=3.2,
                     suptitle=f"Distance to the target: content {content:.3f} (pass < {limit_c}), "
                              f"style {style:.3f} (pass < {limit_s})")
    _show(fig)
    print(look_verdict(name, mine, target))


def paint_settings(name: str, settings: Any, kind: str) -> np.ndarray:
    """The student's ``settings`` (``kind``: their type's name) painted by
    :func:`look_paint`, or CheckFailed saying what is wrong with them. Used by the practice
    check and by the grader alike."""
    if not isinstance(settings, dict):
        raise CheckFailed(name, f"return a dict of settings, not a {kind}")
    unknown = sorted(set(settings) - set(LOOK_SETTINGS))
    if unknown:
        raise CheckFailed(name, (f"unknown setting {unknown[0]!r}; choose from "
                                 f"{', '.join(LOOK_SETTINGS)}"))
    try:
        return look_paint(dict(settings))
    except StyleTransferError as exc:
        raise CheckFailed(name, f"stylize refused your settings: {exc}") from None
    except (TypeError, ValueError) as exc:  # e.g. style_layers=5: not a clear refusal
        raise CheckFailed(name, (
            f"stylize could not use your settings ({type(exc).__name__}: {first_line(exc)}): "
            "weights are numbers, content_layer a layer name, style_layers a list of layer "
            "names and style_layer_weights a list of numbers, one per layer")) from None


def look_scores(mine: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(content distance, mean style distance over the layers) of ``mine`` to ``target``."""
    content, per_layer = look_distances(mine, target)
    return content, float(np.mean(list(per_layer.values())))


def look_verdict(name: str, mine: np.ndarray, target: np.ndarray) -> str:
    """The ✓ line when both distances are under their thresholds; else CheckFailed with
    advice on what to change."""
    content, style = look_scores(mine, target)
    limit_c, limit_s = LOOK_THRESHOLDS["content"], LOOK_THRESHOLDS["style"]
    if content < limit_c and style < limit_s and not np.isnan(content):
        return (f"✓ {name}: content distance {content:.3f} < {limit_c} and style distance "
                f"{style:.3f} < {limit_s}")
    raise CheckFailed(name, (
        f"not there yet: content distance {content:.3f} (pass < {limit_c}), style distance "
        f"{style:.3f} (pass < {limit_s}). {_look_advice(mine, target).capitalize()}"))


def _show(fig: Any) -> None:
    """Display a figure now (in Jupyter) and close it, so it is shown once."""
    import matplotlib.pyplot as plt

    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: nothing to show on
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        display(fig)
    plt.close(fig)


def paint_look_pictures(source_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Paint the ex07 target at both sizes of :func:`look_size` from ``source_dir``'s settings
    into ``out_dir`` (the student folder); return the pictures written. Pixels only: a PNG
    says nothing of the settings."""
    from helpers.files import check_output
    from helpers.images import save_image

    settings = look_target(source_dir)
    inputs = [*Path(source_dir).iterdir()]
    targets = [check_output(Path(out_dir) / name, inputs, "the target picture")
               for name in LOOK_PICTURES.values()]
    for fast, target in zip(LOOK_PICTURES, targets, strict=True):
        save_image(look_paint(settings, fast), target)
    return targets
