"""Running a sweep on Dask distributed (notebook 09): :func:`sweep` checks the plan, starts a
:class:`~distributed.LocalCluster` sized to the machine (or uses any ``Client``), sends each
run's settings and images to the workers (never a Keras model: they do not pickle), and, as
runs finish, adds their row to ``OUT/index.csv`` from the client (one writer, so concurrent
finishes cannot interleave; the file is replaced whole each time). Workers write each run's
PNG and JSON with :meth:`helpers.result.Result.save` the moment it finishes; a rerun skips
them (a run's file name holds a hash of all its settings). One sweep at a time writes into a
folder (:func:`~helpers.sweeps.folder.folder_lock`; the index, the runs on disk and the lock
are :mod:`helpers.sweeps.folder`'s); everything is checked before the cluster starts.

Runs are submitted group by group, highest priority first, so a worker paints the runs that
share targets one after another and builds those targets once (the target cache of
:mod:`helpers.targets` leaves the weights out of its key).
"""

from __future__ import annotations

import contextlib
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from distributed import Client, as_completed, get_worker
from distributed.comm.core import CommClosedError

from helpers.errors import StyleTransferError
from helpers.sweeps.checks import (
    check_dashboard_address,
    check_host,
    check_max_runs,
    check_out,
    check_workers,
    result_row,
)
from helpers.sweeps.cluster import (  # noqa: F401  (imported from here before cluster.py)
    TensorFlowThreads,
    children,
    close,
    cluster_size,
    connect,
    dashboard_available,
    end_children,
    local_client,
    one_line,
    signals_held,
)
from helpers.sweeps.folder import (  # noqa: F401  (imported from here before folder.py)
    OLD_COLUMNS,
    RESULT_COLUMNS,
    Index,
    done_on_disk,
    folder_lock,
    index_row,
)
from helpers.sweeps.grid import Run, plan


def paint(options: dict[str, Any], content: Any, style: Any, path: str,
          grouped: bool = True) -> dict[str, Any]:
    """On a worker: one run with ``options``, saved to ``path`` (PNG + JSON, each written
    whole); returns its index row's results, or ``{"error": message}`` for a run that failed
    (returned, not raised: Dask would print a block of its own for each). ``grouped=False``
    forgets cached targets first (to measure what grouping saves)."""
    from helpers import targets
    from helpers.stylizing import stylize

    if not grouped:
        targets.clear_cache()
    try:
        result = stylize(content, style, progress=False, **options)
        saved = result.save(path)
    except Exception as exc:  # noqa: BLE001  (one line for the client to print)
        return {"error": one_line(exc)}
    return {**result_row(result.history, result.stop_reason), "worker": _worker_name(),
            "image": saved.name}


def _worker_name() -> str:
    try:
        return str(get_worker().address)
    except ValueError:  # not on a worker (a plain call)
        return "local"


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
        return {"error": one_line(exc)}
    return {"backbone": name}


def _layers(runs: list[Run]) -> list[str]:
    """Every layer the runs name."""
    named = [r.options.get("content_layer") for r in runs]
    named += [n for r in runs for n in r.options.get("style_layers") or ()]
    return list(dict.fromkeys(n for n in named if n))


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
    elif not isinstance(client, Client):
        raise StyleTransferError(f"client must be a dask.distributed.Client, not a "
                                 f"{type(client).__name__}")
    if on_result is not None and not callable(on_result):
        raise StyleTransferError("on_result must be a function taking an index row")
    out = check_out(out, runs, pairs)
    columns = ["name", "content", "style", *grid, *RESULT_COLUMNS]
    with folder_lock(out):
        index = Index(out / "index.csv", columns).open()
        report = SweepReport(out, len(runs))
        todo = [r for r in runs if not (resume and done_on_disk(out, r, index))]
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
    before, own = children(), None
    try:
        with signals_held():  # a signal while it starts: started, then closed cleanly
            own = local_client(size, runs=len(todo), **local)
        _run_all(own, todo, images, out, index, report, grouped, progress, on_result, task)
    finally:
        try:
            if own is not None:
                with signals_held():
                    close(own)
        finally:  # also when a signal held while closing is raised on leaving
            end_children(before)


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
    """Append a finished run's row (or note its failure: the other runs go on; a lost
    scheduler stops the sweep in one line)."""
    try:
        results = future.result()
    except Exception as exc:  # noqa: BLE001  (a run's error must not stop the others)
        if "connection-lost" in str(exc) or isinstance(exc, CommClosedError):
            raise StyleTransferError(
                f"lost the Dask scheduler; the {len(index.names)} finished runs are in "
                f"{index.path.parent} (index.csv): start it again and rerun to paint the rest"
            ) from None
        results = {"error": one_line(exc)}
    if "error" in results:
        report.failed[run.name] = results["error"]
        print(f"failed: {run.name}: {report.failed[run.name]}", file=sys.stderr)
        return
    row = index_row(run, results)
    index.append(row)
    report.ran += 1
    if on_result is not None:
        on_result(row)


def _send(client: Client, images: dict[Any, Any]) -> dict[Any, Any]:
    """Each image sent to the cluster once (not once per run), as a task's result rather
    than scattered data: if the worker holding it dies, the scheduler makes it again
    elsewhere."""
    return {s: client.submit(_same, image, key=f"image-{s.name}-{uuid.uuid4().hex[:8]}")
            for s, image in images.items()}


def _same(image: Any) -> Any:
    return image
