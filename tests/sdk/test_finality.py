"""The client proves finality itself: GRANDPA justifications checked against authority sets followed from
genesis. Pure checks with real keys first, then a real dev node, alone and behind an RPC node that lies
about one method (the node's own answers, one of them rewritten)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
import trio

from runtime.justification import AuthoritySet, Justification, SignedVote, Stage, Vote
from runtime.keyring import Keypair
from runtime.primitives import Header, SignatureScheme
from sdk.chain import AsyncClient, InvalidProof, InvalidResponse
from sdk.chain.finality import (
    BadJustification,
    FinalityProver,
    MissingJustification,
    check_justification,
    check_set_span,
    justification_of,
    next_set,
)
from sdk.chain.shapes import header_from_json, to_hex
from tests.sdk.conftest import ws_url
from tests.sdk.lying_node import (
    LyingNode,
    proof_at_genesis,
    served_justification,
    strip_justification,
    with_justification,
)

KEYS = [Keypair.from_uri(f"//{name}", SignatureScheme.Ed25519) for name in ("Alice", "Bob", "Charlie", "Dave")]
SET = AuthoritySet(3, tuple(key.public for key in KEYS))
PARENT = Header(bytes(32), 40, b"s" * 32, bytes(32))
BLOCK = Header(PARENT.hash, 41, b"t" * 32, bytes(32))
CHILD = Header(BLOCK.hash, 42, b"u" * 32, bytes(32))


def _signed(keys, target: Header, set_id: int = SET.set_id, ancestry: tuple[Header, ...] = ()) -> Justification:
    """Precommits by ``keys`` for ``target``, as a justification of ``BLOCK``."""
    votes = tuple(SignedVote.sign(7, set_id, Vote(Stage.PRECOMMIT, target.hash, target.number), key.public, key.secret)
                  for key in keys)
    return Justification(7, set_id, BLOCK.hash, BLOCK.number, votes, ancestry)


def test_a_justification_of_more_than_two_thirds_proves_its_block():
    check_justification(BLOCK, justification_of(BLOCK.hash, _signed(KEYS[:3], BLOCK).encode()), SET)
    check_justification(BLOCK, _signed(KEYS, CHILD, ancestry=(CHILD,)), SET)  # precommits for a linked descendant


@pytest.mark.parametrize("justification, cause", [
    (_signed(KEYS[:2], BLOCK), "2 precommits, 3 needed"),
    (_signed([Keypair.from_uri(f"//Mallory{i}", SignatureScheme.Ed25519) for i in range(3)], BLOCK),
     "not an authority"),
    (_signed(KEYS, BLOCK, set_id=2), "set 2, expected 3"),
    (_signed(KEYS, CHILD), "not for the target or a descendant"),  # no header links the child to the block
    (replace(_signed(KEYS[:3], BLOCK), target_number=40), "for block #40 served with block #41"),
], ids=["too-few", "outsiders", "other-set", "unlinked", "wrong-number"])
def test_a_justification_that_proves_nothing_is_refused(justification, cause):
    with pytest.raises(BadJustification, match=cause):
        check_justification(BLOCK, justification, SET)


@pytest.mark.parametrize("encoded, error, cause", [
    (None, MissingJustification, "no justification"),
    (b"\x01\x02", BadJustification, "malformed"),
    (_signed(KEYS, BLOCK).encode() + b"\x00", BadJustification, "trailing"),
    (replace(_signed(KEYS, BLOCK), target_hash=PARENT.hash).encode(), BadJustification, "is for block"),
], ids=["missing", "garbage", "trailing", "other-block"])
def test_what_a_node_serves_as_a_justification_must_be_one_for_the_block(encoded, error, cause):
    with pytest.raises(error, match=cause):
        justification_of(BLOCK.hash, encoded)


@pytest.mark.parametrize("number, set_id, final", [
    (53, 5, True), (60, 5, True), (50, 4, True),  # set 5 takes over at #50 (finalized by set 4), hands over at #60
    (50, 5, False), (61, 5, False),
    (53, 0, False),  # a set long gone: its keys could sign any chain
], ids=["inside", "hand-over", "previous-set's-last", "its-take-over", "past-its-hand-over", "stale-set"])
def test_a_set_finalizes_only_the_blocks_of_its_session(number, set_id, final):
    if final:
        check_set_span(number, set_id, 10)
    else:
        with pytest.raises(BadJustification, match=f"cannot be final by set {set_id}"):
            check_set_span(number, set_id, 10)


def test_the_next_set_is_the_next_session_of_a_proven_block():
    assert next_set(SET, 4, (KEYS[0].public,)) == AuthoritySet(4, (KEYS[0].public,))
    with pytest.raises(BadJustification, match="in session 5"):
        next_set(SET, 5, (KEYS[0].public,))
    with pytest.raises(BadJustification, match="no authorities"):
        next_set(SET, 4, ())


# --- a real node, honest and lying -----------------------------------------------------------------------


async def _forge(client: AsyncClient, params: list, result: Any) -> Any:
    """The block's real justification, its precommits signed again by keys of no authority."""
    real = served_justification(result)
    outsiders = [Keypair.from_uri(f"//Mallory{i}", SignatureScheme.Ed25519) for i in range(len(real.precommits))]
    forged = tuple(SignedVote.sign(p.round, p.set_id, p.vote, key.public, key.secret)
                   for p, key in zip(real.precommits, outsiders))
    return with_justification(result, replace(real, precommits=forged).encode())


async def _future_set(client: AsyncClient, params: list, result: Any) -> Any:
    real = served_justification(result)
    return with_justification(result, replace(real, set_id=10**9).encode())


FORGED_ROOT = to_hex(b"\x66" * 32)


def _forged(block: Any) -> Any:
    """A ``chain_getBlock`` answer with another state root in its header."""
    return {**block, "block": {**block["block"], "header": {**block["block"]["header"], "stateRoot": FORGED_ROOT}}}


async def _forged_state_root(client: AsyncClient, params: list, result: Any) -> Any:
    return _forged(result)


class ForgedHead:
    """Serves as the finalized head the real one with another state root, under that forged header's own hash
    (so it hashes right), with the real head's justification."""

    def __init__(self) -> None:
        self.real: dict[bytes, bytes] = {}  # forged hash -> real hash

    async def head(self, client: LyingNode, params: list, result: Any) -> Any:
        forged = header_from_json({**await client.truth("chain_getHeader", [result]), "stateRoot": FORGED_ROOT})
        self.real[forged.hash] = bytes.fromhex(result[2:])
        return to_hex(forged.hash)

    async def block(self, client: LyingNode, params: list, result: Any) -> Any:
        real = self.real.get(bytes.fromhex(params[0][2:]))
        if real is None:
            return result
        return _forged(await client.truth("chain_getBlock", [to_hex(real)]))


FORGED_HEAD = ForgedHead()


async def test_the_finalized_head_is_proven_from_the_genesis_set(dev_node):
    async with AsyncClient(ws_url(dev_node)) as client:
        prover = FinalityProver(client)
        with trio.fail_after(60):
            header = await prover.finalized_head()
            first = await prover.authority_set(0)
        assert header.number >= 1
        assert first == AuthoritySet(0, (Keypair.from_uri("//Alice", SignatureScheme.Ed25519).public,))
        assert await prover.prove(client.genesis_hash) == await client.get_block_header(client.genesis_hash)


@pytest.mark.parametrize("lies, error, cause", [
    ({"chain_getBlock": strip_justification}, MissingJustification, "no justification"),
    ({"chain_getBlock": _forge}, BadJustification, "not an authority"),
    ({"chain_getBlock": _future_set}, BadJustification, "cannot be final by set 1000000000"),
    ({"chain_getBlock": _forged_state_root}, InvalidResponse, "hash"),
    ({"chain_getFinalizedHead": FORGED_HEAD.head, "chain_getBlock": FORGED_HEAD.block}, BadJustification,
     "is for block"),
    ({"state_getReadProof": proof_at_genesis}, InvalidProof, "read proof"),
], ids=["no-justification", "forged-justification", "future-set", "forged-header", "forged-head",
        "proof-of-another-root"])
async def test_a_lying_node_gets_a_typed_error_not_a_proof(dev_node, lies, error, cause):
    async with LyingNode(ws_url(dev_node), lies) as client:
        with trio.fail_after(60), pytest.raises(error, match=cause):
            header = await FinalityProver(client).finalized_head()
            if "state_getReadProof" in lies:  # the genesis set is read before; this read is at the head
                await client.verified_query("System", "Number", block_hash=header.hash)
