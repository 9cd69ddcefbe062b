"""Sweeps: a grid of looks in one call, on every core of a laptop or on a Dask cluster
(notebook 09; ``python -m helpers sweep`` on the command line).

==============================  ==========================================================
module                          what it does
==============================  ==========================================================
``helpers.sweeps.grid``         the plan: grid points × pairs, checked, named, grouped
                                (no TensorFlow)
``helpers.sweeps.engine``       :func:`sweep`: a LocalCluster or any Client, one task per
                                run, ``OUT/index.csv`` written as runs finish, resume
``helpers.sweeps.sheet``        the contact sheet ``OUT/sheet.png``
``helpers.sweeps.live``         the notebook's grid that fills in as runs finish
==============================  ==========================================================

``from helpers.sweeps import sweep`` imports Dask but not TensorFlow: the workers load it.
"""

from __future__ import annotations

from helpers.sweeps.engine import SweepReport, cluster_size, local_client, sweep
from helpers.sweeps.grid import LAYER_SETS, plan
from helpers.sweeps.sheet import contact_sheet, read_index

__all__ = ["sweep", "SweepReport", "plan", "LAYER_SETS", "contact_sheet", "read_index",
           "local_client", "cluster_size"]
