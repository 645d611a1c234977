"""Noise XX over TCP: the authenticated, encrypted session every peer connection runs in.

The handshake is ``Noise_XX_25519_ChaChaPoly_SHA256`` (Noise specification revision 34), written directly on
``cryptography`` (X25519, ChaCha20-Poly1305) and the standard library (SHA-256, HMAC). It is checked byte
for byte against the published cacophony and snow test vectors. XX lets both sides learn and authenticate
each other's static key; the handshake payload then binds that throwaway X25519 key to the node's
long-lived ed25519 identity, exactly as libp2p-noise does.

Wire format, version 1 (``PROLOGUE`` names the version; peers of different versions fail the handshake
at message 2, because the prologue is mixed into every key)::

    every Noise message:  length u16 BE | message (length bytes, at most 65535)

    handshake message 1, initiator -> responder, exactly 32 bytes:   e
    handshake message 2, responder -> initiator, exactly 200 bytes:  e (32) | enc(s) (48) | enc(payload) (120)
    handshake message 3, initiator -> responder, exactly 168 bytes:  enc(s) (48) | enc(payload) (120)
    transport message, either way, 16..65535 bytes:  ChaCha20-Poly1305(plaintext) | tag (16)

A handshake message of any other length is rejected as soon as its two length bytes arrive, so garbage
before or during the handshake costs the listener two bytes of reading. Transport nonces count from 0 in
each direction (64-bit little-endian after four zero bytes, as the spec's ChaChaPoly defines); a failed
decryption ends the session.

Identity payload (104 bytes; the same bytes libp2p-noise sends for an ed25519 key, a valid protobuf
``NoiseHandshakePayload``, but parsed here as this one fixed layout)::

    offset  size  value
    0       2     0x0a 0x24         field 1 (identity_key), 36 bytes follow
    2       4     0x08 0x01 0x12 0x20   PublicKey{type: Ed25519, data: 32 bytes follow}
    6       32    ed25519 public key (the PeerId)
    38      2     0x12 0x40         field 2 (identity_sig), 64 bytes follow
    40      64    ed25519 signature of b"noise-libp2p-static-key:" + the sender's X25519 static public key

The responder sends its payload in message 2, the initiator in message 3. A dialer that expects a
particular ``PeerId`` checks message 2 and aborts before message 3, so it never reveals its own identity
to an impostor.

CPU: one handshake costs four X25519 operations, one ed25519 verification and, once per node, one
signature — well under a millisecond — and a 64 KiB transport message is one OpenSSL ChaCha20-Poly1305
call of roughly 30-60 µs. Both are cheaper than the thread hand-off they would need, so they run on the
event loop (house rule 5 moves only work that blocks it for longer).
"""

from __future__ import annotations

import hashlib
import hmac
import struct

import trio
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from node.network.errors import ConnectionLost, DecryptionFailed, HandshakeError, PeerIdMismatch
from node.network.identity import PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, NodeKey, PeerId
from runtime.hashing import DOMAIN_P2P_PROLOGUE

__all__ = [
    "CipherState",
    "MAX_MESSAGE_LENGTH",
    "MAX_PLAINTEXT_LENGTH",
    "NoiseIdentity",
    "PROLOGUE",
    "PROTOCOL_NAME",
    "SecureChannel",
    "XXHandshake",
    "decode_identity_payload",
    "encode_identity_payload",
    "secure_inbound",
    "secure_outbound",
]

PROTOCOL_NAME = b"Noise_XX_25519_ChaChaPoly_SHA256"
PROLOGUE = DOMAIN_P2P_PROLOGUE
"""Mixed into the handshake hash: the version of this whole wire format (Noise framing and frames)."""
SIGNATURE_PREFIX = b"noise-libp2p-static-key:"

DH_LENGTH = 32
HASH_LENGTH = 32
TAG_LENGTH = 16
MAX_MESSAGE_LENGTH = 65535
MAX_PLAINTEXT_LENGTH = MAX_MESSAGE_LENGTH - TAG_LENGTH

_LENGTH_PREFIX = struct.Struct(">H")
_MAX_NONCE = 2**64 - 1  # reserved by the spec: a cipher state must never use it
_RECEIVE_CHUNK = 256 * 1024

_IDENTITY_KEY_FIELD = bytes([0x0A, 0x24, 0x08, 0x01, 0x12, 0x20])
_IDENTITY_SIG_FIELD = bytes([0x12, 0x40])
IDENTITY_PAYLOAD_LENGTH = len(_IDENTITY_KEY_FIELD) + PUBLIC_KEY_LENGTH + len(_IDENTITY_SIG_FIELD) + SIGNATURE_LENGTH

# The XX pattern: the tokens of each handshake message, in order; even messages are the initiator's.
_XX_MESSAGES = (("e",), ("e", "ee", "s", "es"), ("s", "se"))
_ENCRYPTED_KEY_LENGTH = DH_LENGTH + TAG_LENGTH
_ENCRYPTED_PAYLOAD_LENGTH = IDENTITY_PAYLOAD_LENGTH + TAG_LENGTH
HANDSHAKE_MESSAGE_LENGTHS = (
    DH_LENGTH,
    DH_LENGTH + _ENCRYPTED_KEY_LENGTH + _ENCRYPTED_PAYLOAD_LENGTH,
    _ENCRYPTED_KEY_LENGTH + _ENCRYPTED_PAYLOAD_LENGTH,
)


def _hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _hkdf(chaining_key: bytes, input_key_material: bytes) -> tuple[bytes, bytes]:
    """The spec's two-output HKDF (HMAC-SHA256 based; not RFC 5869's info/length interface)."""
    temporary_key = hmac.digest(chaining_key, input_key_material, "sha256")
    first = hmac.digest(temporary_key, b"\x01", "sha256")
    return first, hmac.digest(temporary_key, first + b"\x02", "sha256")


def _public_bytes(private_key: X25519PrivateKey) -> bytes:
    return private_key.public_key().public_bytes_raw()


def _dh(private_key: X25519PrivateKey, public_key: bytes) -> bytes:
    try:
        return private_key.exchange(X25519PublicKey.from_public_bytes(public_key))
    except ValueError as exc:  # a low-order point: the shared secret would be all zeros
        raise HandshakeError("invalid X25519 public key from the peer") from exc


class CipherState:
    """A ChaCha20-Poly1305 key and its message counter (the spec's CipherState)."""

    def __init__(self, key: bytes | None = None) -> None:
        self._aead = None if key is None else ChaCha20Poly1305(key)
        self._nonce = 0

    def _next_nonce(self) -> bytes:
        if self._nonce >= _MAX_NONCE:
            raise DecryptionFailed("nonce space exhausted; the session must be re-established")
        return b"\x00\x00\x00\x00" + self._nonce.to_bytes(8, "little")

    def encrypt_with_ad(self, associated_data: bytes, plaintext: bytes) -> bytes:
        if self._aead is None:
            return plaintext
        ciphertext = self._aead.encrypt(self._next_nonce(), plaintext, associated_data)
        self._nonce += 1
        return ciphertext

    def decrypt_with_ad(self, associated_data: bytes, ciphertext: bytes) -> bytes:
        """Decrypt and authenticate; on failure raise ``DecryptionFailed`` and keep the nonce."""
        if self._aead is None:
            return ciphertext
        try:
            plaintext = self._aead.decrypt(self._next_nonce(), ciphertext, associated_data)
        except InvalidTag:
            raise DecryptionFailed("message authentication failed") from None
        self._nonce += 1
        return plaintext


class _SymmetricState:
    """The spec's SymmetricState: chaining key, handshake hash, and the current handshake cipher."""

    def __init__(self, protocol_name: bytes) -> None:
        digest = protocol_name.ljust(HASH_LENGTH, b"\x00") if len(protocol_name) <= HASH_LENGTH else _hash(protocol_name)
        self.chaining_key = self.handshake_hash = digest
        self._cipher = CipherState()

    def mix_key(self, input_key_material: bytes) -> None:
        self.chaining_key, key = _hkdf(self.chaining_key, input_key_material)
        self._cipher = CipherState(key)

    def mix_hash(self, data: bytes) -> None:
        self.handshake_hash = _hash(self.handshake_hash + data)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        ciphertext = self._cipher.encrypt_with_ad(self.handshake_hash, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        try:
            plaintext = self._cipher.decrypt_with_ad(self.handshake_hash, ciphertext)
        except DecryptionFailed as exc:
            raise HandshakeError("handshake message failed authentication (another protocol version?)") from exc
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        first, second = _hkdf(self.chaining_key, b"")
        return CipherState(first), CipherState(second)


class XXHandshake:
    """The XX handshake state machine of one side. Pure computation: no I/O.

    ``ephemeral_key`` exists for test vectors; normally a fresh one is generated for message 1 or 2.
    """

    def __init__(self, *, initiator: bool, static_key: X25519PrivateKey, prologue: bytes,
                 ephemeral_key: X25519PrivateKey | None = None) -> None:
        self._initiator = initiator
        self._static_key = static_key
        self._ephemeral_key = ephemeral_key
        self._remote_ephemeral: bytes | None = None
        self._remote_static: bytes | None = None
        self._state = _SymmetricState(PROTOCOL_NAME)
        self._state.mix_hash(prologue)
        self._message_index = 0

    @property
    def is_complete(self) -> bool:
        return self._message_index == len(_XX_MESSAGES)

    @property
    def remote_static(self) -> bytes | None:
        """The peer's X25519 static public key, once its ``s`` token has been read."""
        return self._remote_static

    @property
    def handshake_hash(self) -> bytes:
        """``h`` after the last message: identical on both sides of a successful handshake."""
        return self._state.handshake_hash

    def _check_turn(self, writing: bool) -> None:
        if self.is_complete:
            raise HandshakeError("the handshake is already complete")
        initiator_turn = self._message_index % 2 == 0
        if writing != (initiator_turn == self._initiator):
            raise HandshakeError("out-of-turn handshake message")

    def _mix_dh(self, token: str) -> None:
        """``ee``, ``es``, ``se``: the first letter names the initiator's key, the second the responder's."""
        local, remote = (token[0], token[1]) if self._initiator else (token[1], token[0])
        local_key = self._ephemeral_key if local == "e" else self._static_key
        remote_key = self._remote_ephemeral if remote == "e" else self._remote_static
        assert local_key is not None and remote_key is not None, "XX never uses a key before it is known"
        self._state.mix_key(_dh(local_key, remote_key))

    def write_message(self, payload: bytes) -> bytes:
        self._check_turn(writing=True)
        parts: list[bytes] = []
        for token in _XX_MESSAGES[self._message_index]:
            if token == "e":
                if self._ephemeral_key is None:
                    self._ephemeral_key = X25519PrivateKey.generate()
                ephemeral_public = _public_bytes(self._ephemeral_key)
                parts.append(ephemeral_public)
                self._state.mix_hash(ephemeral_public)
            elif token == "s":
                parts.append(self._state.encrypt_and_hash(_public_bytes(self._static_key)))
            else:
                self._mix_dh(token)
        parts.append(self._state.encrypt_and_hash(payload))
        self._message_index += 1
        return b"".join(parts)

    def read_message(self, message: bytes) -> bytes:
        """Process the peer's next handshake message and return its decrypted payload."""
        self._check_turn(writing=False)
        position = 0
        for token in _XX_MESSAGES[self._message_index]:
            if token == "e":
                self._remote_ephemeral = message[position:position + DH_LENGTH]
                position += DH_LENGTH
                if len(self._remote_ephemeral) != DH_LENGTH:
                    raise HandshakeError("truncated handshake message")
                self._state.mix_hash(self._remote_ephemeral)
            elif token == "s":
                encrypted_static = message[position:position + _ENCRYPTED_KEY_LENGTH]
                position += _ENCRYPTED_KEY_LENGTH
                if len(encrypted_static) != _ENCRYPTED_KEY_LENGTH:
                    raise HandshakeError("truncated handshake message")
                self._remote_static = self._state.decrypt_and_hash(encrypted_static)
            else:
                self._mix_dh(token)
        payload = self._state.decrypt_and_hash(message[position:])
        self._message_index += 1
        return payload

    def split(self) -> tuple[CipherState, CipherState]:
        """The transport ciphers after the last message, as ``(send, receive)`` for this side."""
        if not self.is_complete:
            raise HandshakeError("the handshake is not complete")
        initiator_to_responder, responder_to_initiator = self._state.split()
        if self._initiator:
            return initiator_to_responder, responder_to_initiator
        return responder_to_initiator, initiator_to_responder


def encode_identity_payload(node_key: NodeKey, static_public_key: bytes) -> bytes:
    """The 104-byte payload binding ``static_public_key`` to ``node_key`` (layout in the module docstring)."""
    signature = node_key.sign(SIGNATURE_PREFIX + static_public_key)
    return _IDENTITY_KEY_FIELD + node_key.peer_id.public_key + _IDENTITY_SIG_FIELD + signature


def decode_identity_payload(payload: bytes, remote_static_key: bytes) -> PeerId:
    """The peer's identity, if ``payload`` is well formed and signs ``remote_static_key``; else ``HandshakeError``."""
    key_end = len(_IDENTITY_KEY_FIELD) + PUBLIC_KEY_LENGTH
    if (len(payload) != IDENTITY_PAYLOAD_LENGTH or not payload.startswith(_IDENTITY_KEY_FIELD)
            or payload[key_end:key_end + len(_IDENTITY_SIG_FIELD)] != _IDENTITY_SIG_FIELD):
        raise HandshakeError("malformed identity payload")
    peer_id = PeerId(payload[len(_IDENTITY_KEY_FIELD):key_end])
    if not peer_id.verify(SIGNATURE_PREFIX + remote_static_key, payload[key_end + len(_IDENTITY_SIG_FIELD):]):
        raise HandshakeError("the identity signature does not cover the peer's Noise static key")
    return peer_id


class NoiseIdentity:
    """A node's Noise static key and its signed identity payload, made once per node and reused."""

    def __init__(self, node_key: NodeKey, static_key: X25519PrivateKey | None = None) -> None:
        self.node_key = node_key
        self.static_key = static_key or X25519PrivateKey.generate()
        self.payload = encode_identity_payload(node_key, _public_bytes(self.static_key))

    @property
    def peer_id(self) -> PeerId:
        return self.node_key.peer_id


class _StreamReader:
    """Exact-length reads over a trio stream, with one bounded buffer (at most a chunk plus a message)."""

    def __init__(self, stream: trio.abc.ReceiveStream) -> None:
        self._stream = stream
        self._buffer = bytearray()

    async def receive_exactly(self, count: int) -> bytes:
        while len(self._buffer) < count:
            try:
                chunk = await self._stream.receive_some(_RECEIVE_CHUNK)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionLost(f"connection lost: {exc!r}") from exc
            if not chunk:
                raise ConnectionLost("the peer closed the connection")
            self._buffer += chunk
        with memoryview(self._buffer) as view:
            data = bytes(view[:count])
        del self._buffer[:count]
        return data


class _SendGate:
    """FIFO mutual exclusion for the writers of one stream that costs nothing when free.

    ``trio.Lock`` yields to the scheduler even when free; every holder here goes on to ``send_all``, which
    is a checkpoint anyway, and the extra scheduler pass was a measurable share of a small round trip.
    A releasing holder hands the gate straight to the first waiter, so nobody can barge in between.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiters = trio.lowlevel.ParkingLot()

    async def __aenter__(self) -> None:
        if self._held:
            await self._waiters.park()  # woken by __aexit__, which hands the gate over still held
        else:
            self._held = True

    async def __aexit__(self, *exc_info: object) -> None:
        if self._waiters:
            self._waiters.unpark()
        else:
            self._held = False


class SecureChannel:
    """An established Noise session: whole transport messages in, whole transport messages out.

    ``send`` may be called from several tasks: a FIFO gate keeps ciphertexts on the wire in nonce order. A
    ``send`` or ``receive`` cancelled half-way leaves the session unusable; its owner then closes it.
    """

    def __init__(self, stream: trio.abc.HalfCloseableStream, reader: _StreamReader, handshake: XXHandshake,
                 remote_peer_id: PeerId) -> None:
        self._stream = stream
        self._reader = reader
        self._send_cipher, self._receive_cipher = handshake.split()
        self._send_gate = _SendGate()
        self.remote_peer_id = remote_peer_id
        self.handshake_hash = handshake.handshake_hash

    async def send(self, plaintext: bytes) -> None:
        """Encrypt and send one message of at most ``MAX_PLAINTEXT_LENGTH`` bytes."""
        if len(plaintext) > MAX_PLAINTEXT_LENGTH:
            raise ValueError(f"a Noise message carries at most {MAX_PLAINTEXT_LENGTH} bytes, got {len(plaintext)}")
        async with self._send_gate:
            ciphertext = self._send_cipher.encrypt_with_ad(b"", plaintext)
            try:
                await self._stream.send_all(_LENGTH_PREFIX.pack(len(ciphertext)) + ciphertext)
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionLost(f"connection lost: {exc!r}") from exc

    async def send_eof(self) -> None:
        """Half-close: tell the peer nothing more will be sent (after any ``send`` in progress)."""
        async with self._send_gate:
            try:
                await self._stream.send_eof()
            except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise ConnectionLost(f"connection lost: {exc!r}") from exc

    async def receive(self) -> bytes:
        """The next message's plaintext; ``DecryptionFailed`` if it was tampered with."""
        (length,) = _LENGTH_PREFIX.unpack(await self._reader.receive_exactly(_LENGTH_PREFIX.size))
        if length < TAG_LENGTH:
            raise DecryptionFailed(f"a {length}-byte transport message is shorter than its tag")
        return self._receive_cipher.decrypt_with_ad(b"", await self._reader.receive_exactly(length))

    async def aclose(self) -> None:
        await trio.aclose_forcefully(self._stream)


async def _send_handshake_message(stream: trio.abc.SendStream, message: bytes) -> None:
    try:
        await stream.send_all(_LENGTH_PREFIX.pack(len(message)) + message)
    except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise ConnectionLost(f"connection lost during the handshake: {exc!r}") from exc


async def _receive_handshake_message(reader: _StreamReader, index: int) -> bytes:
    (length,) = _LENGTH_PREFIX.unpack(await reader.receive_exactly(_LENGTH_PREFIX.size))
    if length != HANDSHAKE_MESSAGE_LENGTHS[index]:
        raise HandshakeError(
            f"handshake message {index + 1} announced {length} bytes, expected {HANDSHAKE_MESSAGE_LENGTHS[index]}")
    return await reader.receive_exactly(length)


async def secure_outbound(stream: trio.abc.HalfCloseableStream, identity: NoiseIdentity, *,
                          expected_peer_id: PeerId | None = None) -> SecureChannel:
    """Run the handshake as initiator. The caller bounds it with a deadline and closes ``stream`` on error.

    Raises ``PeerIdMismatch`` if ``expected_peer_id`` is given and another identity answers,
    ``HandshakeError`` for anything malformed, ``ConnectionLost`` if the stream ends.
    """
    reader = _StreamReader(stream)
    handshake = XXHandshake(initiator=True, static_key=identity.static_key, prologue=PROLOGUE)
    await _send_handshake_message(stream, handshake.write_message(b""))
    payload = handshake.read_message(await _receive_handshake_message(reader, 1))
    assert handshake.remote_static is not None
    remote_peer_id = decode_identity_payload(payload, handshake.remote_static)
    if expected_peer_id is not None and remote_peer_id != expected_peer_id:
        raise PeerIdMismatch(expected_peer_id, remote_peer_id)
    await _send_handshake_message(stream, handshake.write_message(identity.payload))
    return SecureChannel(stream, reader, handshake, remote_peer_id)


async def secure_inbound(stream: trio.abc.HalfCloseableStream, identity: NoiseIdentity) -> SecureChannel:
    """Run the handshake as responder. The caller bounds it with a deadline and closes ``stream`` on error."""
    reader = _StreamReader(stream)
    handshake = XXHandshake(initiator=False, static_key=identity.static_key, prologue=PROLOGUE)
    handshake.read_message(await _receive_handshake_message(reader, 0))
    await _send_handshake_message(stream, handshake.write_message(identity.payload))
    payload = handshake.read_message(await _receive_handshake_message(reader, 2))
    assert handshake.remote_static is not None
    remote_peer_id = decode_identity_payload(payload, handshake.remote_static)
    return SecureChannel(stream, reader, handshake, remote_peer_id)
