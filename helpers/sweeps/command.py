"""``python -m helpers sweep [PAIRS_FOLDER] --style-weight 10,30,100 --tv-weight 1e-4,1e-3 -o OUT``
(notebook 09 makes the same sweep from Python; the README's "Sweeps" shows examples).

Every setting of ``stylize`` is a flag taking a comma-separated list of values; a layer set is
one of :data:`~helpers.sweeps.grid.LAYER_SETS` (``conv1-3``) or layers joined with ``+``.
Building the parser imports neither Dask nor TensorFlow.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from helpers.errors import StyleTransferError
from helpers.settings import SWITCHES, Settings, flag
from helpers.sweeps.grid import LAYER_SETS

#: Settings whose one value is a list: the items of one value are joined with ``+``.
LISTS = ("style_layers", "style_layer_weights", "style_blend_weights", "scale_iterations")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The sweep's arguments: the pairs folder, the output folder, where to run, and one
    flag per setting taking a comma-separated list of values."""
    parser.add_argument("pairs", nargs="?", help="folder with content/ and style/ (every "
                        "photo x every painting; default: chelsea x swirls, chelsea x mosaic)")
    parser.add_argument("-o", "--output", default="build/sweep",
                        help="output folder: one PNG + JSON per run, index.csv, sheet.png")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes of the local cluster (default: one per core, "
                       "fewer if memory is short)")
    where.add_argument("--scheduler", default=None, metavar="ADDRESS",
                       help="run on a Dask cluster instead, e.g. tcp://HOST:8786 (OUT must be "
                       "a folder the workers can write)")
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


def parse_value(name: str, text: str) -> Any:
    """One value of setting ``name`` from the command line (numbers, switches, ``none``,
    ``+``-joined lists); a value that is no number where one is needed is refused."""
    default = next(f.default for f in dataclasses.fields(Settings) if f.name == name)
    text = text.strip()
    if name in LISTS:
        items = [t for t in text.split("+") if t]
        if name == "style_layers":
            return text if text in LAYER_SETS else items
        return [parse_value("iterations" if name == "scale_iterations" else "style_weight", t)
                for t in items]
    if text.lower() == "none" and name in ("weights", "scales"):
        return None
    if name in SWITCHES:
        if text.lower() not in ("true", "false", "yes", "no", "1", "0"):
            raise StyleTransferError(f"{name} must be true or false, not {text!r}")
        return text.lower() in ("true", "yes", "1")
    kind = int if isinstance(default, int) or name == "scales" else float if (
        name.endswith(("weight", "scale", "rate"))) else str
    try:
        return kind(text)
    except ValueError:
        raise StyleTransferError(f"{name} must be a number, not {text!r}") from None


def grid_from_args(args: argparse.Namespace) -> dict[str, list[Any]]:
    """The grid the flags give: each setting given, with its list of values."""
    grid = {}
    for f in dataclasses.fields(Settings):
        text = getattr(args, f.name)
        if text is not None:
            grid[f.name] = [parse_value(f.name, part) for part in text.split(",") if part.strip()]
            if not grid[f.name]:
                raise StyleTransferError(f"{flag(f.name)} has no values; give e.g. 10,30")
    return grid


def run(args: argparse.Namespace) -> int:
    """The ``sweep`` command: check the grid (before Dask or TensorFlow starts), run it,
    say where the results are. Exit status 0, or 1 when runs failed (rerun to retry)."""
    from helpers.sweeps.grid import plan

    grid = grid_from_args(args)
    runs = plan(grid, args.pairs)  # bad settings and images fail here, in a second
    swept = " x ".join(k for k, values in grid.items() if len(values) > 1) or "no setting"
    pairs = len({(r.content.text, r.style.text) for r in runs})
    print(f"Sweep: {len(runs)} runs ({swept} swept, {pairs} pair{'s' * (pairs > 1)}) into "
          f"{args.output}", flush=True)
    from helpers.sweeps.engine import sweep

    client = _scheduler(args.scheduler) if args.scheduler else None
    try:
        report = sweep(grid, args.pairs, args.output, client=client, workers=args.workers,
                       resume=args.resume, progress=not args.quiet, sheet=False)
    except KeyboardInterrupt:
        print(f"interrupted; the finished runs are in {args.output}: run the same command "
              "again to paint the rest", file=sys.stderr)
        return 130
    finally:
        if client is not None:
            client.close()
    from helpers.sweeps.sheet import contact_sheet

    sheet = contact_sheet(report.out, args.rows, args.cols)
    print(f"Painted {report.ran}, {report.skipped} already on disk, {len(report.failed)} "
          f"failed. Index: {report.out / 'index.csv'}  Contact sheet: {sheet}")
    return 1 if report.failed else 0


def _scheduler(address: str) -> Any:
    """A client of the Dask scheduler at ``address``."""
    from distributed import Client

    try:
        return Client(address, timeout=20)
    except (OSError, TimeoutError) as exc:
        raise StyleTransferError(f"cannot reach the Dask scheduler at {address} ({exc}); "
                                 "start it first (dask scheduler) or check the address"
                                 ) from None
