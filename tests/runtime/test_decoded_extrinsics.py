"""The decoded-extrinsic memory answers exactly as decoding does, never remembers a failure, and stays bounded."""

from __future__ import annotations

import pytest

from devnet.local_chain import LocalChain
from node.chain_spec import preset
from runtime.extrinsic import DecodedExtrinsics, MalformedExtrinsic, decode_extrinsic
from runtime.keyring import Keypair
from runtime.scale import encode_compact
from tests.runtime.helpers import sign

ALICE, BOB = Keypair.from_uri("//Alice"), Keypair.from_uri("//Bob")


def test_a_second_decoding_of_the_same_bytes_is_a_lookup_with_the_same_answer():
    chain = LocalChain(preset("dev"))
    memory = DecodedExtrinsics(chain.runtime.call_codec)
    raw = sign(chain, ALICE, "Balances", "transfer_keep_alive", nonce=3, dest=BOB.public, value=7)
    first = memory.decode(raw)
    fresh = decode_extrinsic(raw, chain.runtime.call_codec)
    assert (first.signer, first.nonce, first.call_bytes, first.call) == (fresh.signer, fresh.nonce,
                                                                         fresh.call_bytes, fresh.call)
    assert memory.decode(bytes(raw)) is first  # equal bytes, another object: still the one decoding
    with pytest.raises(MalformedExtrinsic):  # other bytes are decoded, not looked up
        memory.decode(raw[:-1] + bytes([raw[-1] ^ 1]))


def test_failures_are_not_remembered_and_the_memory_is_bounded():
    chain = LocalChain(preset("dev"))
    memory = DecodedExtrinsics(chain.runtime.call_codec, capacity=4)
    for malformed in (b"", b"\x04\x84\x00", encode_compact(3) + b"\x04\x00"):
        with pytest.raises(MalformedExtrinsic):
            memory.decode(malformed)
    assert len(memory) == 0
    for nonce in range(10):
        memory.decode(sign(chain, ALICE, "System", "remark", nonce=nonce, remark=b"x"))
    assert len(memory) == 4
    roomy = DecodedExtrinsics(chain.runtime.call_codec)
    big = sign(chain, ALICE, "System", "remark", nonce=0, remark=b"x" * (DecodedExtrinsics.MAX_CACHED_BYTES + 1))
    assert roomy.decode(big).signer == ALICE.public
    assert len(roomy) == 0  # decoded, but not kept
