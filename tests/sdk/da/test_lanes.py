"""``sdk.da.lanes``: parallel per-blob work fails as a plain call would — its first error raised as itself, never
wrapped in an exception group (``read_custody``'s bare task group let a chain error out as an ``ExceptionGroup``,
which no ``except ChainClientError`` caught: the CLI printed a traceback and the DA node skipped an audit's
retries)."""

from __future__ import annotations

import anyio
import pytest

from sdk.chain.errors import ChainClientError, ConnectionLost
from sdk.da.lanes import for_each


async def test_the_first_failure_is_raised_as_itself_and_the_rest_are_cancelled():
    done, cancelled = [], []

    async def work(index: int) -> None:
        if index == 3:
            raise ConnectionLost("ws://127.0.0.1:1/: connection lost")
        try:
            await anyio.sleep(0 if index < 3 else 10)
        except anyio.get_cancelled_exc_class():
            cancelled.append(index)
            raise
        done.append(index)

    with anyio.fail_after(5):
        with pytest.raises(ChainClientError, match="connection lost"):
            await for_each(8, 8, work)
    assert set(done) <= {0, 1, 2} and {4, 5, 6, 7} <= set(cancelled)  # (the slow ones never finish)


async def test_every_index_is_worked_once_at_most_parallel_at_a_time():
    running, most, seen = 0, 0, []

    async def work(index: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await anyio.sleep(0.01)
        seen.append(index)
        running -= 1

    await for_each(10, 3, work)
    assert sorted(seen) == list(range(10)) and most == 3
