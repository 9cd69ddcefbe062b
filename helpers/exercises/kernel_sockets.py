"""The grader's ZeroMQ connections to a student's kernel (notebooks/exercises, graded by
:mod:`helpers.exercises.grading`; the kernels run by :mod:`helpers.exercises.runner`).

A hidden kernel (:mod:`helpers.exercises.jail`) is reached over ZeroMQ's ``ipc`` transport:
socket files in its own connection folder, which it can write. A link it put at a socket's
name would be followed by the grader's next connect (a ZeroMQ reconnect, the heartbeat's new
socket) to any socket the grader can reach, which would get the handshake's bytes. So the
grader waits until the kernel made its sockets, hard-links each into a folder of its own
that the kernel cannot see, refuses a kernel whose socket file is not a socket of the
grader's user (a link, a file, a pipe: "not graded: ..."), and connects through its links
only (:func:`take_sockets`); and its sockets never reconnect within a grading
(:data:`NO_RECONNECT_MS`), nor receive a message over :data:`MESSAGE_BYTES`, nor queue
more than :data:`QUEUED` (:func:`zmq_context`). :func:`notebook_client` reads what the kernel
sends and keeps only what grading uses: each cell's first error (cut), the records of the
answering cells under their own names; no widget state.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import stat
import time
from pathlib import Path
from typing import Any

from helpers.exercises.leftovers import kill_group

MESSAGE_BYTES = 16 * 2**20      # the largest message accepted from a student's kernel
QUEUED = 16                     # messages queued per socket, unread: at most 256 MiB
SEND_MS = 10_000                # the longest a send to a kernel may wait (zmq.Again after)
TRACEBACK_CHARS = 20_000        # of an error output kept for the feedback
START_SECONDS = 60              # for a kernel to make its socket files (nbclient's wait too)
CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
#: ZeroMQ's wait before a reconnect: 24.8 days, never within a grading. (-1, "never", made
#: the client's context.term() wait 0.9 s after every kernel: measured, libzmq 4.3.5.)
NO_RECONNECT_MS = 2**31 - 1


def kernel_pid(km: Any) -> int | None:
    """The process id of ``km``'s kernel (None before it starts)."""
    process = getattr(getattr(km, "provisioner", None), "process", None)
    return getattr(process, "pid", None)


class RefusedKernel(RuntimeError):
    """A kernel the grader does not talk to: its socket files are not what they must be."""


def zmq_context(transport: str) -> Any:
    """The ZeroMQ context of the grader's sockets to a student's kernel: no message over
    :data:`MESSAGE_BYTES` is received (ZeroMQ drops it); over ``ipc`` (socket files, made
    before the first connect: :func:`take_sockets`) no socket reconnects within a grading
    (``RECONNECT_IVL`` :data:`NO_RECONNECT_MS`): once its peer is gone, nothing at its
    address is reached. (Over ``tcp``, where kernels cannot hide, the first connect may come
    before the kernel listens: it retries.)"""
    import zmq
    import zmq.asyncio

    context = zmq.asyncio.Context()
    context.setsockopt(zmq.MAXMSGSIZE, MESSAGE_BYTES)
    context.setsockopt(zmq.RCVHWM, QUEUED)  # a kernel sending faster than it is read
    context.setsockopt(zmq.SNDTIMEO, SEND_MS)  # a peer dropped (an oversized message): no hang
    if transport == "ipc":
        context.setsockopt(zmq.RECONNECT_IVL, NO_RECONNECT_MS)
    return context


def client_class() -> type:
    """A kernel client on :func:`zmq_context`."""
    import zmq.asyncio
    from jupyter_client import AsyncKernelClient

    class CappedClient(AsyncKernelClient):
        def _context_default(self) -> zmq.asyncio.Context:
            self._created_context = True
            return zmq_context(self.transport)

    return CappedClient


async def take_sockets(km: Any, ours: Path) -> None:
    """For a kernel reached over ``ipc`` (its socket files in its own folder, which it can
    write): wait (:data:`START_SECONDS` at most) until it made all of them, hard-link each
    into ``ours`` (a new folder of the grader's, on the same filesystem, that the kernel
    cannot see) and point ``km`` there: the grader's sockets connect through those links
    only, never through a name the kernel can replace. A name that is not a socket of this
    user (a link, a file) stops the kernel: :class:`RefusedKernel`. A kernel that ends
    first is left to fail as any kernel that does not start."""
    theirs = Path(km.ip)
    names = [f"{theirs.name}-{getattr(km, f'{channel}_port')}" for channel in CHANNELS]
    deadline = time.monotonic() + START_SECONDS
    while not all(os.path.lexists(theirs.parent / name) for name in names):
        if not await km.is_alive():
            return
        if time.monotonic() > deadline:
            kill_group(kernel_pid(km))
            raise RuntimeError(f"the kernel made no sockets within {START_SECONDS} s")
        await asyncio.sleep(0.02)
    ours.mkdir(mode=0o700)
    for name in names:
        try:  # the link's own inode, whatever it is (a symbolic link is not followed)
            os.link(theirs.parent / name, ours / name, follow_symlinks=False)
            info = os.lstat(ours / name)
        except OSError as exc:
            kill_group(kernel_pid(km))
            raise RefusedKernel(f"not graded: its kernel's socket file {name} could not be "
                                f"checked ({exc.strerror}); the kernel was stopped") from None
        if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.getuid():
            kill_group(kernel_pid(km))
            raise RefusedKernel(f"not graded: its kernel's socket file {name} is {_kind(info)}, "
                                "not a socket it made; the kernel was stopped")
    km.ip = str(ours / theirs.name)


def _kind(info: os.stat_result) -> str:
    """What a file is, in words (for a refusal)."""
    if stat.S_ISSOCK(info.st_mode):
        return "a socket of another user"
    kinds = {stat.S_ISLNK: "a symbolic link", stat.S_ISREG: "a regular file",
             stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a pipe"}
    return next((what for test, what in kinds.items() if test(info.st_mode)), "a device")


def manager_class(base: type, ours: Path) -> type:
    """``base`` (a kernel manager class) on :func:`zmq_context`, taking its kernel's sockets
    (:func:`take_sockets`, into ``ours``) before anything connects to them."""
    import zmq.asyncio

    class CheckedManager(base):  # type: ignore[misc, valid-type]
        links = ours  # made by take_sockets; removed with the kernel's folder

        def _context_default(self) -> zmq.asyncio.Context:
            self._created_context = True
            return zmq_context(self.transport)

        async def _async_post_start_kernel(self, **kw: Any) -> None:
            if self.transport == "ipc":
                await take_sockets(self, ours)
            await super()._async_post_start_kernel(**kw)

    return CheckedManager


def notebook_client(nb: Any, km: Any, workdir: Path, timeout: int) -> Any:
    """An nbclient NotebookClient keeping only error outputs (tracebacks cut)."""
    from nbclient import NotebookClient

    class ErrorsOnly(NotebookClient):
        async def _async_poll_kernel_alive(self) -> None:
            with contextlib.suppress(AssertionError):  # its cell's reading failed first: the
                await super()._async_poll_kernel_alive()  # error would be logged at exit

        async def _async_poll_output_msg(self, *args: Any) -> None:
            self.pollers = [t for t in self.pollers if not t.done()] + [asyncio.current_task()]
            await super()._async_poll_output_msg(*args)

        def drop_pollers(self) -> None:
            """Cancel the output reader of a cell that timed out (nbclient leaves it running:
            it took the next cells' messages, their errors lost, each waiting 4 s)."""
            while self.pollers:
                self.pollers.pop().cancel()

        def output(self, outs: list, msg: dict, display_id: Any, cell_index: int) -> Any:
            """Keep an answering cell's record (its own output name only) and a cell's first
            error (cut); a kernel sending thousands of either makes this hold no more."""
            content = msg.get("content")
            if not isinstance(content, dict):
                return None
            if msg["msg_type"] == "display_data":
                self._answer(content, self.nb.cells[cell_index])
            if msg["msg_type"] != "error" or any(o.get("output_type") == "error" for o in outs):
                return None
            trace = content.get("traceback")
            msg["content"] = {"ename": str(content.get("ename", ""))[:TRACEBACK_CHARS],
                              "evalue": str(content.get("evalue", ""))[:TRACEBACK_CHARS],
                              "traceback": [str(t)[:TRACEBACK_CHARS] for t in (
                                  trace[-20:] if isinstance(trace, list) else [])]}
            return super().output(outs, msg, display_id, cell_index)

        def handle_comm_msg(self, outs: list, msg: dict, cell_index: int) -> None:
            """No widget state kept (a review grew the worker to 4.7 GB), no Output widget."""

        def _answer(self, content: dict, cell: Any) -> None:
            data = content.get("data")
            answer = data.get("application/json") if isinstance(data, dict) else None
            name = str(cell.get("id", "")).startswith("nst-answer-") and cell.metadata.get(
                "nst_output")  # the last record sent under it: the harness's, as it ends
            if isinstance(answer, dict) and name and answer.get("nst_answer") == name:
                self.sent[str(answer["nst_answer"])] = answer.get("record")

    client = ErrorsOnly(nb, timeout=timeout, allow_errors=True, km=km, store_widget_state=False,
                        shutdown_kernel="immediate", iopub_timeout=4,
                        resources={"metadata": {"path": str(workdir)}})
    client.sent, client.pollers = {}, []  # output name -> record; cells' output readers
    return client
