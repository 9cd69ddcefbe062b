"""What a run gives back: :class:`Result` (notebook 00 reads one: its image, its loss history,
its settings), saved as a picture and a JSON beside it that records what was asked, what ran
(iterations per scale, sizes, backbone, precision, whether it stopped early) and the history.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers import images
from helpers.bundled_files import bundled_files
from helpers.files import atomic_together, check_output
from helpers.settings import Settings
from helpers.signals import signal_name


@dataclass
class Result:
    """What :func:`helpers.stylize` returns.

    ``image``: the best (lowest-loss) image, (H, W, 3) uint8 RGB. ``history``: one dict per
    iteration, starting with iteration 0 (the initial image), with ``iteration``, ``size``,
    ``total``, ``content``, ``style``, ``tv`` (weighted terms), ``seconds`` since the start,
    ``evaluations`` so far and ``eval_seconds``, the part of ``seconds`` spent computing loss
    and gradient (the rest is the optimizer's own arithmetic and Python). ``backbone``: the
    line describing the network that ran. ``stop_reason``: why the optimizer stopped, in
    words. ``settings``: the resolved settings of the whole run (with ``scale_sizes`` and
    ``scale_iterations``, the plan of each scale). ``asked``: the settings as given (``None``:
    the backbone's default). ``signum``: the signal that ended the run (Ctrl-C: SIGINT), if
    one did. :meth:`ran` says what ran.
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
    asked: dict[str, Any] = field(default_factory=dict)

    @property
    def interrupted(self) -> bool:
        """True when a signal (Ctrl-C, SIGTERM, SIGHUP) ended the run (the image is the best
        so far)."""
        return self.stop_reason.startswith("interrupted")

    def iterations_per_scale(self) -> dict[int, int]:
        """The iterations run at each size (px), smallest first."""
        per_scale: dict[int, int] = {}
        for h in self.history:
            per_scale[int(h["size"])] = int(h["iteration"])
        return per_scale

    def iterations_text(self) -> str:
        """The iterations run, per scale when there were several: "80 iterations (60 at 192 px +
        20 at 384 px)", or "20 iterations"."""
        per_scale = self.iterations_per_scale()
        total = sum(per_scale.values())
        words = f"{total} iteration" + ("" if total == 1 else "s")
        if len(per_scale) < 2:
            return words
        return f"{words} (" + " + ".join(
            f"{n} at {size} px" for size, n in per_scale.items()) + ")"

    def ran(self) -> dict[str, Any]:
        """What ran, beside what was planned: the iterations in all, each scale's size with
        its iterations planned and run, the backbone and precision, and whether the run
        stopped before its plan was done (a callback, a signal, the optimizer converging)."""
        done = self.iterations_per_scale()
        planned = dict(zip(self.settings.get("scale_sizes", list(done)),
                           self.settings.get("scale_iterations", list(done.values())),
                           strict=True))
        return {"iterations": sum(done.values()), "planned_iterations": sum(planned.values()),
                "scales": [{"size": size, "planned": n, "iterations": done.get(size, 0)}
                           for size, n in planned.items()],
                "backbone": self.settings.get("backbone", self.backbone),
                "precision": self.settings.get("precision"),
                "stopped_early": sum(done.values()) < sum(planned.values()),
                "stop_reason": self.stop_reason}

    def save(self, path: str | Path) -> Path:
        """Save the image (format from the suffix; a name without one gets ``.png``) and
        ``<name>.json`` with what was asked, what ran, the settings, history and stop reason;
        return the image's path.

        Both files are checked first (an empty name, a folder, a pipe or a device is refused)
        and written together: a failed write (a full disk) leaves both previous files and
        raises one StyleTransferError line."""
        read = (*self.inputs, *bundled_files())
        out = check_output(path, read, what="the result's file")
        out = out if out.suffix else out.with_suffix(".png")
        meta = out.with_suffix(".json")
        for name in (out, meta):
            check_output(name, read, what="the result's file")
        fmt = images.image_format(out)
        rgb = images.load_image(self.image)
        text = json.dumps({"backbone": self.backbone, "stop_reason": self.stop_reason,
                           "asked": self.asked, "ran": self.ran(), "settings": self.settings,
                           "history": self.history}, indent=1, default=str)
        with atomic_together(out, meta) as (image_tmp, meta_tmp):
            images.Image.fromarray(rgb).save(image_tmp, format=fmt)
            meta_tmp.write_text(text)
        return out


def interrupted_text(exc: KeyboardInterrupt, iterations: int) -> str:
    """The stop reason of a run a signal ended."""
    return (f"interrupted by {signal_name(exc)} after {max(iterations, 0)} iterations; kept "
            "the best image so far")


def settings_record(settings: Settings, styles: int | None = None,
                    blend: list[float] | None = None, masks: bool | None = None
                    ) -> dict[str, Any]:
    """``settings`` as a result records them (JSON-able: lists for tuples); for a run's
    resolved settings, with how many ``styles``, their normalised ``blend`` weights and
    whether ``masks`` were used (those left out are not recorded: the settings as asked)."""
    out = {k: list(v) if isinstance(v, tuple) else v
           for k, v in dataclasses.asdict(settings).items()}
    if styles is not None:
        out.update(styles=styles, style_blend_weights=blend, masks=masks)
    return out
