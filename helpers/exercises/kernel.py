"""The kernel the grader runs each submitted notebook in (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`): an ordinary IPython kernel whose address space is capped
first (``resource.setrlimit(RLIMIT_AS)``), so a notebook that allocates without end gets a
``MemoryError`` instead of taking the machine down, and whose printed output is capped
(:data:`OUTPUT_BYTES` per stream; the rest is dropped with one note), so a cell printing
hundreds of MB sends the grader almost nothing. Not a sandbox: see the README.

``python -m helpers.exercises.kernel --memory-mb 8192 -f CONNECTION_FILE``
"""

from __future__ import annotations

import resource
import sys
from typing import Any

#: Printed output (stdout, stderr) a graded notebook may send, per stream.
OUTPUT_BYTES = 2**20


def limit_memory(megabytes: int) -> None:
    """Cap this process's virtual memory at ``megabytes`` (its children inherit the cap)."""
    limit = megabytes * 2**20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def cap_stream(stream: Any, limit: int = OUTPUT_BYTES) -> None:
    """Let ``stream`` (the kernel's stdout or stderr) pass at most ``limit`` characters;
    after that one note, then nothing."""
    write, used = stream.write, [0]

    def capped(text: str) -> int:
        room = limit - used[0]
        if room > 0:
            write(text[:room])
            if len(text) > room:
                write(f"\n[output cut at {limit} characters by the grader]\n")
        used[0] += len(text)
        return len(text)

    stream.write = capped


def main(argv: list[str]) -> None:
    """Set the limit given by ``--memory-mb N``, then start ipykernel with the rest, its
    stdout and stderr capped (:func:`cap_stream`)."""
    if len(argv) >= 2 and argv[0] == "--memory-mb":
        limit_memory(int(argv[1]))
        argv = argv[2:]
    from ipykernel.kernelapp import IPKernelApp

    app = IPKernelApp.instance()
    app.initialize(argv)
    cap_stream(sys.stdout)
    cap_stream(sys.stderr)
    app.start()


if __name__ == "__main__":
    main(sys.argv[1:])
