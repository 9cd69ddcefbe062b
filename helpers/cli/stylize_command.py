"""``python -m helpers stylize [CONTENT STYLE] -o OUT [options]`` (notebook 00 makes the same
call from Python; README "Command line"): read every image and check every setting and output
before TensorFlow loads, say the plan ("70 iterations: 60 at 192 px, then 10 at 384 px"),
paint, and save the picture with a JSON of what was asked and what ran. The command line picks
the bundled images when none are named (the engine picks none). Ctrl-C, SIGTERM and SIGHUP save
the best image so far.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path
from typing import Any

from helpers import checkpoints, control, data, images, run_plan
from helpers.cli.common import (
    leaving_no_empty_folders,
    load_tensorflow_quietly,
    named_output,
    new_folders,
    printable,
)
from helpers.cli.setting_flags import add_settings, settings_from_args
from helpers.code import flag
from helpers.errors import StyleTransferError
from helpers.files import check_folder, check_output, same_file
from helpers.report import loss_line
from helpers.settings import Settings
from helpers.signals import exit_status, held_signals

#: The endings of the files ``stylize -o`` writes (the result's format comes from it).
RESULT_SUFFIXES = (".png", ".jpg", ".jpeg")
#: The bundled images the command paints when it is given none.
DEFAULT_CONTENT, DEFAULT_STYLE = "chelsea", "swirls"


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The ``stylize`` command's arguments: the images, ``-o``, one flag per setting, and the
    run's own (more styles, masks, checkpoints, quiet, overwrite)."""
    p.add_argument("content", nargs="?", help="content image file, or a bundled image's name ("
                   f"{', '.join(data.BUNDLED)}; default: {DEFAULT_CONTENT})")
    p.add_argument("style", nargs="?", help="style image file, or a bundled image's name "
                   f"(default: {DEFAULT_STYLE})")
    p.add_argument("-o", "--output", default="build/stylized.png",
                   help="the result's file name, ending .png, .jpg or .jpeg (a name without "
                   "one is refused, never changed); a .json beside it records what was asked, "
                   "what ran, the settings and the loss history. A file the run reads is never "
                   "overwritten (see --overwrite)")
    add_settings(p)
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


def image(text: str) -> tuple[Any, Path]:
    """The image a command-line argument names (a file, else a bundled image's name) and the
    file it is read from."""
    if text in data.BUNDLED and not os.path.lexists(text):
        return data.bundled_image(text), data.bundled_file(text)
    return images.load_image(text), Path(text)


@dataclasses.dataclass
class Inputs:
    """What a ``stylize`` run reads: the images (as arrays), and the files they and the
    weights and checkpoint come from, those named on the command line apart."""

    content: Any
    styles: list[Any]
    masks: list[Any] | None
    named: list[Path]
    other: list[Path]
    resume: list[Path]


def _masks(texts: list[str] | None) -> tuple[list[Any] | None, list[Path]]:
    """The masks ``--mask`` names (``none``: everywhere) and the files they are read from."""
    if texts is None:
        return None, []
    read = [None if text.lower() == "none" else image(text) for text in texts]
    return [None if m is None else m[0] for m in read], [m[1] for m in read if m is not None]


def read_inputs(args: argparse.Namespace, options: dict[str, Any]) -> Inputs:
    """Read every image before TensorFlow loads (a bad path fails in a second), and list every
    file the run reads, including those it finds on its own (the bundled images when none are
    named, the weights, the checkpoint to resume from)."""
    if (args.content is None) != (args.style is None):
        raise StyleTransferError("give both CONTENT and STYLE images, or neither for the defaults")
    if args.more_styles and args.style is None:
        raise StyleTransferError("--style adds to the STYLE image; give CONTENT and STYLE too")
    pairs = [image(t) for t in (args.content or DEFAULT_CONTENT, args.style or DEFAULT_STYLE,
                                *args.more_styles)]
    named, other = [], []
    (other if args.content is None else named).extend(p for _, p in pairs[:2])
    named.extend(p for _, p in pairs[2:])
    masks, mask_files = _masks(args.masks)
    named.extend(mask_files)
    weights = options.get("weights")
    other.extend([Path(weights)] if weights not in (None, "imagenet") else [])
    resume = []
    if args.resume is not None:
        file = checkpoints.checkpoint_file(args.resume)
        resume = [file, file.with_name("latest.png")]
    return Inputs(pairs[0][0], [a for a, _ in pairs[1:]], masks, named, other, resume)


def _checkpoint_files(args: argparse.Namespace, output: Path, read: Inputs
                      ) -> tuple[Path, list[Path]]:
    """The checkpoint folder and the files the checkpoints will write there, checked."""
    folder = Path(args.checkpoint_dir or output.with_name(output.stem + "_checkpoints"))
    ours = [f for f in read.resume if not same_file(f.parent, folder)]  # resumed: replaced
    written = [check_output(folder / name, read.other + read.named + ours, "--checkpoint-dir")
               for name in checkpoints.FILES]
    check_folder(folder, "--checkpoint-dir")
    return folder, written


def check_outputs(args: argparse.Namespace, options: dict[str, Any], read: Inputs
                  ) -> tuple[Path, Path | None]:
    """The result's path and the checkpoint folder, refused before any work when a file the
    run writes (the result, its JSON, the checkpoint's two files) is one it reads, a folder, a
    pipe or a device, or is written twice."""
    every = read.other + read.resume + ([] if args.overwrite else read.named)
    output = named_output(args.output, every, RESULT_SUFFIXES)
    written = [output, check_output(output.with_suffix(".json"), every,
                                    f"-o {images.short_path(output)}: its JSON")]
    if args.checkpoint_dir is not None and not options.get("checkpoint_every"):
        raise StyleTransferError("--checkpoint-dir needs --checkpoint-every K (save every K "
                                 "iterations); without it nothing would be saved there")
    folder = None
    if options.get("checkpoint_every"):
        folder, files = _checkpoint_files(args, output, read)
        written += files
    for i, a in enumerate(written):
        if any(same_file(a, b) for b in written[i + 1:]):
            raise StyleTransferError(f"-o {images.short_path(output)} and the checkpoint "
                                     f"both write {images.short_path(a)}; choose another "
                                     "-o or --checkpoint-dir")
    return output, folder


def check_run(args: argparse.Namespace, options: dict[str, Any], read: Inputs) -> None:
    """Every check of the run that needs neither TensorFlow nor the network (the settings
    with the images, masks, blend weights, the checkpoint to resume from)."""
    settings = Settings.from_options(**options)
    shapes = [s.shape[:2] for s in read.styles]
    fitted = run_plan.check_run(settings, read.content.shape[:2], shapes, args.resume is not None)
    control.mask_list(read.masks, len(read.styles))
    control.blend_weights(settings.style_blend_weights, len(read.styles))
    if args.resume is not None:
        resumed = checkpoints.load(args.resume)
        if not args.force_resume:
            checkpoints.check_fingerprint(resumed, checkpoints.fingerprint(
                read.content, read.styles, next(iter(fitted)), settings.size),
                backbones=list(fitted))


def planned(args: argparse.Namespace, options: dict[str, Any], read: Inputs) -> Settings:
    """The settings that will run: :func:`helpers.run_plan.planned_settings`, as
    :func:`helpers.stylize` plans (once every input and output is checked: for ``auto`` it may
    ask whether VGG19's weights can be had)."""
    return run_plan.planned_settings(Settings.from_options(**options), read.content.shape[:2],
                                     [s.shape[:2] for s in read.styles], args.resume is not None)


def plan_line(settings: Settings) -> str:
    """The line the run prints before it starts: the plan of its resolved ``settings``
    (:func:`helpers.run_plan.plan_text`) and, where coarse-to-fine shares out
    ``--iterations``, from how many."""
    line = f"Plan: {run_plan.plan_text(settings)}"
    if sum(n for _, n in settings.scale_schedule()) != settings.iterations:
        line += (f" (coarse to fine, from {flag('iterations')} {settings.iterations}; "
                 f"{flag('scale_iterations')} sets each scale's)")
    return line


def run_command(args: argparse.Namespace) -> int:
    """The ``stylize`` command: check everything, say the plan, paint, save; the exit status."""
    options = settings_from_args(args)  # bad settings fail here, before TensorFlow loads
    read = read_inputs(args, options)
    check_run(args, options, read)
    out = Path(args.output)
    folder = Path(args.checkpoint_dir) if args.checkpoint_dir else (
        out.parent / f"{out.stem}_checkpoints" if out.name else None)
    with leaving_no_empty_folders(new_folders(args.output, folder and folder / "x")):
        output, folder = check_outputs(args, options, read)
        print(plan_line(planned(args, options, read)), flush=True)
        return _run(args, options, read, output, folder)


def _run(args: argparse.Namespace, options: dict[str, Any], read: Inputs, output: Path,
         folder: Path | None) -> int:
    """Load TensorFlow, paint, save the result (also when a signal ended the run)."""
    load_tensorflow_quietly()
    from helpers.stylizing import stylize

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
