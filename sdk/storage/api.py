"""``client.storage``: files on the storage network, from the caller's side.

:class:`StorageApi` is the asynchronous API (``anyio``: trio or asyncio), reached as ``AsyncClient.storage``;
``Client.storage`` runs it behind the blocking client's portal (:mod:`sdk.storage.sync`)::

    async with AsyncClient(url, signer="//Alice") as client:
        file_id = await client.storage.upload("model.safetensors")            # private by default
        await client.storage.grant(file_id, bob_address)
        await client.storage.download(file_id, "copy.safetensors")
        for read in await client.storage.access_log(file_id): ...

Uploads and downloads are in :mod:`sdk.storage.upload` and :mod:`sdk.storage.download`; the rest reads
the storage pallets through :mod:`sdk.storage.ledger` or submits one of their calls.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence

from runtime.keyring import Keypair
from sdk.chain import AsyncClient, BadArgument
from sdk.chain.keys import AccountLike, account_argument
from sdk.storage.cache import PublicFileCache
from sdk.storage.errors import FileNotFound, NoSigner
from sdk.storage.download import DownloadTarget, download
from sdk.storage.ledger import Ledger, endpoint
from sdk.storage.nodes import NodeHttp
from sdk.storage.records import (
    AccessRecord,
    FileDetails,
    FileId,
    FileSummary,
    FragmentHealth,
    StorageNode,
    parse_file_id,
)
from sdk.storage.source import UploadSource
from sdk.storage.transfer import ProgressCallback, TransferConfig, first_error
from sdk.storage.upload import planned, upload

__all__ = ["StorageApi"]


class StorageApi:
    """Files on the storage network through ``chain``, signed by ``signer`` (reads of public files and of
    the chain need none)."""

    def __init__(self, chain: AsyncClient, signer: Keypair | None, config: TransferConfig = TransferConfig(),
                 cache: PublicFileCache | None = None) -> None:
        self.ledger = Ledger(chain, signer)
        self.config = config
        self.cache = cache
        """Where public files downloaded are kept and read again (``None``: every download fetches)."""
        self._http = NodeHttp(signer, timeout=config.http_timeout, connections_per_node=config.connections_per_node)
        """Every transfer's requests to the storage nodes: connections stay open from one transfer to the next."""

    async def aclose(self) -> None:
        """Close the connections to the storage nodes (the client does, when it closes)."""
        await self._http.aclose()

    # --- transfers -----------------------------------------------------------------------------------

    async def upload(self, source: UploadSource, *, private: bool = True, k: int | None = None, m: int | None = None,
                     readers: Sequence[AccountLike] = (), progress: ProgressCallback | None = None,
                     salt: bytes | None = None, embargoed: bool = False, data_key: bytes | None = None) -> FileId:
        """Store a file (a path, bytes or a binary file-like object); returns its id once every fragment is
        confirmed on-chain. ``private`` files are encrypted before they leave this machine; ``k`` and ``m``
        default to the chain's presets. A private file's ``readers`` are granted it with their reads recorded
        (:meth:`grant` with ``record_access``) in the declaration's block, for accounts about to download it;
        :class:`NoEncryptionKey`, before anything is declared, if one registered no key. ``progress`` is
        called with a :class:`~sdk.storage.transfer.Progress`. ``salt``: the manifest's 16 bytes (random if
        None), for a public file whose id :meth:`planned_id` gave beforehand; tried again after a failure, an
        upload of a fixed salt (and key) takes up the declaration the first try left, as it has the same id.
        ``embargoed``: its nodes serve it to this account and repairers only until a pallet releases it (a job
        output until its job ends).
        ``data_key``: a private file's 32-byte AES key, random if None (a compute provider derives its private
        outputs' key and salt: :func:`compute_pallet.commitment.output_seal`)."""
        with first_error():
            return await upload(self.ledger, self._http, source, private=private, k=k, m=m, progress=progress,
                                config=self.config, readers=[account_argument(account) for account in readers],
                                salt=salt, embargoed=embargoed, data_key=data_key)

    async def planned_id(self, source: bytes | str | os.PathLike[str], *, salt: bytes, k: int | None = None,
                         m: int | None = None) -> FileId:
        """The id :meth:`upload` of ``source`` (bytes, or a file's path) as a public file with this manifest
        ``salt`` (and ``k``, ``m``) will give it, computed here with nothing declared or sent: a commitment to a
        file before anyone can read it (a federated round's update). Not a stream: this would read it, and the
        upload then read on from where this left it."""
        if not isinstance(source, (bytes, bytearray, memoryview, str, os.PathLike)):
            raise BadArgument("planned_id takes bytes or a path: a stream read here is not there to upload again")
        with first_error():
            return await planned(self.ledger, source, k=k, m=m, config=self.config, salt=salt)

    async def download(self, file_id: FileId | str, out: DownloadTarget, progress: ProgressCallback | None = None) -> None:
        """Write a file's bytes to ``out`` (a path, or a binary file-like object), each fragment checked
        against the chain; a private file of someone else's is first recorded in its access log. With a
        :attr:`cache`, a public file kept there is read from disk instead."""
        with first_error():
            await download(self.ledger, self._http, parse_file_id(file_id), out, progress=progress,
                           config=self.config, cache=self.cache)

    async def read(self, file_id: FileId | str) -> bytes:
        """:meth:`download` into memory: the file's bytes (a model or a dataset a job or a round works on)."""
        buffer = io.BytesIO()
        await self.download(file_id, buffer)
        return buffer.getvalue()

    # --- files ---------------------------------------------------------------------------------------

    async def info(self, file_id: FileId | str) -> FileDetails:
        """The file's record and, for each fragment, its node and whether it is confirmed and safe there."""
        stored = await self.ledger.file(parse_file_id(file_id))
        info, manifest = stored.info, stored.manifest
        count = manifest.segment_count()
        placements = await self.ledger.placements(stored.file_id, count)
        confirmed = await self.ledger.confirmations(stored.file_id, count)
        repairs = await self.ledger.repair_orders(stored.file_id)
        nodes = {account: await self.ledger.node(account) for account in {a for seg in placements for a in seg}}
        fragments = []
        for segment, accounts in enumerate(placements):
            for fragment, account in enumerate(accounts):
                node = nodes[account]
                flags = confirmed[segment]
                fragments.append(FragmentHealth(
                    segment, fragment, account, None if node is None else endpoint(node),
                    fragment < len(flags) and bool(flags[fragment]), None if node is None else node.status.name,
                    (segment, fragment) in repairs))
        uses, deleting, locked = await self.ledger.file_holds(stored.file_id)
        return FileDetails(stored.file_id, info.owner, info.size, info.encrypted, info.status.name, info.k, info.m,
                           info.segment_size, info.chunk_size, info.segment_count, info.declared_at, info.deposit,
                           info.paid_until, uses, deleting, locked, tuple(fragments))

    async def ls(self, owner: AccountLike | None = None) -> list[FileSummary]:
        """The files ``owner`` (the signer when ``None``) has stored."""
        try:
            who = self.ledger.signer.public if owner is None else account_argument(owner)
        except NoSigner:
            raise NoSigner("whose files? pass owner=, or build the client with signer=Keypair or a secret URI") \
                from None
        found = []
        for file_id in await self.ledger.files_of(who):
            info = await self.ledger.file_record(file_id)
            if info is not None:
                found.append(FileSummary(file_id, info.size, info.encrypted, info.status.name))
        return found

    async def delete(self, file_id: FileId | str) -> int:
        """Delete one of the signer's files: nodes drop its fragments, the deposit comes back. A file that jobs
        or federated rounds are reading goes when the last of them ends: returns how many uses it waits for
        (0: deleted now). Returns once the deletion is final, which :meth:`info` reads."""
        return (await self.delete_all([file_id]))[0]

    async def delete_all(self, file_ids: Sequence[FileId | str]) -> list[int]:
        """:meth:`delete` for each file, as consecutive transactions sent together (one block, as a rule); the
        uses each waits for."""
        calls = [("FileBank", "delete", {"file_id": parse_file_id(file_id)}) for file_id in file_ids]
        receipts = await self.ledger.submit(calls, finalized=True) if calls else []
        return [next((event.attributes["uses"] for event in receipt.triggered_events
                      if event.pallet == "FileBank" and event.name == "FileDeletionDeferred"), 0)
                for receipt in receipts]

    async def renew(self, file_id: FileId | str, *, days: float) -> int:
        """Pay for ``days`` more of a file's storage (any signer may, at the declare fee's rate), rounded up to
        whole audit periods; returns the last block it is now paid until. A file whose paid time ends
        expires and is deleted. Returns once the renewal is final, which :meth:`info` reads."""
        chain = self.ledger.chain
        period_s = chain.get_constant("FileBank", "AuditPeriod") * chain.block_time_ms() / 1000
        periods = max(1, math.ceil(days * 86_400 / period_s))
        receipt, = await self.ledger.submit([("FileBank", "renew", {"file_id": parse_file_id(file_id),
                                                                    "periods": periods})], finalized=True)
        return next(event.attributes["paid_until"] for event in receipt.triggered_events
                    if event.pallet == "FileBank" and event.name == "FileRenewed")

    # --- access --------------------------------------------------------------------------------------

    async def register_key(self) -> bool:
        """Publish the signer's X25519 key (derived from its account key) so that owners can grant it files;
        whether it took a transaction (False: the chain has the key already)."""
        calls = await self.ledger.key_registration()
        if calls:
            await self.ledger.submit(calls)
        return bool(calls)

    async def grant(self, file_id: FileId | str, account: AccountLike, *, record_access: bool = False) -> None:
        """Let ``account`` read a private file: its data key, sealed to the account's registered X25519 key,
        goes on-chain. ``record_access`` also logs the account's read in the same transaction, for a reader
        about to download (the log names this signer as the recorder; the reader's download then needs no
        transaction of its own). Raises :class:`NoEncryptionKey` if the account registered none."""
        await self.grant_all([(file_id, account)], record_access=record_access)

    async def grant_all(self, grants: Sequence[tuple[FileId | str, AccountLike]], *,
                        record_access: bool = False) -> None:
        """:meth:`grant` for each (file, account) pair, as consecutive transactions in one block; nothing is
        signed if any account registered no key (:class:`NoEncryptionKey`), or any file is public
        (:class:`~sdk.chain.errors.BadArgument`: there is nothing to grant) or unknown (:class:`FileNotFound`)."""
        ledger = self.ledger
        pairs = [(parse_file_id(file_id), account_argument(account)) for file_id, account in grants]
        for file_id in dict.fromkeys(fid for fid, _ in pairs):
            info = await ledger.file_record(file_id)
            if info is None:
                raise FileNotFound(file_id)
            if not info.encrypted:
                raise BadArgument(f"file 0x{file_id.hex()} is public: anyone may read it, a grant is for private files")
        recipients = {grantee: await ledger.recipient_key(grantee) for grantee in dict.fromkeys(g for _, g in pairs)}
        data_keys = {fid: await ledger.data_key(fid) for fid in dict.fromkeys(fid for fid, _ in pairs)}
        calls = [ledger.grant_call(fid, grantee, data_keys[fid], recipients[grantee], record_access=record_access)
                 for fid, grantee in pairs]
        if calls:
            await ledger.submit(calls)

    async def revoke(self, file_id: FileId | str, account: AccountLike) -> None:
        """Remove ``account``'s grant: nodes stop serving it the file's fragments."""
        await self.ledger.submit([("StorageAccess", "revoke", {"file_id": parse_file_id(file_id),
                                                               "grantee": account_argument(account)})])

    async def access_log(self, file_id: FileId | str) -> list[AccessRecord]:
        """Every recorded read of the file, oldest first, kept after the file is deleted; :class:`FileNotFound`
        for an id with neither a file nor a read on chain."""
        return [AccessRecord(*entry) for entry in await self.ledger.access_log(parse_file_id(file_id))]

    # --- nodes ---------------------------------------------------------------------------------------

    async def leave(self) -> bool:
        """Take the signer's storage node out of the network (``StorageNodes.exit``): it gets no new fragments,
        the ones it holds are rebuilt on other nodes, and then its stake is released. Keep its daemon running
        until then: it is still audited. Returns whether it has left already (it held nothing); until it has,
        :meth:`nodes` lists it ``Exiting``. :class:`TransactionFailed` if the signer runs no active node
        (``NotRegistered``, ``NotActive``)."""
        receipt, = await self.ledger.submit([("StorageNodes", "exit", {})])
        return any(event.pallet == "StorageNodes" and event.name == "NodeExited" for event in receipt.triggered_events)

    async def nodes(self) -> list[StorageNode]:
        """Every registered storage node: endpoint, capacity, stake and audit record."""
        return [StorageNode(account, endpoint(n), n.capacity, n.used, n.stake,
                            n.status.name, n.audits_passed, n.audits_missed, n.consecutive_misses, n.repairs_done,
                            n.registered_at)
                for account, n in await self.ledger.nodes()]
