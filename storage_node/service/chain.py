"""What the storage node reads from the chain: files, placements, challenges, repair orders, grants.

One place turns the storage pallets' storage items (read with the SDK's chain client at the best block) into
the few facts the daemon decides on, so the HTTP API, the prover and the repairer never handle storage
layouts themselves. Every read is bounded by the client's own timeout; a chain that does not answer raises
the client's :class:`sdk.chain.ChainClientError`, which the callers turn into HTTP 503 or a retry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sdk.chain import AsyncClient
from sdk.chain.cache import SharedFetches
from storage_node.pallets.types import Challenge, FileInfo, NodeInfo
from storage_node.params import GCM_TAG_LENGTH

__all__ = ["ChainView", "StoredFile", "NodeEndpoint"]

CACHED_FILES = 1024
"""File records (and four times as many segment roots) a node remembers: the files it is being sent."""


@dataclass(frozen=True)
class StoredFile:
    """A file the chain knows: its record in ``FileBank.Files``."""

    file_id: bytes
    info: FileInfo

    @property
    def owner(self) -> bytes:
        return self.info.owner

    @property
    def public(self) -> bool:
        """A file uploaded unencrypted: anyone may read its fragments."""
        return not self.info.encrypted

    @property
    def fragment_count(self) -> int:
        return self.info.width

    def has_fragment(self, segment: int, fragment: int) -> bool:
        return segment < self.info.segment_count and fragment < self.info.width

    def fragment_size(self, segment: int) -> int:
        return self.info.fragment_size_of(segment)

    def coded_length(self, segment: int) -> int:
        """Bytes of the segment that were erasure coded (the plaintext, plus the GCM tag if encrypted)."""
        info = self.info
        plaintext = min(info.segment_size, info.size - segment * info.segment_size)
        return plaintext + (GCM_TAG_LENGTH if info.encrypted else 0)


@dataclass(frozen=True)
class NodeEndpoint:
    account: bytes
    url: str


class ChainView:
    """Reads for the node whose account is ``account``."""

    def __init__(self, client: AsyncClient, account: bytes) -> None:
        self.client = client
        self.account = account
        self._files: SharedFetches[bytes, StoredFile] = SharedFetches(CACHED_FILES)
        self._roots: SharedFetches[tuple[bytes, int], bytes] = SharedFetches(CACHED_FILES * 4)
        self._unembargoed: SharedFetches[bytes, bool] = SharedFetches(CACHED_FILES)

    async def file(self, file_id: bytes) -> StoredFile | None:
        """The file's record; what a node uses of it never changes, so a known file is remembered (a deleted
        one too: its placements go, and the placement is read on every upload)."""
        async def fetch() -> StoredFile:
            info = await self.client.query("FileBank", "Files", [file_id])
            if info is None:
                raise LookupError(file_id)  # not remembered: it may be declared in the next block
            return StoredFile(file_id, info)

        try:
            return await self._files.get(file_id, fetch)
        except LookupError:
            return None

    def forget_file(self, file_id: bytes) -> None:
        """The file was deleted: read its record afresh from now on (an upload to it is then refused; its
        placements stay on chain a few blocks after it)."""
        self._files.forget(file_id)
        self._unembargoed.forget(file_id)  # (declared again, by the same owner, it may be under embargo)

    async def embargoed(self, file_id: bytes) -> bool:
        """Whether the file is under embargo (FileBank's ``declare_embargoed``: served to its owner and repairers
        only, until released), at the best block. A file is embargoed by its declaration or never, so one
        declared and not embargoed at the finalized head stays so, and is remembered; any other is read again at
        each request (a reorg, or an RPC node behind, must not make the node remember a wrong "no")."""
        async def fetch() -> bool:
            final = await self.client.get_chain_finalised_head()
            if (await self.client.query("FileBank", "Files", [file_id], block_hash=final) is None
                    or await self.client.query("FileBank", "Embargoed", [file_id], block_hash=final) is not None):
                raise LookupError(file_id)  # not remembered
            return False

        try:
            return await self._unembargoed.get(file_id, fetch)
        except LookupError:
            return await self.client.query("FileBank", "Embargoed", [file_id]) is not None

    async def challenged(self, file_id: bytes, segment: int, fragment: int) -> bool:
        """Whether a challenge of the fragment is open."""
        return bool(await self.client.query("FileBank", "Challenged", [file_id, (segment, fragment)]))

    async def segment_root(self, file_id: bytes, segment: int) -> bytes | None:
        """The segment's root as declared (never changes once on chain; remembered like the file)."""
        async def fetch() -> bytes:
            root = await self.client.query("FileBank", "SegmentRoots", [file_id, segment])
            if root is None:
                raise LookupError(file_id, segment)
            return root

        try:
            return await self._roots.get((file_id, segment), fetch)
        except LookupError:
            return None

    async def placement(self, file_id: bytes, segment: int, at: bytes | None = None) -> tuple[bytes, ...]:
        """The nodes holding the segment's fragments, by fragment index (empty if none), at the best block or
        at block ``at``."""
        return tuple(await self.client.query("FileBank", "Placements", [file_id, segment], block_hash=at) or ())

    async def assigned_to_me(self, file_id: bytes, segment: int, fragment: int, at: bytes | None = None) -> bool:
        nodes = await self.placement(file_id, segment, at)
        return fragment < len(nodes) and nodes[fragment] == self.account

    async def finalized_time(self) -> tuple[bytes, int]:
        """The finalized head, and its time (``Timestamp.Now``, milliseconds)."""
        final = await self.client.get_chain_finalised_head()
        return final, await self.client.query("Timestamp", "Now", block_hash=final)

    async def file_at(self, file_id: bytes, at: bytes | None = None) -> StoredFile | None:
        """The file's record at the best block or at block ``at``, read afresh (:meth:`file` remembers a deleted
        file's record)."""
        info = await self.client.query("FileBank", "Files", [file_id], block_hash=at)
        return None if info is None else StoredFile(file_id, info)

    async def confirmed(self, file_id: bytes, segment: int, fragment: int) -> bool:
        flags = await self.client.query("FileBank", "Confirmed", [file_id, segment]) or ()
        return fragment < len(flags) and bool(flags[fragment])

    async def challenge(self, challenge_id: int) -> Challenge | None:
        return await self.client.query("FileBank", "Challenges", [challenge_id])

    async def open_challenges(self) -> list[int]:
        """The ids of every challenge of this node still open (answered after a restart)."""
        return [challenge_id async for challenge_id, found in self.client.query_map("FileBank", "Challenges")
                if found.node == self.account]

    async def repair_orders_for_me(self) -> list[tuple[bytes, int, int]]:
        """The (file, segment, fragment) of every open repair order assigned to this node."""
        mine = []
        async for (file_id, (segment, fragment)), order in self.client.query_map("FileBank", "RepairOrders"):
            if order.repairer == self.account:
                mine.append((file_id, segment, fragment))
        return mine

    async def repairer_of_segment(self, file_id: bytes, segment: int, who: bytes, fragment_count: int,
                                  at: bytes | None = None) -> bool:
        """Whether ``who`` is the repairer of an open repair order for any fragment of the segment (at the best
        block, or at block ``at``)."""
        for fragment in range(fragment_count):
            order = await self.client.query("FileBank", "RepairOrders", [file_id, (segment, fragment)], block_hash=at)
            if order is not None and order.repairer == who:
                return True
        return False

    async def may_read_private(self, file_id: bytes, who: bytes) -> bool:
        """A grantee whose latest access record is within the access window."""
        grant = await self.client.query("StorageAccess", "Grants", [file_id, who])
        if not grant:
            return False
        last = await self.client.query("StorageAccess", "LastAccess", [file_id, who])
        if last is None:
            return False
        block, _ = last  # recorded by the grantee, or by the owner with the grant: either logs the read
        header = await self.client.get_block_header()
        window = self.client.get_constant("StorageAccess", "AccessWindow")
        return header is not None and header.number - block <= window

    async def registered(self) -> NodeInfo | None:
        """This node's ``StorageNodes.Nodes`` entry (None before it registers)."""
        return await self.client.query("StorageNodes", "Nodes", [self.account])

    async def endpoints(self, accounts: tuple[bytes, ...]) -> list[NodeEndpoint]:
        """The HTTP endpoints of registered nodes among ``accounts`` (in that order)."""
        found = []
        for account in accounts:
            info = await self.client.query("StorageNodes", "Nodes", [account])
            if info is not None:
                found.append(NodeEndpoint(account, bytes(info.endpoint).decode(errors="replace")))
        return found
