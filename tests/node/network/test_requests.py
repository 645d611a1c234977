"""Request/response over real TCP: multiplexing, deadlines, remote errors, bulk transfers."""

from __future__ import annotations

import hashlib
import random

import pytest
import trio

from node.network import (
    MessageTooLarge,
    PeerUnavailable,
    Penalty,
    RemoteError,
    RequestRejected,
    RequestTimeout,
    ResponseStatus,
)

from .conftest import eventually


@pytest.fixture
async def pair(start_node):
    """Alice connected to Bob; Bob serves ``echo``."""
    alice, bob = await start_node(), await start_node()

    async def echo(peer_id, payload):
        return payload

    bob.register_protocol("echo", echo)
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
    return alice, bob


async def test_request_gets_its_response(pair):
    alice, bob = pair
    with trio.fail_after(5):
        assert await alice.request(bob.local_peer_id, "echo", b"hello") == b"hello"
        assert await alice.request(bob.local_peer_id, "echo", b"") == b""
    assert alice.statistics().requests_sent == 2 and bob.statistics().requests_served == 2


async def test_handlers_see_the_authenticated_requester(pair):
    alice, bob = pair

    async def who_am_i(peer_id, payload):
        return str(peer_id).encode()

    bob.register_protocol("whoami", who_am_i)
    with trio.fail_after(5):
        assert await alice.request(bob.local_peer_id, "whoami", b"") == str(alice.local_peer_id).encode()


async def test_concurrent_requests_are_matched_by_id(pair):
    alice, bob = pair

    async def slow_echo(peer_id, payload):
        await trio.sleep(random.random() / 20)  # answers come back out of order
        return payload

    bob.register_protocol("slow-echo", slow_echo)
    answers = {}

    async def ask(index):
        answers[index] = await alice.request(bob.local_peer_id, "slow-echo", b"%d" % index)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            for index in range(50):
                nursery.start_soon(ask, index)
    assert answers == {index: b"%d" % index for index in range(50)}


async def test_timeout_then_late_answer_is_ignored_without_penalty(pair):
    alice, bob = pair

    async def sluggish(peer_id, payload):
        await trio.sleep(0.3)
        return b"late"

    bob.register_protocol("sluggish", sluggish)
    with trio.fail_after(5):
        with pytest.raises(RequestTimeout):
            await alice.request(bob.local_peer_id, "sluggish", b"", timeout=0.05)
        await trio.sleep(0.4)  # the late answer arrives meanwhile
        assert await alice.request(bob.local_peer_id, "echo", b"still up") == b"still up"
    assert alice.reputation(bob.local_peer_id) == 0 and alice.statistics().protocol_violations == 0


async def test_a_handler_that_overruns_its_deadline_is_cancelled_and_answered(start_node):
    alice, bob = await start_node(), await start_node(request_timeout=0.2)
    cancelled = trio.Event()

    async def stuck(peer_id, payload):
        try:
            await trio.sleep_forever()
        finally:
            cancelled.set()

    bob.register_protocol("stuck", stuck)
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        with pytest.raises(RemoteError) as raised:
            await alice.request(bob.local_peer_id, "stuck", b"", timeout=3)
    assert (raised.value.status, raised.value.message) == (ResponseStatus.ERROR, "timed out")
    assert cancelled.is_set()


async def test_remote_errors_are_typed(pair):
    alice, bob = pair

    async def refuses(peer_id, payload):
        raise RequestRejected("no such block")

    async def crashes(peer_id, payload):
        raise KeyError("internal detail that must not leak")

    bob.register_protocol("refuses", refuses)
    bob.register_protocol("crashes", crashes)
    with trio.fail_after(5):
        with pytest.raises(RemoteError) as rejected:
            await alice.request(bob.local_peer_id, "refuses", b"")
        with pytest.raises(RemoteError) as crashed:
            await alice.request(bob.local_peer_id, "crashes", b"")
        with pytest.raises(RemoteError) as unknown:
            await alice.request(bob.local_peer_id, "no-such-protocol", b"")
    assert (rejected.value.status, rejected.value.message) == (ResponseStatus.ERROR, "no such block")
    assert (crashed.value.status, crashed.value.message) == (ResponseStatus.ERROR, "internal error")
    assert unknown.value.status is ResponseStatus.UNKNOWN_PROTOCOL
    assert bob.reputation(alice.local_peer_id) == 0  # refusing a request costs the requester nothing by itself


async def test_a_request_the_peer_should_not_have_sent_is_refused_and_costs_it(pair):
    alice, bob = pair

    async def strict(peer_id, payload):
        raise RequestRejected("malformed request: 3 bytes, expected 8", cost=Penalty.BAD_REQUEST)

    bob.register_protocol("strict", strict)
    with trio.fail_after(5), pytest.raises(RemoteError) as refused:
        await alice.request(bob.local_peer_id, "strict", b"abc")
    assert refused.value.message == "malformed request: 3 bytes, expected 8"
    assert bob.reputation(alice.local_peer_id) == pytest.approx(Penalty.BAD_REQUEST, abs=1)
    assert len(bob.peers()) == 1


async def test_too_many_concurrent_requests_are_answered_overloaded(start_node):
    alice, bob = await start_node(), await start_node(max_concurrent_inbound_requests=2)
    release = trio.Event()

    async def blocks(peer_id, payload):
        await release.wait()
        return b"done"

    bob.register_protocol("blocks", blocks)
    results = []

    async def ask():
        results.append(await alice.request(bob.local_peer_id, "blocks", b""))

    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(ask)
            nursery.start_soon(ask)
            await eventually(lambda: bob.statistics().requests_served == 2)
            with pytest.raises(RemoteError) as overloaded:
                await alice.request(bob.local_peer_id, "blocks", b"")
            release.set()
    assert overloaded.value.status is ResponseStatus.OVERLOADED
    assert results == [b"done", b"done"]


async def test_request_to_a_peer_that_is_not_connected(start_node):
    alice, bob = await start_node(), await start_node()
    with pytest.raises(PeerUnavailable):
        await alice.request(bob.local_peer_id, "echo", b"")


async def test_pending_request_fails_when_the_connection_closes(pair):
    alice, bob = pair

    async def never_answers(peer_id, payload):
        await trio.sleep_forever()

    bob.register_protocol("never", never_answers)
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_disconnect_soon, bob, alice.local_peer_id)
            with pytest.raises(PeerUnavailable, match="REQUESTED"):
                await alice.request(bob.local_peer_id, "never", b"")


async def _disconnect_soon(node, peer_id):
    await trio.sleep(0.1)
    node.disconnect(peer_id)


async def test_oversized_request_is_refused_before_sending(start_node):
    alice, bob = await start_node(max_frame_size=1 << 20), await start_node(max_frame_size=1 << 20)
    with trio.fail_after(5):
        await alice.connect(bob.listen_address)
        with pytest.raises(MessageTooLarge):
            await alice.request(bob.local_peer_id, "echo", bytes(1 << 20))
    assert len(alice.peers()) == 1


async def test_large_response_arrives_intact_and_does_not_hold_up_small_ones(pair):
    alice, bob = pair
    blob = random.Random(7).randbytes(8 * 1024 * 1024)

    async def fragment(peer_id, payload):
        return blob

    bob.register_protocol("fragment", fragment)
    finished = []

    async def fetch(protocol, payload):
        answer = await alice.request(bob.local_peer_id, protocol, payload, timeout=10)
        finished.append((protocol, hashlib.sha256(answer).hexdigest()))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fetch, "fragment", b"")
            while alice.statistics().bytes_received < 1 << 20:  # the 8 MiB answer is streaming ...
                await trio.sleep(0)
            nursery.start_soon(fetch, "echo", b"vote")  # ... and a small answer still overtakes it
    assert finished == [("echo", hashlib.sha256(b"vote").hexdigest()),
                        ("fragment", hashlib.sha256(blob).hexdigest())]
