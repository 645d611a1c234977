"""A single-process chain: the runtime producing blocks on demand, with every block's state kept.

This is what ``cairn devnet up`` runs until the validator node exists, and what runtime tests and the
runtime benchmark use to build real blocks from real extrinsics. Blocks are unsealed (no authority keys
here); the node adds consensus on top.
"""

from __future__ import annotations

from dataclasses import dataclass

from node.chain_spec import ChainSpec
from runtime.apis import RuntimeApi
from runtime.executive import ApplyOutcome, Block, BlockBuilder, timestamp_inherent
from runtime.extrinsic import MalformedExtrinsic, TransactionValidityError
from runtime.trie import TrieState

__all__ = ["LocalChain", "BlockResult"]


@dataclass(frozen=True)
class BlockResult:
    block: Block
    outcomes: tuple[ApplyOutcome | Exception, ...]
    """Per submitted extrinsic: its outcome if included, else why it was left out."""


class LocalChain:
    def __init__(self, spec: ChainSpec) -> None:
        self.spec = spec
        self.runtime, genesis, state = spec.build()
        self.api = RuntimeApi(self.runtime)
        self.genesis_hash = genesis.hash
        self.blocks: dict[bytes, Block] = {genesis.hash: genesis}
        self.states: dict[bytes, TrieState] = {genesis.hash: state}
        self.hashes: list[bytes] = [genesis.hash]

    @property
    def best_hash(self) -> bytes:
        return self.hashes[-1]

    @property
    def best_state(self) -> TrieState:
        return self.states[self.best_hash]

    def produce_block(self, extrinsics: list[bytes], timestamp_ms: int | None = None) -> BlockResult:
        """Build the next block with as many of ``extrinsics`` as are valid, in order."""
        parent = self.blocks[self.best_hash]
        number = parent.header.number + 1
        now = timestamp_ms if timestamp_ms is not None else number * self.spec.slot_duration_ms
        builder = BlockBuilder(self.runtime, self.best_state, parent.hash, number)
        builder.apply_extrinsic(timestamp_inherent(self.runtime, now))
        outcomes: list[ApplyOutcome | Exception] = []
        for raw in extrinsics:
            try:
                outcomes.append(builder.apply_extrinsic(raw))
            except (MalformedExtrinsic, TransactionValidityError) as exc:
                outcomes.append(exc)
        header, state = builder.finalize()
        block = Block(header, tuple(builder.extrinsics))
        self.blocks[block.hash] = block
        self.states[block.hash] = state
        self.hashes.append(block.hash)
        return BlockResult(block, tuple(outcomes))
