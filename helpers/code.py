"""Copy as code (notebooks 06 and 09): the ``helpers.stylize(...)`` call and the
``python -m helpers stylize`` line that reproduce a run, written from its
:class:`~helpers.settings.Settings`. The tuning app (:mod:`helpers.app.code`) and the sweeps'
live grid (:mod:`helpers.sweeps.live`) both write their code here, so the two never differ;
each setting is written here by :func:`python_arguments` and :func:`command_line_flags` (only
those that differ from their defaults; :func:`flag` names a setting's flag and
:func:`setting_text` writes its value), and read back by :func:`helpers.settings.parse_value`
(a test: text -> Settings -> code -> Settings, for every setting).

An image is named as the reader should name it: a ``str`` that is a bundled image's name
(:data:`helpers.data.BUNDLED`) becomes ``helpers.data.<loader>()`` in Python and the name on
the command line; anything else (a :class:`~pathlib.Path`, or a ``str`` that names no bundled
image) is a file, written as its path.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers import data
from helpers.errors import StyleTransferError
from helpers.settings import Settings


def flag(name: str) -> str:
    """The command-line flag of setting ``name``: ``style_weight`` -> ``--style-weight``."""
    return "--" + name.replace("_", "-")


def setting_text(value: Any) -> str:
    """A setting's value as the command line writes it (lists comma-separated)."""
    if isinstance(value, tuple):
        return ",".join(setting_text(v) for v in value)
    return "none" if value is None else str(value)


def command_line_flags(settings: Settings) -> list[str]:
    """The ``python -m helpers stylize`` flags that give ``settings``: one per setting that
    differs from its default (``--no-balance-style-layers`` for a switched-off switch)."""
    out: list[str] = []
    for name, value in settings.changed().items():
        if isinstance(value, bool):
            out.append(flag(name) if value else "--no-" + flag(name)[2:])
        else:
            out += [flag(name), setting_text(value)]
    return out


def python_arguments(settings: Settings) -> str:
    """The keyword arguments of a :func:`helpers.stylize` call that give ``settings``, one per
    line (each setting that differs from its default)."""
    return "".join(f"    {name}={value!r},\n" for name, value in settings.changed().items())


#: A bundled image's name (``str``) or an image file (``Path``, or a ``str`` path).
ImageName = str | Path


def _is_bundled(image: ImageName) -> bool:
    return isinstance(image, str) and image in data.BUNDLED


def python_image(image: ImageName) -> str:
    """The Python expression for ``image``: ``helpers.data.<loader>()`` for a bundled image,
    else its quoted path."""
    if _is_bundled(image):
        return f"helpers.data.{data.BUNDLED[str(image)].__name__}()"
    return repr(str(image))


def _check(styles: Sequence[ImageName]) -> None:
    if isinstance(styles, (str, Path)) or not styles:
        raise StyleTransferError("copy as code takes the style images as a non-empty list")


def python_code(content: ImageName, styles: Sequence[ImageName], settings: Settings,
                output: str, note: str = "") -> str:
    """Python source that reproduces a run: ``import helpers``, one ``helpers.stylize`` call
    of ``content`` in the style of ``styles`` (one, or a list to blend) with ``settings``,
    and ``result.save(output)``; ``note`` (comment lines) goes before the call."""
    _check(styles)
    style_code = [python_image(s) for s in styles]
    style = style_code[0] if len(style_code) == 1 else f"[{', '.join(style_code)}]"
    return (f"import helpers\n\n{note}result = helpers.stylize(\n"
            f"    {python_image(content)},\n    {style},\n{python_arguments(settings)})\n"
            f"result.save({output!r})\n")


def command_line(content: ImageName, styles: Sequence[ImageName], settings: Settings,
                 output: str) -> str:
    """The ``python -m helpers stylize`` line (shell-quoted) that reproduces a run: ``content``,
    the first of ``styles`` (the others as ``--style``), ``-o output`` and the flags of
    ``settings``."""
    _check(styles)
    first, *more = (str(s) for s in styles)
    parts = ["python", "-m", "helpers", "stylize", str(content), first, "-o", output]
    for extra in more:
        parts += ["--style", extra]
    return shlex.join(parts + command_line_flags(settings))
