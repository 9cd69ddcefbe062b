"""The plan of a sweep (notebook 09): every grid point × image pair as a :class:`Run`, each
checked by :class:`~helpers.settings.Settings` before anything starts, named, and put in the
group whose runs share one set of targets. No TensorFlow here: a bad value is refused at once.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.settings import DEFAULTS, Settings

#: Gatys et al.'s Fig. 3 rows: style matched on conv1_1 only, then conv1_1 + conv2_1, ... up to
#: all five ``blockN_conv1`` layers. Name one in a grid: ``{"style_layers": ["conv1", "conv1-5"]}``.
LAYER_SETS: dict[str, tuple[str, ...]] = {
    "conv1" if n == 1 else f"conv1-{n}": tuple(f"block{k}_conv1" for k in range(1, n + 1))
    for n in range(1, 6)
}

#: Settings that change the loss's weights but not its targets: runs that differ only in
#: these share one group (one target build and one trace per worker).
NOT_TARGETS = ("content_weight", "style_weight", "tv_weight", "style_layer_weights",
               "balance_style_layers", "iterations", "init", "seed", "optimizer",
               "lbfgs_mode", "maxfun", "learning_rate", "checkpoint_every")

#: The bundled pairs a sweep paints when no pairs are given.
BUNDLED_PAIRS = (("chelsea", "swirls"), ("chelsea", "mosaic"))


@dataclass(frozen=True)
class Source:
    """An image by name: ``path`` a file, or ``None`` for a bundled image of that name."""

    name: str
    path: str | None = None

    def load(self) -> Any:
        """The image as an (H, W, 3) uint8 array."""
        from helpers import data, images

        return data.bundled_image(self.name) if self.path is None \
            else images.load_image(self.path)

    @property
    def text(self) -> str:
        """How "copy as code" and the command line name it: the path, else the bundled name."""
        return self.path or self.name


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its file name (``name``), its pair, the ``stylize`` keyword
    arguments (``options``), the swept values as the grid wrote them (``swept``, layer sets
    by name) and its ``group`` (runs of one group share targets)."""

    name: str
    content: Source
    style: Source
    options: dict[str, Any] = field(hash=False)
    swept: dict[str, str] = field(hash=False)
    group: str = ""


def _values(key: str, values: Any) -> list[tuple[str, Any]]:
    """(label, value) of each value a grid gives ``key``: a list, one value, or a mapping of
    names to values; a layer set may be named by its :data:`LAYER_SETS` name."""
    if isinstance(values, Mapping):
        out = [(str(k), v) for k, v in values.items()]
    elif isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
        out = [(_label(values), values)]
    else:
        out = [(_label(v), v) for v in values]
    if not out:
        raise StyleTransferError(f"the grid gives {key} no values; give at least one")
    if key == "style_layers":
        out = [(label, LAYER_SETS.get(v, v) if isinstance(v, str) else v) for label, v in out]
        out = [(label, [v] if isinstance(v, str) else v) for label, v in out]
    return out


def _label(value: Any) -> str:
    """A value as a tile title and a file name show it: 1e-04, 30, conv1+conv2."""
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "+".join(str(v).replace("block", "b") for v in value)
    return str(value)


def grid_points(grid: Mapping[str, Any]) -> list[tuple[dict[str, str], dict[str, Any]]]:
    """Every combination of the grid's values: (labels, settings) per point, in grid order
    (the last key varies fastest)."""
    if not isinstance(grid, Mapping):
        raise StyleTransferError(f"the grid must map settings to lists of values, not a "
                                 f"{type(grid).__name__}")
    axes = [[(key, label, value) for label, value in _values(key, values)]
            for key, values in grid.items()]
    return [({k: label for k, label, _ in point}, {k: v for k, _, v in point})
            for point in itertools.product(*axes)]


def find_pairs(pairs: Any = None) -> list[tuple[Source, Source]]:
    """The (content, style) pairs: :data:`BUNDLED_PAIRS` for ``None``; a folder with
    ``content/`` and ``style/`` (every photo × every painting); or a list of (content, style),
    each a file or a bundled name."""
    from helpers.data import BUNDLED

    if pairs is None:
        pairs = BUNDLED_PAIRS
    if isinstance(pairs, (str, Path)):
        return _folder_pairs(Path(pairs))

    def source(item: Any) -> Source:
        if isinstance(item, str) and item in BUNDLED and not Path(item).exists():
            return Source(item)
        if not Path(item).is_file():
            raise StyleTransferError(f"no image file {item}; give a file or one of "
                                     f"{', '.join(BUNDLED)}")
        return Source(Path(item).stem, str(item))

    return [(source(c), source(s)) for c, s in pairs]


def _folder_pairs(folder: Path) -> list[tuple[Source, Source]]:
    """Every image in FOLDER/content × every image in FOLDER/style."""
    from helpers.images import IMAGE_SUFFIXES

    found = []
    for part in ("content", "style"):
        files = sorted(f for f in (folder / part).glob("*")
                       if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise StyleTransferError(f"no images in {folder / part}; put photos in "
                                     f"{folder}/content and paintings in {folder}/style")
        found.append([Source(f.stem, str(f)) for f in files])
    return list(itertools.product(*found))


def checked(options: dict[str, Any]) -> Settings:
    """``options`` as Settings, with the checks :func:`helpers.stylize` makes before it
    starts (the same one-line messages); a bad value raises StyleTransferError."""
    settings = Settings.from_options(**options)
    if settings.checkpoint_every:
        raise StyleTransferError("checkpoint_every is not for sweeps: each run is saved when "
                                 "it finishes, and a rerun skips the finished ones")
    backbone = settings.backbone if settings.backbone in DEFAULTS else "vgg19"
    settings.resolved(backbone)
    return settings


def plan(grid: Mapping[str, Any], pairs: Any = None, **fixed: Any) -> list[Run]:
    """Every run of a sweep, checked and grouped: each grid point (``fixed`` settings added)
    for each pair, ordered so the runs of one group are together."""
    points = grid_points(grid)
    shown = [k for k in grid if len({p[0][k] for p in points}) > 1]
    sources = find_pairs(pairs)
    runs = []
    for content, style in sources:
        for labels, values in points:
            options = {**fixed, **values}
            checked(options)
            name = run_name(content, style, {k: labels[k] for k in shown})
            group = _group(content, style, options)
            runs.append(Run(name, content, style, options, labels, group))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise StyleTransferError("two grid values have the same label; give a mapping of "
                                 "distinct names to values")
    order = {g: i for i, g in enumerate(dict.fromkeys(r.group for r in runs))}
    return sorted(runs, key=lambda r: order[r.group])


def _group(content: Source, style: Source, options: dict[str, Any]) -> str:
    """The runs' group: the pair and every setting that goes into the targets."""
    key = {k: v for k, v in sorted(options.items()) if k not in NOT_TARGETS}
    text = json.dumps([content.text, style.text, key], default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def run_name(content: Source, style: Source, labels: dict[str, str]) -> str:
    """The file name (no suffix) of a run: ``chelsea_swirls__style_weight-30__tv_weight-0.001``
    (long names end in a hash instead)."""
    parts = [f"{content.name}_{style.name}", *(f"{k}-{v}" for k, v in labels.items())]
    name = re.sub(r"[^A-Za-z0-9.+=_-]", "_", "__".join(parts))
    if len(name) > 150:
        name = name[:130] + "__" + hashlib.sha1(name.encode()).hexdigest()[:10]
    return name
