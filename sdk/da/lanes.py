"""Running a DA operation's per-blob work in parallel lanes, failing as a plain call would.

``await for_each(count, parallel, work)`` runs ``work(i)`` for every ``i`` in ``range(count)``, ``parallel``
at once, taken in order. The first failure cancels the rest and is raised as itself (not wrapped in an
exception group), so a caller sees ``SubmissionRefused`` or ``UnknownBlob`` exactly as from one blob.
``await both(first, second)`` runs two steps side by side the same way and returns both results.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

import anyio

__all__ = ["for_each", "both"]

A = TypeVar("A")
B = TypeVar("B")


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


async def both(first: Callable[[], Awaitable[A]], second: Callable[[], Awaitable[B]]) -> tuple[A, B]:
    firsts: list[A] = []
    seconds: list[B] = []

    async def step(index: int) -> None:
        if index == 0:
            firsts.append(await first())
        else:
            seconds.append(await second())

    await for_each(2, 2, step)
    return firsts[0], seconds[0]
