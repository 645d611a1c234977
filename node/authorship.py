"""Block authorship: in its Aura slot, the authority builds a block from the pool within a time budget.

The block holds the timestamp inherent, then ready transactions best-first until the pool is empty, the
block is full or the time budget is spent. A transaction that does not fit what is left (the runtime says
``ExhaustsResources``) is passed over, as is a heavy one early in a block whose hooks took more than usual,
and the next ones tried, up to ``MAX_SKIPPED`` of them (as Substrate's proposer): stopping at the first
would let one heavy transaction at the head of the pool keep every block empty. A transaction the
runtime now rejects is reported so the pool can drop it. So is one that makes the runtime fail in an
unexpected way (a bug: an exception that is not a ``DispatchError``): its effects are rolled back, it is
logged, and the block goes on without it, as a Substrate author drops an extrinsic whose execution traps.
One transaction that hits a runtime bug must not stop every block after it. The header carries the Aura
pre-digest and is sealed with the author's ed25519 session key after execution.

Runs in a worker thread with its own runtime instance (runtimes are single-threaded).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Iterable

from node.consensus import aura
from node.txpool import PoolTransaction
from runtime.cairn import CairnRuntime
from runtime.executive import Block, BlockBuilder, timestamp_inherent
from runtime.extrinsic import InvalidKind, MalformedExtrinsic, TransactionValidityError
from runtime.trie import TrieState

__all__ = ["AuthoredBlock", "author_block", "MAX_SKIPPED"]

MAX_SKIPPED = 8
"""Transactions passed over for not fitting before a block counts as full (Substrate's
``MAX_SKIPPED_TRANSACTIONS``): enough to reach lighter ones behind a few heavy ones, few enough that a full
block does not try the whole pool."""

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AuthoredBlock:
    block: Block
    state: TrieState
    included: tuple[bytes, ...]
    """Pool hashes of the transactions in the block."""
    rejected: tuple[tuple[bytes, str], ...]
    """Pool hashes the runtime refused now, with the reason (to drop from the pool)."""


def author_block(runtime: CairnRuntime, parent: Block, parent_state: TrieState, *, slot: int, timestamp_ms: int,
                 secret: bytes, candidates: Iterable[PoolTransaction], budget_s: float) -> AuthoredBlock:
    deadline = time.monotonic() + budget_s
    builder = BlockBuilder(runtime, parent_state, parent.hash, parent.header.number + 1, aura.pre_digest(slot))
    builder.apply_extrinsic(timestamp_inherent(runtime, timestamp_ms))
    included: list[bytes] = []
    rejected: list[tuple[bytes, str]] = []
    skipped = 0
    for tx in candidates:
        if time.monotonic() >= deadline:
            break
        try:
            builder.apply_extrinsic(tx.raw)
        except TransactionValidityError as exc:
            if exc.kind is InvalidKind.ExhaustsResources:
                skipped += 1
                if skipped > MAX_SKIPPED:
                    break
                continue
            if exc.kind is not InvalidKind.Future:
                rejected.append((tx.hash, str(exc)))
            continue
        except MalformedExtrinsic as exc:
            rejected.append((tx.hash, str(exc)))
            continue
        except Exception as exc:  # a runtime bug; apply_extrinsic rolled the transaction's effects back
            log.exception("transaction 0x%s failed in the runtime; leaving it out", tx.hash.hex())
            rejected.append((tx.hash, f"runtime error: {type(exc).__name__}: {exc}"))
            continue
        included.append(tx.hash)
    header, state = builder.finalize()
    block = Block(aura.seal(header, secret), tuple(builder.extrinsics))
    return AuthoredBlock(block, state, tuple(included), tuple(rejected))
