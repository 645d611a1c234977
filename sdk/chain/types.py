"""What the chain client hands back: plain frozen dataclasses around the runtime's own decoded values.

Values are never re-modelled: an event is the pallet's event dataclass (``Transfer(from_, to, amount)``),
a header is ``runtime.primitives.Header``, a storage value is whatever the item's codec decodes to
(``AccountInfo`` for ``System.Account``). These wrappers only add where and when (block, phase) and the
names a client looks things up by.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

from runtime.extrinsic import Extrinsic
from runtime.frame.construct import Call
from runtime.hashing import blake2_256
from runtime.primitives import Era, Header, PhaseKind
from runtime.scale import dataclass_fields
from runtime.trie import InvalidProof as TrieInvalidProof
from runtime.trie import verify_read_proof
from sdk.chain.errors import InvalidProof

__all__ = ["ChainEvent", "BlockEvents", "DispatchFailure", "SignedExtrinsic", "ChainBlock", "ReadProof"]


@dataclass(frozen=True)
class ChainEvent:
    """One record of ``System.Events``."""

    pallet: str
    """The pallet that deposited it (``"Balances"``)."""
    name: str
    """The event's name in metadata (``"Transfer"``)."""
    event: Any
    """The pallet's event dataclass, decoded by the runtime's event codec."""
    phase: Any
    """``PhaseKind.ApplyExtrinsic(index)``, ``Finalization()`` or ``Initialization()``."""
    topics: tuple[bytes, ...] = ()

    @property
    def extrinsic_idx(self) -> int | None:
        """The index in its block of the extrinsic that deposited it (``None`` outside extrinsics)."""
        return self.phase.value if isinstance(self.phase, PhaseKind.ApplyExtrinsic) else None

    @property
    def attributes(self) -> dict[str, Any]:
        """The fields by their metadata names (``from``, not ``from_``), as substrate-interface keys them."""
        return {f.wire_name: getattr(self.event, f.name) for f in dataclass_fields(type(self.event))}


@dataclass(frozen=True)
class BlockEvents:
    """The events of one block that a subscription asked for."""

    block_hash: bytes
    block_number: int
    events: tuple[ChainEvent, ...]


@dataclass(frozen=True)
class DispatchFailure:
    """Why a dispatch failed, by name: ``Balances.InsufficientBalance`` for a module error, else the
    ``DispatchError`` variant (``BadOrigin``; ``Token.FundsUnavailable``, ``Arithmetic.Overflow``)."""

    kind: str
    """``"Module"`` or the ``DispatchError`` variant name."""
    pallet: str | None
    """The erring pallet, for module errors."""
    name: str
    docs: str

    def __str__(self) -> str:
        where = f"{self.pallet}.{self.name}" if self.pallet else self.name
        return f"{where}: {self.docs}" if self.docs else where


@dataclass(frozen=True)
class SignedExtrinsic:
    """A signed transaction ready to submit (``data`` is its encoding, length prefix included)."""

    data: bytes
    call: Call
    call_data: bytes
    """The call's encoding (pallet index, call index, arguments), as ``substrate-interface``'s ``call.data``."""
    signer: bytes
    nonce: int
    era: Era
    tip: int

    @property
    def extrinsic_hash(self) -> bytes:
        """``blake2_256`` of the whole encoding: the hash the pool and blocks know it by."""
        return blake2_256(self.data)


@dataclass(frozen=True)
class ChainBlock:
    """A block with its extrinsics decoded by the runtime's codecs (signatures as they were, unchecked)."""

    hash: bytes
    header: Header
    extrinsics: tuple[Extrinsic, ...]
    justification: bytes | None = None
    """The GRANDPA justification the node stores for it (finalized blocks that ended a round)."""

    @property
    def number(self) -> int:
        return self.header.number


@dataclass(frozen=True)
class ReadProof:
    """``state_getReadProof``: the trie nodes that prove some keys' values at block ``at``."""

    at: bytes
    proof: tuple[bytes, ...]

    def verify(self, state_root: bytes, keys: Iterable[bytes]) -> dict[bytes, bytes | None]:
        """Each key's value (``None``: proven absent) as proven against ``state_root``; raises
        :class:`InvalidProof` if the nodes do not prove every key against that root."""
        try:
            return verify_read_proof(state_root, self.proof, keys)
        except TrieInvalidProof as exc:
            raise InvalidProof(f"read proof at 0x{self.at.hex()}: {exc}") from None
