"""Running a DA operation's per-blob work in parallel lanes, failing as a plain call would.

``await for_each(count, parallel, work)`` runs ``work(i)`` for every ``i`` in ``range(count)``, ``parallel``
at once, taken in order. The first failure cancels the rest and is raised as itself (not wrapped in an
exception group), so a caller sees ``SubmissionRefused`` or ``UnknownBlob`` exactly as from one blob.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import anyio

__all__ = ["for_each"]


async def for_each(count: int, parallel: int, work: Callable[[int], Awaitable[None]]) -> None:
    indices = iter(range(count))
    failures: list[Exception] = []

    async def lane() -> None:
        try:
            for index in indices:  # one iterator shared by the lanes: each index is taken once
                await work(index)
        except Exception as exc:
            failures.append(exc)
            group.cancel_scope.cancel()

    async with anyio.create_task_group() as group:
        for _ in range(min(parallel, count)):
            group.start_soon(lane)
    if failures:
        raise failures[0]
