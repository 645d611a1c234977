"""Noise XX: byte-exact against published vectors, the libp2p-style identity binding, and the session."""

from __future__ import annotations

import pytest
import trio
import trio.testing
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from node.network.errors import ConnectionLost, DecryptionFailed, HandshakeError, PeerIdMismatch
from node.network.identity import NodeKey
from node.network.noise import (
    HANDSHAKE_MESSAGE_LENGTHS,
    IDENTITY_PAYLOAD_LENGTH,
    MAX_PLAINTEXT_LENGTH,
    NoiseIdentity,
    XXHandshake,
    decode_identity_payload,
    encode_identity_payload,
    secure_inbound,
    secure_outbound,
)

# The Noise_XX_25519_ChaChaPoly_SHA256 entries of cacophony's vectors/cacophony.txt and snow's
# tests/vectors/snow.txt. Messages alternate initiator, responder, initiator, ... through the three
# handshake messages and on into transport messages.
VECTORS = {
    "cacophony": {
        "prologue": "4a6f686e2047616c74",
        "init_static": "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed542214d1",
        "init_ephemeral": "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da977c464a",
        "resp_static": "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114246e4893",
        "resp_ephemeral": "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63da6b375b",
        "handshake_hash": "c8e5f64e846193be2a834104c2a009868d6c9f3bd3c186299888b488b2f1f58e",
        "messages": [
            ("4c756477696720766f6e204d69736573",
             "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3afa4c79444c756477696720766f6e204d69736573"),
            ("4d757272617920526f746862617264",
             "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f14480884381cbad1f276e038c48378ffce2b65285e08d6b68"
             "aaa3629a5a8639392490e5b9bd5269c2f1e4f488ed8831161f19b7815528f8982ffe09be9b5c412f8a0db50f8814c7194e83f23d"
             "bd8d162c9326ad"),
            ("462e20412e20486179656b",
             "c7195ffacac1307ff99046f219750fc47693e23c3cb08b89c2af808b444850a80ae475b9df0f169ae80a89be0865b57f58c9fea0"
             "d4ec82a286427402f113e4b6ae769a1d95941d49b25030"),
            ("4361726c204d656e676572", "96763ed773f8e47bb3712f0e29b3060ffc956ffc146cee53d5e1df"),
            ("4a65616e2d426170746973746520536179", "3e40f15f6f3a46ae446b253bf8b1d9ffb6ed9b174d272328ff91a7e2e5c79c07f5"),
            ("457567656e2042f6686d20766f6e2042617765726b",
             "eb3f3515110702e047a6c9da4478b6ead94873c11c0f2d710ddb3f09fce024b3a58502ae3f"),
        ],
    },
    "snow": {
        "prologue": "5468657265206973206e6f20726967687420616e642077726f6e672e2054686572652773206f6e6c792066756e20616e6420"
                    "626f72696e672e",
        "init_static": "7dec208517a3b81a2861d7a71266d5d6dc944c5a8816634a86fe63198a0148ee",
        "init_ephemeral": "a32daf21e93c0131495ce1d903181fde81cc46937daaeb990bae7c992709421e",
        "resp_static": "4d0aed5098e3b4ef20357e9f686ce66204c792b358da2e475017d6c485304881",
        "resp_ephemeral": "4eece0f195d026db035ff987597c429d3ad3bcc2944df37d649528951b2a27c5",
        "handshake_hash": None,
        "messages": [
            ("d03c489139e645d0711a3c9e810d776b46a84912463fafa87b884eebf242dc34",
             "f9fa868ba97ab8a2686deccfaad5a484ee10a5bb85e3d1dce015a84797f92818d03c489139e645d0711a3c9e810d776b46a84912"
             "463fafa87b884eebf242dc34"),
            ("d8190a92f7dc0c93dbea9118ba8055751fb7c6590c416ffbd419964132b99a85",
             "8c4e6fdb7d09d501a86f7eca5c234522751706ed409182c05cdf5f827d4dae47b81c6c5f43b025692c24391eefee725c17d8cb0f"
             "be3e4abb8aedf42c4fd2592d4ea48ac08989d6ae8b4adae08b2c34087c808c7aa55a63c02b0fab9e930612336bd43eaea04d3c67"
             "0a0a146691aa9cc9d357872320dc735dbc48580cffb553db"),
            ("77891b19dcb92ef7c055b672c4a5aa7fdf1c84146b8b303459022729473ce254",
             "933ca6b5ed60df3df66121f0ab49a09e49efa45c613a86a3cecbf4c535cef2f83f72b42837b18e3572f2fdc2b74c331e2368a545"
             "cef54bdca081678ab0e9dd5348122459e0c034c851984d88ce610963d43cde6cfe73a67fbd5a63e8bfca96d0"),
            ("d7efdf988072881941db045a42882433817555128fbf5663e56081712ec7d212",
             "54ef0ff0629e1aaa7685a2806ab111cba76b52331f2642276736f415868eacb69ab2577f3bda0cbf72f879685f6ed25f"),
            ("dd7bf01a588bafb52c6cfba952e5d8fe35cc2b3f92b4730ae2474615157345ce",
             "356be70f110306d5c699bb834bb9d58d909e325924dfbec972e406e6f294dc63e1daebefe8a62a334facc8048ab4ad66"),
        ],
    },
}


def _x25519(hex_key: str) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(bytes.fromhex(hex_key))


@pytest.mark.parametrize("source", sorted(VECTORS))
def test_handshake_and_transport_match_published_vectors(source):
    vector = VECTORS[source]
    prologue = bytes.fromhex(vector["prologue"])
    initiator = XXHandshake(initiator=True, static_key=_x25519(vector["init_static"]),
                            ephemeral_key=_x25519(vector["init_ephemeral"]), prologue=prologue)
    responder = XXHandshake(initiator=False, static_key=_x25519(vector["resp_static"]),
                            ephemeral_key=_x25519(vector["resp_ephemeral"]), prologue=prologue)
    for index, (payload, ciphertext) in enumerate(vector["messages"][:3]):
        sender, receiver = (initiator, responder) if index % 2 == 0 else (responder, initiator)
        message = sender.write_message(bytes.fromhex(payload))
        assert message.hex() == ciphertext
        assert receiver.read_message(message).hex() == payload
    assert initiator.is_complete and responder.is_complete
    assert initiator.handshake_hash == responder.handshake_hash
    if vector["handshake_hash"]:
        assert initiator.handshake_hash.hex() == vector["handshake_hash"]
    assert initiator.remote_static == _x25519(vector["resp_static"]).public_key().public_bytes_raw()

    (initiator_send, initiator_receive), (responder_send, responder_receive) = initiator.split(), responder.split()
    for index, (payload, ciphertext) in enumerate(vector["messages"][3:], start=3):
        send, receive = (initiator_send, responder_receive) if index % 2 == 0 else (responder_send, initiator_receive)
        message = send.encrypt_with_ad(b"", bytes.fromhex(payload))
        assert message.hex() == ciphertext
        assert receive.decrypt_with_ad(b"", message).hex() == payload


def test_out_of_turn_and_early_split_are_refused():
    handshake = XXHandshake(initiator=False, static_key=X25519PrivateKey.generate(), prologue=b"")
    with pytest.raises(HandshakeError):
        handshake.write_message(b"")
    with pytest.raises(HandshakeError):
        handshake.split()


def test_different_prologues_fail_at_message_two():
    initiator = XXHandshake(initiator=True, static_key=X25519PrivateKey.generate(), prologue=b"cairn/p2p/v1")
    responder = XXHandshake(initiator=False, static_key=X25519PrivateKey.generate(), prologue=b"cairn/p2p/v2")
    responder.read_message(initiator.write_message(b""))
    with pytest.raises(HandshakeError):
        initiator.read_message(responder.write_message(b""))


def test_identity_payload_layout_and_binding():
    key, static = NodeKey.generate(), X25519PrivateKey.generate().public_key().public_bytes_raw()
    payload = encode_identity_payload(key, static)
    assert len(payload) == IDENTITY_PAYLOAD_LENGTH == 104
    assert payload[:6] == bytes.fromhex("0a2408011220") and payload[6:38] == key.peer_id.public_key
    assert payload[38:40] == bytes.fromhex("1240")
    assert decode_identity_payload(payload, static) == key.peer_id

    other_static = X25519PrivateKey.generate().public_key().public_bytes_raw()
    with pytest.raises(HandshakeError):  # a payload replayed with another Noise key
        decode_identity_payload(payload, other_static)
    forged = payload[:6] + NodeKey.generate().peer_id.public_key + payload[38:]
    with pytest.raises(HandshakeError):  # someone else's identity claimed with this signature
        decode_identity_payload(forged, static)
    with pytest.raises(HandshakeError):
        decode_identity_payload(payload[:-1], static)


async def _handshake_pair(dialer: NoiseIdentity, listener: NoiseIdentity, expected=None, dialer_stream=None):
    if dialer_stream is None:
        dialer_stream, listener_stream = trio.testing.memory_stream_pair()
    else:
        dialer_stream, listener_stream = dialer_stream
    channels = {}

    async def inbound():
        channels["listener"] = await secure_inbound(listener_stream, listener)

    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(inbound)
            channels["dialer"] = await secure_outbound(dialer_stream, dialer, expected_peer_id=expected)
    return channels["dialer"], channels["listener"]


async def test_both_sides_learn_and_verify_the_remote_identity():
    dialer, listener = NoiseIdentity(NodeKey.generate()), NoiseIdentity(NodeKey.generate())
    dialer_channel, listener_channel = await _handshake_pair(dialer, listener, expected=listener.peer_id)
    assert dialer_channel.remote_peer_id == listener.peer_id
    assert listener_channel.remote_peer_id == dialer.peer_id
    assert dialer_channel.handshake_hash == listener_channel.handshake_hash

    with trio.fail_after(5):
        for size in (0, 1, 1000, MAX_PLAINTEXT_LENGTH):
            await dialer_channel.send(bytes([size % 251]) * size)
            assert await listener_channel.receive() == bytes([size % 251]) * size
            await listener_channel.send(b"back")
            assert await dialer_channel.receive() == b"back"
    with pytest.raises(ValueError):
        await dialer_channel.send(bytes(MAX_PLAINTEXT_LENGTH + 1))


async def test_dialer_rejects_an_unexpected_peer_before_revealing_itself():
    dialer, listener = NoiseIdentity(NodeKey.generate()), NoiseIdentity(NodeKey.generate())
    dialer_stream, listener_stream = trio.testing.memory_stream_pair()
    expected = NodeKey.generate().peer_id
    with trio.fail_after(5):
        async with trio.open_nursery() as nursery:
            async def inbound():
                with pytest.raises(ConnectionLost):
                    await secure_inbound(listener_stream, listener)
            nursery.start_soon(inbound)
            with pytest.raises(PeerIdMismatch) as raised:
                await secure_outbound(dialer_stream, dialer, expected_peer_id=expected)
            await dialer_stream.aclose()
    assert raised.value.expected == expected and raised.value.actual == listener.peer_id


async def test_tampered_transport_message_fails_authentication():
    dialer_stream, listener_stream = trio.testing.memory_stream_pair()
    dialer_channel, listener_channel = await _handshake_pair(NoiseIdentity(NodeKey.generate()),
                                                             NoiseIdentity(NodeKey.generate()),
                                                             dialer_stream=(dialer_stream, listener_stream))
    sent = []

    async def capture(data):
        sent.append(bytes(data))

    genuine_send_all, dialer_stream.send_all = dialer_stream.send_all, capture
    await dialer_channel.send(b"vote for block 7")  # intercepted: delivered below with one bit flipped
    with trio.fail_after(5):
        await genuine_send_all(sent[0][:-1] + bytes([sent[0][-1] ^ 1]))
        with pytest.raises(DecryptionFailed):
            await listener_channel.receive()


async def test_garbage_instead_of_a_handshake_is_refused_after_two_bytes():
    dialer_stream, listener_stream = trio.testing.memory_stream_pair()
    with trio.fail_after(5):
        await dialer_stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(HandshakeError, match="announced 18245 bytes"):
            await secure_inbound(listener_stream, NoiseIdentity(NodeKey.generate()))


def test_handshake_message_sizes_are_fixed():
    assert HANDSHAKE_MESSAGE_LENGTHS == (32, 200, 168)
