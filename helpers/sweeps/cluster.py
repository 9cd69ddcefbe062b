"""The Dask cluster of a sweep (notebook 09): a :class:`~distributed.LocalCluster` sized to
the machine and listening on this machine only (:func:`local_client`), or a client of a
scheduler that must answer within seconds (:func:`connect`); a cluster started and closed
with signals held, so that no worker process outlives a sweep.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin

from helpers.errors import StyleTransferError
from helpers.signals import held_signals, raise_for
from helpers.sweeps.checks import (
    check_dashboard_address,
    check_host,
    check_scheduler,
    check_workers,
    cores,
)


class IgnoreCtrlC(WorkerPlugin):
    """Makes a local worker ignore Ctrl-C: a terminal sends it to the whole process group,
    workers included, and the sweep (which stops them itself) is the one to answer it; a
    worker would print a traceback instead."""

    name = "helpers-ignore-ctrl-c"

    def setup(self, worker: Any) -> None:
        """Ignore SIGINT in this worker process (its event loop runs in its main thread)."""
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)


class TensorFlowThreads(WorkerPlugin):
    """Gives each worker's TensorFlow as many threads as the worker has (TensorFlow ignores
    ``OMP_NUM_THREADS``), so workers sharing a machine do not oversubscribe its cores. Set
    on every worker that joins, on a laptop or a cluster."""

    name = "helpers-tensorflow-threads"

    def __init__(self, threads: int | None = None) -> None:
        self.threads = threads

    def setup(self, worker: Any) -> None:
        """Set the thread counts before this worker's first run loads TensorFlow."""
        n = self.threads or getattr(worker, "state", worker).nthreads
        os.environ.update(TF_NUM_INTRAOP_THREADS=str(n), TF_NUM_INTEROP_THREADS=str(n),
                          OMP_NUM_THREADS=str(n), TF_CPP_MIN_LOG_LEVEL="2")
        from helpers._tf import tf

        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:  # TensorFlow already ran here: the environment applies
            pass


def cluster_size(size: int = 384, workers: int | None = None, threads: int = 1,
                 runs: int | None = None) -> dict[str, Any]:
    """``LocalCluster`` arguments for this machine: one single-threaded worker process per
    core (``workers`` if given), fewer if memory for ``size`` px runs would run out or there
    are fewer ``runs``, each with an equal share of the available memory as its limit."""
    import psutil

    available = psutil.virtual_memory().available * 0.8
    need = 1.5e9 + 1.5e9 * (size / 512) ** 2  # TensorFlow, the backbone, activations
    n = workers or max(1, min(cores() // threads, int(available // need)))
    n = min(n, runs) if runs else n
    return {"n_workers": n, "threads_per_worker": threads, "processes": True,
            "memory_limit": int(max(available / n, need))}


def connect(address: str, timeout: float = 5.0) -> Client:
    """A client of the Dask scheduler at ``address``: a closed port fails at once, a server
    that accepts but does not answer within ``timeout`` seconds, and one that answers with
    what is not Dask's protocol (a web or SSH server), each in one line."""
    address, host, port = check_scheduler(address)
    hint = "start it first (dask scheduler) or check the address"
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise StyleTransferError(f"cannot reach the Dask scheduler at {address} "
                                 f"({exc.strerror or exc}); {hint}") from None
    try:
        asyncio.run(asyncio.wait_for(_identity(address, timeout), timeout))
        with dask.config.set({"distributed.comm.timeouts.connect": f"{timeout}s"}):
            return Client(address, timeout=timeout)
    except TimeoutError:
        raise StyleTransferError(f"no Dask scheduler answered at {address} within "
                                 f"{timeout:g} s (TimeoutError); {hint}") from None
    except Exception as exc:  # noqa: BLE001  (Dask decoding a stranger's bytes raises anything:
        # MemoryError for a "frame" of exabytes, msgpack's errors, ...; Ctrl-C is not caught)
        raise StyleTransferError(f"the server at {address} does not answer as a Dask "
                                 f"scheduler ({type(exc).__name__}); {hint}") from None


async def _identity(address: str, timeout: float) -> dict[str, Any]:
    """The scheduler's answer to Dask's ``identity`` call (the handshake and one message)."""
    from distributed.core import rpc

    async with rpc(address, timeout=timeout) as scheduler:
        answer = await scheduler.identity()
    if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
        raise ValueError("not a scheduler")
    return answer


def local_client(size: int = 384, workers: int | None = None, threads: int = 1,
                 host: str = "127.0.0.1", dashboard_address: str | None = None,
                 runs: int | None = None) -> Client:
    """A client of a new LocalCluster sized by :func:`cluster_size`. Its scheduler, workers
    and dashboard listen on ``host`` only (this machine, by default; the dashboard on
    ``dashboard_address``, else a free port: others may run a cluster beside this one). Its
    workers are spawned processes (TensorFlow deadlocks in forked ones) with TensorFlow's
    threads set. If the start is interrupted, the worker processes started are ended.

    Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand memory back
    sooner); glibc then stops adapting its mmap threshold, and every large tensor TensorFlow
    allocates becomes a fresh mmap with its page faults: one evaluation at 256 px took 1.40 s
    in such a worker against 1.07 s without it (1 thread each, bench/bench_sweep.py). Our
    workers start without it."""
    host = check_host(host)
    dashboard = check_dashboard_address(dashboard_address, host)
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    before = children()
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None
                              }), _signals_blocked_in_new_threads():
            cluster = LocalCluster(**cluster_size(size, check_workers(workers), threads, runs),
                                   host=host, dashboard_address=dashboard, env=env,
                                   silence_logs=logging.ERROR)  # not a warning per cancelled run
        client = Client(cluster)
        client.register_plugin(IgnoreCtrlC())
        return client
    except (RuntimeError, OSError, TimeoutError) as exc:
        end_children(before)
        raise StyleTransferError(f"the local Dask cluster did not start ({one_line(exc)}); "
                                 "run from a script file (its workers import it), or check "
                                 "--listen and --dashboard-address") from None
    except BaseException:  # Ctrl-C while it starts: its nannies' tasks fail, and say so
        logging.getLogger("asyncio").addFilter(_aborted_start)
        end_children(before)
        raise


def _aborted_start(record: logging.LogRecord) -> bool:
    """False for asyncio's report of a nanny whose start was aborted (its worker ended by
    :func:`end_children` after Ctrl-C): the user asked for it, and one line says so."""
    return "Nanny failed to start" not in record.getMessage()


#: The signals a terminal or ``kill -- -PGID`` sends to a whole process group.
GROUP_SIGNALS = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


@contextlib.contextmanager
def _signals_blocked_in_new_threads() -> Iterator[None]:
    """Block :data:`GROUP_SIGNALS` in this thread while inside, so that the threads Dask
    starts meanwhile (its event loop, the threads that spawn workers) block them for good,
    and so do the worker processes they spawn (a blocked signal stays blocked across
    ``exec``): a terminal's Ctrl-C or hang-up, sent to every process of the group, then
    reaches this process only, which stops the workers itself (asking, then killing). A
    signal that comes meanwhile is delivered on leaving.

    Multiprocessing's resource tracker is started first, with them blocked: starting it
    later, from Dask's thread, would unblock SIGINT and SIGTERM in that thread."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
    try:
        _start_resource_tracker()
        signal.pthread_sigmask(signal.SIG_BLOCK, GROUP_SIGNALS)
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _start_resource_tracker() -> None:
    """Start multiprocessing's resource tracker (if it is not running) with its stderr on
    ``os.devnull``: when a sweep is stopped it would otherwise print a warning about the
    semaphores of the worker queues it cleans up, after the sweep's own one line."""
    from multiprocessing import resource_tracker

    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        resource_tracker.ensure_running()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def children() -> set[int]:
    """The process ids of this process's children (and theirs)."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def end_children(before: set[int], timeout: float = 5.0) -> None:
    """End the worker processes (multiprocessing's spawned children) started since
    ``before``: asked first, killed after ``timeout`` seconds."""
    import psutil

    new = []
    for p in psutil.Process().children(recursive=True):
        try:
            if p.pid not in before and "spawn_main" in " ".join(p.cmdline()):
                new.append(p)
        except psutil.Error:
            continue
    for p in new:
        with contextlib.suppress(psutil.Error):
            p.terminate()
    _, alive = psutil.wait_procs(new, timeout=timeout)
    for p in alive:
        with contextlib.suppress(psutil.Error):
            p.kill()


def one_line(exc: BaseException) -> str:
    """``exc`` as the one line a failed run reports (its type named unless it is ours)."""
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, StyleTransferError) else f"{type(exc).__name__}: {text}"


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """While inside (a cluster starting or closing), Ctrl-C, SIGTERM and SIGHUP wait, so
    that no worker process is left behind; the signal is raised on leaving (unless an
    exception is on its way already). A second signal stops at once."""
    with held_signals(second_stops=True) as came:
        yield
    if came:
        raise_for(came[0])


def close(client: Client) -> None:
    """Close ``client`` and, if it has one, its cluster."""
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def dashboard_available(client: Client) -> bool:
    """True when the scheduler serves Dask's dashboard (it needs Bokeh)."""
    import importlib.util

    return bool(importlib.util.find_spec("bokeh")) and "dashboard" in client.scheduler_info(
    ).get("services", {})
