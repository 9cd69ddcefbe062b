"""``python -m helpers sweep [PAIRS_FOLDER] --style-weight 10,30,100 --tv-weight 1e-4,1e-3 -o OUT``
(notebook 09 makes the same sweep from Python; the README's "Sweeps" shows examples).

Every setting of ``stylize`` is a flag taking a comma-separated list of values, each read by
:func:`helpers.settings.parse_value` (a list's items joined with ``+``); a layer set is one
of :data:`~helpers.sweeps.grid.LAYER_SETS` (``conv1-3``) or layers joined with ``+``.
Everything that needs no network is checked before Dask or TensorFlow starts; the local
cluster listens on 127.0.0.1 unless ``--listen`` says otherwise. Building the parser imports
neither Dask nor TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from helpers.code import flag
from helpers.errors import StyleTransferError
from helpers.settings import Settings, parse_value, whole_number
from helpers.signals import exit_status, signal_name, stop_on_signals
from helpers.sweeps.grid import LAYER_SETS, MAX_RUNS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's arguments: the pairs folder, the output folder, where to run, and one
    flag per setting taking a comma-separated list of values."""
    parser.allow_abbrev = False  # --iter is not --iterations
    parser.add_argument("pairs", nargs="?", help="folder with content/ and style/ (every "
                        "photo x every painting; default: chelsea x swirls, chelsea x mosaic)")
    parser.add_argument("-o", "--output", default="build/sweep",
                        help="output folder: one PNG + JSON per run, index.csv, sheet.png")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", default=None, metavar="N",
                       help="worker processes of the local cluster (default: one per core, "
                       "fewer if memory is short)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on a Dask cluster instead, e.g. tcp://HOST:8786 (OUT must be "
                       "a folder the workers can write)")
    parser.add_argument("--listen", default="127.0.0.1", metavar="HOST",
                        help="where the local cluster's scheduler, workers and dashboard "
                        "listen (default 127.0.0.1: this machine only; 0.0.0.0: every "
                        "interface)")
    parser.add_argument("--dashboard-address", default=None, metavar="HOST:PORT",
                        help="the local cluster's dashboard (default: the --listen host, a "
                        "free port)")
    parser.add_argument("--max-runs", default=None, metavar="N",
                        help=f"the most runs to start (default {MAX_RUNS}; a larger grid is "
                        "refused before it starts)")
    parser.add_argument("--yes", action="store_true",
                        help="start a grid of any size")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="skip runs whose PNG and JSON are already in OUT")
    parser.add_argument("--rows", default=None, help="contact sheet rows: a swept setting")
    parser.add_argument("--cols", default=None, help="contact sheet columns: a swept setting")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for f in dataclasses.fields(Settings):
        parser.add_argument(flag(f.name), default=None, metavar="VALUES",
                            help=argparse.SUPPRESS if f.name == "checkpoint_every" else
                            f"{f.name} values, comma-separated"
                            + (" (layer sets: " + ", ".join(LAYER_SETS) + ", or a+b+c)"
                               if f.name == "style_layers" else ""))


def sweep_value(name: str, text: str) -> Any:
    """One value of setting ``name`` from the command line, read by
    :func:`helpers.settings.parse_value` (a list's items joined with ``+``); a layer set's
    name stays a name."""
    if name == "style_layers" and text.strip() in LAYER_SETS:
        return text.strip()
    return parse_value(name, text, sep="+")


def grid_from_args(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The grid the flags give: each setting given, with its list of values."""
    grid = {}
    for f in dataclasses.fields(Settings):
        text = getattr(args, f.name)
        if text is not None:
            grid[f.name] = [sweep_value(f.name, part) for part in text.split(",")
                            if part.strip()]
            if not grid[f.name]:
                raise StyleTransferError(f"{flag(f.name)} has no values; give e.g. 10,30")
    return grid


def _count(text: str | None, what: str) -> int | None:
    """A whole number >= 1 from the command line (``None`` stays ``None``), or one line."""
    return None if text is None else whole_number(text, what)


def run(args: argparse.Namespace) -> int:
    """The ``sweep`` command: check everything that needs no network (the grid, the images,
    the output folder, the contact sheet's axes, the cluster's addresses) before Dask or
    TensorFlow starts, run it, say where the results are. Exit status 0; 1 when runs failed
    (rerun to retry); 130/143/129 when stopped by Ctrl-C/SIGTERM/SIGHUP, the finished runs
    and their index rows kept."""
    with stop_on_signals():
        try:
            return _sweep(args)
        except KeyboardInterrupt as exc:
            print(f"error: stopped by {signal_name(exc)}; the finished runs are in "
                  f"{args.output} (index.csv lists them): run the same command again to "
                  "paint the rest", file=sys.stderr)
            return exit_status(exc)


def _sweep(args: argparse.Namespace) -> int:
    from helpers.sweeps.checks import (
        check_dashboard_address,
        check_host,
        check_out,
        check_scheduler,
        check_workers,
    )
    from helpers.sweeps.grid import plan
    from helpers.sweeps.sheet import check_axes

    grid = grid_from_args(args)
    workers = check_workers(_count(args.workers, "--workers"))
    max_runs = None if args.yes else _count(args.max_runs, "--max-runs") or MAX_RUNS
    check_axes(list(grid), args.rows, args.cols)
    if args.scheduler:
        check_scheduler(args.scheduler)
    else:
        check_dashboard_address(args.dashboard_address, check_host(args.listen))
    runs = plan(grid, args.pairs, max_runs)  # bad settings and images fail here, in a second
    check_out(args.output, runs, args.pairs)
    swept = " x ".join(k for k, values in grid.items() if len(values) > 1) or "no setting"
    pairs = len({(r.content.text, r.style.text) for r in runs})
    print(f"Sweep: {len(runs)} runs ({swept} swept, {pairs} pair{'s' * (pairs > 1)}) into "
          f"{args.output}", flush=True)
    return _paint(args, grid, workers, max_runs, {r.name for r in runs})


def _paint(args: argparse.Namespace, grid: dict[str, list[Any]], workers: int | None,
           max_runs: int | None, names: set[str]) -> int:
    """Run the checked sweep (on ``--scheduler`` or a local cluster), then draw its sheet."""
    from helpers.sweeps.engine import connect, sweep
    from helpers.sweeps.sheet import contact_sheet

    if args.scheduler:  # its errors end in one line of ours, not Dask's log of them
        for name in [n for n in logging.root.manager.loggerDict if n.startswith("distributed")]:
            logging.getLogger(name).setLevel(logging.CRITICAL)
    client = connect(args.scheduler) if args.scheduler else None
    try:
        report = sweep(grid, args.pairs, args.output, client=client, workers=workers,
                       resume=args.resume, progress=not args.quiet, sheet=False,
                       max_runs=max_runs, host=args.listen,
                       dashboard_address=args.dashboard_address)
    finally:
        if client is not None:
            client.close()
    sheet = (contact_sheet(report.out, args.rows, args.cols, names=names)
             if report.ran + report.skipped else "none (no run finished)")
    print(f"Painted {report.ran}, {report.skipped} already on disk, {len(report.failed)} "
          f"failed. Index: {report.out / 'index.csv'}  Contact sheet: {sheet}")
    return 1 if report.failed else 0
