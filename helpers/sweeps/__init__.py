"""Sweeps: a grid of looks in one call, on every core of a laptop or on a Dask cluster
(notebook 09; ``python -m helpers sweep`` on the command line).

==============================  ==========================================================
module                          what it does
==============================  ==========================================================
``helpers.sweeps.grid``         the plan: grid points × pairs, checked (settings, image
                                sizes, layer names), named, grouped (no TensorFlow)
``helpers.sweeps.checks``       the rest of the checks before anything starts: workers,
                                addresses, most runs, the output folder (no Dask)
``helpers.sweeps.cluster``      the LocalCluster (on 127.0.0.1) or a scheduler's client,
                                started and closed with signals held
``helpers.sweeps.engine``       :func:`sweep`: one task per run, ``OUT/index.csv`` written
                                as runs finish, resume, the folder's lock
``helpers.sweeps.folder``       the output folder: ``OUT/index.csv``, the runs already on
                                disk, the lock (no Dask)
``helpers.sweeps.sheet``        the contact sheet ``OUT/sheet.png``
``helpers.sweeps.live``         the notebook's grid that fills in as runs finish
==============================  ==========================================================

``from helpers.sweeps import sweep`` imports Dask but not TensorFlow: the workers load it.
"""

from __future__ import annotations

import importlib
from typing import Any

_HOMES = {"sweep": "engine", "SweepReport": "engine", "local_client": "engine",
          "connect": "engine",
          "cluster_size": "engine", "plan": "grid", "LAYER_SETS": "grid",
          "contact_sheet": "sheet", "read_index": "sheet", "LiveGrid": "live"}
__all__ = list(_HOMES)


def __getattr__(name: str) -> Any:
    """Import what is asked for when it is asked for, so the command line's parser (which
    imports :mod:`helpers.sweeps.command`) loads no Dask."""
    if name in _HOMES:
        return getattr(importlib.import_module(f"helpers.sweeps.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'helpers.sweeps' has no attribute {name!r}")
