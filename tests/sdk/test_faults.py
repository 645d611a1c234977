"""The chain client when the node fails: gone, never there, stalled, restarted. Each test runs its own node."""

from __future__ import annotations

import os
import signal

import anyio
import pytest

from sdk.chain import AsyncClient, BadArgument, ConnectionFailed, ConnectionLost, ReconnectPolicy, RequestTimeout
from tests.integration.nodes import free_port
from tests.sdk.conftest import ws_url

QUICK_GIVE_UP = ReconnectPolicy(initial_delay=0.1, max_delay=0.5, give_up_after=2.0, attempt_timeout=5.0)


async def test_nothing_listening_is_a_connection_error():
    with anyio.fail_after(30):
        with pytest.raises(ConnectionFailed, match="gave up after 2 s"):
            async with AsyncClient(f"ws://127.0.0.1:{free_port()}", reconnect=QUICK_GIVE_UP):
                pass


async def test_a_node_that_goes_away_gives_a_typed_connection_error(own_node):
    async with AsyncClient(ws_url(own_node), reconnect=QUICK_GIVE_UP) as client:
        assert (await client.get_block_header()).number >= 1
        with anyio.fail_after(60):
            async with client.subscribe_new_heads() as heads:
                await heads.__anext__()
                own_node.stop()
                with pytest.raises(ConnectionFailed):
                    while True:  # the buffered heads, then the loss: resubscribing gives up
                        await heads.__anext__()
            with pytest.raises(ConnectionFailed):
                await client.query("System", "Number")


async def test_a_stalled_node_times_out_calls_and_watches(own_node):
    async with AsyncClient(ws_url(own_node), timeout=2, watch_timeout=2) as client:
        call = client.compose_call("System", "remark", {"remark": b"stalled"})
        extrinsic = await client.create_signed_extrinsic(call, "//Alice")
        os.killpg(own_node.process.pid, signal.SIGSTOP)
        try:
            with anyio.fail_after(30):
                with pytest.raises(RequestTimeout, match="system_health: no answer within 2 s"):
                    await client.rpc_request("system_health")
                with pytest.raises(RequestTimeout, match="within 0.5 s"):
                    await client.rpc_request("chain_getHeader", timeout=0.5)
                with pytest.raises(RequestTimeout):
                    await client.submit_extrinsic(extrinsic, wait_for_inclusion=True)
        finally:
            os.killpg(own_node.process.pid, signal.SIGCONT)
        with anyio.fail_after(30):
            assert (await client.get_block_header()).number >= 1  # the connection survived the stall


async def test_a_restarted_node_is_reconnected_and_subscriptions_resume(own_node):
    async with AsyncClient(ws_url(own_node)) as client:
        before = (await client.get_block_header()).number
        with anyio.fail_after(120):
            async with client.subscribe_new_heads() as heads:
                await heads.__anext__()
                own_node.stop()
                own_node.start()
                async for header in heads:  # buffered heads first, then the resubscription's
                    if heads.resubscriptions:
                        break
                assert header.number >= before
            assert (await client.query("System", "Number")) >= before
            receipt = await client.sign_and_submit(client.compose_call("System", "remark", {"remark": b"back"}),
                                                   "//Alice", wait_for_inclusion=True)
            assert receipt.is_success


async def test_a_watch_cut_by_a_lost_connection_is_not_silently_resumed(own_node):
    async with AsyncClient(ws_url(own_node), reconnect=QUICK_GIVE_UP) as client:
        extrinsic = await client.create_signed_extrinsic(client.compose_call("System", "remark", {"remark": b"cut"}),
                                                         "//Alice")
        os.killpg(own_node.process.pid, signal.SIGSTOP)  # the watch is sent but cannot be answered

        async def kill_soon() -> None:
            await anyio.sleep(0.5)
            own_node.kill()

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(kill_soon)
                with pytest.raises(ConnectionLost):
                    await client.submit_extrinsic(extrinsic, wait_for_finalization=True)
        own_node.start()  # its pool went with it: the next transaction takes the lost one's nonce again
        with anyio.fail_after(30):  # (counting past it, it would wait in the future queue until dropped)
            receipt = await client.sign_and_submit(client.compose_call("System", "remark", {"remark": b"after"}),
                                                   "//Alice", wait_for_inclusion=True)
        assert receipt.is_success


async def test_a_client_of_several_nodes_moves_to_the_next_when_one_is_down(own_node, dev_node):
    """Two nodes of one chain (same genesis and runtime): a dead first URL costs one attempt, and a node that goes
    away mid-subscription is replaced by the next, where the subscription resumes."""
    dead = f"ws://127.0.0.1:{free_port()}"
    async with AsyncClient([dead, ws_url(own_node), ws_url(dev_node)], reconnect=QUICK_GIVE_UP) as client:
        assert client.url == dead and (await client.get_block_header()).number >= 1
        with anyio.fail_after(60):  # a transaction's era read through the first node, which the next lacks:
            receipt = await client.sign_and_submit(client.compose_call("System", "remark", {"remark": b"first"}),
                                                   "//Alice", wait_for_inclusion=True)
            assert receipt.is_success
            async with client.subscribe_new_heads() as heads:
                await heads.__anext__()
                own_node.stop()
                async for _ in heads:  # buffered heads first, then the next node's
                    if heads.resubscriptions:
                        break
            assert (await client.query("System", "Number")) >= 1
            receipt = await client.sign_and_submit(client.compose_call("System", "remark", {"remark": b"failover"}),
                                                   "//Alice", wait_for_inclusion=True)
            assert receipt.is_success


async def test_a_client_of_several_nodes_gives_up_once_every_one_failed():
    urls = [f"ws://127.0.0.1:{free_port()}" for _ in range(3)]
    with anyio.fail_after(30):
        with pytest.raises(ConnectionFailed, match="gave up after 2 s"):
            async with AsyncClient(urls, reconnect=QUICK_GIVE_UP):
                pass
    with pytest.raises(BadArgument, match="at least one node"):
        AsyncClient([])
    with pytest.raises(BadArgument, match="ws://host:port"):
        AsyncClient([urls[0], "http://127.0.0.1:9944"])


async def test_a_client_of_several_nodes_moves_on_from_one_that_hangs_once_connected(own_node, dev_node):
    """A paused (SIGSTOP) or hung node keeps its TCP connection open: no call on it was ever answered, no
    subscription ever ended, and the client never moved to the next node. It stops answering pings."""
    async with AsyncClient([ws_url(own_node), ws_url(dev_node)], keepalive=1.0, reconnect=QUICK_GIVE_UP) as client:
        with anyio.fail_after(60):
            async with client.subscribe_new_heads() as heads:
                await heads.__anext__()
                os.killpg(own_node.process.pid, signal.SIGSTOP)
                try:
                    async for _ in heads:  # buffered heads first, then the next node's
                        if heads.resubscriptions:
                            break
                    assert (await client.query("System", "Number")) >= 1
                finally:
                    os.killpg(own_node.process.pid, signal.SIGCONT)
