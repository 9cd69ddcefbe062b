"""Tables of named parts that a new part joins with one line (no notebook: the plumbing behind
:mod:`helpers.style_losses` and :mod:`helpers.backbones`). Imports no TensorFlow, so that
:mod:`helpers.settings` can read the parts' names and defaults in a fraction of a second.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from typing import Any, TypeVar

from helpers.errors import StyleTransferError

T = TypeVar("T")


class Names(Sequence[str]):
    """The names in a table *now*, read like a tuple (``in``, iteration, ``len``, indexing,
    ``==`` a tuple), with ``first`` (e.g. ``"auto"``) before them: a part registered later is
    a valid choice at once (:data:`helpers.settings.CHOICES` holds these views)."""

    def __init__(self, table: Mapping[str, Any], first: Sequence[str] = ()) -> None:
        self._table, self._first = table, tuple(first)

    def _names(self) -> tuple[str, ...]:
        return (*self._first, *self._table)

    def __getitem__(self, index: Any) -> Any:
        return self._names()[index]

    def __len__(self) -> int:
        return len(self._names())

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str):
            return self._names() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  (its value changes)

    def __repr__(self) -> str:
        return repr(self._names())


def add(table: MutableMapping[str, T], name: Any, part: T, kind: str) -> None:
    """Put ``part`` in ``table`` under ``name``; refuse an empty name or one another part holds
    (the same part again is fine: a module may be imported twice)."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise StyleTransferError(f"a {kind} needs a name (a non-empty string), not {name!r}")
    if name in table and table[name] is not part:
        raise StyleTransferError(f"a {kind} named {name!r} is registered already; unregister it "
                                 "first or choose another name")
    table[name] = part


def get(table: Mapping[str, T], name: str, kind: str, first: Sequence[str] = ()) -> T:
    """``table[name]``, or one line naming the choices."""
    if name not in table:
        raise StyleTransferError(f"unknown {kind} {name!r}; choose one of "
                                 f"{', '.join((*first, *table))}")
    return table[name]
