"""The command line, ``python -m helpers COMMAND`` (notebook 00 makes the same calls from
Python; the README's "Command line" shows examples). Its commands, one module each:

- ``stylize`` (:mod:`helpers.cli.stylize_command`): paint a photo in the style of a painting;
  its flags, one per setting: :mod:`helpers.cli.setting_flags`;
- ``gallery`` (:mod:`helpers.cli.gallery_command`): every photo in every style, one grid;
- ``exercises`` (:mod:`helpers.exercises.command`): student notebooks, grading;
- ``sweep`` (:mod:`helpers.sweeps.command`): a grid of settings over image pairs.

Bad input prints one line saying what is wrong and what to do, and exits with status 2 (an
unknown or misspelt flag is named with the closest known one, as the Python call does; no flag
may be abbreviated); every check that needs no network runs before TensorFlow loads. An output
that would replace a file the run reads is refused before any work. Ctrl-C, SIGTERM and SIGHUP
save the best image so far and exit with 130, 143, 129. What they share:
:mod:`helpers.cli.common`.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
from typing import Callable, Sequence

from helpers.cli import gallery_command, stylize_command
from helpers.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, OneLineParser, printable
from helpers.cli.setting_flags import settings_from_args
from helpers.errors import StyleTransferError
from helpers.signals import exit_status, signal_name, stop_on_signals

__all__ = ["EXIT_BAD_INPUT", "EXIT_INTERRUPTED", "build_parser", "main", "parse_args",
           "printable", "settings_from_args"]

#: The top ``--help``'s description: plain text (argparse prints it as it is).
DESCRIPTION = ("Neural style transfer from the command line: 'stylize' paints a photo in the "
               "style of a painting, 'gallery' paints every photo in every style into one "
               "grid, 'exercises' writes student notebooks and grades them, 'sweep' paints a "
               "grid of settings. 'python -m helpers COMMAND --help' explains each.")


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m helpers`` argument parser."""
    parser = OneLineParser(prog="python -m helpers", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    stylize_command.add_arguments(commands.add_parser(
        "stylize", help="paint a content image in the style of another",
        usage="python -m helpers stylize [CONTENT STYLE] [-o OUTPUT] [options]",
        description="Paint CONTENT in the style of STYLE (Gatys et al.). With no images, the "
        "bundled defaults are used. Weights, layers and pooling default per backbone. Before "
        "it starts, the run prints its plan (coarse to fine, the iterations are shared out "
        "over the scales). Exit status: 0 finished, 2 bad input, 130 / 143 / 129 interrupted "
        "by Ctrl-C / SIGTERM / SIGHUP (the best image so far is saved with its JSON)."))
    gallery_command.add_arguments(commands.add_parser(
        "gallery", help="render content x style pairs into one titled grid image",
        description="Stylise every content image with every style image and save one grid: "
        "the bundled pairs, or with FOLDER every image in FOLDER/content x FOLDER/style."))
    from helpers.exercises.command import add_arguments as add_exercises

    add_exercises(commands.add_parser(
        "exercises", help="student versions of the exercise notebooks; grade submissions",
        description="Write each exercise notebook with its solutions replaced by stubs that "
        "raise NotImplementedError, or grade submitted notebooks."))
    from helpers.sweeps.command import add_arguments as add_sweep

    add_sweep(commands.add_parser(
        "sweep", help="paint a grid of settings over image pairs, on every core or a Dask "
        "cluster", description="Paint every combination of the comma-separated values given "
        "(e.g. --style-weight 10,30,100 --tv-weight 1e-4,1e-3) for every pair, in parallel; "
        "results, index.csv and a contact sheet in -o. Rerun to resume."))
    return parser


def _subparser(parser: argparse.ArgumentParser, command: str | None
               ) -> argparse.ArgumentParser:
    """The parser of ``command`` (the top one when there is none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction) and command in action.choices:
            return action.choices[command]
    return parser


def _hint(arg: str, known: list[str]) -> list[str]:
    """["did you mean --x?"] for an unknown flag ``arg`` close to a known one (a misspelling
    or a shortened flag: flags are never abbreviated), else []."""
    close = [k for k in known if k.startswith(arg)]  # shortened: the one it may stand for
    close = close if len(close) == 1 else difflib.get_close_matches(arg, known, n=1)
    return [f"did you mean {close[0]}?"] if close else []


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line parsed; an unknown flag is refused in one line naming the closest
    known one (``--style-weights`` -> "did you mean --style-weight?"), as
    ``helpers.stylize(style_weights=...)`` is ("did you mean 'style_weight'?")."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        sub = _subparser(parser, getattr(args, "command", None))
        known = [o for a in sub._actions for o in a.option_strings if o.startswith("--")]
        hints = [h for a in extras if a.startswith("--") for h in _hint(a.split("=")[0], known)]
        sub.error(f"unrecognized arguments: {' '.join(extras)}"
                  + (f"; {' '.join(hints)}" if hints else ""))
    return args


#: The commands by name: each takes the parsed arguments and returns the exit status.
COMMANDS = {"stylize": stylize_command.run_command, "gallery": gallery_command.run_command}


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The function that runs command ``name`` (the exercises and sweeps load on demand)."""
    if name == "exercises":
        from helpers.exercises.command import run
    elif name == "sweep":
        from helpers.sweeps.command import run
    else:
        run = COMMANDS[name]
    return run


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status: 0 finished, 2 bad input, 130 / 143 / 129 when
    Ctrl-C, SIGTERM or SIGHUP ended the run (the best image so far is saved first)."""
    os.environ.setdefault("MPLBACKEND", "Agg")  # figures are only saved, never shown
    command = None
    with stop_on_signals():
        try:
            args = parse_args(argv)
            command = args.command
            return _command(command)(args)
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
