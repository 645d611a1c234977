"""Small helpers for runtime tests: signing extrinsics with Cairn's own SDK keyring, reading state."""

from __future__ import annotations

from devnet.local_chain import LocalChain
from runtime.extrinsic import encode_signed, signing_payload
from runtime.frame.overlay import Overlay
from runtime.primitives import Era
from runtime.keyring import Keypair


def sign(chain: LocalChain, signer: Keypair, pallet: str, name: str, *, nonce: int, tip: int = 0,
         era: Era = Era(), birth_hash: bytes | None = None, **args) -> bytes:
    runtime = chain.runtime
    call_bytes = runtime.call_codec.encode(runtime.call(pallet, name, **args))
    version = runtime.VERSION
    payload = signing_payload(call_bytes, era, nonce, tip, version.spec_version, version.transaction_version,
                              chain.genesis_hash, birth_hash or chain.genesis_hash)
    return encode_signed(call_bytes, signer.public, signer.scheme, signer.sign(payload), era, nonce, tip)


class NonceSigner:
    """Signs extrinsics on ``chain`` for any number of keys, each with its next nonce (from 0: keys that have sent
    nothing yet), as a wallet does when several of its transactions go into one block."""

    def __init__(self, chain: LocalChain) -> None:
        self.chain = chain
        self.nonces: dict[bytes, int] = {}

    def __call__(self, key: Keypair, pallet: str, name: str, **args) -> bytes:
        nonce = self.nonces.get(key.public, 0)
        self.nonces[key.public] = nonce + 1
        return sign(self.chain, key, pallet, name, nonce=nonce, **args)


def account(chain: LocalChain, who: bytes, at: bytes | None = None):
    state = chain.states[at or chain.best_hash]
    with chain.runtime.executing(Overlay(state)):
        return chain.runtime.system.get_account(who)


def total_issuance(chain: LocalChain, at: bytes | None = None) -> int:
    state = chain.states[at or chain.best_hash]
    with chain.runtime.executing(Overlay(state)):
        return chain.runtime.balances.total_issuance.get()


def events(chain: LocalChain, at: bytes | None = None) -> tuple:
    state = chain.states[at or chain.best_hash]
    with chain.runtime.executing(Overlay(state)):
        return chain.runtime.system.read_events()
