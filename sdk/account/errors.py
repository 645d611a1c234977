"""The account client's typed errors.

    ChainClientError                 (sdk.chain.errors)
    └── AccountError
        ├── NoSigner (BadArgument)   a transfer (or the signer's own balance) without a signer
        └── TransferRefused          the transfer breaks a rule of Balances (``reason``); nothing moved
"""

from __future__ import annotations

from sdk.chain.errors import BadArgument, ChainClientError
from sdk.chain.types import DispatchFailure

__all__ = ["AccountError", "NoSigner", "TransferRefused"]


class AccountError(ChainClientError):
    """Base of every error of ``client.account``."""


class NoSigner(AccountError, BadArgument):
    """The operation needs an account to sign with (or to read): build the client with ``signer=``."""


class TransferRefused(AccountError):
    """A transfer was refused; ``reason`` names the rule (``InsufficientBalance``, ``ExistentialDeposit``,
    ``Expendability``, as ``Balances`` names its errors). This client checks those rules before it submits, and
    then nothing was sent and no fee paid (``failure`` is ``None``); if the chain refused it still (the balance
    changed meanwhile, or the fee took what the transfer needed), ``failure`` is the chain's reason, nothing moved
    but the fee was paid."""

    def __init__(self, message: str, reason: str, failure: DispatchFailure | None = None, *,
                 sendable: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.failure = failure
        self.sendable = sendable
        """What the signer could send instead, once the fee is paid (``None`` after the chain's refusal)."""
