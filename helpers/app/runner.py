"""One background run at a time for the tuning app (notebook 06 builds the same by hand: a
thread, a per-iteration callback, a stop flag).

A :class:`Runner` starts a job in a thread and keeps two flags the job's callback reads:
*stop* (the Stop button) and *restart* (a control moved during the run). The job ends each
round with :meth:`Runner.next_round`, which either hands it the restart or says the final
status and marks the run ended in one step, so a new run can never be overwritten by the
status of the old one. Errors end the run with one line on the status, never a traceback.
"""

from __future__ import annotations

import threading
from typing import Callable

from helpers.errors import StyleTransferError

Say = Callable[..., None]


class Runner:
    """Runs ``job(runner)`` in a background thread, one at a time; ``say(text, error=False)``
    shows a status line."""

    def __init__(self, say: Say) -> None:
        self.say = say
        self._state = threading.RLock()  # guards _running and _restart (RLock: see next_round)
        self._running = False
        self._restart = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        """True while a run is going."""
        return self._running

    @property
    def stop_requested(self) -> bool:
        """True once Stop was pressed during this run."""
        return self._stop.is_set()

    def start(self, job: Callable[[Runner], None]) -> bool:
        """Start ``job`` in a background thread; False (and nothing starts) if one is going."""
        with self._state:
            if self._running:
                self.say("The last run is still stopping: press Run again in a moment."
                         if self._stop.is_set() else "A run is already going: press Stop first.")
                return False
            self._running, self._restart = True, False
            self._stop.clear()
        self._thread = threading.Thread(target=self._guarded, args=(job,), daemon=True,
                                        name="nst-tuning-run")
        self._thread.start()
        return True

    def stop(self) -> bool:
        """Ask the run to end after its current iteration (said on the status, under the
        lock, so it can never land after the run's last line); False if none is going."""
        with self._state:
            if not self._running:
                self.say("Nothing to stop: no run is going.")
                return False
            self._stop.set()
            self.say("Stopping: the run ends after its current iteration.")
            return True

    def request_restart(self) -> None:
        """A control moved: a going run restarts with the new settings after this iteration."""
        with self._state:
            if self._running:
                self._restart = True

    def interrupted(self) -> bool:
        """What the job's per-iteration callback returns: True ends the current round."""
        return self._stop.is_set() or self._restart

    def next_round(self, finish: Callable[[], None]) -> bool:
        """True (flag cleared) when a change asked for a restart and Stop was not pressed;
        else call ``finish()`` (the final status) and mark the run ended, in one step."""
        with self._state:
            if self._restart and not self._stop.is_set():
                self._restart = False
                return True
            finish()  # said while _running is still True (an RLock: finish may call back)
            self._running = False
            return False

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the run to end; True if none is going afterwards."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self._running

    def _guarded(self, job: Callable[[Runner], None]) -> None:
        """Run ``job``; its errors become one status line."""
        try:
            job(self)
        except StyleTransferError as exc:
            self.say(str(exc), error=True)
        except Exception as exc:  # shown in the app, not as a traceback in the kernel log
            self.say(f"Unexpected error: {type(exc).__name__}: {exc}", error=True)
        finally:
            with self._state:
                self._running = False
