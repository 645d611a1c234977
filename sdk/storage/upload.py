"""Uploading a file: a pass that computes the roots, the declaration, a pass that pushes, then activation.

**Why two passes.** The manifest, whose hash is the file id and whose declaration tells each node which
fragments to accept, commits to every segment root, so all roots must be known before the first fragment
is pushed. The coded fragments could be kept between the two moments, but only on disk: (k + m) / k times
the file (6.7 GiB for a 4 GiB file at RS(3, 2)), written and read back, on the uploader's machine. Instead
the first pass reads, encrypts, codes and hashes each segment and keeps only its roots (32 bytes per
fragment) and a BLAKE3 digest of its plaintext; the second pass reads and codes each segment again and
pushes it. Encryption is deterministic per segment (the nonce is its index), so both passes give the same
fragments; a segment whose plaintext digest differs on the second read raises :class:`SourceChanged`. The
price is coding and encryption twice (ISA-L at ~12 GB/s and AES-GCM at ~1.4 GB/s a core, against a
network path that moves a few hundred MB/s); the chunk trees are hashed once. Memory is bounded by the
window of segments in flight in each pass, whatever the file's size.

**Declaration.** ``FileBank.declare`` (``declare_embargoed`` for a file under embargo; with, for a private
file, ``StorageAccess.register_key`` first if the signer's X25519 key is not on chain, and the grant of the
sealed data key to the signer itself after it, then to each of the upload's ``readers`` with its read
recorded) goes out as consecutive transactions in one block. The chain answers with the placements.

**Pushing and activation.** Every fragment goes to its node by ``PUT``, ``window`` segments at a time. A
node that refuses a fragment outright (bad request, not the owner, roots it disagrees with) is not asked for
it again. One that cannot take it yet (down, full, behind the chain) is left alone for a pause that starts
at ``retry_interval`` and doubles up to ``MAX_BACKOFF``, then probed (``/v1/health``) before its segments are
encoded again, so a dead node costs probes, not CPU. Meanwhile the upload follows ``FileBank``'s finalized events: a
``FragmentReassigned`` (the chain gave an unconfirmed fragment to another node) makes it encode that
segment again and push to the new node; a ``RepairOrdered`` means the chain has the fragment rebuilt by a
repairer from the others, so the upload stops pushing it; ``FileActivated`` ends the upload, and
``UploadAbandoned`` (the chain saw no confirmation for ``UploadTimeout`` blocks) fails it.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any, Iterable, Sequence

import anyio
from blake3 import blake3

from runtime.ss58 import ss58_encode
from sdk.chain import EventSubscription
from sdk.chain.errors import BadArgument
from sdk.storage.errors import SourceChanged, UploadFailed
from sdk.storage.ledger import FileEvent, Ledger, file_event, what_declaring_did
from sdk.storage.nodes import NodeAddress, NodeError, NodeHttp
from sdk.storage.segments import SegmentCodec
from sdk.storage.source import Source, UploadSource
from sdk.storage.transfer import Progress, ProgressCallback, TransferConfig, for_each_segment, no_progress
from sdk.storage.wire import encode_body_prefix, fragment_path
from storage_node.auth import body_hash
from storage_node.chunks import Hash32, segment_root
from storage_node.crypto import DATA_KEY_LENGTH, new_data_key, x25519_keypair_from
from storage_node.manifest import Manifest, ManifestError
from storage_node.params import MANIFEST_VERSION, SALT_LENGTH

__all__ = ["upload", "planned", "MAX_BACKOFF"]

MAX_BACKOFF = 30.0
"""Longest pause, in seconds, before an unreachable node is probed again."""

Body = tuple[bytes, bytes]
"""A fragment's HTTP body and its BLAKE3 digest."""


async def upload(ledger: Ledger, http: NodeHttp, source: UploadSource, *, private: bool, k: int | None,
                 m: int | None, readers: Sequence[bytes] = (), progress: ProgressCallback | None,
                 config: TransferConfig, salt: bytes | None = None, embargoed: bool = False,
                 data_key: bytes | None = None) -> bytes:
    """Store ``source`` on the storage network, pushing fragments through ``http``; returns the file id once
    the chain marks the file active. A private file is granted to ``readers`` with their reads recorded, in
    the declaration's block. ``salt``: the manifest's (random if None), for a public file whose id was
    :func:`planned` before. ``embargoed``: declared with ``FileBank.declare_embargoed``. ``data_key``: a
    private file's key (random if None)."""
    if data_key is not None and (not private or len(data_key) != DATA_KEY_LENGTH):
        raise BadArgument(f"a data key is for a private file, {DATA_KEY_LENGTH} bytes")
    defaults = ledger.defaults()
    source_reader = await anyio.to_thread.run_sync(Source, source, defaults.max_segments * defaults.segment_size)
    with source_reader as reader:  # a pipe is spooled to disk first
        if private and data_key is None:
            data_key = new_data_key()
        run = _Upload(ledger, reader, _draft(ledger, reader.size, private, k, m, salt), data_key, config,
                      progress or no_progress)
        return await run.execute(http, data_key, readers if private else (), embargoed=embargoed,
                                 fixed_id=salt is not None)


async def planned(ledger: Ledger, source: UploadSource, *, k: int | None, m: int | None, config: TransferConfig,
                  salt: bytes) -> bytes:
    """The id that :func:`upload` of ``source`` as a public file, with this manifest ``salt``, will give it
    (while the chain's storing presets stay as they are): its manifest computed, nothing declared or sent. A
    public file's fragments are its bytes coded, with no key, so their roots are known beforehand (what a
    federated round's participant commits to before its update is seen by anyone)."""
    defaults = ledger.defaults()
    with await anyio.to_thread.run_sync(Source, source, defaults.max_segments * defaults.segment_size) as reader:
        run = _Upload(ledger, reader, _draft(ledger, reader.size, False, k, m, salt), None, config, no_progress)
        return (await run.manifest_with_roots()).file_id()


def _draft(ledger: Ledger, size: int, private: bool, k: int | None, m: int | None, salt: bytes | None) -> Manifest:
    """The manifest of a file of ``size`` bytes before its roots are computed, checked against the chain's
    bounds (before the first pass reads the whole file)."""
    defaults = ledger.defaults()
    salt = secrets.token_bytes(SALT_LENGTH) if salt is None else salt
    draft = Manifest(MANIFEST_VERSION, ledger.signer.public, salt, size, defaults.segment_size,
                     defaults.k if k is None else k, defaults.m if m is None else m, defaults.chunk_size, private, ())
    if len(draft.salt) != SALT_LENGTH:
        raise BadArgument(f"a manifest's salt is {SALT_LENGTH} bytes, not {len(draft.salt)}")
    if draft.k + draft.m > defaults.max_fragments:
        raise BadArgument(f"k={draft.k}, m={draft.m}: the chain places at most {defaults.max_fragments} "
                          "fragments a segment")
    if draft.segment_count() > defaults.max_segments:
        raise BadArgument(f"a file of {size} bytes is {draft.segment_count()} segments of "
                          f"{defaults.segment_size} bytes: the chain stores at most {defaults.max_segments} a file "
                          f"({defaults.max_segments * defaults.segment_size} bytes); split it")
    return draft


class _Upload:
    """One upload's state between its passes."""

    def __init__(self, ledger: Ledger, reader: Source, draft: Manifest, data_key: bytes | None,
                 config: TransferConfig, progress: ProgressCallback) -> None:
        try:
            self.codec = SegmentCodec(k=draft.k, m=draft.m, chunk_size=draft.chunk_size, salt=draft.salt,
                                      data_key=data_key)
        except ValueError as exc:  # the coder's InvalidParametersError
            raise BadArgument(f"k={draft.k}, m={draft.m}: {exc}") from None
        self.ledger = ledger
        self.reader = reader
        self.manifest = draft
        self.config = config
        self.progress = progress
        self.cpu = anyio.CapacityLimiter(config.workers)
        count = draft.segment_count()
        self.roots: list[tuple[Hash32, ...]] = [()] * count
        self.digests: list[bytes] = [b""] * count
        self.placements: list[list[bytes]] = []
        self.pending: set[tuple[int, int]] = set()
        """Fragments to push (again): their node could not take them yet, or they were reassigned."""
        self.refused: set[tuple[int, int, bytes]] = set()
        """(segment, fragment, node): the node refused the fragment for good; not asked again."""
        self.repairing: set[tuple[int, int]] = set()
        """Fragments the chain ordered rebuilt by a repairer: not the upload's to push any more."""
        self.backoff: dict[bytes, tuple[float, float]] = {}
        """Unreachable node → (when to probe it again, the pause before that)."""
        self.reasons: dict[str, str] = {}
        self.activated = anyio.Event()
        self.abandoned = False
        """The chain dropped the declaration (``UploadAbandoned``): nothing was confirmed for too long."""
        self.wake = anyio.Event()

    async def manifest_with_roots(self) -> Manifest:
        """The first pass: every segment coded, its roots into the manifest (checked)."""
        await self._compute_roots()
        self.manifest = replace(self.manifest, segment_roots=tuple(segment_root(r) for r in self.roots))
        try:
            self.manifest.check()
        except ManifestError as exc:
            raise BadArgument(f"this file cannot be stored with these parameters: {exc}") from None
        return self.manifest

    async def execute(self, http: NodeHttp, data_key: bytes | None, readers: Sequence[bytes], *,
                      embargoed: bool = False, fixed_id: bool = False) -> bytes:
        """Declare, push, wait for activation. ``fixed_id``: the manifest's salt was given, so this signer may
        have declared the very same manifest before (a random salt's id is new: nothing to look for)."""
        manifest = await self.manifest_with_roots()
        file_id = manifest.file_id()
        size = manifest.size
        async with self.ledger.file_events(file_id) as events:
            self.progress(Progress("declare", 0, size))
            block = (fixed_id and await self._declared_before(data_key, readers)
                     or await self._declare(data_key, readers, embargoed))
            self.progress(Progress("declare", size, size, file_id))
            if not self.activated.is_set():
                if not self.placements:  # a declaration found on chain, not made here
                    self.placements = await self.ledger.placements(file_id, manifest.segment_count(), block)
                async with anyio.create_task_group() as group:
                    group.start_soon(self._follow, events, file_id)
                    await self._push_all(http, file_id)
                    await self._settle(http, file_id)
                    group.cancel_scope.cancel()
        self.progress(Progress("activate", size, size, file_id))
        return file_id

    # --- first pass: roots -------------------------------------------------------------------------

    async def _compute_roots(self) -> None:
        manifest, done = self.manifest, 0

        def encode(index: int) -> None:
            plaintext = self._read(index)
            self.digests[index] = blake3(plaintext).digest()
            self.roots[index] = self.codec.encode(index, plaintext).roots

        async def work(index: int) -> None:
            nonlocal done
            await anyio.to_thread.run_sync(encode, index, limiter=self.cpu)
            done += manifest.segment_length(index)
            self.progress(Progress("encode", done, manifest.size))

        self.progress(Progress("encode", 0, manifest.size))
        await for_each_segment(manifest.segment_count(), self.config.workers, work)

    def _read(self, index: int) -> bytes | memoryview:
        manifest = self.manifest
        length = manifest.segment_length(index)
        data = self.reader.read(index * manifest.segment_size, length)
        if len(data) != length:
            raise SourceChanged(f"segment {index}: read {len(data)} bytes of {length}: the source shrank")
        return data

    # --- declaration -------------------------------------------------------------------------------

    async def _declared_before(self, data_key: bytes | None, readers: Sequence[bytes]) -> bytes | None:
        """For a manifest this signer declared already (the same id is the same manifest: an upload of a fixed
        salt, and key, tried again, as a compute provider's sealed output or a federated update is after a lost
        connection or a restart), the best block's hash, once any grant the first try did not make is made; its
        fragments then go again unless it is active. ``None`` for a manifest the chain does not know."""
        ledger, file_id = self.ledger, self.manifest.file_id()
        info = await ledger.file_record(file_id)
        if info is None:
            return None
        if await ledger.being_deleted(file_id):
            raise UploadFailed(f"file 0x{file_id.hex()} was declared by this account before and is being deleted: "
                               "it cannot be stored again under this id until it is gone")
        if data_key is not None:
            calls = [*await ledger.key_registration(), *await self._grants(data_key, readers, missing_only=True)]
            if calls:
                await ledger.submit(calls)
        if info.status.name != "Pending":
            self.activated.set()
        return await ledger.chain.get_chain_head()

    async def _declare(self, data_key: bytes | None, readers: Sequence[bytes], embargoed: bool) -> bytes:
        """Declare the file (under embargo if ``embargoed``; and grant its data key to the signer, then to
        ``readers`` with their reads recorded); returns the declaring block's hash. The declaration's own events
        say where its fragments go (``FragmentsAssigned``) and whether it is active already (an empty file:
        ``FileActivated``), so neither costs a read; a provider uploading a job's outputs saved three round trips
        per file this way."""
        ledger, manifest = self.ledger, self.manifest
        declare = ("FileBank", "declare_embargoed" if embargoed else "declare", {"manifest": manifest.encode()})
        calls = [declare]
        if data_key is not None:
            calls = [*await ledger.key_registration(), declare, *await self._grants(data_key, readers)]
        declaration = (await ledger.submit(calls))[calls.index(declare)]
        block = declaration.block_hash
        assert block is not None
        declared = what_declaring_did(declaration.triggered_events, manifest.file_id(), manifest.segment_count())
        if declared.activated:
            self.activated.set()
        self.placements = declared.placements
        return block

    async def _grants(self, data_key: bytes, readers: Sequence[bytes], *,
                      missing_only: bool = False) -> list[tuple[str, str, dict[str, Any]]]:
        """The calls granting the file's data key to the signer, then to ``readers`` with their reads recorded
        (``missing_only``: those the chain does not hold yet)."""
        ledger, file_id = self.ledger, self.manifest.file_id()
        signer = ledger.signer.public
        calls = []
        for who in (signer, *(reader for reader in readers if reader != signer)):
            if missing_only and await ledger.sealed_key(file_id, who) is not None:
                continue
            recipient = x25519_keypair_from(ledger.signer)[1] if who == signer else await ledger.recipient_key(who)
            calls.append(ledger.grant_call(file_id, who, data_key, recipient, record_access=who != signer))
        return calls

    # --- second pass: pushing ----------------------------------------------------------------------

    async def _push_all(self, http: NodeHttp, file_id: bytes) -> None:
        manifest, done = self.manifest, 0

        async def work(index: int) -> None:
            nonlocal done
            await self._push_segment(http, file_id, index, range(manifest.fragment_count))
            done += manifest.segment_length(index)
            self.progress(Progress("push", done, manifest.size, file_id))

        self.progress(Progress("push", 0, manifest.size, file_id))
        await for_each_segment(manifest.segment_count(), self.config.window, work)

    async def _push_segment(self, http: NodeHttp, file_id: bytes, index: int, fragments: Iterable[int]) -> None:
        self._unless_abandoned(file_id)
        wanted = list(fragments)
        bodies = await anyio.to_thread.run_sync(self._bodies, index, wanted, limiter=self.cpu)
        async with anyio.create_task_group() as group:
            for fragment, body in zip(wanted, bodies):
                group.start_soon(self._push, http, file_id, index, fragment, body)

    def _bodies(self, index: int, fragments: list[int]) -> list[Body]:
        """Segment ``index`` encoded again: the HTTP bodies of ``fragments`` (runs in a worker thread)."""
        plaintext = self._read(index)
        if blake3(plaintext).digest() != self.digests[index]:
            raise SourceChanged(f"segment {index} reads differently than when its roots were computed")
        coded = self.codec.encode_fragments(index, plaintext)
        prefix = encode_body_prefix(self.roots[index])
        bodies = []
        for fragment in fragments:
            body = b"".join((prefix, memoryview(coded[fragment])))
            bodies.append((body, body_hash(body)))
        return bodies

    async def _push(self, http: NodeHttp, file_id: bytes, segment: int, fragment: int, body: Body) -> None:
        account = self.placements[segment][fragment]
        try:
            node = await self._address(account)
            await http.put(node, fragment_path(file_id, segment, fragment), *body)
        except NodeError as exc:
            self.reasons[str(exc.node)] = str(exc)
            if exc.status is None:
                self.ledger.unreachable(exc.node)
            if not exc.retryable:
                self.refused.add((segment, fragment, account))
            else:  # down, full or behind: leave it alone a while before encoding its segments again
                pause = min(MAX_BACKOFF, 2 * self.backoff.get(account, (0.0, self.config.retry_interval / 2))[1])
                self.backoff[account] = (anyio.current_time() + pause, pause)
            if (segment, fragment) not in self.repairing:
                self.pending.add((segment, fragment))
        except LookupError as exc:  # the chain placed the fragment on an account that is no node now
            self.reasons[f"0x{account.hex()}"] = str(exc)
            self.pending.add((segment, fragment))
        else:
            self.backoff.pop(account, None)

    async def _address(self, account: bytes) -> NodeAddress:
        found = await self.ledger.address(account)
        if found is None:
            raise LookupError(f"{ss58_encode(account)} is not a registered storage node")
        return found

    async def _healthy(self, http: NodeHttp, account: bytes) -> bool:
        """Whether a backed-off node answers its health probe (one no longer registered does not: its exit is
        done, and the chain reassigns its fragments)."""
        try:
            return await http.healthy(await self._address(account))
        except LookupError:
            return False

    # --- following the chain until activation ------------------------------------------------------

    async def _follow(self, events: EventSubscription, file_id: bytes) -> None:
        async for block in events:
            for chain_event in block.events:
                event = file_event(chain_event, file_id)
                if event is not None:
                    self._apply(event)

    def _apply(self, event: FileEvent) -> None:
        if event.name == "FileActivated":
            self.activated.set()
        elif event.name == "FragmentReassigned":
            self.placements[event.segment][event.fragment] = event.to
            self.pending.add((event.segment, event.fragment))
        elif event.name == "RepairOrdered":
            self.repairing.add((event.segment, event.fragment))
            self.pending.discard((event.segment, event.fragment))
        elif event.name == "UploadAbandoned":
            self.abandoned = True
        self.wake.set()

    async def _due(self, http: NodeHttp) -> set[tuple[int, int]]:
        """The pending fragments to push now: not refused by their node, and their node not backing off (one
        whose pause is over is probed first; if it answers, its fragments go again, and the next failure
        pauses it twice as long)."""
        now = anyio.current_time()
        candidates = {(s, f) for s, f in self.pending if (s, f, self.placements[s][f]) not in self.refused}
        ready = set()
        for account in {self.placements[s][f] for s, f in candidates}:
            if account not in self.backoff:
                ready.add(account)
                continue
            again, pause = self.backoff[account]
            if again > now:
                continue
            if await self._healthy(http, account):
                ready.add(account)
            pause = min(MAX_BACKOFF, 2 * pause)
            self.backoff[account] = (now + pause, pause)
        return {(s, f) for s, f in candidates if self.placements[s][f] in ready}

    def _unless_abandoned(self, file_id: bytes) -> None:
        """Nothing more to push once the chain dropped the declaration: fail with the reason."""
        if self.abandoned:
            raise UploadFailed(f"the chain dropped file 0x{file_id.hex()}: no fragment of it was confirmed for "
                               f"FileBank's UploadTimeout blocks (its deposit is back; the fee is spent)")

    async def _settle(self, http: NodeHttp, file_id: bytes) -> None:
        """Push what is pending (retries, reassignments) until the chain activates the file."""
        size = self.manifest.size
        self.progress(Progress("activate", 0, size, file_id))
        with anyio.move_on_after(self.config.activation_timeout) as waited:
            while not self.activated.is_set():
                self._unless_abandoned(file_id)
                self.wake = anyio.Event()
                due = await self._due(http)
                self.pending -= due
                by_segment: dict[int, list[int]] = {}
                for segment, fragment in sorted(due):
                    by_segment.setdefault(segment, []).append(fragment)
                segments = list(by_segment)

                async def work(position: int) -> None:
                    segment = segments[position]
                    await self._push_segment(http, file_id, segment, by_segment[segment])

                await for_each_segment(len(segments), self.config.window, work)
                if self.activated.is_set():
                    break
                with anyio.move_on_after(self.config.retry_interval):
                    await self.wake.wait()
        if waited.cancelled_caught:
            reasons = "; ".join(f"{node}: {why}" for node, why in self.reasons.items()) or "no node refused"
            raise UploadFailed(f"file 0x{file_id.hex()} was not activated within {self.config.activation_timeout:g} s "
                               f"({len(self.pending)} fragments undelivered: {reasons})")
