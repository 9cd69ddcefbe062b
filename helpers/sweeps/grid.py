"""The plan of a sweep (notebook 09): every grid point × image pair as a :class:`Run`, each
checked by :class:`~helpers.settings.Settings` (and against its images' sizes and the
backbone's layer names) before anything starts, named by its values and a hash of all its
settings, and put in the group whose runs share one set of targets. No TensorFlow here: a bad
value is refused at once.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import check_input, check_name
from helpers.run_plan import check_layers
from helpers.setting_checks import CHOICES
from helpers.settings import DEFAULTS, Settings, coarse_to_fine_sizes

#: Gatys et al.'s Fig. 3 rows (the 2015 arXiv paper): style matched on conv1_1 only, then
#: conv1_1 + conv2_1, ... up to all five ``blockN_conv1`` layers. Name one in a grid:
#: ``{"style_layers": ["conv1", "conv1-5"]}``.
LAYER_SETS: dict[str, tuple[str, ...]] = {
    "conv1" if n == 1 else f"conv1-{n}": tuple(f"block{k}_conv1" for k in range(1, n + 1))
    for n in range(1, 6)
}

#: Settings that change the loss's weights but not its targets: runs that differ only in
#: these share one group (one target build and one trace per worker).
NOT_TARGETS = ("content_weight", "style_weight", "tv_weight", "style_layer_weights",
               "balance_style_layers", "iterations", "init", "seed", "optimizer",
               "lbfgs_mode", "maxfun", "learning_rate", "checkpoint_every")

#: The most runs the command line starts without ``--yes`` or ``--max-runs``.
MAX_RUNS = 500

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
    each a file or a bundled name. Every file is checked to be a regular file (a pipe would
    hang the read)."""
    from helpers.data import BUNDLED

    if pairs is None:
        pairs = BUNDLED_PAIRS
    if isinstance(pairs, (str, Path)):
        return _folder_pairs(check_name(pairs, "the pairs folder"))
    if not isinstance(pairs, Sequence) or isinstance(pairs, bytes) or not pairs:
        raise StyleTransferError("pairs must be a folder or a list of (content, style) pairs")

    def source(item: Any) -> Source:
        if isinstance(item, str) and item in BUNDLED and not Path(item).exists():
            return Source(item)
        if not isinstance(item, (str, Path)):
            raise StyleTransferError(f"a pair names its images by path or bundled name, not "
                                     f"a {type(item).__name__}")
        path = check_input(item, "image")
        return Source(path.stem, str(path))

    found = []
    for pair in pairs:
        if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise StyleTransferError(f"each pair is (content, style), not {pair!r}")
        found.append((source(pair[0]), source(pair[1])))
    return found


def _folder_pairs(folder: Path) -> list[tuple[Source, Source]]:
    """Every image in FOLDER/content × every image in FOLDER/style (hidden files left out)."""
    from helpers.images import IMAGE_SUFFIXES

    found = []
    for part in ("content", "style"):
        sub = folder / part
        try:
            files = sorted(f for f in sub.iterdir()
                           if f.suffix.lower() in IMAGE_SUFFIXES and not f.name.startswith("."))
        except OSError:
            files = []
        if not files:
            raise StyleTransferError(f"no images in {sub}; put photos in "
                                     f"{folder}/content and paintings in {folder}/style")
        stems = [f.stem.lower() for f in files]  # a.png and a.jpg (or A.png) keep suffixes
        found.append([Source(f.stem if stems.count(f.stem.lower()) == 1 else f.name,
                             str(check_input(f, "image"))) for f in files])
    return list(itertools.product(*found))


def checked(options: dict[str, Any]) -> Settings:
    """``options`` as Settings, with the checks :func:`helpers.stylize` makes before it
    starts (the same one-line messages), resolved for the backbone that will run (``auto``:
    as for VGG19, whose layers include VGG16's); a bad value raises StyleTransferError."""
    settings = Settings.from_options(**options)
    if settings.checkpoint_every:
        raise StyleTransferError("checkpoint_every is not for sweeps: each run is saved when "
                                 "it finishes, and a rerun skips the finished ones")
    if settings.init == "image":
        others = ", ".join(c for c in CHOICES["init"] if c != "image")
        raise StyleTransferError("init 'image' needs an image to start from, which a sweep "
                                 f"does not take; choose one of {others}")
    backbone = settings.backbone if settings.backbone in DEFAULTS else "vgg19"
    resolved = settings.resolved(backbone)
    check_layers(resolved, backbone)  # before TensorFlow loads (the backbone's table)
    return resolved


def check_sizes(settings: Settings, shapes: dict[Source, tuple[int, int]],
                content: Source, style: Source, scales_given: bool) -> None:
    """Refuse a size that makes ``content`` or ``style`` (of those ``shapes``) too small or
    too large for the network, as :func:`helpers.stylize` would once a worker has loaded
    TensorFlow (its coarsest scale too, where the scales are given)."""
    from helpers.images import MAX_SIDE, MIN_SIDE, target_shape

    sizes = [settings.size]
    if scales_given:
        coarsest = coarse_to_fine_sizes(settings.size, settings.scales, settings.scale_step)[0]
        sizes.insert(0, coarsest)
    side = min(max(MIN_SIDE * 2, round(settings.size * settings.style_scale)), MAX_SIDE)
    for source, size in [(content, s) for s in sizes] + [(style, side)]:
        try:
            target_shape(shapes[source], size=size)
        except StyleTransferError as exc:
            raise StyleTransferError(f"{source.text}: {exc}") from None


def count_runs(grid: Mapping[str, Any], pairs: int) -> int:
    """How many runs ``grid`` makes for ``pairs`` pairs, counted before any is made."""
    if not isinstance(grid, Mapping):
        raise StyleTransferError(f"the grid must map settings to lists of values, not a "
                                 f"{type(grid).__name__}")
    return pairs * math.prod(len(_values(k, v)) for k, v in grid.items())


def plan(grid: Mapping[str, Any], pairs: Any = None, max_runs: int | None = None,
         **fixed: Any) -> list[Run]:
    """Every run of a sweep, checked and grouped: each grid point (``fixed`` settings added)
    for each pair, ordered so the runs of one group are together. More than ``max_runs``
    runs (if given) are refused before any is made."""
    sources = find_pairs(pairs)
    total = count_runs(grid, len(sources))
    if max_runs is not None and total > max_runs:
        raise StyleTransferError(f"the grid makes {total:,} runs, more than {max_runs:,}; "
                                 "give fewer values, or allow them (--max-runs N or --yes; "
                                 "max_runs= in Python)")
    points = grid_points(grid)
    shown = [k for k in grid if len({p[0][k] for p in points}) > 1]
    shapes = {s: s.load().shape[:2] for s in dict.fromkeys(x for pair in sources for x in pair)}
    runs = []
    for content, style in sources:
        for labels, values in points:
            options = {**fixed, **values}
            check_sizes(checked(options), shapes, content, style, "scales" in options)
            name = run_name(content, style, {k: labels[k] for k in shown}, options)
            runs.append(Run(name, content, style, options, labels,
                            _group(content, style, options)))
    _check_distinct(runs)
    order = {g: i for i, g in enumerate(dict.fromkeys(r.group for r in runs))}
    return sorted(runs, key=lambda r: order[r.group])


def _check_distinct(runs: list[Run]) -> None:
    """Refuse two runs that a contact sheet or a file name could not tell apart."""
    seen: dict[tuple, Run] = {}
    for r in runs:
        key = (r.content.text, r.style.text, tuple(sorted(r.swept.items())))
        if key in seen:
            raise StyleTransferError(
                f"two runs of {r.content.name} x {r.style.name} have the same values "
                f"({', '.join(f'{k}={v}' for k, v in r.swept.items()) or 'none swept'}); "
                "give each value once, or a mapping of distinct names to values")
        seen[key] = r
    names = [r.name.lower() for r in runs]
    if len(set(names)) != len(names):  # a case-insensitive file system would merge them
        raise StyleTransferError("two runs would write files of the same name; rename the "
                                 "images that differ only in case")


def _group(content: Source, style: Source, options: dict[str, Any]) -> str:
    """The runs' group: the pair and every setting that goes into the targets."""
    key = {k: v for k, v in sorted(options.items()) if k not in NOT_TARGETS}
    text = json.dumps([content.text, style.text, key], default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def settings_hash(content: Source, style: Source, options: dict[str, Any]) -> str:
    """8 hex digits of a hash of the pair and every setting of a run (defaults included), so
    a rerun with other fixed settings paints new files instead of keeping the old ones."""
    fields = dataclasses.asdict(Settings.from_options(**options))
    text = json.dumps([content.text, style.text, fields], sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def run_name(content: Source, style: Source, labels: dict[str, str],
             options: dict[str, Any] | None = None) -> str:
    """The file name (no suffix) of a run: ``chelsea_swirls__style_weight-30__tv_weight-0.001``
    then the :func:`settings_hash` of its settings (long names are cut and end in a hash of
    the whole)."""
    parts = [f"{content.name}_{style.name}", *(f"{k}-{v}" for k, v in labels.items())]
    if options is not None:
        parts.append(settings_hash(content, style, options))
    name = re.sub(r"[^A-Za-z0-9.+=_-]", "_", "__".join(parts))
    if len(name) > 150:
        name = name[:130] + "__" + hashlib.sha1(name.encode()).hexdigest()[:10]
    return name
