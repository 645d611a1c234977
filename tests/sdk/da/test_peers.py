"""What a hostile DA node can do to a client's request: each is a :class:`PeerError` for that node alone.

A node registers any endpoint it likes and answers whatever it likes; a submitter, a reader, a light client
and a recovering DA node all go through :class:`sdk.da.peers.DaPeers`, so anything that escaped it as another
exception would end a whole submission or recovery (every node of a blob's node set is asked)."""

from __future__ import annotations

import pytest
import trio

from sdk.da.peers import DaPeers, PeerError
from sdk.da.wire import Cell
from tests.sdk.one_way_node import answering, serve_one_way, trickling

BLOB = bytes(32)
CELL = Cell(0, bytes(2048), bytes(48))

@pytest.mark.parametrize("endpoint", ["http://[::1", "http://a\x00b", "http://exa mple"])
async def test_a_registered_endpoint_that_is_no_url_fails_that_node_only(endpoint):
    async with DaPeers(timeout=2) as peers:
        with pytest.raises(PeerError) as caught:
            await peers.get_cells(endpoint, BLOB)
    assert caught.value.kind == "Unreachable" and caught.value.endpoint == endpoint


@pytest.mark.parametrize("status", [200, 409])
async def test_json_nested_too_deep_is_a_bad_answer(nursery, status):
    endpoint = await serve_one_way(nursery, answering(status, b"[" * 4000))
    async with DaPeers(timeout=5) as peers:
        with pytest.raises(PeerError) as caught:
            await peers.put_cells(endpoint, BLOB, [CELL])
    assert caught.value.kind == "BadAnswer"


async def test_an_answer_trickled_a_byte_at_a_time_is_cut_off_at_the_request_deadline(nursery):
    endpoint = await serve_one_way(nursery, trickling)
    with trio.fail_after(60):  # the body's end is ~5.5 hours away: only the request's deadline ends it sooner
        async with DaPeers(timeout=1) as peers:
            with pytest.raises(PeerError, match="no whole answer within 1 s") as caught:  # 1 s + one cell's time
                await peers.get_cell(endpoint, BLOB, 0)
    assert caught.value.kind == "Unreachable"
