"""What uploads and downloads share: their tuning, their progress reports, and running segments in parallel.

:class:`TransferConfig` bounds memory and parallelism: at most ``window`` segments are in flight at once
(each holds its k + m fragments, about ``(k + m) / k`` segment sizes), coded by at most ``workers`` threads.
With 8 MiB segments, RS(3, 2) and a window of 8, a transfer holds about 110 MiB of fragments whatever the
file's size.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterator

import anyio

__all__ = ["TransferConfig", "Progress", "ProgressCallback", "no_progress", "for_each_segment", "first_error"]


@dataclass(frozen=True)
class TransferConfig:
    """How a transfer uses memory, cores, connections and time."""

    window: int = 8
    """Segments in flight at once (read, coded and on the wire)."""
    workers: int = 2
    """Threads coding, encrypting and hashing (AES, ISA-L and BLAKE3 release the GIL)."""
    connections_per_node: int = 4
    """Requests to one storage node at a time."""
    http_timeout: float = 60.0
    """Seconds one fragment request may take."""
    retry_interval: float = 1.0
    """Seconds between rounds of pushing fragments a node could not take yet."""
    activation_timeout: float = 600.0
    """Seconds an upload waits, after declaring, for the chain to mark the file active."""


@dataclass(frozen=True)
class Progress:
    """Where a transfer is: ``done`` of ``total`` plaintext bytes through ``stage``.

    Stages: an upload goes through ``"encode"`` (computing the roots), ``"declare"`` (on chain),
    ``"push"`` (fragments sent) and ``"activate"`` (waiting for every node's confirmation); a download
    through ``"fetch"``."""

    stage: str
    done: int
    total: int
    file_id: bytes | None = None
    """The file's id once the chain holds it: an upload's from the end of ``"declare"`` on (interrupted after
    that, the file stays declared, its deposit held, until its owner deletes it or the chain drops it)."""


ProgressCallback = Callable[[Progress], None]


def no_progress(_: Progress) -> None:
    """The callback of a transfer nobody watches."""


async def for_each_segment(count: int, parallel: int, work: Callable[[int], Awaitable[None]]) -> None:
    """``await work(i)`` for every segment ``i`` in ``range(count)``, at most ``parallel`` at once, taken in
    order (so a window of segments moves through a file front to back)."""
    indices = iter(range(count))

    async def lane() -> None:
        for index in indices:  # one iterator shared by the lanes: each index is taken once
            await work(index)

    async with anyio.create_task_group() as group:
        for _ in range(min(parallel, count)):
            group.start_soon(lane)


@contextmanager
def first_error() -> Iterator[None]:
    """Let the first error of the task groups inside escape as itself (a :class:`StorageError`, a chain
    client error), with the whole group as its ``__cause__``, so callers catch typed errors rather than
    ``ExceptionGroup``. A group holding a cancellation or an interrupt is re-raised whole."""
    try:
        yield
    except BaseExceptionGroup as group:
        leaves = list(_leaves(group))
        if leaves and all(isinstance(leaf, Exception) for leaf in leaves):
            raise leaves[0] from group
        raise


def _leaves(group: BaseExceptionGroup) -> Iterator[BaseException]:
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            yield from _leaves(exc)
        else:
            yield exc
