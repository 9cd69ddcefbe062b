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

import csv
import json
import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed, get_worker

from helpers.errors import StyleTransferError
from helpers.files import atomic_write
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


def cluster_size(size: int = 384, workers: int | None = None, threads: int = 1
                 ) -> dict[str, Any]:
    """``LocalCluster`` arguments for this machine: one single-threaded worker process per
    core (``workers`` if given), fewer if memory for ``size`` px runs would run out, each
    with an equal share of the available memory as its limit."""
    import psutil

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    available = psutil.virtual_memory().available * 0.8
    need = 1.5e9 + 1.5e9 * (size / 512) ** 2  # TensorFlow, the backbone, activations
    n = workers or max(1, min(cores // threads, int(available // need)))
    return {"n_workers": n, "threads_per_worker": threads, "processes": True,
            "memory_limit": int(max(available / n, need))}


def local_client(size: int = 384, workers: int | None = None, threads: int = 1) -> Client:
    """A client of a new LocalCluster sized by :func:`cluster_size`. Its workers are spawned
    processes (TensorFlow deadlocks in forked ones) with TensorFlow's threads set; the
    dashboard is on a free port (others may run a cluster beside this one).

    Dask's nanny starts its workers with ``MALLOC_TRIM_THRESHOLD_=65536`` (to hand memory back
    sooner); glibc then stops adapting its mmap threshold, and every large tensor TensorFlow
    allocates becomes a fresh mmap with its page faults: one evaluation at 256 px took 1.40 s
    in such a worker against 1.07 s without it (1 thread each, bench/bench_sweep.py). Our
    workers start without it."""
    env = {"TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    with dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}):
        cluster = LocalCluster(**cluster_size(size, workers, threads), dashboard_address=":0",
                               env=env)
    return Client(cluster)


def paint(options: dict[str, Any], content: Any, style: Any, path: str,
          grouped: bool = True) -> dict[str, Any]:
    """On a worker: one run with ``options``, saved to ``path`` (PNG + JSON, each written
    whole); returns its index row's results. ``grouped=False`` forgets cached targets first
    (to measure what grouping saves)."""
    from helpers import targets
    from helpers.optimize import stylize

    if not grouped:
        targets.clear_cache()
    result = stylize(content, style, progress=False, **options)
    saved = result.save(path)
    return {**result_row(result.history, result.stop_reason), "worker": _worker_name(),
            "image": saved.name}


def _worker_name() -> str:
    try:
        return str(get_worker().address)
    except ValueError:  # not on a worker (a plain call)
        return "local"


def result_row(history: list[dict[str, Any]], stop_reason: str) -> dict[str, Any]:
    """The index columns of a finished run: its final losses, iterations and seconds."""
    last = history[-1] if history else {}
    return {"total": last.get("total"), "content_loss": last.get("content"),
            "style_loss": last.get("style"), "tv_loss": last.get("tv"),
            "iterations_done": last.get("iteration"), "seconds": round(last.get("seconds", 0), 2),
            "stop_reason": stop_reason}


def resolve_backbone(options: dict[str, Any], layers: list[str]) -> str:
    """On a worker: the backbone the runs will use (``auto`` resolved where the weights
    are), with every layer of the sweep checked, so a bad layer name fails once, first. It
    is loaded as the first run will load it, so that run finds it cached."""
    from helpers import backbone as bb
    from helpers.settings import DEFAULTS

    weights = options.get("weights", "imagenet")
    name = bb.resolve_name(options.get("backbone", "auto"), weights)
    net = bb.load_backbone(name, weights=weights,
                           pooling=options.get("pooling") or DEFAULTS[name]["pooling"],
                           precision=options.get("precision", "auto"),
                           padding=options.get("padding") or DEFAULTS[name]["padding"])
    bb.check_layers(net, [DEFAULTS[name]["content_layer"], *DEFAULTS[name]["style_layers"],
                          *layers])
    return name


def _layers(runs: list[Run]) -> list[str]:
    """Every layer the runs name."""
    named = [r.options.get("content_layer") for r in runs]
    named += [n for r in runs for n in r.options.get("style_layers") or ()]
    return list(dict.fromkeys(n for n in named if n))


@dataclass
class Index:
    """``OUT/index.csv``: one row per finished run, appended (and flushed to disk) by the
    client alone."""

    path: Path
    columns: list[str]
    names: set[str] = field(default_factory=set)

    def open(self) -> Index:
        """Read the runs already listed; refuse an index written with other columns."""
        if self.path.exists() and self.path.stat().st_size:
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                if reader.fieldnames == [*self.columns[:-len(RESULT_COLUMNS)], *OLD_COLUMNS]:
                    self._rename_old_columns()
                elif reader.fieldnames != self.columns:
                    raise StyleTransferError(
                        f"{self.path} lists other settings ({', '.join(reader.fieldnames or [])}"
                        "); resume with the same grid, or give another output folder")
                self.names = {row["name"] for row in reader}
        return self

    def _rename_old_columns(self) -> None:
        """An index written before ``iterations_done`` had its name: the same rows under the
        new header (replaced atomically), so that sweep resumes."""
        with open(self.path, newline="") as f:
            header, rest = f.readline(), f.read()
        with atomic_write(self.path) as tmp, open(tmp, "w", newline="") as f:
            f.write(",".join(self.columns) + header[len(header.rstrip("\r\n")):] + rest)

    def append(self, row: dict[str, Any]) -> None:
        """Append ``row`` (once per run) and flush it to disk."""
        if row["name"] in self.names:
            return
        new = not self.path.exists() or not self.path.stat().st_size
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
            f.flush()
            os.fsync(f.fileno())
        self.names.add(row["name"])

    def rows(self) -> list[dict[str, str]]:
        """Every row, in the order the runs finished."""
        with open(self.path, newline="") as f:
            return list(csv.DictReader(f))


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
    """True when the run's PNG and JSON are on disk (the JSON is written last); its index
    row is added if a crash came between the files and the row."""
    png, meta = out / f"{run.name}.png", out / f"{run.name}.json"
    if not (png.exists() and meta.exists()):
        return False
    if run.name not in index.names:
        saved = json.loads(meta.read_text())
        index.append(_row(run, {**result_row(saved["history"], saved["stop_reason"]),
                                "worker": "", "image": png.name}))
    return True


def sweep(grid: Mapping[str, Any], pairs: Any = None, out: str | Path = "build/sweep", *,
          client: Client | None = None, workers: int | None = None, resume: bool = True,
          grouped: bool = True, progress: bool = True,
          on_result: Callable[[dict[str, Any]], None] | None = None,
          task: Callable[..., dict[str, Any]] = paint, sheet: bool = True,
          **fixed: Any) -> SweepReport:
    """Paint every point of ``grid`` for every pair; return a :class:`SweepReport`.

    ``grid`` maps settings of :func:`helpers.stylize` to lists of values (or to a mapping of
    names to values; ``style_layers`` also takes the names of :data:`~helpers.sweeps.grid.
    LAYER_SETS`); ``fixed`` settings apply to every run. ``pairs``: a list of (content,
    style), each a file or a bundled name, or a folder with ``content/`` and ``style/``
    (default: the bundled pairs). Every run is checked before anything starts. ``client``:
    any ``dask.distributed.Client`` (``None``: a LocalCluster sized to this machine, or with
    ``workers`` processes, closed at the end). ``out`` must be visible to the workers.
    ``resume``: skip runs already on disk. ``on_result(row)`` is called as each run lands.
    ``task`` is what a worker runs per run (the tests wrap :func:`paint` to kill a worker).
    """
    runs = plan(grid, pairs, **fixed)
    out = Path(out).resolve()  # the workers' working folder may not be ours
    out.mkdir(parents=True, exist_ok=True)
    columns = ["name", "content", "style", *grid, *RESULT_COLUMNS]
    index = Index(out / "index.csv", columns).open()
    report = SweepReport(out, len(runs))
    todo = [r for r in runs if not (resume and _done_on_disk(out, r, index))]
    report.skipped = len(runs) - len(todo)
    if on_result is not None:
        for row in index.rows() if index.path.exists() else []:
            on_result(row)
    if todo:
        size = max(int(r.options.get("size", 384)) for r in todo)
        own = client is None
        client = local_client(size, workers) if own else client
        try:
            _run_all(client, todo, out, index, report, grouped, progress, on_result, task)
        finally:
            if own:
                _close(client)
    if sheet and index.path.exists():
        from helpers.sweeps.sheet import contact_sheet

        report.sheet = contact_sheet(out)
    return report


def _close(client: Client) -> None:
    cluster = client.cluster
    client.close()
    if cluster is not None:
        cluster.close()


def _run_all(client: Client, todo: list[Run], out: Path, index: Index, report: SweepReport,
             grouped: bool, progress: bool, on_result: Callable | None,
             task: Callable) -> None:
    """Submit every run (settings and scattered images, group by group) and record each
    as it finishes; a failed run is reported and the others go on."""
    from tqdm.auto import tqdm

    client.register_plugin(TensorFlowThreads())
    if progress and dashboard_available(client):
        print(f"Dask dashboard: {client.dashboard_link}", flush=True)
    backbone = client.submit(resolve_backbone, todo[0].options, _layers(todo),
                             pure=False).result()
    images = _images(client, todo)
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
        client.cancel(list(futures))
        bar.close()


def _record(run: Run, future: Any, index: Index, report: SweepReport,
            on_result: Callable | None) -> None:
    """Append a finished run's row (or note its failure: the other runs go on)."""
    try:
        row = _row(run, future.result())
    except Exception as exc:  # noqa: BLE001  (a run's error must not stop the others)
        report.failed[run.name] = f"{type(exc).__name__}: {exc}".splitlines()[0]
        print(f"failed: {run.name}: {report.failed[run.name]}", file=sys.stderr)
        return
    index.append(row)
    report.ran += 1
    if on_result is not None:
        on_result(row)


def dashboard_available(client: Client) -> bool:
    """True when the scheduler serves Dask's dashboard (it needs Bokeh)."""
    import importlib.util

    return bool(importlib.util.find_spec("bokeh")) and "dashboard" in client.scheduler_info(
    ).get("services", {})


def _images(client: Client, runs: list[Run]) -> dict[Any, Any]:
    """Each image, loaded once here and sent to the cluster once (not once per run), as a
    task's result rather than scattered data: if the worker holding it dies, the scheduler
    makes it again elsewhere."""
    sources = dict.fromkeys(s for r in runs for s in (r.content, r.style))
    return {s: client.submit(_same, s.load(), key=f"image-{s.name}-{uuid.uuid4().hex[:8]}")
            for s in sources}


def _same(image: Any) -> Any:
    return image
