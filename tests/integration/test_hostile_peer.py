"""A hostile peer against a real dev node: invalid blocks, forged votes and garbage get it scored down and
banned while the node keeps producing blocks and answering RPC."""

from __future__ import annotations

import trio


from node.consensus import aura
from node.consensus.finality import SignedVote, Stage, Vote
from node.network import NetworkConfig, NetworkService, NodeKey, PeerAddress, Verdict
from node.protocol import STATUS_PROTOCOL, TOPIC_BLOCKS, TOPIC_FINALITY, TOPIC_TRANSACTIONS, Status
from runtime.executive import Block
from runtime.primitives import Header, SignatureScheme
from runtime.keyring import Keypair
from tests.integration.nodes import NodeProcess, free_port, rpc, wait_until


async def test_invalid_gossip_gets_a_peer_banned_and_the_node_carries_on(tmp_path):
    node = NodeProcess(["--dev"], tmp_path / "data", free_port(), free_port(), tmp_path / "node.log").start()
    try:
        await trio.to_thread.run_sync(lambda: wait_until(lambda: node.best() >= 1, 20, "first block"))
        node_key = NodeKey.load_or_create(tmp_path / "data" / "network" / "secret_ed25519")
        rogue = NetworkService(NodeKey.generate(), NetworkConfig(listen_port=0))
        for topic in (TOPIC_BLOCKS, TOPIC_FINALITY, TOPIC_TRANSACTIONS):
            rogue.subscribe(topic, lambda peer, payload: Verdict.ACCEPT)
        async with trio.open_nursery() as nursery:
            await nursery.start(rogue.run)
            with trio.fail_after(10):
                peer = await rogue.connect(PeerAddress("127.0.0.1", node.p2p_port, node_key.peer_id))
                status = Status.decode(await rogue.request(peer, STATUS_PROTOCOL, b"", timeout=5))
            # blocks on the node's best block sealed by a key that is not the slot's authority, votes with
            # forged signatures, undecodable transaction batches: each message different (no de-duplication)
            mallory = Keypair.from_uri("//Mallory", SignatureScheme.Ed25519)
            alice = Keypair.from_uri("//Alice", SignatureScheme.Ed25519).public
            with trio.fail_after(20):
                attempt = 0
                while rogue.peers():
                    attempt += 1
                    header = Header(status.best_hash, status.best_number + 1, bytes(32), bytes(32),
                                    aura.pre_digest(attempt))
                    await rogue.publish(TOPIC_BLOCKS, Block(aura.seal(header, mallory.secret), ()).encode())
                    vote = Vote(Stage.PREVOTE, status.best_hash, status.best_number)
                    await rogue.publish(TOPIC_FINALITY, SignedVote(attempt, 0, vote, alice, bytes(64)).encode())
                    await rogue.publish(TOPIC_TRANSACTIONS, b"\xff\xff" + attempt.to_bytes(4, "little"))
                    await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
        best = node.best()
        await trio.to_thread.run_sync(lambda: wait_until(lambda: node.best() > best, 10, "still producing"))
        assert rpc(node.rpc_port, "system_health")["peers"] == 0
        assert "banned" in node.log_path.read_text()
    finally:
        node.stop()


