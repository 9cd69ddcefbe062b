"""Running a sweep on Dask distributed (notebook 09): :func:`sweep` checks the plan, starts a
:class:`~distributed.LocalCluster` sized to the machine (or uses any ``Client``), sends each
run's settings and images to the workers (never a Keras model: they do not pickle), and, as
runs finish, appends their row to ``OUT/index.csv`` from the client (one writer, so
concurrent finishes cannot interleave). Workers write each run's PNG and JSON with
:meth:`helpers.optimize.Result.save` the moment it finishes; a rerun skips them.

Runs are submitted group by group, highest priority first, so a worker paints the runs that
share targets one after another and builds those targets once (the target cache of
:mod:`helpers.targets` leaves the weights out of its key).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import logging
import math
import numbers
import os
import signal
import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from helpers.errors import StyleTransferError
from helpers.files import (
    check_input,
    read_bytes,
    write_text,
)
from helpers.signals import Stopped
from helpers.sweeps.checks import (
    INDEX_LIMIT,
    JSON_LIMIT,
    LOCK,
    check_dashboard_address,
    check_host,
    check_max_runs,
    check_out,
    check_scheduler,
    check_workers,
    cores,
)
from helpers.sweeps.grid import Run, plan

#: The index's columns after the pair and the swept settings.
#: ``iterations_done``, not ``iterations``: that name is a setting, and may be swept.
RESULT_COLUMNS = ("total", "content_loss", "style_loss", "tv_loss", "iterations_done",
                  "seconds", "worker", "stop_reason", "image")
#: The result columns of an index written before that (resumed under the new names).
OLD_COLUMNS = tuple("iterations" if c == "iterations_done" else c for c in RESULT_COLUMNS)


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
    """A client of the Dask scheduler at ``address``: a closed port fails at once, and a
    server that accepts but does not answer as a scheduler within ``timeout`` seconds, each
    in one line."""
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
    except (OSError, TimeoutError, ValueError, TypeError, KeyError) as exc:
        raise StyleTransferError(f"no Dask scheduler answered at {address} within "
                                 f"{timeout:g} s ({type(exc).__name__}); {hint}") from None


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
    before = _children()
    try:
        with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
            cluster = LocalCluster(**cluster_size(size, check_workers(workers), threads, runs),
                                   host=host, dashboard_address=dashboard, env=env,
                                   silence_logs=logging.ERROR)  # not a warning per cancelled run
        return Client(cluster)
    except (RuntimeError, OSError, TimeoutError) as exc:
        _end_children(before)
        raise StyleTransferError(f"the local Dask cluster did not start ({_one_line(exc)}); "
                                 "run from a script file (its workers import it), or check "
                                 "--listen and --dashboard-address") from None
    except BaseException:  # Ctrl-C while it starts: its nannies' tasks fail, and say so
        logging.getLogger("asyncio").addFilter(_aborted_start)
        _end_children(before)
        raise


def _aborted_start(record: logging.LogRecord) -> bool:
    """False for asyncio's report of a nanny whose start was aborted (its worker ended by
    :func:`_end_children` after Ctrl-C): the user asked for it, and one line says so."""
    return "Nanny failed to start" not in record.getMessage()


def _children() -> set[int]:
    """The process ids of this process's children (and theirs)."""
    import psutil

    return {p.pid for p in psutil.Process().children(recursive=True)}


def _end_children(before: set[int], timeout: float = 5.0) -> None:
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


def paint(options: dict[str, Any], content: Any, style: Any, path: str,
          grouped: bool = True) -> dict[str, Any]:
    """On a worker: one run with ``options``, saved to ``path`` (PNG + JSON, each written
    whole); returns its index row's results, or ``{"error": message}`` for a run that failed
    (returned, not raised: Dask would print a block of its own for each). ``grouped=False``
    forgets cached targets first (to measure what grouping saves)."""
    from helpers import targets
    from helpers.optimize import stylize

    if not grouped:
        targets.clear_cache()
    try:
        result = stylize(content, style, progress=False, **options)
        saved = result.save(path)
    except Exception as exc:  # noqa: BLE001  (one line for the client to print)
        return {"error": _one_line(exc)}
    return {**result_row(result.history, result.stop_reason), "worker": _worker_name(),
            "image": saved.name}


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc).strip() else ""
    return text if isinstance(exc, StyleTransferError) else f"{type(exc).__name__}: {text}"


def _worker_name() -> str:
    try:
        return str(get_worker().address)
    except ValueError:  # not on a worker (a plain call)
        return "local"


def _number(value: Any) -> float | None:
    """``value`` as a finite float, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    return float(value) if math.isfinite(value) else None


def result_row(history: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    """The index columns of a finished run: its final losses, iterations and seconds."""
    last = history[-1] if history else {}
    seconds = _number(last.get("seconds"))
    return {"total": last.get("total"), "content_loss": last.get("content"),
            "style_loss": last.get("style"), "tv_loss": last.get("tv"),
            "iterations_done": last.get("iteration"),
            "seconds": round(seconds, 2) if seconds is not None else None,
            "stop_reason": stop_reason}


def saved_row(meta: Any) -> dict[str, Any] | None:
    """The index columns recorded by a run's JSON, or ``None`` if it is not a finished run's
    (not a mapping, no history, a loss that is not a number)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("history"), list) or not (
            meta["history"]) or not isinstance(meta["history"][-1], dict):
        return None
    last = meta["history"][-1]
    if any(_number(last.get(k)) is None for k in ("total", "content", "style", "tv")):
        return None
    return result_row(meta["history"], str(meta.get("stop_reason", "")))


def resolve_backbone(options: dict[str, Any], layers: list[str]) -> dict[str, str]:
    """On a worker: ``{"backbone": name}``, the backbone the runs will use (``auto``
    resolved where the weights are), with every layer of the sweep checked, or
    ``{"error": message}``. It is loaded as the first run will load it, so that run finds it
    cached."""
    from helpers import backbone as bb
    from helpers.settings import DEFAULTS

    try:
        weights = options.get("weights", "imagenet")
        name = bb.resolve_name(options.get("backbone", "auto"), weights)
        net = bb.load_backbone(name, weights=weights,
                               pooling=options.get("pooling") or DEFAULTS[name]["pooling"],
                               precision=options.get("precision", "auto"),
                               padding=options.get("padding") or DEFAULTS[name]["padding"])
        bb.check_layers(net, [DEFAULTS[name]["content_layer"],
                              *DEFAULTS[name]["style_layers"], *layers])
    except Exception as exc:  # noqa: BLE001  (one line for the client to raise)
        return {"error": _one_line(exc)}
    return {"backbone": name}


def _layers(runs: list[Run]) -> list[str]:
    """Every layer the runs name."""
    named = [r.options.get("content_layer") for r in runs]
    named += [n for r in runs for n in r.options.get("style_layers") or ()]
    return list(dict.fromkeys(n for n in named if n))


@dataclass
class Index:
    """``OUT/index.csv``: one row per finished run, kept by the client alone (one writer) and
    replaced whole (:func:`helpers.files.write_text`) each time a row is added, so a kill at
    any moment leaves the old index or the new one. A name is listed once."""

    path: Path
    columns: list[str]
    names: set[str] = field(default_factory=set)
    found: list[dict[str, Any]] = field(default_factory=list)

    def open(self) -> Index:
        """Read the runs already listed (one line for an index that is not one); refuse an
        index written with other columns."""
        if not self.path.exists():
            return self
        try:
            text = read_bytes(self.path, INDEX_LIMIT + 1, "the sweep index").decode("utf-8")
            reader = csv.DictReader(io.StringIO(text, newline=""))
            fieldnames, rows = reader.fieldnames, list(reader)
        except (UnicodeDecodeError, csv.Error) as exc:
            raise StyleTransferError(f"{self.path} is not a sweep index ({exc}); move it away "
                                     "or give another output folder") from None
        if len(text) > INDEX_LIMIT:
            raise StyleTransferError(f"{self.path} is over {INDEX_LIMIT >> 20} MB, not a "
                                     "sweep index; move it away or give another folder")
        if fieldnames == [*self.columns[:-len(RESULT_COLUMNS)], *OLD_COLUMNS]:
            renamed = list(zip(self.columns, fieldnames, strict=True))
            rows = [{c: r.get(o) for c, o in renamed} for r in rows]
        elif fieldnames is not None and fieldnames != self.columns:
            raise StyleTransferError(
                f"{self.path} lists other settings ({', '.join(fieldnames)}); resume with the "
                "same grid, or give another output folder")
        for row in rows:
            if row.get("name") and row["name"] not in self.names:
                self.names.add(row["name"])
                self.found.append(row)
        if fieldnames is not None and fieldnames != self.columns:
            self._write()  # the old header's rows under the new one
        return self

    def append(self, row: dict[str, Any]) -> None:
        """Add ``row`` (once per run name) and replace the file with every row."""
        if row["name"] in self.names:
            return
        self.found.append({c: row.get(c) for c in self.columns})
        self.names.add(row["name"])
        self._write()

    def _write(self) -> None:
        text = io.StringIO(newline="")
        writer = csv.DictWriter(text, self.columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(self.found)
        write_text(self.path, text.getvalue())

    def rows(self) -> list[dict[str, Any]]:
        """Every row, in the order the runs finished."""
        return list(self.found)


@dataclass
class SweepReport:
    """What :func:`sweep` did: the output folder, how many runs were planned, painted now,
    found on disk already, and which failed (name and message); the contact sheet's path."""

    out: Path
    planned: int
    ran: int = 0
    skipped: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    sheet: Path | None = None


def _row(run: Run, results: dict[str, Any]) -> dict[str, Any]:
    return {"name": run.name, "content": run.content.text, "style": run.style.text,
            **run.swept, **results}


def _done_on_disk(out: Path, run: Run, index: Index) -> bool:
    """True when the run's PNG and JSON are on disk and the JSON is a finished run's (a
    damaged one means: paint it again); its index row is added if a crash came between the
    files and the row."""
    png, meta = out / f"{run.name}.png", out / f"{run.name}.json"
    try:
        if check_input(png).stat().st_size == 0:
            return False
        row = saved_row(json.loads(read_bytes(meta, JSON_LIMIT, "a run's JSON")))
    except (StyleTransferError, ValueError, OSError):  # JSON, UTF-8 and file errors
        return False
    if row is None:
        return False
    index.append(_row(run, {**row, "worker": "", "image": png.name}))
    return True


@contextlib.contextmanager
def folder_lock(out: Path) -> Iterator[None]:
    """Hold ``OUT/.sweep.lock`` (an advisory ``flock``, released when the process ends, even
    killed) while inside; a second sweep into the same folder is refused in one line."""
    import fcntl

    path = out / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StyleTransferError(f"cannot write into {out}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise StyleTransferError(f"another sweep is writing into {out}; wait for it to end "
                                     "(then rerun to resume), or give another folder") from None
        yield
    finally:
        os.close(fd)


def sweep(grid: Mapping[str, Any], pairs: Any = None, out: str | Path = "build/sweep", *,
          client: Client | None = None, workers: int | None = None, resume: bool = True,
          grouped: bool = True, progress: bool = True,
          on_result: Callable[[dict[str, Any]], None] | None = None,
          task: Callable[..., dict[str, Any]] = paint, sheet: bool = True,
          max_runs: int | None = None, host: str = "127.0.0.1",
          dashboard_address: str | None = None, **fixed: Any) -> SweepReport:
    """Paint every point of ``grid`` for every pair; return a :class:`SweepReport`.

    ``grid`` maps settings of :func:`helpers.stylize` to lists of values (or to a mapping of
    names to values; ``style_layers`` also takes the names of :data:`~helpers.sweeps.grid.
    LAYER_SETS`); ``fixed`` settings apply to every run. ``pairs``: a list of (content,
    style), each a file or a bundled name, or a folder with ``content/`` and ``style/``
    (default: the bundled pairs). Every run, the output folder and every file it will hold
    are checked before anything starts (``max_runs``: refuse a larger grid). ``client``: any
    ``dask.distributed.Client`` (``None``: a LocalCluster listening on ``host``, its
    dashboard on ``dashboard_address``, sized to this machine or with ``workers`` processes,
    closed at the end). ``out`` must be visible to the workers; one sweep at a time writes
    into it. ``resume``: skip runs already on disk (a run's file name holds a hash of all its
    settings). ``on_result(row)`` is called as each run lands. ``task`` is what a worker runs
    per run (the tests wrap :func:`paint` to kill a worker).
    """
    runs = plan(grid, pairs, check_max_runs(max_runs), **fixed)
    workers = check_workers(workers)
    if client is None:
        check_dashboard_address(dashboard_address, check_host(host))
    out = check_out(out, runs, pairs)
    columns = ["name", "content", "style", *grid, *RESULT_COLUMNS]
    with folder_lock(out):
        index = Index(out / "index.csv", columns).open()
        report = SweepReport(out, len(runs))
        todo = [r for r in runs if not (resume and _done_on_disk(out, r, index))]
        report.skipped = len(runs) - len(todo)
        if on_result is not None:
            for row in index.rows():
                on_result(row)
        if todo:
            _run_on(client, todo, out, index, report, grouped, progress, on_result, task,
                    workers=workers, host=host, dashboard_address=dashboard_address)
        names = {r.name for r in runs}
        if sheet and any(row["name"] in names for row in index.rows()):
            from helpers.sweeps.sheet import contact_sheet

            report.sheet = contact_sheet(out, names=names)
    return report


def _run_on(client: Client | None, todo: list[Run], out: Path, index: Index,
            report: SweepReport, grouped: bool, progress: bool, on_result: Callable | None,
            task: Callable, **local: Any) -> None:
    """Run ``todo`` on ``client``, or on a LocalCluster started for them and closed after
    (its worker processes ended, also when the sweep is interrupted)."""
    images = {s: s.load() for s in dict.fromkeys(x for r in todo for x in (r.content, r.style))}
    if client is not None:
        _run_all(client, todo, images, out, index, report, grouped, progress, on_result, task)
        return
    size = max(int(r.options.get("size", 384)) for r in todo)
    before, own = _children(), None
    try:
        with _signals_held():  # a signal while it starts: started, then closed cleanly
            own = local_client(size, runs=len(todo), **local)
        _run_all(own, todo, images, out, index, report, grouped, progress, on_result, task)
    finally:
        if own is not None:
            with _signals_held():
                _close(own)
        _end_children(before)


@contextlib.contextmanager
def _signals_held() -> Iterator[None]:
    """While inside (a cluster starting or closing), Ctrl-C, SIGTERM and SIGHUP wait, so
    that no worker process is left behind; the signal is raised on leaving (unless an
    exception is on its way already). A second signal stops at once."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []

    def hold(signum: int, frame: Any) -> None:
        came.append(signum)
        if len(came) > 1:
            _raise_for(signum)

    held = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {s: signal.signal(s, hold) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if came:
        _raise_for(came[0])


def _raise_for(signum: int) -> None:
    raise KeyboardInterrupt() if signum == signal.SIGINT else Stopped(signum)


def _close(client: Client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _run_all(client: Client, todo: list[Run], images: dict[Any, Any], out: Path, index: Index,
             report: SweepReport, grouped: bool, progress: bool, on_result: Callable | None,
             task: Callable) -> None:
    """Submit every run (settings and images, group by group) and record each as it
    finishes; a failed run is reported and the others go on."""
    from tqdm.auto import tqdm

    client.register_plugin(TensorFlowThreads())
    if progress and dashboard_available(client):
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)
    backbone = _backbone(client, todo) if any(  # layers of a named backbone: checked already
        r.options.get("backbone", "auto") == "auto" for r in todo) else "auto"
    images = _send(client, images)
    groups = {g: i for i, g in enumerate(dict.fromkeys(r.group for r in todo))}
    futures = {}
    for run in todo:
        chosen = run.options.get("backbone", "auto")
        options = {**run.options, "backbone": backbone if chosen == "auto" else chosen}
        future = client.submit(task, options, images[run.content], images[run.style],
                               str(out / f"{run.name}.png"), grouped, priority=-groups[run.group],
                               key=f"stylize-{run.name}-{uuid.uuid4().hex[:8]}")
        futures[future] = run
    bar = tqdm(total=report.planned, initial=report.skipped, unit="run", desc="sweep",
               disable=not progress)
    try:
        for future in as_completed(futures):
            _record(futures.pop(future), future, index, report, on_result)
            bar.update(1)
    finally:  # Ctrl-C: what finished is on disk; stop the rest (a given client lives on)
        with contextlib.suppress(Exception):
            client.cancel(list(futures))
        bar.close()


def _backbone(client: Client, todo: list[Run]) -> str:
    """The backbone every ``auto`` run uses, resolved and checked on a worker (one line if
    it cannot load or lacks a layer)."""
    answer = client.submit(resolve_backbone, todo[0].options, _layers(todo),
                           pure=False).result()
    if "error" in answer:
        raise StyleTransferError(answer["error"])
    return answer["backbone"]


def _record(run: Run, future: Any, index: Index, report: SweepReport,
            on_result: Callable | None) -> None:
    """Append a finished run's row (or note its failure: the other runs go on)."""
    try:
        results = future.result()
    except Exception as exc:  # noqa: BLE001  (a run's error must not stop the others)
        results = {"error": _one_line(exc)}
    if "error" in results:
        report.failed[run.name] = results["error"]
        print(f"failed: {run.name}: {report.failed[run.name]}", file=sys.stderr)
        return
    row = _row(run, results)
    index.append(row)
    report.ran += 1
    if on_result is not None:
        on_result(row)


def dashboard_available(client: Client) -> bool:
    """True when the scheduler serves Dask's dashboard (it needs Bokeh)."""
    import importlib.util

    return bool(importlib.util.find_spec("bokeh")) and "dashboard" in client.scheduler_info(
    ).get("services", {})


def _send(client: Client, images: dict[Any, Any]) -> dict[Any, Any]:
    """Each image sent to the cluster once (not once per run), as a task's result rather
    than scattered data: if the worker holding it dies, the scheduler makes it again
    elsewhere."""
    return {s: client.submit(_same, image, key=f"image-{s.name}-{uuid.uuid4().hex[:8]}")
            for s, image in images.items()}


def _same(image: Any) -> Any:
    return image
