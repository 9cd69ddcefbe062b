"""Loading the engine for the tuning app (notebook 06) only when it is needed: the app's page
is built from the settings tables alone, and TensorFlow (10-20 s to load) comes at the first
run, or in the background once the page shows (:func:`warm_up`).
"""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path
from typing import Any, Callable

from helpers.app import view
from helpers.app.controls import CONVS_PER_BLOCK

#: VGG19's weights file in Keras' cache, and its host (as in :mod:`helpers.backbone`, whose
#: module loads TensorFlow: a test checks they agree).
VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_HOST = ("storage.googleapis.com", 443)


def resolve_backbone(backbone: str, timeout: float = 3.0) -> str:
    """``backbone`` with ``"auto"`` resolved as :func:`helpers.backbone.resolve_name` does, but
    without loading TensorFlow (10-20 s before the page could show) where the answer is known
    without it: VGG19's weights in Keras' cache -> ``"vgg19"``; their host not answering
    within ``timeout`` s -> ``"vgg16-hed"``. Only a download to try goes to resolve_name."""
    if backbone in CONVS_PER_BLOCK:
        return backbone
    if backbone == "auto":
        cache = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "models"
        if (cache / VGG19_FILE).exists():
            return "vgg19"
        try:
            socket.create_connection(VGG19_HOST, timeout=timeout).close()
        except OSError:
            return "vgg16-hed"
    from helpers import backbone as bb

    return bb.resolve_name(backbone)


def stylize_function() -> Callable[..., Any]:
    """:func:`helpers.stylize` (its module loads TensorFlow, so only when a run starts)."""
    from helpers import optimize

    return optimize.stylize


def _load_engine() -> None:
    """Import what a run needs: the engine (TensorFlow) and the loss plot (matplotlib)."""
    stylize_function()
    view.loss_plot_png([])


def warm_up(delay: float = 3.0) -> threading.Timer:
    """Load TensorFlow, the engine and matplotlib in a background thread ``delay`` s from now
    (once the page has shown), so that the first Run does not wait for them."""
    timer = threading.Timer(delay, _load_engine)
    timer.daemon = True
    timer.start()
    return timer


