"""What the tuning app shows (notebook 06): its buttons, status line, preview and loss plot
(:class:`Outputs`), pictures as PNG bytes, the loss plot, the status line in the user's words,
and the history strip of the last runs.
"""

from __future__ import annotations

import io
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import ipywidgets as w
import numpy as np
from PIL import Image

from helpers.report import loss_line

if TYPE_CHECKING:
    from helpers.result import Result

PREVIEW_WIDTH = 512  # px on screen; a 256 px preview is shown at twice its size
PANEL_WIDTH = 470  # px: the control tabs, and the loss plot under them
HISTORY_LENGTH = 6
STOPPED = "stopped by the callback"  # helpers.stylize's stop_reason when the callback says so


def note(text: str) -> w.HTML:
    """A small grey explanatory line under a group of controls."""
    return w.HTML(f"<div style='line-height:1.3;font-size:12px;color:#555;margin:4px 0'>"
                  f"{text}</div>")


def status_html(text: str, error: bool = False) -> str:
    """``text`` as the status line's HTML: one line (runs of white space, newlines
    included, become one space), escaped, red for an error."""
    colour = "#b00020" if error else "#333"
    return f"<span style='color:{colour}'>{escape(' '.join(str(text).split()))}</span>"


def png_bytes(image: np.ndarray, width: int | None = None) -> bytes:
    """PNG file bytes of an (H, W, 3) uint8 image, resized to ``width`` px if given."""
    pic = Image.fromarray(np.asarray(image, dtype=np.uint8))
    if width is not None:
        pic = pic.resize((width, max(1, round(pic.height * width / pic.width))), Image.LANCZOS)
    buffer = io.BytesIO()
    pic.save(buffer, format="png", compress_level=1)  # 4x as fast as the default 6, 10 % larger
    return buffer.getvalue()


def loss_plot_png(history: list[dict[str, float]], size: tuple[int, int] = (PANEL_WIDTH, 180)
                  ) -> bytes:
    """PNG bytes of a log-scale plot of each loss term against the iteration; ``size`` in px."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, MaxNLocator, NullLocator

    dpi = 100
    fig = Figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    steps = [h["iteration"] for h in history]
    for key, colour in (("total", "black"), ("content", "tab:blue"), ("style", "tab:orange"),
                        ("tv", "tab:green")):
        values = [h[key] for h in history]
        if any(v > 0 for v in values):
            ax.plot(steps, values, label=key, color=colour, lw=1.5,
                    marker="o" if len(steps) == 1 else None)  # one point draws no line
    if ax.lines:
        ax.set_yscale("log")
        # ticks at 1, 2 and 5 per decade, no minor ticks: log axes' minor ticks each get a
        # label box, most of the drawing time
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0), numticks=6))
        ax.yaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.legend(fontsize=7, ncol=4, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                  frameon=False, borderaxespad=0.1)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration", fontsize=8)
    ax.set_title("Loss (log scale)", fontsize=9, loc="left", y=1.0)  # y: not placed by
    # measuring the tick labels (a third of the drawing)
    ax.tick_params(labelsize=7)
    ax.grid(True, alpha=0.3)
    # fixed margins that fit the labels: tight_layout measured every label (0.2-0.5 s a plot)
    fig.subplots_adjust(left=0.11, right=0.985, bottom=0.21, top=0.86)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", pil_kwargs={"compress_level": 1})  # into memory
    return buffer.getvalue()


class Outputs:
    """The app's buttons (Run, Stop, Render, Save, Copy as code), the Save name box, the
    status line, the preview, the loss plot and the code box."""

    def __init__(self, first_picture: np.ndarray) -> None:
        self.buttons = {name: w.Button(description=name, icon=icon, button_style=kind,
                                       layout=w.Layout(width="140px" if name == "Copy as code"
                                                       else "100px"))
                        for name, icon, kind in (("Run", "play", "success"),
                                                 ("Stop", "stop", "danger"),
                                                 ("Render", "image", ""),
                                                 ("Save", "save", ""),
                                                 ("Copy as code", "code", ""))}
        self.save_name = w.Text(placeholder="file name (optional)",
                                tooltip="Save's file name in the save folder; empty: a new "
                                        "nst-<date>-<n>.png", layout=w.Layout(width="190px"))
        self.status = w.HTML(value="Ready: press <b>Run</b> for a preview.",
                             layout=w.Layout(min_height="24px"))
        self.preview = w.Image(value=png_bytes(first_picture, PREVIEW_WIDTH), format="png",
                               layout=w.Layout(width=f"{PREVIEW_WIDTH}px"))
        self.plot = w.Image(value=blank_plot_png(), format="png",
                            layout=w.Layout(width=f"{PANEL_WIDTH}px"))
        self.code = w.Textarea(layout=w.Layout(width="100%", height="230px", display="none"))

    def tag(self) -> None:
        """CSS classes for browser tests: ``nst-run``, ``nst-stop`` ..., ``nst-preview``,
        ``nst-status``, ``nst-save-name``."""
        for name, button in self.buttons.items():
            button.add_class(f"nst-{name.split()[0].lower()}")
        for widget, name in ((self.preview, "preview"), (self.status, "status"),
                             (self.save_name, "save-name")):
            widget.add_class(f"nst-{name}")

    def say(self, text: str, error: bool = False) -> None:
        """Show ``text`` on the status line, as one line (red for an error)."""
        self.status.value = status_html(text, error)

    def show(self, image: np.ndarray) -> None:
        """Put the (H, W, 3) uint8 ``image`` in the preview."""
        self.preview.value = png_bytes(image, PREVIEW_WIDTH)


def panel_layout(out: Outputs, tabs: w.Widget, strip: w.Widget) -> list[w.Widget]:
    """The app from top to bottom: buttons and status; the control ``tabs`` and the loss plot
    beside the preview; the history ``strip``; the code box."""
    return [
        w.HBox([*out.buttons.values(), out.save_name]), out.status,
        w.HBox([w.VBox([tabs, out.plot]), out.preview],
               layout=w.Layout(align_items="flex-start", justify_content="space-between")),
        w.HTML("<b>History</b> <small>(newest first; Restore brings back the settings)"
               "</small>"),
        strip, out.code,
    ]


def blank_plot_png(size: tuple[int, int] = (PANEL_WIDTH, 180)) -> bytes:
    """A white picture the size of the loss plot, shown before the first run (drawing an
    empty plot would load matplotlib before the page can show)."""
    return png_bytes(np.full((size[1], size[0], 3), 255, np.uint8))


def _iterations(count: int) -> str:
    return f"{count} iteration{'' if count == 1 else 's'}"


def outcome_line(result: Result, stop_pressed: bool) -> str:
    """How a run ended, in the user's words, and its final losses
    (:func:`helpers.report.loss_line`): "Stopped after 3 iterations (2.4 s). Loss: total ...",
    "Done: 100 iterations in 12.3 s. Loss: ...", or why the optimiser ended early."""
    last = result.history[-1]
    count, seconds = _iterations(last["iteration"]), f"{last['seconds']:.1f} s"
    reason = result.stop_reason
    if reason == STOPPED and stop_pressed:
        words = f"Stopped after {count} ({seconds})."
    elif reason.startswith("converged"):
        words = f"Done after {count} ({seconds}): the picture stopped changing."
    elif reason.startswith("stopped early"):
        words = f"Done after {count} ({seconds}): the optimiser could not lower the loss further."
    else:
        words = f"Done: {count} in {seconds}."
    return f"{words} Loss: {loss_line(last)}."


def settings_summary(settings: dict[str, Any]) -> str:
    """One short line: the weights, size, iterations and images of ``settings``."""
    style = Path(settings["style"]).stem
    if settings.get("style2"):
        style += f"+{Path(settings['style2']).stem} ({settings['style_blend']:.2f})"
    return (f"c {settings['content_weight']:.2g} · s {settings['style_weight']:.2g} · "
            f"tv {settings['tv_weight']:.1e} · {settings['size']} px · "
            f"{settings['iterations']} it · {settings['init']} · "
            f"{Path(settings['content']).stem} / {style}")


def close_tree(widget: w.Widget) -> None:
    """Close ``widget``, its children and their layouts and styles: ipywidgets keeps every
    widget (and its comm) alive until it is closed."""
    for child in getattr(widget, "children", ()):
        close_tree(child)
    for part in (getattr(widget, "layout", None), getattr(widget, "style", None)):
        if isinstance(part, w.Widget):
            part.close()
    widget.close()


class History:
    """The last runs, newest first (``entries``: dicts with ``settings``, ``result`` and
    ``warm``), and their cards in ``strip``; ``restore(entry)`` is called by a card's
    Restore button."""

    def __init__(self, restore: Callable[[dict[str, Any]], None]) -> None:
        self.entries: list[dict[str, Any]] = []
        self._cards: list[w.VBox] = []
        self._restore = restore
        self.strip = w.HBox(layout=w.Layout(min_height="40px", flex_flow="row wrap"))

    def add(self, entry: dict[str, Any]) -> None:
        """Put ``entry`` first (and its card first in the strip); the card of a run that
        drops out is closed."""
        self.entries = [entry, *self.entries][:HISTORY_LENGTH]
        cards = [self._card(entry), *self._cards]
        self._cards = cards[:HISTORY_LENGTH]
        self.strip.children = self._cards
        for card in cards[HISTORY_LENGTH:]:
            close_tree(card)

    def _card(self, entry: dict[str, Any]) -> w.VBox:
        """The card of ``entry``: a 150 px thumbnail, a summary and a Restore button."""
        last = entry["result"].history[-1]
        settings = entry["settings"]
        summary = settings_summary(settings)
        button = w.Button(description="Restore", tooltip=summary, icon="undo",
                          layout=w.Layout(width="150px"))
        button.on_click(lambda _: self._restore(entry))
        return w.VBox([
            w.Image(value=png_bytes(entry["result"].image, 150), format="png",
                    layout=w.Layout(width="150px")),
            w.HTML(f"<div style='line-height:1.35;font-size:11px;height:45px;"
                   f"overflow:hidden' title='{escape(summary, quote=True)}'>"
                   f"{last['iteration']} it · {last['seconds']:.1f} s"
                   f"{' · warm' if entry['warm'] else ''}<br>"
                   f"content {settings['content_weight']:.3g} · "
                   f"style {settings['style_weight']:.3g}<br>"
                   f"tv {settings['tv_weight']:.0e} · {settings['size']} px</div>"),
            button], layout=w.Layout(width="156px", margin="0 6px 0 0"))
