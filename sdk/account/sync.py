"""``Client.account``: :class:`~sdk.account.api.AccountApi` for blocking code, run in the client's event loop."""

from __future__ import annotations

from sdk.account.api import AccountApi
from sdk.chain.sync import BlockingApi, blocking

__all__ = ["BlockingAccountApi"]


class BlockingAccountApi(BlockingApi[AccountApi]):
    """The blocking face of :class:`AccountApi` (same methods, same arguments, same errors)."""

    token = blocking(AccountApi.token)
    balance = blocking(AccountApi.balance)
    transfer = blocking(AccountApi.transfer)
