"""The per-connection byte budget and call rate limit on their own (no sockets; the rate limit on trio's
autojumping clock, so waits of seconds take none)."""

from __future__ import annotations

import json

import pytest
import trio

from node.rpc import CallContext, ConnectionInfo, Dispatcher, RpcConfig, RpcModule
from node.rpc.budget import ByteBudget
from node.rpc.ratelimit import MAX_WAIT_TURNS, RateLimit
from tests.node.rpc.conftest import call


async def test_notifications_charge_only_what_fits():
    budget = ByteBudget(100)
    assert budget.try_charge(60) and budget.try_charge(40)
    assert not budget.try_charge(1) and budget.used == 100
    budget.release(40)
    assert budget.try_charge(1) and budget.used == 61


async def test_reader_waits_for_room():
    budget = ByteBudget(100)
    budget.charge(150)  # a response may overshoot
    done = trio.Event()

    async def reader() -> None:
        await budget.wait_for_room()
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        budget.release(50)  # 100 held: still full
        await trio.testing.wait_all_tasks_blocked()
        assert not done.is_set()
        budget.release(1)
    assert done.is_set()


async def test_only_the_oldest_message_goes_ahead_when_full():
    budget = ByteBudget(100)
    oldest, newer = budget.open_message(), budget.open_message()
    budget.charge(100)  # e.g. queued for a client that does not read
    order: list[str] = []

    async def encode(name: str, message) -> None:
        await message.room()
        order.append(name)
        message.charge(80)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(encode, "newer", newer)
        await trio.testing.wait_all_tasks_blocked()
        assert order == []  # no room, and not the oldest
        nursery.start_soon(encode, "oldest", oldest)
        await trio.testing.wait_all_tasks_blocked()
        assert order == ["oldest"] and budget.used == 180
        oldest.hand_over(80)  # to the writer, which has not sent it yet
        oldest.close()  # now ``newer`` is the oldest in flight
    assert order == ["oldest", "newer"] and newer.held == 80 and budget.used == 260
    newer.close()
    assert budget.used == 180  # what was handed over stays until the writer releases it


async def test_closing_a_message_releases_what_it_did_not_hand_over():
    budget = ByteBudget(1000)
    message = budget.open_message()
    message.charge(300)
    message.charge(200)
    message.hand_over(300)
    message.close()
    message.close()  # idempotent
    assert budget.used == 300


async def test_rate_limit_bursts_then_waits_its_turn_then_refuses(autojump_clock):
    limit = RateLimit(6)  # one call every 10 s, bursts of 6
    start = trio.current_time()
    for _ in range(6):
        assert await limit.acquire()
    assert trio.current_time() == start  # the burst did not wait

    finished: list[float] = []
    refused: list[int] = []

    async def one_call(i: int) -> None:
        if await limit.acquire():
            finished.append(trio.current_time() - start)
        else:
            refused.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(MAX_WAIT_TURNS + 3):
            nursery.start_soon(one_call, i)
    assert sorted(finished) == pytest.approx([10.0 * turn for turn in range(1, MAX_WAIT_TURNS + 1)])
    assert len(refused) == 3 and limit.refused == 3
    await trio.sleep(60 * 5)
    assert await limit.acquire()  # quiet for long enough: a new burst


async def test_dispatcher_answers_calls_over_the_rate_limit_with_32999(autojump_clock):
    module = RpcModule()

    async def system_chain(params: list, ctx: CallContext) -> str:
        return "Cairn Test"

    module.register("system_chain", system_chain)
    dispatcher = Dispatcher(module, RpcConfig(rate_limit=60))
    conn = ConnectionInfo("ws", ("203.0.113.7", 1), rate_limit=RateLimit(60))  # a turn a second
    batch = [call("system_chain", id=i) for i in range(60 + MAX_WAIT_TURNS + 1)]  # each call counts
    reply = await dispatcher.handle(json.dumps(batch), conn)
    answers = json.loads(reply.body)
    assert sum(a.get("result") == "Cairn Test" for a in answers) == 60 + MAX_WAIT_TURNS
    assert [a["error"] for a in answers if "error" in a] == [{"code": -32999, "message": "RPC rate limit exceeded"}]


async def test_calls_of_a_message_without_room_wait_before_they_run():
    """A client that did not read sent batches on: each ran all its calls and held every result while it waited
    for room to encode them (about 1 GB on one connection)."""
    module = RpcModule()
    ran: list[int] = []

    async def heavy(params: list, ctx: CallContext) -> str:
        ran.append(1)
        return "x" * 1000

    module.register("test_heavy", heavy)
    dispatcher = Dispatcher(module, RpcConfig())
    budget = ByteBudget(100)
    oldest, newer = budget.open_message(), budget.open_message()
    budget.charge(100)  # queued for a client that does not read
    conn = ConnectionInfo("ws", ("127.0.0.1", 1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(dispatcher.handle, json.dumps([call("test_heavy", id=i) for i in range(50)]), conn, newer)
        await trio.testing.wait_all_tasks_blocked()
        assert ran == []  # no room, and not the oldest message: nothing runs
        oldest.close()
        budget.release(100)  # the client read
    assert len(ran) == 50


async def test_a_burst_of_batches_runs_at_most_so_many_calls_at_once_beyond_the_oldest():
    """Room in the budget is no reservation: batches arriving together each ran all their calls before any result
    was charged, and held every result (some 200 MB for a 1 MB budget)."""
    from node.rpc.budget import MAX_CALLS_AT_ONCE

    module = RpcModule()
    running, most = 0, 0

    async def slow(params: list, ctx: CallContext) -> str:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await trio.sleep(0.01)
        running -= 1
        return "x" * 100

    module.register("test_slow", slow)
    dispatcher = Dispatcher(module, RpcConfig())
    budget = ByteBudget(10**9)
    messages = [budget.open_message() for _ in range(4)]
    conn = ConnectionInfo("ws", ("127.0.0.1", 1))
    batch = json.dumps([call("test_slow", id=i) for i in range(100)])

    async def answer(message) -> None:
        await dispatcher.handle(batch, conn, message)
        message.close()

    async with trio.open_nursery() as nursery:
        for message in messages:
            nursery.start_soon(answer, message)
    assert most <= MAX_CALLS_AT_ONCE + 100 and budget.calls == 0  # (the oldest message's own 100 go ahead)
