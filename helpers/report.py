"""The line that reports a run's final losses (no notebook: the command line prints it after a
run, the tuning app ends its status with it, and the sweeps' live grid and contact sheet show
it for each run): ``total 1.23e+05 (content 12.3, style 4.56e+04, tv 789)``, one function so
that all of them write the same numbers the same way. Imports nothing heavy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: The terms of a loss line, in order, and their short labels (a contact sheet's tiles).
TERMS = {"content": "c", "style": "s", "tv": "tv"}


def _number(value: Any, digits: int) -> str:
    """``value`` to ``digits`` significant digits; text that is no number as it is."""
    try:
        return f"{float(value):.{digits}g}"
    except (TypeError, ValueError):
        return str(value)


def loss_line(losses: Mapping[str, Any], short: bool = False) -> str:
    """``total T (content C, style S, tv V)`` of ``losses`` (a history entry of
    :attr:`helpers.result.Result.history`, or any mapping with ``total``, ``content``,
    ``style`` and ``tv``): the total to 4 significant digits, the terms to 3. ``short``: all
    to 3 digits, the terms labelled ``c``, ``s``, ``tv`` (for a small tile)."""
    terms = ", ".join(f"{label if short else term} {_number(losses[term], 3)}"
                      for term, label in TERMS.items())
    return f"total {_number(losses['total'], 3 if short else 4)} ({terms})"
