"""StorageAccess: who may read a private file, and the on-chain log of every read.

A private file is encrypted under a random data key before it leaves its owner. Accounts register an X25519
public key (``register_key``); the owner grants read access by putting the data key, sealed to the grantee's
key (``storage_node.crypto.seal_key``: 80 bytes), on chain (``grant``), and revokes by removing it
(``revoke``). The owner's own copy of the data key is a grant to itself, made right after ``declare``.

Before reading, a grantee records the access (``record_access``): the chain appends ``(who, block, who)`` to
the file's ``AccessLog`` and sets ``LastAccess`` to ``(block, who)``; storage nodes serve a private file's
fragments only to its owner, to a grantee whose ``LastAccess`` is within ``access_window`` blocks, or to a
repairer. Reads are therefore logged by construction, and a revoke stops ``record_access`` at once (and
clears ``LastAccess``, so nodes stop serving the revoked account before its window runs out).

An owner who grants a reader that is about to read (a compute job's providers, a job's submitter reading a
provider's private outputs) records that read in the same transaction (``grant_and_record``): the entry is
``(grantee, block, owner)``, naming the owner as its recorder, and the reader needs no transaction of its
own before its first byte (the SDK uses such a record for one download; later ones record their own). Every
read is still in the log before a node serves it; what changes is who signs the entry, and one block less
on the reader's way to its first byte.

**Deleted files.** A deleted file's grants and ``LastAccess`` entries go with it. StorageAccess takes the ids
FileBank deleted (``FileRegistry.take_deleted``) and, in ``on_initialize``, removes up to
``max_forgotten_per_block`` of their entries per block, since a file may have had any number of grantees;
then it tells FileBank (``forgotten``), which refuses to declare the id again until then, so no grant of a
deleted file ever applies to a new one, whoever reads ``Grants``. The access log stays: it is the record of
who read what, and outlives the file.

FileBank is reached through the ``FileRegistry`` protocol (house rule 2).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Annotated, Protocol

from runtime.frame.composition import PalletDefinition
from runtime.frame.pallet import Constant, DispatchError, Origin, Pallet, call, ensure_signed
from runtime.frame.storage import Hasher, StorageDoubleMap, StorageMap
from runtime.primitives import ACCOUNT_ID, AccountId, AccountIdLookup, BlockNumber, Bytes, Weight
from runtime.scale import BYTES, H256, U32, UNIT, FixedBytes, Tuple
from storage_node.pallets.rpc import ACCESS_RPC
from storage_node.pallets.types import FileId
from storage_node.pallets.weights import StorageAccessWeightInfo, StorageAccessWeights

__all__ = ["StorageAccess", "StorageAccessConfig", "StorageAccessParams", "DEFINITION", "FileRegistry",
           "SEALED_KEY_LENGTH", "KeyRegistered", "AccessGranted", "AccessRevoked", "AccessRecorded", "UnknownFile",
           "NotFileOwner", "NoKey", "BadSealedKey", "NoGrant", "GrantsLocked"]

SEALED_KEY_LENGTH = 80
"""``storage_node.crypto.seal_key``'s output: ephemeral X25519 public key (32) ++ AES-GCM of the 32-byte data
key (48)."""

X25519_KEY = FixedBytes(32)
EncryptionKey = Annotated[bytes, X25519_KEY, "[u8; 32]"]


class FileRegistry(Protocol):
    """What StorageAccess needs of FileBank."""

    def file_owner(self, file_id: bytes) -> bytes | None: ...

    def is_locked(self, file_id: bytes) -> bool:
        """Whether the file is locked (a verified job's output): its owner may neither delete it nor revoke."""
        ...

    def take_deleted(self) -> tuple[bytes, ...]:
        """The files deleted since the last call, each handed out once."""
        ...

    def forgotten(self, file_id: bytes) -> None:
        """The deleted file's grants and access records are all removed."""
        ...


@dataclass(frozen=True)
class StorageAccessParams:
    access_window: int = 150
    """Blocks an access record lets its account read (5 min at 2 s blocks): long enough to download a large
    file from many nodes, short enough that a later read needs a new record in the log."""
    max_forgotten_per_block: int = 256
    """Grants and ``LastAccess`` entries of deleted files removed per block (a read and a write each): a block's
    work stays bounded however many grantees a deleted file had, and a file's usual handful is gone in the
    block of its deletion or the next."""


@dataclass(frozen=True)
class StorageAccessConfig:
    files: FileRegistry
    weights: StorageAccessWeightInfo
    access_window: int
    max_forgotten_per_block: int


@dataclass(frozen=True)
class KeyRegistered:
    """``who`` registered (or replaced) its X25519 encryption key."""

    who: AccountId
    key: EncryptionKey


@dataclass(frozen=True)
class AccessGranted:
    """The owner of ``file_id`` sealed its data key to ``grantee``."""

    file_id: FileId
    grantee: AccountId


@dataclass(frozen=True)
class AccessRevoked:
    """The owner of ``file_id`` removed ``grantee``'s grant."""

    file_id: FileId
    grantee: AccountId


@dataclass(frozen=True)
class AccessRecorded:
    """``who`` read (is about to read) ``file_id`` at ``block``; ``recorder`` signed the record: ``who`` itself,
    or the owner granting it (``grant_and_record``)."""

    file_id: FileId
    who: AccountId
    block: BlockNumber
    recorder: AccountId


class UnknownFile(DispatchError):
    """No such file."""


class NotFileOwner(DispatchError):
    """Only the file's owner may grant or revoke access."""


class NoKey(DispatchError):
    """The grantee has not registered an encryption key."""


class BadSealedKey(DispatchError):
    """A sealed key is exactly 80 bytes."""


class NoGrant(DispatchError):
    """The account holds no grant for this file."""


class GrantsLocked(DispatchError):
    """The file is locked (a verified job's output, bought by the job's submitter): its grants stand, neither
    revoked nor replaced by another sealed key."""


class StorageAccess(Pallet[StorageAccessConfig]):
    NAME = "StorageAccess"
    CRATE = "pallet_storage_access"
    EVENTS = (KeyRegistered, AccessGranted, AccessRevoked, AccessRecorded)
    ERRORS = (UnknownFile, NotFileOwner, NoKey, BadSealedKey, NoGrant, GrantsLocked)
    CONSTANTS = (
        Constant("AccessWindow", U32, lambda c: c.access_window,
                 "Blocks an access record lets its account read the file's fragments."),
        Constant("MaxForgottenPerBlock", U32, lambda c: c.max_forgotten_per_block,
                 "Grants and last-access entries of deleted files removed per block."),
    )

    keys = StorageMap(ACCOUNT_ID, X25519_KEY, docs="Each account's X25519 encryption key.")
    grants = StorageDoubleMap(H256, ACCOUNT_ID, BYTES, docs="The data key of a file sealed to each grantee.")
    access_log = StorageDoubleMap(H256, U32, Tuple(ACCOUNT_ID, U32, ACCOUNT_ID), hasher2=Hasher.Twox64Concat,
                                  docs="Every recorded read of a file, in order: (who, block, recorder), the "
                                       "recorder being who itself or the owner that granted it.")
    access_count = StorageMap(H256, U32, default=0, docs="How many reads `AccessLog` holds for a file.")
    last_access = StorageDoubleMap(H256, ACCOUNT_ID, Tuple(U32, ACCOUNT_ID),
                                   docs="Each grantee's latest access record: its block and its recorder.")
    forgetting = StorageMap(H256, UNIT, docs="Deleted files whose grants and `LastAccess` entries are being removed.")

    @call(0, weight=lambda w, key: w.register_key())
    def register_key(self, origin: Origin, key: EncryptionKey) -> None:
        """Register the signer's X25519 public key, to which owners seal data keys."""
        who = ensure_signed(origin)
        self.keys.insert(who, key)
        self.deposit_event(KeyRegistered(who, key))

    @call(1, weight=lambda w, file_id, grantee, sealed_key: w.grant())
    def grant(self, origin: Origin, file_id: FileId, grantee: AccountIdLookup, sealed_key: Bytes) -> None:
        """Give ``grantee`` read access to ``file_id``: ``sealed_key`` is the data key sealed to its key."""
        self._grant(origin, file_id, grantee, sealed_key)

    @call(2, weight=lambda w, file_id, grantee: w.revoke())
    def revoke(self, origin: Origin, file_id: FileId, grantee: AccountIdLookup) -> None:
        """Remove ``grantee``'s grant: it can no longer record an access, and nodes stop serving it. A locked
        file's grants stand (``GrantsLocked``): its owner may not take back what a job's submitter paid for."""
        self._ensure_owner(origin, file_id)
        if not self.grants.contains(file_id, grantee):
            raise NoGrant()
        if self.config.files.is_locked(file_id):
            raise GrantsLocked()
        self.grants.remove(file_id, grantee)
        self.last_access.remove(file_id, grantee)
        self.deposit_event(AccessRevoked(file_id, grantee))

    @call(3, weight=lambda w, file_id: w.record_access())
    def record_access(self, origin: Origin, file_id: FileId) -> None:
        """Record that the signer, a grantee of ``file_id``, reads it now."""
        who = ensure_signed(origin)
        if self.config.files.file_owner(file_id) is None:
            raise UnknownFile()
        if not self.grants.contains(file_id, who):
            raise NoGrant()
        self._record(file_id, who, who)

    @call(4, weight=lambda w, file_id, grantee, sealed_key: w.grant_and_record())
    def grant_and_record(self, origin: Origin, file_id: FileId, grantee: AccountIdLookup, sealed_key: Bytes) -> None:
        """``grant``, and record ``grantee``'s read of ``file_id`` now, in one transaction: for a grantee about
        to read, which then needs no ``record_access`` of its own (the entry names the owner as recorder)."""
        owner = self._grant(origin, file_id, grantee, sealed_key)
        self._record(file_id, grantee, owner)

    def _grant(self, origin: Origin, file_id: bytes, grantee: bytes, sealed_key: bytes) -> bytes:
        """Store the grant (checked: owner, sealed key's length, grantee's key); the owner."""
        owner = self._ensure_owner(origin, file_id)
        if len(sealed_key) != SEALED_KEY_LENGTH:
            raise BadSealedKey()
        if not self.keys.contains(grantee):
            raise NoKey()
        if self.config.files.is_locked(file_id) and self.grants.get(file_id, grantee) not in (None, sealed_key):
            raise GrantsLocked()  # a key sealed anew (or garbage) would take back what revoke may not
        self.grants.insert(file_id, grantee, sealed_key)
        self.deposit_event(AccessGranted(file_id, grantee))
        return owner

    def _record(self, file_id: bytes, who: bytes, recorder: bytes) -> None:
        n = self.block_number()
        index = self.access_count.get(file_id)
        self.access_log.insert(file_id, index, (who, n, recorder))
        self.access_count.insert(file_id, index + 1)
        self.last_access.insert(file_id, who, (n, recorder))
        self.deposit_event(AccessRecorded(file_id, who, n, recorder))

    def _ensure_owner(self, origin: Origin, file_id: bytes) -> bytes:
        who = ensure_signed(origin)
        owner = self.config.files.file_owner(file_id)
        if owner is None:
            raise UnknownFile()
        if owner != who:
            raise NotFileOwner()
        return owner

    # --- deleted files --------------------------------------------------------------------------

    def on_initialize(self, n: int) -> Weight:
        """Learn of deleted files and remove up to ``max_forgotten_per_block`` of their entries."""
        learned = self._learn_deleted()
        return self.config.weights.on_initialize(learned, self._forget(self.config.max_forgotten_per_block))

    def _learn_deleted(self) -> int:
        """Queue the files FileBank deleted since the last look; how many."""
        deleted = self.config.files.take_deleted()
        for file_id in deleted:
            self.forgetting.insert(file_id, ())
        return len(deleted)

    def _forget(self, budget: int) -> int:
        """Remove up to ``budget`` grants and ``LastAccess`` entries of deleted files, one file at a time, and
        the ``Forgetting`` marks of those left with none (telling FileBank); returns the entries and marks
        removed."""
        done = 0
        while done < budget and (first := next(self.forgetting.items(), None)) is not None:
            file_id = first[0]
            for entries in (self.grants, self.last_access):
                grantees = [grantee for grantee, _ in itertools.islice(entries.iter_prefix(file_id), budget - done)]
                for grantee in grantees:
                    entries.remove(file_id, grantee)
                done += len(grantees)
            if done >= budget:
                break  # maybe more left: the next block goes on
            self.forgetting.remove(file_id)
            self.config.files.forgotten(file_id)
            done += 1
        return done

    def integrity_test(self) -> None:
        assert self.config.access_window > 0, "an access record must let its account read for a block at least"
        assert self.config.max_forgotten_per_block > 0, "deleted files' grants must go eventually"


DEFINITION = PalletDefinition(pallet=StorageAccess, config=StorageAccessConfig, weights=StorageAccessWeights(),
                              params=StorageAccessParams, rpc=ACCESS_RPC)
