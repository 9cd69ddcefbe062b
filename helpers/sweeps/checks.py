"""The checks a sweep makes before anything starts (notebook 09; ``python -m helpers
sweep``): the worker count, the addresses the cluster listens on or connects to, the most
runs, the output folder with every file the sweep will write, and whether a run's JSON on
disk is a finished run's. No Dask, no TensorFlow: a
bad value is refused in one line at once.
"""

from __future__ import annotations

import math
import numbers
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from helpers.errors import StyleTransferError
from helpers.files import check_folder, check_name, check_output
from helpers.sweeps.grid import Run

#: The largest index.csv a sweep reads (about 500,000 runs).
INDEX_LIMIT = 100 << 20
#: The largest run JSON a resumed sweep reads.
JSON_LIMIT = 50 << 20


#: The lock file that keeps two sweeps from writing into one folder at once.
LOCK = ".sweep.lock"


def cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)


def check_workers(workers: Any) -> int | None:
    """``workers`` if it is ``None`` or a whole number from 1 to 4 per core, else one line
    (zero workers would wait forever; hundreds would each load TensorFlow)."""
    if workers is None:
        return None
    most = 4 * cores()
    if isinstance(workers, bool) or not isinstance(workers, numbers.Integral) or not (
            1 <= workers <= most):
        raise StyleTransferError(f"workers must be a whole number from 1 to {most} (4 per "
                                 f"core), not {workers!r}")
    return int(workers)


def check_host(host: Any, what: str = "--listen") -> str:
    """``host`` if it names an interface to listen on (``127.0.0.1``, ``::1``, ``0.0.0.0``,
    a host name), else one line."""
    if not isinstance(host, str) or not re.fullmatch(r"[A-Za-z0-9.:_-]{1,253}", host):
        raise StyleTransferError(f"{what} {host!r} is not a host to listen on; give e.g. "
                                 "127.0.0.1 (this machine only) or 0.0.0.0 (every interface)")
    return host


def _host_port(text: str, what: str, example: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` (``[v6]:PORT`` for IPv6), or one line."""
    try:
        parts = urllib.parse.urlsplit(f"//{text}")
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise StyleTransferError(f"{what} {text!r} is not an address ({exc}); give e.g. "
                                 f"{example}") from None
    if not host or port is None or parts.path or parts.query or parts.fragment or (
            parts.username is not None or " " in text):
        raise StyleTransferError(f"{what} {text!r} is not an address; give e.g. {example}")
    return host, port


def check_dashboard_address(address: str | None, host: str = "127.0.0.1") -> str:
    """The dashboard's ``HOST:PORT`` (``None``: ``host`` and a free port), checked."""
    if address is None:
        return f"[{host}]:0" if ":" in host else f"{host}:0"
    _host_port(address, "--dashboard-address", "127.0.0.1:8787")
    return address


def check_scheduler(address: str) -> tuple[str, str, int]:
    """(address, host, port) of a Dask scheduler's ``tcp://HOST:PORT`` (``HOST:PORT`` taken
    as tcp), or one line saying what is wrong with it."""
    text = str(address).strip()
    protocol, rest = text.split("://", 1) if "://" in text else ("tcp", text)
    if protocol.lower() in ("http", "https"):
        raise StyleTransferError(f"--scheduler {text} is a web address (the dashboard's?); "
                                 "give the scheduler's, e.g. tcp://HOST:8786")
    if protocol not in ("tcp", "tls"):
        raise StyleTransferError(f"--scheduler {text}: unknown protocol {protocol!r}; give "
                                 "e.g. tcp://HOST:8786")
    host, port = _host_port(rest, "--scheduler", "tcp://HOST:8786")
    return f"{protocol}://{rest}", host, port


def check_max_runs(max_runs: Any) -> int | None:
    """``max_runs`` if ``None`` or a whole number >= 1, else one line."""
    if max_runs is not None and (isinstance(max_runs, bool) or not isinstance(
            max_runs, numbers.Integral) or max_runs < 1):
        raise StyleTransferError(f"max_runs must be a whole number >= 1, not {max_runs!r}")
    return max_runs


def check_out(out: Any, runs: list[Run], pairs: Any = None) -> Path:
    """The output folder, made and checked before anything starts: writable, not inside the
    pairs folder's ``content/`` or ``style/`` (the results would become inputs), and no file
    the sweep writes (each run's PNG and JSON, ``index.csv``, ``sheet.png``, the lock) is a
    folder, a pipe or an input."""
    if not isinstance(out, (str, os.PathLike)):
        raise StyleTransferError(f"out must be a folder path, not a {type(out).__name__}")
    folder = Path(check_name(out, "the output folder")).resolve()
    if isinstance(pairs, (str, os.PathLike)):
        for part in ("content", "style"):
            inside = Path(pairs).resolve() / part
            if folder == inside or inside in folder.parents:
                raise StyleTransferError(
                    f"the output folder {out} is inside {inside}: the results would become "
                    "inputs of the next sweep; give another folder")
    check_folder(folder, "the output folder")
    inputs = list(dict.fromkeys(s.path for r in runs for s in (r.content, r.style) if s.path))
    names = [f"{r.name}{suffix}" for r in runs for suffix in (".png", ".json")]
    for name in (*names, "index.csv", "sheet.png", LOCK):
        check_output(folder / name, inputs, what=f"the output {folder / name}")
    return folder


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
