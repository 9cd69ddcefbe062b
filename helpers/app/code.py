"""Copy as code for the tuning app (notebook 06): the ``helpers.stylize(...)`` call and the
``python -m helpers stylize`` line that reproduce a run's app settings (bundled images by
name, never by a path of this machine). The app settings become a
:class:`~helpers.settings.Settings` and image names here; :mod:`helpers.code` writes the code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from helpers import code
from helpers.app.controls import setting_value
from helpers.settings import Settings

_FIELDS = tuple(f.name for f in dataclasses.fields(Settings))


def run_settings(settings: dict[str, Any]) -> Settings:
    """The :class:`Settings` of app settings: the controls that are settings, and blend
    weights ``[1 - blend, blend]`` when there is a second style (text values read by
    :func:`helpers.settings.parse_value`, as everywhere in the app)."""
    kwargs = {key: setting_value(key, settings[key]) for key in _FIELDS if key in settings}
    if settings.get("style2"):
        blend = setting_value("style_blend", settings.get("style_blend", 0.5))
        kwargs["style_blend_weights"] = [1.0 - blend, blend]
    return Settings(**kwargs)


def stylize_kwargs(settings: dict[str, Any]) -> dict[str, Any]:
    """The :func:`helpers.stylize` keyword arguments of app settings (images excluded)."""
    return run_settings(settings).changed()


def sources(settings: dict[str, Any]) -> list[str]:
    """The content, style and (if chosen) second style sources of app settings."""
    return [settings["content"], settings["style"], *filter(None, [settings.get("style2")])]


def stylize_code(settings: dict[str, Any], warm: bool = False) -> str:
    """Python source that reproduces a run: ``import helpers`` and one ``helpers.stylize`` call."""
    content, *styles = sources(settings)
    note = ("# The app warm-started this picture from the previous one; this call starts from\n"
            "# `init` instead, so its picture differs a little.\n" if warm else "")
    return code.python_code(content, styles, run_settings(settings), "build/tuning/result.png",
                            note)


def cli_command(settings: dict[str, Any], output: str = "build/tuning/result.png") -> str:
    """The ``python -m helpers stylize ...`` line that reproduces app settings (bundled images
    by name), shell-quoted."""
    content, *styles = sources(settings)
    return code.command_line(content, styles, run_settings(settings), output)


def code_text(settings: dict[str, Any], warm: bool = False, uploads: Sequence[Path] = ()) -> str:
    """The Python call and the command line that reproduce app ``settings`` (a note first
    when they read one of the ``uploads``, which live in a temporary folder)."""
    uploaded = any(Path(s) in uploads for s in sources(settings))
    note = ("# Uploaded images live in a temporary folder of this app session: copy them "
            "elsewhere\n# and change their paths below to keep this code working.\n"
            if uploaded else "")
    return (note + stylize_code(settings, warm=warm) + "\n# The same on the command line:\n"
            + cli_command(settings))
