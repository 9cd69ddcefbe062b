"""What every command of ``python -m helpers`` shares (no notebook: README "Command line"): the
parser that says an error in one line and takes no abbreviated flags, the help formatter that
wraps plain text at word boundaries, the one-line text of a name, the check of ``-o`` before any
work, the folders a refused run leaves no trace of, and TensorFlow's quiet import.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import textwrap
from pathlib import Path
from typing import Any, Iterator, Sequence

from helpers import images
from helpers.errors import StyleTransferError
from helpers.files import check_output
from helpers.signals import held_signals, raise_for

EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130


def printable(text: str) -> str:
    """``text`` on one line: newlines and other control characters in names shown escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Plain text wrapped at word boundaries (never inside a layer name or at a hyphen), and
    "(default: X)" added to a flag's help unless the help already names its default or there
    is none to name (None, an empty list, an off switch)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text or action.default in (None, False, []):
            return text
        return super()._get_help_string(action) or text

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_long_words=False,
                             break_on_hyphens=False)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(textwrap.fill(" ".join(part.split()), width, initial_indent=indent,
                                         subsequent_indent=indent, break_long_words=False,
                                         break_on_hyphens=False)
                           for part in text.split("\n\n"))


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (usage goes to --help) and which takes no
    abbreviated flags (``--iter`` is not ``--iterations``: a misspelling is said, not
    guessed)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["allow_abbrev"] = False
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        """Exit with status 2 and one line: ``error: <message> (see --help)``."""
        self.exit(EXIT_BAD_INPUT, f"error: {printable(message)} (see --help)\n")


def named_output(text: str, inputs: Sequence[Path], suffixes: Sequence[str], what: str = "-o"
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


def new_folders(*paths: str | Path | None) -> list[Path]:
    """The folders above ``paths`` that do not exist yet (deepest first): the checks make
    them, and a run that writes nothing removes them again."""
    out: list[Path] = []
    for path in (Path(p).absolute() for p in paths if p):
        out += [f for f in path.parents if not os.path.lexists(f) and f not in out]
    return sorted(out, key=lambda f: len(f.parts), reverse=True)


@contextlib.contextmanager
def leaving_no_empty_folders(folders: list[Path]) -> Iterator[None]:
    """Remove those of ``folders`` that are still empty when the block fails or is
    interrupted (a refused run leaves nothing behind)."""
    try:
        yield
    except BaseException:
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise


def load_tensorflow_quietly() -> None:
    """Import TensorFlow without its C++ start-up lines (:mod:`helpers._tf`). A signal that
    comes meanwhile is acted on when the import is done (an import cut short would print the
    hidden lines)."""
    with held_signals() as arrived:
        import helpers._tf  # noqa: F401
    if arrived:
        raise_for(arrived[0])
