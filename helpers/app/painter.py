"""What the tuning app's background run does (notebook 06 builds the same by hand: a thread,
a per-iteration callback, a stop flag): paint with the settings the controls show, put each
iteration in the preview, the loss plot and the status line, and paint again while a change
asks for a restart, from the picture so far (warm start) or from the start image.

The preview shows the optimiser's first step as soon as it is chosen, before the network
has evaluated it (``stylize``'s ``preview=``): one evaluation sooner than the first
iteration's end. The loss plot (0.05-0.15 s of matplotlib) is drawn :data:`PLOT_EVERY` seconds
into a run, then at most that often, and once at its end, and not at all once a change has
ended the round, so that it never delays the first preview of a change.
"""

from __future__ import annotations

import inspect
import time
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from helpers import data, images
from helpers.app import view
from helpers.app.code import stylize_kwargs
from helpers.app.controls import START_LABELS
from helpers.app.engine import stylize_function
from helpers.app.runner import Runner

if TYPE_CHECKING:
    from helpers.result import Result

#: Seconds between two drawings of the loss plot during a run.
PLOT_EVERY = 1.0


def load_choice(source: str) -> np.ndarray:
    """The (H, W, 3) uint8 image of a picker source (a bundled image's name or a file)."""
    return data.bundled_image(source) if source in data.BUNDLED else images.load_image(source)


def takes_preview(paint: Callable[..., Any]) -> bool:
    """Whether ``paint`` (``stylize`` or a stand-in) takes ``preview=``."""
    try:
        params = inspect.signature(paint).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "preview" or p.kind == p.VAR_KEYWORD for p in params)


class Painter:
    """The job of the app's :class:`~helpers.app.runner.Runner`: ``app`` gives the settings
    (``app.settings(size)``), the controls, the function that paints (``app.runner``, None:
    :func:`helpers.stylize`), the :class:`~helpers.app.view.Outputs` and ``app.remember``."""

    def __init__(self, app: Any, outputs: view.Outputs) -> None:
        self.app, self.out = app, outputs
        self.images: dict[str, np.ndarray] = {}
        self.live: list[dict[str, float]] = []
        self._plotted = 0.0
        self._runs: Runner | None = None

    def job(self, runner: Runner, size: int | None) -> None:
        """Paint, then paint again while a change asked for a restart."""
        self._runs = runner
        init: np.ndarray | None = None
        while True:
            settings = self.app.settings(size)
            self.live, self._plotted = [], time.perf_counter()  # first plot after PLOT_EVERY
            result = self.paint(settings, init)
            ends = runner.stop_requested or not runner.interrupted()  # else a change restarts
            self.app.remember(settings, result, warm=init is not None, show=ends)
            if ends:
                self.plot()  # its whole loss plot
            if not runner.next_round(lambda r=result: self.out.say(
                    view.outcome_line(r, runner.stop_requested))):
                return
            same_photo = self.app.controls["content"].value == settings["content"]
            init = result.image if self.app.warm_toggle.value and same_photo else None

    def image(self, source: str) -> np.ndarray:
        """The (H, W, 3) uint8 image of a picker source, loaded once."""
        if source not in self.images:
            self.images[source] = load_choice(source)
        return self.images[source]

    def paint(self, settings: dict[str, Any], init: np.ndarray | None) -> Result:
        """One ``stylize`` run with ``settings``, from ``init`` (a warm start) if given."""
        kwargs = stylize_kwargs(settings)  # bad settings: one line before anything loads
        content = self.image(settings["content"])
        style: Any = self.image(settings["style"])
        if settings.get("style2"):
            style = [style, self.image(settings["style2"])]
        start = ("the picture so far" if init is not None
                 else START_LABELS.get(settings["init"], settings["init"]))
        if init is not None:
            kwargs["init"] = init
        self.out.say(f"Painting at {settings['size']} px from {start}: preparing the photo "
                     "and the painting ...")
        paint = self.app.runner or stylize_function()
        if takes_preview(paint):
            kwargs["preview"] = self.first_step
        return paint(content, style, **kwargs, callback=self.iteration, progress=False)

    def first_step(self, image: np.ndarray) -> None:
        """``stylize``'s ``preview``: the first step, shown before its loss is known."""
        if not self._interrupted():
            self.out.show(image)
            self.out.say("Iteration 1: the first step, its loss on the way ...")

    def iteration(self, state: dict[str, Any]) -> bool:
        """``stylize``'s callback: the preview, the status and (at most every
        :data:`PLOT_EVERY` s) the loss plot; True asks it to stop."""
        self.live.append({k: state[k] for k in ("iteration", "total", "content", "style",
                                                  "tv")})
        if self._interrupted():
            return True
        self.out.show(state["image"])
        self.out.say(f"Iteration {state['iteration']} · {state['seconds']:.1f} s · "
                     f"loss {state['total']:.4g}")
        if time.perf_counter() - self._plotted >= PLOT_EVERY:
            self.plot()
        return self._interrupted()

    def plot(self) -> None:
        """Draw the loss plot of the run so far."""
        self.out.plot.value = view.loss_plot_png(self.live)
        self._plotted = time.perf_counter()

    def _interrupted(self) -> bool:
        return self._runs is not None and self._runs.interrupted()
