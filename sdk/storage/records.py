"""What ``client.storage`` answers with: plain frozen records of files, fragments, nodes and reads.

Each record has :meth:`to_json` (ids and accounts as ``0x`` hex), which ``cairn storage ... --json`` prints.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdk.chain.keys import hash_id
from sdk.records import Record

__all__ = ["FileId", "parse_file_id", "Record", "FragmentHealth", "FileDetails", "FileSummary", "StorageNode", "AccessRecord"]

FileId = bytes
"""32 bytes: the hash of the file's manifest. Shown as ``0x`` + 64 hex digits."""


def parse_file_id(value: bytes | str) -> FileId:
    """``value`` as a file id (32 bytes, or ``0x`` + 64 hex digits); :class:`BadArgument` otherwise."""
    return hash_id(value, "file id")


@dataclass(frozen=True)
class FragmentHealth(Record):
    """One fragment of a stored file: where it is and whether it is safe there."""

    segment: int
    fragment: int
    node: bytes
    """The account of the node the chain placed it on."""
    endpoint: str | None
    """That node's HTTP endpoint (``None`` if the node is no longer registered)."""
    confirmed: bool
    """The node confirmed on-chain that it stores the fragment."""
    node_status: str | None
    """``Active``, ``Exiting``, ``ForcedOut``; ``None`` if the node is gone."""
    repairing: bool
    """A repair order is open for this fragment (an audit failed or was missed, or its node left)."""

    @property
    def healthy(self) -> bool:
        return self.confirmed and self.node_status == "Active" and not self.repairing


@dataclass(frozen=True)
class FileDetails(Record):
    """``client.storage.info``: a file's record on chain and the health of each of its fragments."""

    file_id: bytes
    owner: bytes
    size: int
    encrypted: bool
    status: str
    """``Pending`` (waiting for confirmations), ``Active``, ``Degraded`` (repairs pending) or ``Lost``."""
    k: int
    m: int
    segment_size: int
    chunk_size: int
    segment_count: int
    declared_at: int
    deposit: int
    paid_until: int
    """The last block its storage is paid for: it expires after it unless renewed (``renew``)."""
    uses: int
    """Jobs and federated rounds reading the file now: its deletion waits for them."""
    deleting: bool
    """Its owner deleted it while in use: it goes when the last use ends, and takes no new one."""
    locked: bool
    """A verified job's output: its owner (the provider) may not delete it; it goes when its paid time ends."""
    fragments: tuple[FragmentHealth, ...]


@dataclass(frozen=True)
class FileSummary(Record):
    """One line of ``client.storage.ls``."""

    file_id: bytes
    size: int
    encrypted: bool
    status: str


@dataclass(frozen=True)
class StorageNode(Record):
    """A registered storage node and its audit record (the reputation placement weighs)."""

    account: bytes
    endpoint: str
    capacity: int
    used: int
    stake: int
    status: str
    audits_passed: int
    audits_missed: int
    consecutive_misses: int
    repairs_done: int
    registered_at: int


@dataclass(frozen=True)
class AccessRecord(Record):
    """One recorded read of a private file: who, at which block, and who signed the record: the reader itself,
    or the owner who recorded it with the grant (``StorageAccess.AccessLog``)."""

    index: int
    account: bytes
    block: int
    recorder: bytes
