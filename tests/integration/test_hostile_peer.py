"""A hostile peer against four real validator processes (issue 15, section 2).

The hostile peer is a real ``NetworkService`` with its own key, driven by the test. It sends malformed,
truncated, oversized, replayed and forged messages on every gossip topic, broken frames, floods, and absurd
or malformed requests. Throughout, the honest validators must keep finalizing, never lower each other's
reputation (two 17-byte messages once made them ban each other: each forwarded them unchecked and each
receiver blamed the forwarder), and the hostile identities must end up banned by every validator.

Reputation is read from the validators' logs: ``NetworkService.report`` logs every change at debug level
("reputation of <peer id> -100, now ...") and every ban at info level ("banned <peer id> ...").
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable

import pytest
import trio

from node.chain_spec import preset
from node.consensus import aura
from node.consensus.finality import Justification, SignedVote
from node.consensus.messages import CATCH_UP_PROTOCOL, NEIGHBOR_PROTOCOL, CatchUpRequest, NeighborPacket
from node.network import (
    ConnectionRefused,
    GoodbyeReason,
    NetworkConfig,
    NetworkService,
    NodeKey,
    PeerAddress,
    PeerId,
    RemoteError,
    Verdict,
)
from node.protocol import (
    BLOCKS_BY_HASH_PROTOCOL,
    BLOCKS_PROTOCOL,
    MAX_BLOCKS_PER_RESPONSE,
    MAX_HASHES_PER_REQUEST,
    STATUS_PROTOCOL,
    TOPIC_BLOCKS,
    TOPIC_COMMITS,
    TOPIC_FINALITY,
    TOPIC_TRANSACTIONS,
    BlockRequest,
    BlocksByHashRequest,
    Status,
    decode_blocks_response,
    encode_transactions,
)
from runtime.executive import Block
from runtime.extrinsic import encode_signed
from runtime.keyring import Keypair
from runtime.primitives import Era, Header, SignatureScheme
from tests.integration.nodes import NodeProcess, wait_until
from tests.integration.test_validators import start_network
from tests.node.network.raw_peer import RawPeer

HOSTILE = NetworkConfig(listen_port=0, gossip_rate_per_second=1e6, gossip_burst=10**6, outbound_queue_frames=10**5)
"""The hostile peer's own limits: none worth mentioning, so that it can flood."""

MALFORMED_BLOCK_REQUESTS = [
    (BLOCKS_PROTOCOL, struct.pack("<II", 5, 0)),  # no block at all
    (BLOCKS_PROTOCOL, b"\x01\x02\x03"),           # truncated
    (BLOCKS_PROTOCOL, b"\xff" * 4096),            # trailing garbage
    (BLOCKS_BY_HASH_PROTOCOL, b"\x00"),           # no hash at all
    (BLOCKS_BY_HASH_PROTOCOL, b"\x04" + bytes(31)),  # a hash cut short
    (BLOCKS_BY_HASH_PROTOCOL, BlocksByHashRequest((bytes(32),) * (MAX_HASHES_PER_REQUEST + 1)).encode()),  # too many
]
ABSURD_REQUESTS = [
    (BLOCKS_PROTOCOL, BlockRequest(2**32 - 1, 2**32 - 1).encode()),  # the highest start, the largest count
    (BLOCKS_PROTOCOL, BlockRequest(0, 2**32 - 1).encode()),          # everything from genesis
    (BLOCKS_PROTOCOL, BlockRequest(10**9, 1).encode()),              # far beyond the best block
    (BLOCKS_BY_HASH_PROTOCOL, BlocksByHashRequest((b"\xff" * 32,) * MAX_HASHES_PER_REQUEST).encode()),  # unknown
    *MALFORMED_BLOCK_REQUESTS,
    (STATUS_PROTOCOL, b"\xff" * 4096),
    (NEIGHBOR_PROTOCOL, b"\x01"),                                    # a truncated neighbor packet
    (NEIGHBOR_PROTOCOL, NeighborPacket(2**64 - 1, 2**64 - 1, 2**32 - 1).encode()),  # a set and round far away
    (CATCH_UP_PROTOCOL, b"\xff" * 4096),
    (CATCH_UP_PROTOCOL, CatchUpRequest(0, 2**64 - 1).encode()),      # a round nobody has reached
    ("cairn/no-such-protocol/1", b""),
]

BROKEN_FRAMES = [  # (lane, lane data): each ends the connection and costs Penalty.MALFORMED_FRAME
    (0, struct.pack(">I", 16 * 1024 * 1024 + 1)),  # a frame larger than any node accepts
    (0, struct.pack(">I", 1) + b"\x7f"),            # an unknown frame kind
    (0, struct.pack(">I", 8) + b"\x03" + bytes(7)),  # a PING one byte short
    (7, b"\x00"),                                   # a lane that does not exist
]


@pytest.fixture(scope="module")
def validators(tmp_path_factory):
    nodes = start_network(tmp_path_factory.mktemp("validators"), 4, extra_args=("--log-level", "debug"))
    yield nodes
    for node in nodes:
        node.stop()


def _peer_id(node: NodeProcess) -> PeerId:
    return NodeKey.load_or_create(node.base_path / "network" / "secret_ed25519").peer_id


def _lowered(node: NodeProcess, peer_id: PeerId) -> bool:
    """Whether ``node`` ever lowered ``peer_id``'s reputation (or banned it)."""
    text = node.log_path.read_text()
    return f"reputation of {peer_id} -" in text or f"banned {peer_id} " in text


def _honest_reputations_untouched(validators: list[NodeProcess]) -> list[tuple[str, str]]:
    """Every (validator, honest peer) pair where the validator lowered that peer's reputation."""
    ids = {node.log_path.stem: _peer_id(node) for node in validators}
    return [(node.log_path.stem, name) for node in validators for name, peer_id in ids.items()
            if _lowered(node, peer_id)]


async def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    await trio.to_thread.run_sync(wait_until, condition, timeout, what)


async def _keep_finalizing(validators: list[NodeProcess], blocks: int) -> None:
    target = max(node.finalized() for node in validators) + blocks
    await _wait(lambda: min(node.finalized() for node in validators) >= target, 90,
                f"every validator finalizes {blocks} more blocks")


async def _connect_to_all(hostile: NetworkService, validators: list[NodeProcess]) -> list[PeerId]:
    ids = [_peer_id(node) for node in validators]
    with trio.fail_after(30):
        for node, peer_id in zip(validators, ids):
            await hostile.connect(PeerAddress("127.0.0.1", node.p2p_port, peer_id))
    return ids


async def _refused_as_banned(node: NodeProcess, key: NodeKey) -> bool:
    try:
        peer = await RawPeer.dial(node.p2p_port, _peer_id(node), key)
    except ConnectionRefused as refused:
        return refused.reason is GoodbyeReason.BANNED
    await peer.aclose()
    return False


async def test_absurd_requests_broken_frames_and_floods_get_peers_banned_and_finality_goes_on(validators):
    await _wait(lambda: min(node.finalized() for node in validators) >= 2, 90, "initial finality")
    flooder_key, framer_key = NodeKey.generate(), NodeKey.generate()
    hostile = NetworkService(flooder_key, HOSTILE)
    async with trio.open_nursery() as nursery:
        await nursery.start(hostile.run)
        ids = await _connect_to_all(hostile, validators)
        for peer_id in ids:  # a clear, bounded answer to each, in time: never a stall
            for protocol, payload in ABSURD_REQUESTS:
                with trio.fail_after(15):
                    try:
                        answer = await hostile.request(peer_id, protocol, payload, timeout=10)
                    except RemoteError:
                        continue
                if protocol == BLOCKS_PROTOCOL:
                    assert len(decode_blocks_response(answer)) <= MAX_BLOCKS_PER_RESPONSE
                elif protocol == BLOCKS_BY_HASH_PROTOCOL:
                    assert decode_blocks_response(answer) == []
        with trio.fail_after(60):  # far beyond every validator's gossip rate limit, until all ban it
            for index in range(10**9):
                if not hostile.peers():
                    break
                await hostile.publish("noise", index.to_bytes(8, "little"))
                if index % 500 == 0:
                    await trio.sleep(0.02)
        nursery.cancel_scope.cancel()

    for node, peer_id in zip(validators, ids):  # a broken frame ends a connection; only repeated ones ban
        for lane, data in BROKEN_FRAMES:
            with trio.fail_after(15):
                framer = await RawPeer.dial(node.p2p_port, peer_id, framer_key)
                await framer.send_lane_data(data, lane)
                assert await framer.goodbye_before_close() is GoodbyeReason.PROTOCOL_VIOLATION

    for node in validators:
        assert await _refused_as_banned(node, flooder_key) and await _refused_as_banned(node, framer_key)
    await _keep_finalizing(validators, 3)
    assert _honest_reputations_untouched(validators) == []


async def test_malformed_requests_are_refused_by_name_and_cost_the_requester(validators):
    requester = NetworkService(NodeKey.generate(), HOSTILE)
    async with trio.open_nursery() as nursery:
        await nursery.start(requester.run)
        ids = await _connect_to_all(requester, validators[:1])
        for protocol, payload in MALFORMED_BLOCK_REQUESTS:
            with trio.fail_after(15), pytest.raises(RemoteError) as refused:
                await requester.request(ids[0], protocol, payload, timeout=10)
            assert refused.value.message != "internal error"
        nursery.cancel_scope.cancel()
    assert f"reputation of {requester.local_peer_id} -100" in validators[0].log_path.read_text()


class _Recorder:
    """The hostile peer's ears: the first few genuine messages of each topic, to replay, truncate, forge."""

    def __init__(self) -> None:
        self.heard: dict[str, list[bytes]] = {}

    def validator(self, topic: str) -> Callable[[PeerId, bytes], Verdict]:
        def record(peer_id: PeerId, payload: bytes) -> Verdict:
            heard = self.heard.setdefault(topic, [])
            if len(heard) < 8:
                heard.append(payload)
            return Verdict.IGNORE  # heard, not passed on

        return record


def _flip(data: bytes, offset: int) -> bytes:
    return data[:offset] + bytes([data[offset] ^ 0x01]) + data[offset + 1:]


def _forged_vote(genuine: bytes) -> bytes:
    """A genuine vote with one bit of its signature flipped."""
    return _flip(genuine, len(genuine) - 1)  # the signature ends the encoding


def _forged_commit(genuine: bytes) -> bytes:
    """A genuine justification with one precommit's signature altered (still well formed)."""
    justification = Justification.decode(genuine)
    first, *others = justification.precommits
    altered = SignedVote.decode(_forged_vote(first.encode()))
    return Justification(justification.round, justification.set_id, justification.target_hash,
                         justification.target_number, (altered, *others), justification.ancestry).encode()


def _forged_block(status: Status, attempt: int) -> bytes:
    """A block on the validator's best block, sealed by a key that is not the slot's authority."""
    mallory = Keypair.from_uri("//Mallory", SignatureScheme.Ed25519)
    header = Header(status.best_hash, status.best_number + 1, bytes(32), bytes(32), aura.pre_digest(attempt))
    return Block(aura.seal(header, mallory.secret), ()).encode()


@functools.cache
def _transfer_call() -> bytes:
    runtime, _, _ = preset("local", validators=4).build()
    bob = Keypair.from_uri("//Bob", SignatureScheme.Sr25519)
    return runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=bob.public, value=10**12))


def _forged_transactions(attempt: int) -> bytes:
    """A batch of one well-formed transfer whose signature is all zeros."""
    alice = Keypair.from_uri("//Alice", SignatureScheme.Sr25519)
    return encode_transactions([encode_signed(_transfer_call(), alice.public, SignatureScheme.Sr25519, bytes(64),
                                              Era(), attempt, 0)])


def _hostile_messages(genuine: bytes, forged: list[bytes], attempt: int) -> list[bytes]:
    """Malformed, truncated, replayed and forged versions of one topic's message, each new but the replayed
    one (so that none is dropped as a duplicate); an oversized one in the first attempt only."""
    junk = attempt.to_bytes(17, "little")  # 17 bytes, as in the incident
    messages = [junk, genuine[:max(1, len(genuine) - 1 - attempt % len(genuine))], genuine, *forged]
    if attempt == 0:
        messages.append(genuine + bytes(4 * 1024 * 1024))
    return messages


async def test_hostile_gossip_on_every_topic_is_never_forwarded_and_bans_its_sender(validators):
    await _wait(lambda: min(node.finalized() for node in validators) >= 2, 90, "initial finality")
    hostile_key, recorder = NodeKey.generate(), _Recorder()
    hostile = NetworkService(hostile_key, HOSTILE)
    for topic in (TOPIC_BLOCKS, TOPIC_FINALITY, TOPIC_COMMITS):
        hostile.subscribe(topic, recorder.validator(topic))
    async with trio.open_nursery() as nursery:
        await nursery.start(hostile.run)
        ids = await _connect_to_all(hostile, validators)
        with trio.fail_after(60):
            while not all(recorder.heard.get(topic) for topic in (TOPIC_BLOCKS, TOPIC_FINALITY, TOPIC_COMMITS)):
                await trio.sleep(0.1)
            status = Status.decode(await hostile.request(ids[0], STATUS_PROTOCOL, b"", timeout=10))
        genuine_transactions = _forged_transactions(0)  # nobody gossips real ones here: the forgery stands in
        with trio.fail_after(60):
            for attempt in range(10**9):
                if not hostile.peers():
                    break
                heard = recorder.heard
                forgeries = {
                    TOPIC_BLOCKS: (heard[TOPIC_BLOCKS][0], [_forged_block(status, attempt)]),
                    TOPIC_FINALITY: (heard[TOPIC_FINALITY][0], [_forged_vote(heard[TOPIC_FINALITY][-1])]),
                    TOPIC_COMMITS: (heard[TOPIC_COMMITS][0], [_forged_commit(heard[TOPIC_COMMITS][-1])]),
                    TOPIC_TRANSACTIONS: (genuine_transactions, [
                        _forged_transactions(attempt + 1),
                        encode_transactions([attempt.to_bytes(17, "little")]),  # a well-formed batch of garbage
                    ]),
                }
                for topic, (genuine, forged) in forgeries.items():
                    for message in _hostile_messages(genuine, forged, attempt):
                        await hostile.publish(topic, message)
                await trio.sleep(0.2)
        nursery.cancel_scope.cancel()

    for node in validators:
        assert await _refused_as_banned(node, hostile_key)
    await _keep_finalizing(validators, 3)
    assert _honest_reputations_untouched(validators) == []
