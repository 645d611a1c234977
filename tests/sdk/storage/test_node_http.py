"""What a hostile storage node can do to a client's request: each is a :class:`NodeError` for that node alone,
never a transfer held for ever or the client's memory filled (the upload, download and repair paths all go
through :class:`sdk.storage.nodes.NodeHttp`, or catch the same failures)."""

from __future__ import annotations

import resource

import pytest
import trio

from runtime.keyring import Keypair
from sdk.storage.nodes import NodeAddress, NodeError, NodeHttp
from storage_node.auth import body_hash
from tests.sdk.one_way_node import answering, flooding, serve_one_way, trickling

ACCOUNT = bytes(32)
PATH = "/v1/files/0x" + "00" * 32 + "/0/0"


async def test_an_answer_trickled_a_byte_at_a_time_is_cut_off_at_the_request_deadline(nursery):
    node = NodeAddress(ACCOUNT, await serve_one_way(nursery, trickling))
    with trio.fail_after(60):  # the body's end is hours away: only the request's deadline ends it sooner
        async with NodeHttp(None, timeout=1) as http:
            with pytest.raises(NodeError, match="no whole answer within 7 s") as caught:  # 1 s + 100 kB at 16 KiB/s
                await http.get(node, PATH, 100_000, signed=False)
    assert caught.value.status is None and caught.value.retryable


async def test_a_huge_answer_to_an_upload_is_not_read(nursery):
    """The node acknowledges a fragment with 300 MiB: the client reads the few bytes an answer may have."""
    node = NodeAddress(ACCOUNT, await serve_one_way(nursery, flooding(201, 300 << 20)))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    async with NodeHttp(Keypair.from_uri("//Alice")) as http:
        await http.put(node, PATH, b"fragment", body_hash(b"fragment"))
        assert not await http.healthy(NodeAddress(ACCOUNT, await serve_one_way(nursery, flooding(503, 300 << 20))))
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 100 << 10  # the whole answer would be 300 MiB


async def test_an_error_body_reaches_the_user_without_its_control_characters(nursery):
    node = NodeAddress(ACCOUNT, await serve_one_way(nursery, answering(403, b"no\x1b[2J\rread")))
    async with NodeHttp(None) as http:
        with pytest.raises(NodeError) as caught:
            await http.get(node, PATH, 10, signed=False)
    assert caught.value.status == 403 and caught.value.reason == "no\\x1b[2J\\rread"


@pytest.mark.parametrize("endpoint", ["http://a:b", "http://[::1", "http://[zz]", "http://xn--zz-", "http://a..b",
                                      "http://a\x00b"])
async def test_a_registered_endpoint_that_is_no_url_fails_that_node_only(endpoint):
    """The chain takes any printable http(s) URL; a repairer, an uploader or a reader asking that node gets
    the NodeError it gets from any unreachable node (one such endpoint used to end every repair it was in)."""
    async with NodeHttp(Keypair.from_uri("//Alice"), timeout=2) as http:
        with pytest.raises(NodeError) as caught:
            await http.get(NodeAddress(ACCOUNT, endpoint), PATH, 10, signed=True)
        assert caught.value.status is None
        assert not await http.healthy(NodeAddress(ACCOUNT, endpoint))
