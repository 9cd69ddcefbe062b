"""The signals that end a run, handled one way for every command (no notebook: the command
line, the sweeps and the grader use it).

Ctrl-C (SIGINT), ``kill`` or a job scheduler's time limit (SIGTERM) and a closed terminal
(SIGHUP) all raise :class:`Stopped`, a :class:`KeyboardInterrupt`, in the main thread; so the
one path each command has for Ctrl-C (keep the best image, keep the finished rows) serves them
all, and :func:`exit_status` gives the shell's usual status: 130, 143, 129.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Any, Iterator

#: The signals :func:`stop_on_signals` turns into :class:`Stopped` (SIGINT already raises
#: KeyboardInterrupt).
SIGNALS = (signal.SIGTERM, signal.SIGHUP)
#: Every signal that ends a run.
ENDING = (signal.SIGINT, *SIGNALS)


class Stopped(KeyboardInterrupt):
    """A run was asked to stop by ``signum`` (SIGTERM or SIGHUP)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise(signum: int, frame: Any) -> None:
    raise Stopped(signum)


def _handled(signals: tuple[int, ...]) -> list[int]:
    """Those of ``signals`` this process was not told to ignore: ``nohup`` ignores SIGHUP and
    a shell's background job SIGINT, and they stay ignored (a run under ``nohup`` outlives
    its terminal)."""
    return [s for s in signals if signal.getsignal(s) != signal.SIG_IGN]


@contextlib.contextmanager
def _handlers(signals: list[int], handler: Any) -> Iterator[None]:
    """``handler`` for ``signals`` while inside; the previous handlers come back on exit. Outside
    the main thread (where Python cannot set handlers) it changes nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """While inside, SIGTERM and SIGHUP raise :class:`Stopped` (as Ctrl-C raises
    KeyboardInterrupt), unless the process ignores them; the previous handlers come back on
    exit."""
    with _handlers(_handled(SIGNALS), _raise):
        yield


@contextlib.contextmanager
def held_signals(second_stops: bool = False) -> Iterator[list[int]]:
    """While inside, Ctrl-C, SIGTERM and SIGHUP are noted in the list yielded, not raised (a
    result and its JSON are written whole; a cluster starts or closes, leaving no worker
    behind); the caller acts on them afterwards (:func:`raise_for`). With ``second_stops``, a
    second signal raises at once."""
    arrived: list[int] = []

    def note(signum: int, frame: Any) -> None:
        arrived.append(signum)
        if second_stops and len(arrived) > 1:
            raise_for(signum)

    with _handlers(_handled(ENDING), note):
        yield arrived


@contextlib.contextmanager
def ignored_signals() -> Iterator[None]:
    """While inside, Ctrl-C, SIGTERM and SIGHUP are ignored (a second Ctrl-C cannot cut a
    cleanup after the first short)."""
    with _handlers(list(ENDING), signal.SIG_IGN):
        yield


def raise_for(signum: int) -> None:
    """Raise what ``signum`` raises inside :func:`stop_on_signals`: KeyboardInterrupt for
    Ctrl-C, :class:`Stopped` for SIGTERM and SIGHUP."""
    raise KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)


def exit_status(exc: BaseException) -> int:
    """The exit status of a run ended by ``exc``: 128 + the signal's number (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


def signal_name(exc: BaseException) -> str:
    """How a user names what stopped the run: "Ctrl-C", "SIGTERM" or "SIGHUP"."""
    signum = getattr(exc, "signum", None)
    return "Ctrl-C" if signum is None else signal.Signals(signum).name
