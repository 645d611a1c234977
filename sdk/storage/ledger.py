"""The storage pallets as the storage client uses them: every call, storage item and event name in one place.

``FileBank`` holds files (``Files``: a ``FileInfo`` without the roots; ``SegmentRoots`` per segment),
placements and confirmations; ``StorageNodes`` the registered nodes; ``StorageAccess`` encryption keys,
grants and the access log. The rest of :mod:`sdk.storage` asks this module for facts (a file's manifest, a
segment's nodes, a sealed key) and never handles pallet layouts itself.

A download trusts the segment roots it checks fragments against, so :meth:`Ledger.file` reads them with a
read proof against the finalized header (``verified``): a lying RPC node cannot make it accept other bytes.
Transactions are signed by the client's signer and waited for to inclusion; one that fails raises
:class:`FileNotFound` for a file the chain does not know, :class:`AccessDenied` for one the signer does not
own, else :class:`TransactionFailed` with the runtime's ``DispatchError``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence


from runtime.keyring import Keypair
from runtime.ss58 import ss58_encode
from sdk.chain import AsyncClient, ChainEvent, EventSubscription, ExtrinsicReceipt
from sdk.chain.errors import InvalidResponse
from sdk.chain.types import DispatchFailure
from sdk.storage.errors import AccessDenied, FileNotFound, NoEncryptionKey, NoSigner, StorageError, TransactionFailed
from sdk.storage.nodes import NodeAddress
from storage_node.chunks import Hash32
from storage_node.crypto import DecryptionError, open_sealed_key, seal_key, x25519_keypair_from
from storage_node.manifest import Manifest, ManifestError

if TYPE_CHECKING:  # the pallets' record types, decoded by the runtime's codecs
    from storage_node.pallets.types import FileInfo, NodeInfo

__all__ = ["Ledger", "StoredFile", "FileEvent", "CodeDefaults", "Declared", "endpoint", "file_event",
           "what_declaring_did"]

PROOF_KEYS = 512
"""Storage keys per read proof: a file's segment roots are proven a few hundred at a time."""
ADDRESS_KEPT_S = 30.0
"""Seconds a node's endpoint, once read, is used without reading its record again: a client moving many
files (a provider moves a few per job) would otherwise read every node's record for every transfer. A node
that moves (``StorageNodes.update``) does not answer at its old endpoint, and a request that gets no answer
drops the endpoint kept (:meth:`Ledger.unreachable`), so the next request reads it afresh."""


@dataclass(frozen=True)
class StoredFile:
    """A file as the chain knows it: its record and the manifest rebuilt from it and its segment roots."""

    file_id: bytes
    info: FileInfo
    manifest: Manifest


@dataclass(frozen=True)
class CodeDefaults:
    """The chain's storage presets an upload must follow (segment and chunk size, at most ``max_fragments``
    fragments a segment and ``max_segments`` segments a file) or may override (k, m)."""

    segment_size: int
    chunk_size: int
    k: int
    m: int
    max_fragments: int
    max_segments: int


@dataclass(frozen=True)
class FileEvent:
    """A ``FileBank`` event about one file that an upload acts on."""

    name: str
    """``FileActivated``, ``UploadAbandoned``, ``FragmentReassigned`` or ``RepairOrdered``."""
    segment: int = 0
    fragment: int = 0
    to: bytes = b""
    """For ``FragmentReassigned``: the node that now holds the fragment."""


class Ledger:
    """Reads and transactions of the storage pallets through ``chain``, signed by ``signer``."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None) -> None:
        self.chain = chain
        self._signer = signer
        self._granted_reads: set[tuple[bytes, bytes, int]] = set()
        """(file, reader, block) of the granters' access records a download used (:meth:`granted_read`)."""
        self._addresses: dict[bytes, tuple[float, NodeAddress]] = {}
        """Node account → (until when it is kept, its address): see :data:`ADDRESS_KEPT_S`."""

    @property
    def signer(self) -> Keypair:
        if self._signer is None:
            raise NoSigner("this operation signs: build the client with signer=Keypair or a secret URI")
        return self._signer

    # --- constants -----------------------------------------------------------------------------------

    def defaults(self) -> CodeDefaults:
        get = self.chain.get_constant
        return CodeDefaults(get("FileBank", "SegmentSize"), get("FileBank", "ChunkSize"),
                            get("FileBank", "DefaultK"), get("FileBank", "DefaultM"), get("FileBank", "MaxFragments"),
                            get("FileBank", "MaxSegments"))

    # --- files ---------------------------------------------------------------------------------------

    async def file_record(self, file_id: bytes, *, at: bytes | None = None) -> FileInfo | None:
        """The file's record (``FileBank.Files``) at block ``at`` (the best block if ``None``), unproven; ``None``
        if the chain has no such file there."""
        return await self.chain.query("FileBank", "Files", [file_id], block_hash=at)

    async def file_holds(self, file_id: bytes) -> tuple[int, bool, bool]:
        """What keeps the file stored: (jobs or rounds reading it, whether its owner deleted it meanwhile,
        whether it is a verified output its owner may not delete)."""
        uses = await self.chain.query("FileBank", "Pins", [file_id])
        locked = await self.chain.query("FileBank", "Locked", [file_id]) is not None
        return uses, await self.being_deleted(file_id), locked

    async def being_deleted(self, file_id: bytes) -> bool:
        """Whether the file's owner deleted it while jobs or rounds read it (it goes when the last ends)."""
        return await self.chain.query("FileBank", "Deleting", [file_id]) is not None

    async def embargoed(self, file_id: bytes) -> bool:
        """Whether the file is under embargo (``FileBank.declare_embargoed``): its nodes serve it to its owner and
        repairers only (a job output until its job ends)."""
        return await self.chain.query("FileBank", "Embargoed", [file_id]) is not None

    async def file(self, file_id: bytes, *, verified: bool = True) -> StoredFile:
        """The file's record and manifest (proven against the finalized header when ``verified``); raises
        :class:`FileNotFound` if the chain has no such file."""
        if not verified:
            info = await self.file_record(file_id)
            if info is None:
                raise FileNotFound(file_id)
            roots = [await self.chain.query("FileBank", "SegmentRoots", [file_id, i])
                     for i in range(info.segment_count)]
        else:
            at = await self.chain.get_chain_finalised_head()
            (info,) = await self._proven(at, "Files", [[file_id]])
            if info is None:
                raise FileNotFound(file_id)
            roots = await self._proven(at, "SegmentRoots", [[file_id, i] for i in range(info.segment_count)])
        return StoredFile(file_id, info, _manifest(file_id, info, roots))

    async def _proven(self, at: bytes, item: str, params: Sequence[Sequence[Any]]) -> list[Any]:
        """``FileBank`` values at block ``at``, each proven by a read proof against its header."""
        header = await self.chain.get_block_header(at)
        if header is None:
            raise InvalidResponse(f"the node has no header for its finalized block 0x{at.hex()}")
        entry = self.chain.view.storage("FileBank", item)
        values: list[Any] = []
        for start in range(0, len(params), PROOF_KEYS):
            keys = [entry.key(p) for p in params[start:start + PROOF_KEYS]]
            proof = await self.chain.get_read_proof(keys, at)
            proven = proof.verify(header.state_root, keys)
            values.extend(entry.decode_value(proven[key]) for key in keys)
        return values

    async def files_of(self, owner: bytes) -> list[bytes]:
        """The ids of the files ``owner`` declared and has not deleted."""
        return [file_id async for file_id, _ in self.chain.query_map("FileBank", "FilesOf", [owner])]

    async def placements(self, file_id: bytes, segment_count: int, at: bytes | None = None) -> list[list[bytes]]:
        """Per segment, the node holding each fragment (by fragment index)."""
        placed: list[list[bytes]] = [[] for _ in range(segment_count)]
        async for segment, nodes in self.chain.query_map("FileBank", "Placements", [file_id], page_size=1000,
                                                         block_hash=at):
            if 0 <= segment < segment_count:
                placed[segment] = list(nodes)
        return placed

    async def confirmations(self, file_id: bytes, segment_count: int) -> list[tuple[bool, ...]]:
        found: list[tuple[bool, ...]] = [() for _ in range(segment_count)]
        async for segment, flags in self.chain.query_map("FileBank", "Confirmed", [file_id], page_size=1000):
            if 0 <= segment < segment_count:
                found[segment] = tuple(flags)
        return found

    async def repair_orders(self, file_id: bytes) -> dict[tuple[int, int], Any]:
        """Open repair orders by (segment, fragment)."""
        return {tuple(key): order async for key, order in self.chain.query_map("FileBank", "RepairOrders", [file_id])}

    def file_events(self, file_id: bytes) -> EventSubscription:
        """``FileBank``'s events block by block on the finalized chain (open it before declaring), decoded only
        in blocks whose events hold ``file_id`` (every event about the file names it)."""
        return self.chain.subscribe_events("FileBank", finalized=True, relevant=lambda raw: file_id in raw)

    # --- nodes ---------------------------------------------------------------------------------------

    async def node(self, account: bytes) -> NodeInfo | None:
        return await self.chain.query("StorageNodes", "Nodes", [account])

    async def address(self, account: bytes) -> NodeAddress | None:
        """Where to reach the node ``account`` (``None`` if it is not registered), read at most every
        :data:`ADDRESS_KEPT_S` seconds."""
        now = time.monotonic()
        kept = self._addresses.get(account)
        if kept is not None and kept[0] > now:
            return kept[1]
        info = await self.node(account)
        if info is None:
            self._addresses.pop(account, None)
            return None
        address = NodeAddress(account, endpoint(info))
        self._addresses[account] = (now + ADDRESS_KEPT_S, address)
        return address

    def unreachable(self, node: NodeAddress) -> None:
        """``node`` did not answer: read its endpoint from the chain again next time (it may have moved)."""
        if self._addresses.get(node.account, (0.0, None))[1] == node:
            del self._addresses[node.account]

    async def nodes(self) -> list[tuple[bytes, NodeInfo]]:
        return [(account, info) async for account, info in self.chain.query_map("StorageNodes", "Nodes")]

    # --- access --------------------------------------------------------------------------------------

    async def encryption_key(self, account: bytes) -> bytes | None:
        """The X25519 public key ``account`` registered, if any."""
        return await self.chain.query("StorageAccess", "Keys", [account])

    async def key_registration(self) -> list[tuple[str, str, dict[str, Any]]]:
        """The call publishing the signer's X25519 key (derived from its account key), or none if the chain has
        that key for it already."""
        _, public = x25519_keypair_from(self.signer)
        if await self.encryption_key(self.signer.public) == public:
            return []
        return [("StorageAccess", "register_key", {"key": public})]

    async def sealed_key(self, file_id: bytes, account: bytes) -> bytes | None:
        """The file's data key sealed to ``account`` (its grant), if it holds one."""
        sealed = await self.chain.query("StorageAccess", "Grants", [file_id, account])
        return bytes(sealed) if sealed else None

    async def data_key(self, file_id: bytes) -> bytes:
        """The private file's data key, opened from the signer's own grant; :class:`AccessDenied` if the signer
        holds none, or one that its encryption key does not open."""
        signer = self.signer
        sealed = await self.sealed_key(file_id, signer.public)
        if sealed is None:
            raise AccessDenied(f"{signer.ss58_address()} holds no grant for private file 0x{file_id.hex()}")
        secret, _ = x25519_keypair_from(signer)
        try:
            return open_sealed_key(sealed, secret)
        except DecryptionError:
            raise AccessDenied("the grant's sealed key does not open with this signer's encryption key") from None

    async def access_log(self, file_id: bytes) -> list[tuple[int, bytes, int, bytes]]:
        """Every recorded read: (index, account, block, recorder), in order. A deleted file's log stays on
        chain; :class:`FileNotFound` if there is no log and no such file (a mistyped id, not a file unread)."""
        log = [(index, who, block, recorder) async for index, (who, block, recorder)
               in self.chain.query_map("StorageAccess", "AccessLog", [file_id], page_size=1000)]
        if not log and await self.file_record(file_id) is None:
            raise FileNotFound(file_id)
        return sorted(log)

    async def granted_read(self, file_id: bytes, account: bytes) -> bool:
        """Whether ``account`` may read the file now against the access record its granter made for it with
        the grant (``grant_and_record``): that record is ``account``'s latest, at least half of ``AccessWindow``
        is left of it at the best block (for the fetch), and no download through this ledger used it yet (it
        logs one read; a later download records its own)."""
        last = await self.chain.query("StorageAccess", "LastAccess", [file_id, account])
        if last is None:
            return False
        block, recorder = last
        if recorder == account or (file_id, account, block) in self._granted_reads:
            return False
        head = await self.chain.get_block_header()
        if head is None or head.number - block > self.chain.get_constant("StorageAccess", "AccessWindow") // 2:
            return False
        self._granted_reads.add((file_id, account, block))
        return True

    async def recipient_key(self, account: bytes) -> bytes:
        """The X25519 key a grant to ``account`` is sealed to; :class:`NoEncryptionKey` if it registered none."""
        recipient = await self.encryption_key(account)
        if recipient is None:
            raise NoEncryptionKey(f"{ss58_encode(account)} has registered no encryption key to seal a grant to (its "
                                  "holder registers one once: `cairn storage register-key`)")
        return bytes(recipient)

    @staticmethod
    def grant_call(file_id: bytes, grantee: bytes, data_key: bytes, recipient: bytes, *,
                   record_access: bool = False) -> tuple[str, str, dict[str, Any]]:
        """The call granting ``grantee`` the file: ``data_key`` sealed to ``recipient`` (its X25519 key);
        ``record_access`` makes it ``grant_and_record`` (the grantee's read logged in the same transaction)."""
        return ("StorageAccess", "grant_and_record" if record_access else "grant",
                {"file_id": file_id, "grantee": grantee, "sealed_key": seal_key(data_key, recipient)})

    # --- transactions --------------------------------------------------------------------------------

    async def submit(self, calls: Sequence[tuple[str, str, dict[str, Any]]], *,
                     finalized: bool = False) -> list[ExtrinsicReceipt]:
        """Sign ``calls`` (pallet, call, arguments) with consecutive nonces, submit them together (included in
        order, usually in one block, though a full block can leave the rest to the next) and wait for their
        inclusion (or finality, as :meth:`file` reads); the first that failed raises."""
        receipts = await self.chain.sign_and_submit_all([self.chain.compose_call(*call) for call in calls],
                                                        self.signer, wait_for_inclusion=True,
                                                        wait_for_finalization=finalized)
        for (pallet, name, arguments), receipt in zip(calls, receipts):
            if not receipt.is_success:
                raise _failure(f"{pallet}.{name}", arguments, receipt.error_message)
        return receipts


def _failure(what: str, arguments: dict[str, Any], failure: DispatchFailure | None) -> StorageError:
    """The typed error for a storage call that failed: the file it names is unknown (:class:`FileNotFound`, as a
    read of it says), the signer does not own it (:class:`AccessDenied`), else :class:`TransactionFailed`."""
    error = None if failure is None or failure.pallet not in ("FileBank", "StorageAccess") else failure.name
    if error == "UnknownFile" and "file_id" in arguments:
        return FileNotFound(arguments["file_id"])
    if error == "NotFileOwner":
        return AccessDenied(f"{what} failed: {failure}")
    return TransactionFailed(what, failure)


def endpoint(info: NodeInfo) -> str:
    """A node's registered HTTP endpoint, as text."""
    return bytes(info.endpoint).decode(errors="replace")


@dataclass(frozen=True)
class Declared:
    """What a declaration's own events say of its file."""

    placements: list[list[bytes]]
    """Per segment, the node of each fragment (``FragmentsAssigned``); empty unless every segment's was there."""
    activated: bool
    """Active at once (``FileActivated``: an empty file has nothing to confirm)."""


def what_declaring_did(events: Iterable[ChainEvent], file_id: bytes, segment_count: int) -> Declared:
    """:class:`Declared` from the events of the extrinsic that declared ``file_id`` (its receipt's)."""
    placed: dict[int, list[bytes]] = {}
    activated = False
    for event in events:
        if not _about_file(event, file_id):
            continue
        if event.name == "FragmentsAssigned" and 0 <= event.event.segment < segment_count:
            placed[event.event.segment] = list(event.event.nodes)
        elif event.name == "FileActivated":
            activated = True
    complete = len(placed) == segment_count
    return Declared([placed[segment] for segment in range(segment_count)] if complete else [], activated)


def file_event(event: ChainEvent, file_id: bytes) -> FileEvent | None:
    """``event`` as an upload of ``file_id`` sees it, or ``None`` if it is about something else."""
    if not _about_file(event, file_id):
        return None
    if event.name in ("FileActivated", "UploadAbandoned"):
        return FileEvent(event.name)
    fields = event.attributes
    if event.name == "FragmentReassigned":
        return FileEvent("FragmentReassigned", fields["segment"], fields["fragment"], bytes(fields["to"]))
    if event.name == "RepairOrdered":
        return FileEvent("RepairOrdered", fields["segment"], fields["fragment"])
    return None


def _about_file(event: ChainEvent, file_id: bytes) -> bool:
    """Whether ``event`` is one of ``FileBank``'s about ``file_id`` (every such event names it)."""
    return event.pallet == "FileBank" and getattr(event.event, "file_id", None) == file_id


def _manifest(file_id: bytes, info: FileInfo, roots: Sequence[Hash32 | None]) -> Manifest:
    if any(root is None for root in roots):
        raise InvalidResponse(f"file 0x{file_id.hex()}: the chain lacks some of its segment roots")
    manifest = Manifest(info.version, info.owner, info.salt, info.size, info.segment_size, info.k, info.m,
                        info.chunk_size, info.encrypted, tuple(roots))  # type: ignore[arg-type]
    try:
        manifest.check()
    except ManifestError as exc:
        raise InvalidResponse(f"file 0x{file_id.hex()}: its record is not a manifest ({exc})") from None
    if manifest.file_id() != file_id:
        raise InvalidResponse(f"file 0x{file_id.hex()}: the record's manifest hashes to another id")
    return manifest
