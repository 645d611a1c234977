"""Node identity: the ed25519 node key, the ``PeerId`` it defines, and dialable peer addresses.

A node is known to its peers by the 32-byte ed25519 public key of its node key. Nothing else (IP address,
port) identifies it: the Noise handshake (``node.network.noise``) proves possession of the key.

Text forms (version 1). They are the ones libp2p and Substrate print, so operators can reuse habits and
tooling; the node key ``0x00..01`` gives ``12D3KooWEyoppNCUx8Yx66oV9fJnriXwCcXwDDUA2kj6vnc6iDEp`` in both.

``PeerId`` text = base58btc (Bitcoin alphabet) of 38 bytes::

    offset  size  value
    0       1     0x00   multihash code "identity" (the key itself, not a hash of it)
    1       1     0x24   multihash length: 36
    2       2     0x08 0x01  protobuf field 1 (key type) = 1 (Ed25519)
    4       2     0x12 0x20  protobuf field 2 (key data), 32 bytes follow
    6       32    the ed25519 public key

Every ed25519 ``PeerId`` is 52 characters and starts with ``12D3KooW``.

Peer address text: ``/ip4/<dotted quad>/tcp/<port>/p2p/<PeerId>``; ``/ip6/<address>`` and
``/dns/<name>`` (also ``/dns4``, ``/dns6``) may replace the ``ip4`` part, and ``/p2p/<PeerId>`` may be left
out, in which case the dialer accepts whichever identity answers.

Node key file: the 32-byte ed25519 seed as 64 hexadecimal characters, optionally followed by a newline.
``NodeKey.load_or_create`` creates it with mode 0600 when it does not exist.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

import base58
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

__all__ = [
    "InvalidNodeKey",
    "InvalidPeerAddress",
    "InvalidPeerId",
    "NodeKey",
    "PeerAddress",
    "PeerId",
    "PUBLIC_KEY_LENGTH",
    "SEED_LENGTH",
    "SIGNATURE_LENGTH",
]

PUBLIC_KEY_LENGTH = 32
SEED_LENGTH = 32
SIGNATURE_LENGTH = 64

_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
_HOST_KINDS = ("ip4", "ip6", "dns", "dns4", "dns6")


class InvalidPeerId(ValueError):
    """The text or bytes are not an ed25519 ``PeerId``."""


class InvalidPeerAddress(ValueError):
    """The text is not a ``/ip4|ip6|dns/<host>/tcp/<port>[/p2p/<PeerId>]`` address."""


class InvalidNodeKey(ValueError):
    """A node key seed or key file has the wrong length or encoding."""


@dataclass(frozen=True, order=True)
class PeerId:
    """A node's identity: its ed25519 public key. Ordered by those bytes (used to break connection ties)."""

    public_key: bytes
    """The raw 32-byte ed25519 public key."""

    def __post_init__(self) -> None:
        if len(self.public_key) != PUBLIC_KEY_LENGTH:
            raise InvalidPeerId(f"a peer id is a {PUBLIC_KEY_LENGTH}-byte ed25519 key, got {len(self.public_key)} bytes")

    @classmethod
    def parse(cls, text: str) -> PeerId:
        """Read the base58 text form (``12D3KooW...``)."""
        try:
            raw = base58.b58decode(text)
        except ValueError as exc:
            raise InvalidPeerId(f"not base58: {text!r}") from exc
        if len(raw) != len(_PEER_ID_PREFIX) + PUBLIC_KEY_LENGTH or not raw.startswith(_PEER_ID_PREFIX):
            raise InvalidPeerId(f"not an ed25519 peer id: {text!r}")
        return cls(raw[len(_PEER_ID_PREFIX):])

    def __str__(self) -> str:
        return base58.b58encode(_PEER_ID_PREFIX + self.public_key).decode("ascii")

    def __repr__(self) -> str:
        return f"PeerId({self})"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is this peer's ed25519 signature of ``message``."""
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


class NodeKey:
    """The node's long-lived ed25519 identity key. Build it with one of the class methods."""

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private_key = private_key
        self._peer_id = PeerId(private_key.public_key().public_bytes_raw())

    @classmethod
    def from_seed(cls, seed: bytes) -> NodeKey:
        """The key whose 32-byte ed25519 seed is ``seed`` (Substrate's ``--node-key``)."""
        if len(seed) != SEED_LENGTH:
            raise InvalidNodeKey(f"an ed25519 seed is {SEED_LENGTH} bytes, got {len(seed)}")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def generate(cls) -> NodeKey:
        """A fresh random key (from the operating system's CSPRNG)."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> NodeKey:
        """Load the key file at ``path``, or create it (mode 0600, parents 0700) with a fresh key."""
        path = Path(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            text = path.read_text(encoding="ascii").strip()
            try:
                seed = bytes.fromhex(text)
            except ValueError as exc:
                raise InvalidNodeKey(f"{path}: expected {2 * SEED_LENGTH} hexadecimal characters") from exc
            return cls.from_seed(seed)
        key = cls.generate()
        with os.fdopen(descriptor, "w", encoding="ascii") as file:
            file.write(key._private_key.private_bytes_raw().hex() + "\n")
        return key

    @property
    def peer_id(self) -> PeerId:
        return self._peer_id

    def sign(self, message: bytes) -> bytes:
        """The 64-byte ed25519 signature of ``message``."""
        return self._private_key.sign(message)


@dataclass(frozen=True)
class PeerAddress:
    """Where to dial a peer, and (optionally) who must answer there."""

    host: str
    """An IPv4 or IPv6 address, or a DNS name."""
    port: int
    """The TCP port, 1..65535 (0 only for a local listen address that has not been bound yet)."""
    peer_id: PeerId | None = None
    """The identity the dialer insists on; ``None`` accepts whoever answers."""

    @classmethod
    def parse(cls, text: str) -> PeerAddress:
        """Read ``/ip4/127.0.0.1/tcp/30333/p2p/12D3KooW...`` (see the module docstring for the variants)."""
        parts = text.split("/")
        if len(parts) not in (5, 7) or parts[0] != "" or parts[1] not in _HOST_KINDS or parts[3] != "tcp":
            raise InvalidPeerAddress(f"expected /ip4|ip6|dns/<host>/tcp/<port>[/p2p/<peer id>], got {text!r}")
        kind, host, port_text = parts[1], parts[2], parts[4]
        if kind in ("ip4", "ip6"):
            try:
                address = ipaddress.ip_address(host)
            except ValueError as exc:
                raise InvalidPeerAddress(f"{host!r} is not an {kind} address") from exc
            if address.version != int(kind[-1]):
                raise InvalidPeerAddress(f"{host!r} is not an {kind} address")
        elif not host:
            raise InvalidPeerAddress(f"empty host name in {text!r}")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise InvalidPeerAddress(f"{port_text!r} is not a TCP port")
        peer_id = None
        if len(parts) == 7:
            if parts[5] != "p2p":
                raise InvalidPeerAddress(f"expected /p2p/<peer id> after the port, got {text!r}")
            try:
                peer_id = PeerId.parse(parts[6])
            except InvalidPeerId as exc:
                raise InvalidPeerAddress(str(exc)) from exc
        return cls(host, int(port_text), peer_id)

    def __str__(self) -> str:
        try:
            kind = f"ip{ipaddress.ip_address(self.host).version}"
        except ValueError:
            kind = "dns"
        text = f"/{kind}/{self.host}/tcp/{self.port}"
        return text if self.peer_id is None else f"{text}/p2p/{self.peer_id}"
