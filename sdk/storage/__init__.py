"""The storage network from the client's side: ``client.storage`` and the ``cairn storage`` command.

Modules, bottom up: ``errors``; ``source`` (what an upload reads), ``segments`` (a segment's encryption,
coding and roots, and back), ``wire`` (the node API's fragment body, checked), ``nodes`` (signed HTTP to
storage nodes), ``ledger`` (the storage pallets' calls and storage), ``records`` (what the API answers),
``transfer`` (tuning, progress, parallel segments), ``cache`` (public files kept on disk), ``upload`` and
``download`` (the pipelines), ``api`` (:class:`StorageApi`), ``sync`` (its blocking face) and ``cli``.
"""

from sdk.storage.api import StorageApi
from sdk.storage.cache import PublicFileCache
from sdk.storage.errors import (
    AccessDenied,
    DownloadFailed,
    FileNotFound,
    NoEncryptionKey,
    NoSigner,
    SourceChanged,
    StorageError,
    TransactionFailed,
    UploadFailed,
)
from sdk.storage.records import AccessRecord, FileDetails, FileId, FileSummary, FragmentHealth, StorageNode
from sdk.storage.sync import BlockingStorageApi
from sdk.storage.transfer import Progress, TransferConfig

__all__ = [
    "StorageApi",
    "PublicFileCache",
    "BlockingStorageApi",
    "TransferConfig",
    "Progress",
    "FileId",
    "FileDetails",
    "FileSummary",
    "FragmentHealth",
    "StorageNode",
    "AccessRecord",
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
