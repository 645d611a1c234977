"""Finality checked by the client itself: GRANDPA justifications verified against authority sets that the
client follows from genesis, so a light client never takes an RPC node's word that a block is final.

The root of trust is the chain's genesis hash (the one :class:`AsyncClient` pinned when it connected).
Authority set 0 is ``ValidatorSet.Validators`` in the genesis state, read with a read proof against the
genesis header. Set ``s + 1`` takes over at block ``(s + 1) * SessionLength`` (``ValidatorSet``'s session
rotation); that block's parent is still in session ``s``, so set ``s`` finalizes it and the node keeps
that justification with it. The client checks it, and then reads the next set from the block's state (its
``Validators``, and ``CurrentSession`` which must be ``s + 1``) with a read proof against the state root
of the header it has just proven. Sets are learned once per :class:`FinalityProver` and kept; following
them costs a few requests per session passed since the last proof.

A block is proven final by its own justification: the precommits of more than 2/3 of the set for the
block or for descendants the justification's headers link back to it (``runtime.justification``). Only
blocks that ended a round carry one (the node's finalized head does, as does every block where a set hands
over); any other block is refused, never assumed. Whatever the node gets wrong, a header that does not hash
to the block, a missing, malformed, forged or misdirected justification, a set it cannot show the hand-over
of, is a :class:`FinalityUnproven` error (read proofs against a proven header fail with
:class:`InvalidProof`).
"""

from __future__ import annotations

import anyio

from runtime.justification import AuthoritySet, InvalidJustification, Justification, verify_justification
from runtime.primitives import Header
from sdk.chain.cache import SharedFetches
from sdk.chain.client import AsyncClient
from sdk.chain.errors import ChainClientError

__all__ = ["FinalityProver", "FinalityUnproven", "MissingJustification", "BadJustification", "justification_of",
           "check_justification", "next_set"]

PALLET = "ValidatorSet"
PROVEN_KEPT = 16
"""Proven headers kept: light clients sampling together mostly ask about the same finalized head."""


class FinalityUnproven(ChainClientError):
    """The node did not show that a block is final in a way this client can check."""


class MissingJustification(FinalityUnproven):
    """The node has no justification for the block (not final, or final only as an ancestor of a block that
    ended a round), or no block where an authority set took over."""


class BadJustification(FinalityUnproven):
    """A justification that is malformed, for another block, of an unexpected set, or not signed by more
    than 2/3 of that set."""


def justification_of(block_hash: bytes, encoded: bytes | None) -> Justification:
    """The justification a node served with block ``block_hash``, decoded and checked to be for it."""
    if encoded is None:
        raise MissingJustification(f"the node shows no justification for block 0x{block_hash.hex()}")
    try:
        justification = Justification.decode(encoded)
    except InvalidJustification as exc:
        raise BadJustification(f"block 0x{block_hash.hex()}: {exc}") from None
    if justification.target_hash != block_hash:
        raise BadJustification(f"the justification served with block 0x{block_hash.hex()} is for block "
                               f"0x{justification.target_hash.hex()}")
    return justification


def check_justification(header: Header, justification: Justification, voters: AuthoritySet) -> None:
    """Check that ``justification`` (of ``header``'s block, :func:`justification_of`) was signed by more
    than 2/3 of ``voters``."""
    if justification.target_number != header.number:
        raise BadJustification(f"a justification for block #{justification.target_number} served with block "
                               f"#{header.number}")
    try:
        verify_justification(justification, voters.authorities, voters.set_id)
    except InvalidJustification as exc:
        raise BadJustification(f"block #{header.number}: {exc}") from None


def check_set_span(number: int, set_id: int, session_length: int) -> None:
    """Check that set ``set_id`` may finalize block ``number``: it finalizes from the block after it takes over
    up to the block where the next set does, never beyond (past it, an old set's keys, its validators long gone
    with their stake, could sign any chain)."""
    takes_over, hands_over = set_id * session_length, (set_id + 1) * session_length
    if not takes_over < number <= hands_over:
        raise BadJustification(f"block #{number} cannot be final by set {set_id}, which finalizes blocks "
                               f"#{takes_over + 1} to #{hands_over}")


def next_set(previous: AuthoritySet, session: int, validators: tuple[bytes, ...]) -> AuthoritySet:
    """The set that follows ``previous``, from the proven state of the block where it takes over."""
    if session != previous.set_id + 1:
        raise BadJustification(f"the block where set {previous.set_id + 1} should take over is in session {session}")
    if not validators:
        raise BadJustification(f"set {session} has no authorities")
    return AuthoritySet(session, tuple(validators))


class FinalityProver:
    """Proves blocks final for ``client``'s chain (see the module docstring). One per client: it keeps the
    sets it has followed, and follows new ones one caller at a time."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._sets: dict[int, AuthoritySet] = {}
        self._following = anyio.Lock()
        self._proven: SharedFetches[bytes, Header] = SharedFetches(PROVEN_KEPT)

    async def finalized_head(self) -> Header:
        """The header of the node's finalized head, proven final."""
        return await self.prove(await self._client.get_chain_finalised_head())

    async def prove(self, block_hash: bytes) -> Header:
        """The header of ``block_hash``, once its justification proves it final (the genesis block needs
        none: it is the root of trust). Callers asking for one block at once share one proof."""
        return await self._proven.get(block_hash, lambda: self._prove(block_hash))

    async def _prove(self, block_hash: bytes) -> Header:
        block = await self._client.get_block(block_hash)
        if block is None:
            raise MissingJustification(f"the node has no block 0x{block_hash.hex()}")
        if block_hash == self._client.genesis_hash:
            return block.header
        justification = justification_of(block_hash, block.justification)
        check_set_span(block.header.number, justification.set_id, self._client.get_constant(PALLET, "SessionLength"))
        check_justification(block.header, justification, await self.authority_set(justification.set_id))
        return block.header

    async def authority_set(self, set_id: int) -> AuthoritySet:
        """Set ``set_id``, followed from genesis through every hand-over before it."""
        async with self._following:
            if not self._sets:
                first = await self._read_set(self._client.genesis_hash)
                if first.set_id != 0:
                    raise BadJustification(f"the genesis state says session {first.set_id}, not 0")
                self._sets[0] = first
            session_length = self._client.get_constant(PALLET, "SessionLength")
            while set_id not in self._sets:
                latest = self._sets[max(self._sets)]
                self._sets[latest.set_id + 1] = await self._hand_over(latest, (latest.set_id + 1) * session_length)
            return self._sets[set_id]

    async def _hand_over(self, previous: AuthoritySet, number: int) -> AuthoritySet:
        """The set that takes over from ``previous`` at block ``number``, proven by that block's justification."""
        block = await self._client.get_block(block_number=number)
        if block is None:
            raise MissingJustification(f"the node has no block #{number}, where set {previous.set_id + 1} takes over")
        justification = justification_of(block.hash, block.justification)
        check_justification(block.header, justification, previous)
        following = await self._read_set(block.hash)
        return next_set(previous, following.set_id, following.authorities)

    async def _read_set(self, block_hash: bytes) -> AuthoritySet:
        """The session and validators in the state of ``block_hash`` (a proven block), read with read proofs."""
        session = await self._client.verified_query(PALLET, "CurrentSession", block_hash=block_hash)
        validators = await self._client.verified_query(PALLET, "Validators", block_hash=block_hash)
        return AuthoritySet(session, tuple(validators))
