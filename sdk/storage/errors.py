"""The storage client's typed errors: what went wrong, in terms a caller can act on.

    ChainClientError                      (sdk.chain.errors)
    └── StorageError
        ├── NoSigner (BadArgument)        the operation signs, and the client was made without a signer
        ├── FileNotFound (LookupError)    the chain knows no file with that id
        ├── AccessDenied (PermissionError) no grant for the signer, or the signer does not own the file
        ├── NoEncryptionKey               the grantee registered no X25519 key to seal the data key to
        ├── TransactionFailed             a storage extrinsic was included but failed (its DispatchError)
        ├── UploadFailed                  a node refused a fragment for good, or activation timed out
        │   └── SourceChanged             the source read differently on the second pass
        └── DownloadFailed                some segment had fewer than k fragments that verified
"""

from __future__ import annotations

from sdk.chain.errors import BadArgument, ChainClientError
from sdk.chain.types import DispatchFailure

__all__ = [
    "StorageError",
    "NoSigner",
    "FileNotFound",
    "AccessDenied",
    "NoEncryptionKey",
    "TransactionFailed",
    "UploadFailed",
    "SourceChanged",
    "DownloadFailed",
]


class StorageError(ChainClientError):
    """Base of every error of ``client.storage``."""


class NoSigner(StorageError, BadArgument):
    """The operation needs an account to sign with: build the client with ``signer=``."""


class FileNotFound(StorageError, LookupError):
    """The chain has no file with this id (never declared, or deleted)."""

    def __init__(self, file_id: bytes) -> None:
        super().__init__(f"no file 0x{file_id.hex()} on chain")
        self.file_id = file_id


class AccessDenied(StorageError, PermissionError):
    """The signer may not do this: it holds no grant for a private file, or is not the file's owner."""


class NoEncryptionKey(StorageError):
    """The account has registered no X25519 key (``StorageAccess.Keys``), so no data key can be sealed to it:
    its holder registers one with ``client.storage.register_key()`` (uploading a private file does too)."""


class TransactionFailed(StorageError):
    """A storage extrinsic was included but its dispatch failed."""

    def __init__(self, what: str, failure: DispatchFailure | None) -> None:
        super().__init__(f"{what} failed: {failure}")
        self.failure = failure


class UploadFailed(StorageError):
    """The upload could not complete: a node refused a fragment for a reason retrying cannot fix, or the
    file was not activated within the deadline. The file stays declared (``delete`` it to get the deposit
    back) until the chain abandons it, ``UploadTimeout`` blocks after its last confirmation."""


class SourceChanged(UploadFailed):
    """The source's bytes changed between the pass that computed the roots and the pass that pushed."""


class DownloadFailed(StorageError):
    """A segment could not be rebuilt: fewer than k of its fragments could be fetched and verified.
    ``reasons`` says what went wrong with each node tried."""

    def __init__(self, message: str, reasons: dict[str, str] | None = None) -> None:
        detail = "; ".join(f"{node}: {why}" for node, why in (reasons or {}).items())
        super().__init__(f"{message}" + (f" ({detail})" if detail else ""))
        self.reasons = dict(reasons or {})
