"""Lending a sleeping notebook's core (notebooks/exercises, graded by
:mod:`helpers.exercises.batch`): ``--jobs N`` means at most N notebooks *using the CPU* at
once. A notebook whose grading has used (almost) no CPU for :data:`IDLE_SECONDS` (a cell in
``time.sleep``, waiting on a lock or a socket that never answers) lends its slot: one more
notebook starts, up to ``lend`` extra notebooks at once (default: as many as ``--jobs``), so
a class's hanging notebooks wait for their cell timeout side by side instead of in turn.

Nothing a notebook is given changes: the same per-cell and per-notebook time limits, its own
fresh kernel, the same memory cap. What it costs: up to ``jobs + lend`` kernels (and
workers) in memory at once (a slot is lent only while :data:`LEND_FREE_MB` MiB are
available); and a sleeping notebook that wakes up (after its timeout, or a cell that slept
a while on purpose) shares the CPU with the notebook that borrowed its slot until one of
them ends (no new notebook starts while ``jobs`` of them are busy). A notebook counts as
idle only when its worker, its kernel and every process they started used less than
:data:`IDLE_CPU` seconds of CPU in the last :data:`IDLE_SECONDS` seconds and none of them
was seen runnable (``psutil``: the process tree of its worker, the template included).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from typing import Iterator

IDLE_SECONDS = 5.0   # a notebook idle this long lends its slot
IDLE_CPU = 0.1       # seconds of CPU in that time that still count as idle (2 % of a core)
POLL_SECONDS = 0.5   # how often a waiting notebook looks again
#: Memory the machine must have available for a lent slot to be used: a lent notebook may
#: need a worker of its own (its template and judge: about 1.5 GiB) and its kernel.
LEND_FREE_MB = 3072


def memory_to_lend() -> bool:
    """Whether the machine has :data:`LEND_FREE_MB` MiB available (``psutil``)."""
    import psutil

    return psutil.virtual_memory().available >= LEND_FREE_MB * 2**20


def tree_usage(pid: int) -> tuple[float, bool] | None:
    """CPU seconds (user and system) used so far by process ``pid`` and every process below
    it, the reaped ones included, and whether one of them is runnable right now (waiting for
    a core counts as busy: a starved process uses no CPU); None when ``pid`` is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return None
    total, running = 0.0, False
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            with proc.oneshot():
                used = proc.cpu_times()
                running = running or proc.status() == psutil.STATUS_RUNNING
            total += used.user + used.system + used.children_user + used.children_system
    return total, running


class Slot:
    """One notebook being graded: its worker's pid (None until known) and, at recent
    moments, the CPU its process tree had used and whether one of them was runnable."""

    def __init__(self) -> None:
        self.pid: int | None = None
        self.samples: deque[tuple[float, float, bool]] = deque()

    def idle(self, now: float) -> bool:
        """Whether this notebook used less than :data:`IDLE_CPU` s of CPU over the last
        :data:`IDLE_SECONDS` and none of its processes was seen runnable (it must have been
        watched that long)."""
        if self.pid is None:
            return False
        if not self.samples or now - self.samples[-1][0] >= POLL_SECONDS * 0.8:
            usage = tree_usage(self.pid)
            if usage is None:
                self.samples.clear()
                return False
            self.samples.append((now, *usage))
        while len(self.samples) > 1 and self.samples[1][0] <= now - IDLE_SECONDS:
            self.samples.popleft()  # keep one sample at least IDLE_SECONDS old
        used = [cpu for _, cpu, _ in self.samples]
        return (now - self.samples[0][0] >= IDLE_SECONDS and max(used) - min(used) < IDLE_CPU
                and not any(running for _, _, running in self.samples))


class Lender:
    """The slots of a class's grading: at most ``jobs`` busy notebooks, and up to ``lend``
    more while as many of them are idle (:meth:`Slot.idle`). Each notebook runs inside
    :meth:`slot` (in a thread of its own); :meth:`attach` names its worker process."""

    def __init__(self, jobs: int, lend: int) -> None:
        self.jobs, self.lend = max(1, jobs), max(0, lend)
        self.cond = threading.Condition()
        self.slots: dict[int, Slot] = {}
        self.stopped = False
        self.lent = 0  # how many notebooks started on a lent slot

    def _room(self) -> bool:
        """Whether one more notebook may start now (called with the lock held)."""
        running = len(self.slots)
        if running < self.jobs:
            return True
        if running >= self.jobs + self.lend:
            return False
        now = time.monotonic()
        busy = sum(not slot.idle(now) for slot in self.slots.values())
        return busy < self.jobs and memory_to_lend()

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Wait for room (or a stop), then hold a slot while the block runs."""
        me = threading.get_ident()
        with self.cond:
            while not self.stopped and not self._room():
                self.cond.wait(POLL_SECONDS)
            self.lent += len(self.slots) >= self.jobs
            self.slots[me] = Slot()
        try:
            yield
        finally:
            with self.cond:
                self.slots.pop(me, None)
                self.cond.notify_all()

    def attach(self, pid: int) -> None:
        """The calling thread's notebook is graded by process ``pid`` from now on."""
        with self.cond:
            slot = self.slots.get(threading.get_ident())
            if slot is not None:
                slot.pid, slot.samples = pid, deque()

    def stop(self) -> None:
        """Let every waiting notebook go at once (the grading is being stopped)."""
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
