"""Loading the engine for the tuning app (notebook 06) only when it is needed: the app's page
is built from the settings tables alone, and TensorFlow (10-20 s to load) comes at the first
run, or in the background once the page shows (:func:`warm_up`). Which backbone runs
(``"auto"`` resolved) is :func:`helpers.backbone.resolve_name`'s answer, which loads no
TensorFlow either.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from helpers.app import view


def stylize_function() -> Callable[..., Any]:
    """:func:`helpers.stylize` (its module loads TensorFlow, so only when a run starts)."""
    from helpers import stylizing

    return stylizing.stylize


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


