"""Nonces for many transactions in flight from one account.

Asking the node for each transaction's nonce gives the same one to every transaction signed before the
previous one reached the pool. The manager asks once per account (``system_accountNextIndex``, which
counts the pool's ready transactions) and then counts locally, so any number of concurrent senders get
consecutive, distinct nonces. When the node refuses a transaction (its nonce is stale or in the future,
or it will never be included, leaving a gap), :meth:`NonceManager.forget` drops the count and the next
nonce is read from the node again.
"""

from __future__ import annotations

from typing import Awaitable, Callable

import anyio

__all__ = ["NonceManager"]


class NonceManager:
    """Per-account next nonce, seeded from the node by ``fetch(account_id)``."""

    def __init__(self, fetch: Callable[[bytes], Awaitable[int]]) -> None:
        self._fetch = fetch
        self._next: dict[bytes, int] = {}
        self._seeding: dict[bytes, anyio.Lock] = {}

    async def next(self, account: bytes) -> int:
        """A nonce no other caller of this manager gets for ``account`` (until :meth:`forget`)."""
        if account not in self._next:
            lock = self._seeding.setdefault(account, anyio.Lock())
            async with lock:  # concurrent first senders wait for one fetch
                if account not in self._next:
                    self._next[account] = await self._fetch(account)
        nonce = self._next[account]
        self._next[account] = nonce + 1
        return nonce

    def forget(self, account: bytes) -> None:
        """Read ``account``'s nonce from the node again before the next transaction."""
        self._next.pop(account, None)
