"""Nonces for many transactions in flight from one account.

Asking the node for each transaction's nonce gives the same one to every transaction signed before the
previous one reached the pool. The manager asks once per account (``system_accountNextIndex``, which
counts the pool's transactions) and then counts locally, so any number of concurrent senders get
consecutive, distinct nonces.

A transaction the node refuses leaves its nonce unused: if transactions with higher nonces were signed
meanwhile, they wait in the pool's future queue for a predecessor that never comes, and are dropped
(``future_timeout_seconds``). So :meth:`NonceManager.reserve` holds the account from signing until the
node has pooled or refused the transaction: whatever is refused, no later nonce is out, and the next
sender reuses the refused one. After a refusal (or a transaction that left the pool unincluded) the count
is read from the node again, under the same hold, when every transaction this manager signed is pooled
or refused, so the node's answer is exact and fills any gap a dropped transaction left.
"""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import AsyncIterator, Awaitable, Callable

import anyio

__all__ = ["NonceManager"]


class NonceManager:
    """Per-account next nonce, seeded from the node by ``fetch(account_id)``."""

    def __init__(self, fetch: Callable[[bytes], Awaitable[int]]) -> None:
        self._fetch = fetch
        self._next: dict[bytes, int] = {}
        self._holds: dict[bytes, anyio.Lock] = {}
        self._generation = 0
        """Bumped by :meth:`forget_all`: a read begun before is not kept."""

    @asynccontextmanager
    async def reserve(self, account: bytes) -> AsyncIterator[int]:
        """The next nonce of ``account``, held for the block: sign and submit it inside, leaving once the node
        has pooled the transaction. Leaving by an exception (refused, cancelled) makes the next nonce be read
        from the node again, so the one reserved is given to the next sender if it is still unused."""
        async with self._hold(account):
            nonce = await self._current(account)
            try:
                yield nonce
            except BaseException:
                self.forget(account)
                raise
            if self._next.get(account) == nonce:  # (else a drop made it forget meanwhile: read it again)
                self._next[account] = nonce + 1

    async def peek(self, account: bytes) -> int:
        """The next nonce of ``account``, not taken: for a transaction signed outside :meth:`reserve`, which
        may never be submitted (nothing later is then left waiting for it). The count moves past it once the
        node pools it (:meth:`pooled`)."""
        async with self._hold(account):
            return await self._current(account)

    def pooled(self, account: bytes, nonce: int) -> None:
        """The node pooled a transaction of ``account`` with ``nonce``: if it is the next one counted, count past
        it (one given by hand, ahead of the count, leaves a gap the count must not skip)."""
        if self._next.get(account) == nonce:
            self._next[account] = nonce + 1

    def forget(self, account: bytes) -> None:
        """Read ``account``'s nonce from the node again before the next transaction."""
        self._next.pop(account, None)

    def forget_all(self) -> None:
        """Read every account's nonce from the node again (a new connection: maybe another node, whose pool
        holds what it holds)."""
        self._next.clear()
        self._generation += 1

    def _hold(self, account: bytes) -> anyio.Lock:
        return self._holds.setdefault(account, anyio.Lock())

    async def _current(self, account: bytes) -> int:
        """The next nonce to hand out (the caller holds the account)."""
        while account not in self._next:
            generation = self._generation
            nonce = await self._fetch(account)
            if generation == self._generation:  # (else a new connection came meanwhile: read it there)
                self._next[account] = nonce
        return self._next[account]
