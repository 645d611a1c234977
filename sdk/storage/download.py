"""Downloading a file: the manifest from the chain (proven), the data key from a grant, then segment by segment.

The manifest is rebuilt from the chain with read proofs against the finalized header, so the segment roots
every fragment is checked against come from consensus, not from whichever RPC node answered. For a private
file the reader needs the data key: the owner opens its own grant; anyone else opens the grant sealed to it
and needs an access record on-chain before any node serves it a byte (nodes serve a grantee's reads only
against a record within ``AccessWindow`` blocks, which makes the access log complete). So the reader first
records the access (``StorageAccess.record_access``, waited for to inclusion), unless its granter recorded
this read with the grant (``grant_and_record``, as a compute job's submitter does for its providers and a
provider for the submitter of its private outputs) and no earlier download used that record
(:meth:`~sdk.storage.ledger.Ledger.granted_read`): one entry in the log per download either way.

Per segment, k fragments are fetched in parallel, data fragments first (decoding them is a copy, not a
matrix product). Each is checked on its own (:func:`sdk.storage.wire.check_fragment_body`): the roots it
carries must hash to the on-chain segment root, its bytes to its root. A node that fails, times out or lies
is set aside for the rest of the download and the next fragment of the segment is fetched from another
node, until k fragments check out or none is left (:class:`DownloadFailed`, naming each node's fault).
``window`` segments are in flight at once and written in order, so memory stays bounded.

With a :class:`~sdk.storage.cache.PublicFileCache`, a public file already kept is read from disk (its
digest checked) with nothing asked of the chain or the nodes, and one fetched is kept as it is written.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import anyio

from sdk.chain.errors import BadArgument, ChainClientError
from sdk.storage.cache import PublicFileCache
from sdk.storage.errors import DownloadFailed, NoSigner
from sdk.storage.ledger import Ledger, StoredFile
from sdk.storage.nodes import NodeAddress, NodeError, NodeHttp
from sdk.storage.segments import InconsistentSegment, SegmentCodec
from sdk.storage.transfer import Progress, ProgressCallback, TransferConfig, for_each_segment, no_progress
from sdk.storage.wire import BadFragment, FragmentBody, body_length, check_fragment_body, fragment_path
from storage_node.chunks import Hash32
from storage_node.crypto import DecryptionError

__all__ = ["download", "DownloadTarget"]

log = logging.getLogger(__name__)

DownloadTarget = str | os.PathLike[str] | BinaryIO
"""Where a download goes: a path (written to ``<path>.part`` and renamed once complete) or a binary
file-like object open for writing."""


async def download(ledger: Ledger, http: NodeHttp, file_id: bytes, out: DownloadTarget, *,
                   progress: ProgressCallback | None, config: TransferConfig,
                   cache: PublicFileCache | None = None) -> None:
    """Write file ``file_id``'s plaintext to ``out``, fetching fragments through ``http`` (which signs with the
    ledger's signer; only a private file's requests are signed, and its owner's: a file under embargo is
    served to its owner only), or reading it from ``cache``."""
    if not isinstance(out, (str, os.PathLike)) and not hasattr(out, "write"):
        raise BadArgument("download writes to a path or a binary file-like object")
    if isinstance(out, (str, os.PathLike)):  # before any byte is fetched, not at the rename
        if Path(out).is_dir():
            raise BadArgument(f"{os.fspath(out)} is a folder: name the file to write")
        if not Path(out).parent.is_dir():
            raise BadArgument(f"{Path(out).parent}: no such folder to write {Path(out).name} into")
    report = progress or no_progress
    if cache is None:
        await _write_to(out, lambda write: _fetch(ledger, http, file_id, write, report, config, None))
        return
    async with cache.claim(file_id):
        async def from_cache(write: Callable[[bytes], object]) -> None:
            size = await cache.read(file_id, write)
            if size is None:
                await _fetch(ledger, http, file_id, write, report, config, cache)
            else:
                report(Progress("fetch", size, size))

        await _write_to(out, from_cache)


async def _write_to(out: DownloadTarget, produce: Callable[[Callable[[bytes], object]], Awaitable[None]]) -> None:
    """Run ``produce(write)``; a path gets the bytes under ``<path>.part``, renamed once all are written."""
    if not isinstance(out, (str, os.PathLike)):
        await produce(out.write)
        return
    target = Path(out)
    partial = target.with_name(target.name + ".part")
    try:
        with open(partial, "wb") as sink:
            await produce(sink.write)
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


async def _fetch(ledger: Ledger, http: NodeHttp, file_id: bytes, write: Callable[[bytes], object],
                 progress: ProgressCallback, config: TransferConfig, cache: PublicFileCache | None) -> None:
    """Fetch the file from its nodes into ``write``, and into ``cache`` too if it is public and fits."""
    stored = await ledger.file(file_id)
    data_key = await _data_key(ledger, stored) if stored.manifest.encrypted else None
    manifest = stored.manifest
    placements = await ledger.placements(file_id, manifest.segment_count())
    addresses = {}
    for account in {account for nodes in placements for account in nodes}:
        found = await ledger.address(account)
        if found is not None:
            addresses[account] = found
    codec = SegmentCodec.for_manifest(manifest, data_key)
    run = _Download(ledger, stored, codec, placements, addresses, config, progress)
    filling = None if cache is None or manifest.encrypted else cache.filling(file_id, manifest.size)
    if filling is None and data_key is not None and ledger.signer.public != stored.info.owner:
        async with anyio.create_task_group() as group:  # a grantee: nodes serve it within its record's window
            group.start_soon(_keep_recorded, ledger, file_id)
            await run.execute(http, write)
            group.cancel_scope.cancel()
        return
    if filling is None:
        await run.execute(http, write)
        return
    try:
        def both(data: bytes) -> None:
            write(data)
            filling.write(data)

        await run.execute(http, both)
    except BaseException:
        filling.discard()
        raise
    filling.keep()  # here, not in a thread: the cache's entries change only on the event loop's thread


async def _data_key(ledger: Ledger, stored: StoredFile) -> bytes:
    """The private file's data key, from the signer's grant (recording the access first if it is not the owner
    and its granter did not record this read)."""
    try:
        signer = ledger.signer
    except NoSigner:
        raise NoSigner(f"file 0x{stored.file_id.hex()} is private: reading it needs a signer") from None
    data_key = await ledger.data_key(stored.file_id)
    if signer.public != stored.info.owner and not await ledger.granted_read(stored.file_id, signer.public):
        await _record_read(ledger, stored.file_id)
    return data_key


async def _record_read(ledger: Ledger, file_id: bytes) -> None:
    """Log the signer's read of the file on chain (``record_access``): nodes serve a grantee within
    ``AccessWindow`` blocks of its latest record."""
    await ledger.submit([("StorageAccess", "record_access", {"file_id": file_id})])


async def _keep_recorded(ledger: Ledger, file_id: bytes) -> None:
    """Record the grantee's read again each third of ``AccessWindow`` while its download runs: nodes serve a
    grantee only within the window of its latest access record, and a download outlasting it (a large file,
    a slow link) was refused midway, all of it lost. A record that fails (a lost connection, a revoked grant)
    is tried again a block later, never the download's end: the one it has may still be good, and the nodes
    judge that."""
    chain = ledger.chain
    block_s = chain.block_time_ms() / 1000
    every_s = max(1, chain.get_constant("StorageAccess", "AccessWindow") // 3) * block_s
    while True:
        await anyio.sleep(every_s)
        while True:
            try:
                await _record_read(ledger, file_id)
                break
            except ChainClientError as exc:
                log.warning("file 0x%s: recording the read again: %s; trying again", file_id.hex(), exc)
                await anyio.sleep(block_s)


class _Download:
    """One download's state: the file, where its fragments are, which nodes misbehaved."""

    def __init__(self, ledger: Ledger, stored: StoredFile, codec: SegmentCodec, placements: list[list[bytes]],
                 addresses: dict[bytes, NodeAddress], config: TransferConfig,
                 progress: ProgressCallback) -> None:
        self.ledger = ledger
        self.stored = stored
        self.manifest = stored.manifest
        self.codec = codec
        self.placements = placements
        self.addresses = addresses
        self.config = config
        self.progress = progress
        self.cpu = anyio.CapacityLimiter(config.workers)
        self.suspects: set[bytes] = set()
        """Nodes that failed or lied during this download: asked last."""
        self.reasons: dict[str, str] = {}
        try:
            self.signed = stored.manifest.encrypted or ledger.signer.public == stored.info.owner
        except NoSigner:
            self.signed = False

    async def execute(self, http: NodeHttp, write: Callable[[bytes], object]) -> None:
        manifest = self.manifest
        count = manifest.segment_count()
        window = self.config.window
        ready: list[bytes | None] = [None] * count
        produced = [anyio.Event() for _ in range(count)]
        slots = anyio.Semaphore(window)

        async def work(index: int) -> None:
            await slots.acquire()  # released once the segment is written: the window bounds memory
            ready[index] = await self._segment(http, index)
            produced[index].set()

        async def writer() -> None:
            done = 0
            for index in range(count):
                await produced[index].wait()
                data = ready[index]
                ready[index] = None
                assert data is not None
                await anyio.to_thread.run_sync(write, data)
                slots.release()
                done += len(data)
                self.progress(Progress("fetch", done, manifest.size))

        self.progress(Progress("fetch", 0, manifest.size))
        async with anyio.create_task_group() as group:
            group.start_soon(writer)
            await for_each_segment(count, window, work)

    async def _segment(self, http: NodeHttp, index: int) -> bytes:
        manifest, k = self.manifest, self.manifest.k
        nodes = self.placements[index]
        order = sorted(range(len(nodes)), key=lambda j: (nodes[j] in self.suspects, j >= k, j))
        candidates = iter(order)
        fetched: dict[int, memoryview] = {}
        known_roots: list[tuple[Hash32, ...]] = []
        expected = body_length(manifest.fragment_count, manifest.fragment_size(index))

        async def lane() -> None:
            for fragment in candidates:  # shared by the k lanes: a failed fetch moves on to the next fragment
                account = nodes[fragment]
                node = self.addresses.get(account)
                if node is None:
                    self.reasons[f"0x{account.hex()}"] = "not a registered storage node"
                    continue
                try:
                    body = await http.get(node, fragment_path(self.stored.file_id, index, fragment), expected,
                                          signed=self.signed)
                    checked = await anyio.to_thread.run_sync(self._check, body, index, fragment,
                                                             known_roots[0] if known_roots else None, limiter=self.cpu)
                except (NodeError, BadFragment) as exc:
                    if isinstance(exc, NodeError) and exc.status is None:
                        self.ledger.unreachable(node)
                    self.suspects.add(account)
                    self.reasons[str(node)] = str(exc)
                    continue
                if not known_roots:
                    known_roots.append(checked.roots)
                fetched[fragment] = checked.fragment
                return

        async with anyio.create_task_group() as group:
            for _ in range(k):
                group.start_soon(lane)
        if len(fetched) < k:
            raise DownloadFailed(f"segment {index} of file 0x{self.stored.file_id.hex()}: {len(fetched)} of the "
                                 f"{k} fragments needed could be fetched and checked", self.reasons)
        try:
            return await anyio.to_thread.run_sync(self.codec.decode, manifest, index, fetched, known_roots[0],
                                                  limiter=self.cpu)
        except DecryptionError:
            raise DownloadFailed(f"segment {index} does not decrypt with the data key from the grant") from None
        except InconsistentSegment as exc:  # the owner's doing, not a node's: no other fragments make it right
            raise DownloadFailed(f"file 0x{self.stored.file_id.hex()} is not one erasure code: {exc}") from None

    def _check(self, body: bytearray, index: int, fragment: int, known_roots: tuple[Hash32, ...] | None) -> FragmentBody:
        manifest = self.manifest
        return check_fragment_body(body, fragment=fragment, fragment_count=manifest.fragment_count,
                                   fragment_size=manifest.fragment_size(index), chunk_size=manifest.chunk_size,
                                   expected_segment_root=manifest.segment_roots[index], known_roots=known_roots)
