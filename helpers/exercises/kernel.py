"""The kernel the grader runs each submitted notebook in (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): an ordinary IPython kernel whose address space is capped
first (``resource.setrlimit(RLIMIT_AS)``), so a notebook that allocates without end gets a
``MemoryError`` instead of taking the machine down. Not a sandbox: see the README.

``python -m helpers.exercises.kernel --memory-mb 8192 -f CONNECTION_FILE``
"""

from __future__ import annotations

import resource
import sys


def limit_memory(megabytes: int) -> None:
    """Cap this process's virtual memory at ``megabytes`` (its children inherit the cap)."""
    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv: list[str]) -> None:
    """Set the limit given by ``--memory-mb N``, then start ipykernel with the rest."""
    if len(argv) >= 2 and argv[0] == "--memory-mb":
        limit_memory(int(argv[1]))
        argv = argv[2:]
    from ipykernel.kernelapp import launch_new_instance

    launch_new_instance(argv=argv)


if __name__ == "__main__":
    main(sys.argv[1:])
