"""The node's session keys on disk, laid out as Substrate's keystore lays them out.

A validator signs blocks and finality votes with a session key: an ed25519 key whose public half is in the
chain's authority set. Operators put keys here with ``--key`` or the ``author_insertKey`` RPC, or let the
node make a fresh one with ``author_rotateKeys`` (then register the returned public key through
``ValidatorSet.set_validators``); the node signs with whichever of its keys the current set names, so a
rotation takes effect at the session that enacts it, with no restart.

One file per key in ``<base-path>/keystore``, named ``hex(key type) ++ hex(public key)`` and holding the
secret URI as a JSON string, as in Substrate. Cairn has one key type, ``aura``, used for both sealing and
finality (one key per authority). Files are written atomically with mode 0600 in a 0700 directory; a file
that does not parse or does not match its name is skipped with a warning rather than trusted.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from pathlib import Path

from runtime.primitives import SignatureScheme
from runtime.keyring import InvalidSecretUri, Keypair

__all__ = ["Keystore", "KeystoreError", "SESSION_KEY_TYPE"]

log = logging.getLogger("cairn.keystore")

SESSION_KEY_TYPE = b"aura"
SESSION_KEYS_LEN = 32
"""The SCALE encoding of Cairn's ``SessionKeys``: one ed25519 public key."""


class KeystoreError(ValueError):
    """A key that cannot be stored or used (its message says why; the keystore is unchanged)."""


class Keystore:
    """Session keys by public key, kept in memory and mirrored to ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._keys: dict[bytes, Keypair] = {}
        for path in sorted(directory.iterdir()):
            self._load(path)

    def _load(self, path: Path) -> None:
        name = path.name
        if not name.startswith(SESSION_KEY_TYPE.hex()) or path.suffix == ".tmp":
            return
        try:
            public = bytes.fromhex(name[len(SESSION_KEY_TYPE.hex()):])
            key = Keypair.from_uri(json.loads(path.read_text()), SignatureScheme.Ed25519)
        except (ValueError, InvalidSecretUri, TypeError, OSError) as exc:
            log.warning("keystore file %s skipped: %s", path, exc)
            return
        if public is not None and key.public != public:
            log.warning("keystore file %s skipped: its secret belongs to 0x%s", path, key.public.hex())
            return
        self._keys[public] = key

    def insert(self, key_type: bytes, suri: str, public: bytes | None = None) -> Keypair:
        """Store the key of secret URI ``suri``. ``public``, when given (``author_insertKey``), must be its
        public key: a typo would otherwise leave the node holding a key it can never sign with."""
        if key_type != SESSION_KEY_TYPE:
            raise KeystoreError(f"unknown key type {key_type!r}: Cairn's session keys are {SESSION_KEY_TYPE!r}")
        try:
            key = Keypair.from_uri(suri, SignatureScheme.Ed25519)
        except InvalidSecretUri as exc:
            raise KeystoreError(f"invalid secret URI: {exc}") from None
        if public is not None and key.public != public:
            raise KeystoreError(f"the secret's public key is 0x{key.public.hex()}, not 0x{public.hex()}")
        self._write(key, suri)
        return key

    def generate(self) -> Keypair:
        """A fresh random session key, stored (``author_rotateKeys``)."""
        suri = "0x" + secrets.token_bytes(32).hex()
        key = Keypair.from_uri(suri, SignatureScheme.Ed25519)
        self._write(key, suri)
        return key

    def _write(self, key: Keypair, suri: str) -> None:
        path = self.directory / (SESSION_KEY_TYPE.hex() + key.public.hex())
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(suri, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
        self._keys[key.public] = key

    def has(self, key_type: bytes, public: bytes) -> bool:
        return key_type == SESSION_KEY_TYPE and public in self._keys

    def has_session_keys(self, session_keys: bytes) -> bool:
        """Whether every key in SCALE-encoded ``SessionKeys`` is here (``author_hasSessionKeys``)."""
        if len(session_keys) != SESSION_KEYS_LEN:
            raise KeystoreError(f"session keys are {SESSION_KEYS_LEN} bytes (one ed25519 key), not {len(session_keys)}")
        return session_keys in self._keys

    def key_for(self, authorities: tuple[bytes, ...] | list[bytes]) -> Keypair | None:
        """Our key among ``authorities`` (the first, should an operator have inserted several)."""
        return next((self._keys[a] for a in authorities if a in self._keys), None)

    def get(self, public: bytes) -> Keypair | None:
        return self._keys.get(public)

    def __len__(self) -> int:
        return len(self._keys)
