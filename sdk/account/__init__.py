"""Accounts: balances with the holds that make up their reserved part, transfers, and the chain's token
(``client.account``; ``cairn account``)."""

from sdk.account.api import AccountApi, Balance, Hold, Token
from sdk.account.errors import AccountError, NoSigner, TransferRefused
from sdk.account.sync import BlockingAccountApi

__all__ = ["AccountApi", "BlockingAccountApi", "Balance", "Hold", "Token", "AccountError", "NoSigner",
           "TransferRefused"]
