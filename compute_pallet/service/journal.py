"""The provider's job journal: what it must remember about a job to finish it after a crash.

One folder per job under ``<base-path>/jobs/<job id>/`` holds the job's work folder (inputs, outputs, see
:mod:`compute_pallet.service.runner`) and ``journal.json``, a :class:`JobRecord` replaced atomically
(temporary name, fsync, rename), so after a crash or a power cut at any moment it is the previous record or
the new one, never a mix or an empty file (a rename may reach the disk before the data it names, on XFS, say).
The record is written at each step:

- ``committing``: the salt and digest (and a private job's seal), before the commit is submitted, durably (its
  folder fsynced too, so that the rename itself survives a power cut: a commit whose salt was lost could never
  be revealed, and the slot would be slashed as a no-show);
- ``committed``: once the commit is included;
- each uploaded output's file id as its upload completes (a restart uploads only the missing ones);
- ``revealed``: once the reveal is included.

Only the first rename must survive a power cut: the chain knows whether the commit and the reveal were
included, and an upload whose id was lost is made again (a public output's copy under a new id, the lost one
expiring with its paid time; a private output's id is fixed by its seal, and the upload takes up its own
declaration). The
folder's fsync for each of the others cost the worker CPU on every job.

:class:`Progress` is the record of a job being worked on: its commit and its uploads advance it concurrently,
each change made to the latest record and journaled in turn.

A restarted worker reconciles each record with the chain (:mod:`compute_pallet.service.jobs`): it runs the
job again if it had not committed, reveals with the journaled salt if it had, and drops jobs the chain has
settled. A record that does not decode is reported as :class:`JournalError` (the job is then handed back:
without its salt nothing can be revealed).
"""

from __future__ import annotations

import enum
import functools
import json
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import trio

from sdk.durable import write_durably

__all__ = ["Phase", "JobRecord", "Journal", "JournalError", "Progress", "JOURNAL_FILE"]

JOURNAL_FILE = "journal.json"
MAX_RECORD_BYTES = 1 << 20


class JournalError(Exception):
    """A journal record that cannot be read back."""


class Phase(enum.Enum):
    RAN = "ran"
    """The result is known (digest, output names), nothing sent to the chain yet."""
    COMMITTING = "committing"
    """The commit is being submitted: it may or may not be on chain."""
    COMMITTED = "committed"
    REVEALED = "revealed"


@dataclass(frozen=True)
class JobRecord:
    job_id: int
    phase: Phase
    salt: bytes
    digest: bytes
    """What this provider commits to (a faulty provider's, as it commits it)."""
    outputs: tuple[str, ...]
    """Output file names in reveal order."""
    scores: tuple[int, ...]
    files: dict[str, bytes] = field(default_factory=dict)
    """Output name -> the file id of its completed upload."""
    seal: bytes | None = None
    """The job's :func:`~compute_pallet.commitment.job_seal` when it has a private input (its outputs are then
    private, sealed under it); None for a public job. Derived when the inputs are read: a grant revoked later
    must not keep the outputs from being uploaded."""

    def with_(self, **changes: object) -> JobRecord:
        return replace(self, **changes)  # type: ignore[arg-type]

    def encode(self) -> bytes:
        doc = asdict(self)
        doc.update(phase=self.phase.value, salt=self.salt.hex(), digest=self.digest.hex(),
                   files={name: fid.hex() for name, fid in self.files.items()},
                   seal=None if self.seal is None else self.seal.hex())
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> JobRecord:
        try:
            doc = json.loads(data)
            record = cls(int(doc["job_id"]), Phase(doc["phase"]), bytes.fromhex(doc["salt"]),
                         bytes.fromhex(doc["digest"]), tuple(str(name) for name in doc["outputs"]),
                         tuple(int(score) for score in doc["scores"]),
                         {str(name): bytes.fromhex(fid) for name, fid in doc["files"].items()},
                         None if doc["seal"] is None else bytes.fromhex(doc["seal"]))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise JournalError(f"not a job record: {exc}") from None
        if (len(record.salt) != 32 or len(record.digest) != 32 or any(len(f) != 32 for f in record.files.values())
                or (record.seal is not None and len(record.seal) != 32)):
            raise JournalError("a salt, digest, seal or file id of the wrong length")
        return record


class Journal:
    """Job folders and records under ``folder``. Every method blocks on the disk: call it from a thread."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def workdir(self, job_id: int) -> Path:
        """The job's folder (created if missing)."""
        path = self.folder / str(job_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def job_ids(self) -> list[int]:
        """Every job with a folder, in id order."""
        if not self.folder.is_dir():
            return []
        return sorted(int(path.name) for path in self.folder.iterdir() if path.name.isdigit())

    def load(self, job_id: int) -> JobRecord | None:
        """The job's record (None if it has none); :class:`JournalError` if it does not decode."""
        path = self.folder / str(job_id) / JOURNAL_FILE
        try:
            with open(path, "rb") as file:
                data = file.read(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            return None
        if len(data) > MAX_RECORD_BYTES:
            raise JournalError(f"{path} is larger than any record")
        record = JobRecord.decode(data)
        if record.job_id != job_id:
            raise JournalError(f"{path} holds the record of job {record.job_id}")
        return record

    def save(self, record: JobRecord, *, durable: bool = False) -> None:
        """Replace the job's record atomically (its data on disk before the rename); ``durable``: the rename
        too (the folder fsynced), so that a power cut keeps this record rather than the one before."""
        path = self.workdir(record.job_id) / JOURNAL_FILE
        write_durably(path, record.encode(), path.with_name(JOURNAL_FILE + ".partial"), sync_folder=durable)

    def drop(self, job_id: int) -> bool:
        """Forget the job: its record and work folder; whether there was anything to forget."""
        path = self.folder / str(job_id)
        if not path.exists():
            return False
        shutil.rmtree(path, ignore_errors=True)
        return True


class Progress:
    """A job's record as the worker advances it: every change is journaled, one write at a time, each made to
    the latest record (the uploads and the commit advance it concurrently)."""

    def __init__(self, journal: Journal, record: JobRecord) -> None:
        self.journal, self.record = journal, record
        self._lock = trio.Lock()

    async def update(self, *, durable: bool = False, **changes: object) -> JobRecord:
        return await self._apply(lambda record: record.with_(**changes), durable=durable)

    async def uploaded(self, name: str, file_id: bytes) -> JobRecord:
        """Output ``name`` is the file ``file_id``."""
        return await self._apply(lambda record: record.with_(files={**record.files, name: file_id}))

    async def _apply(self, change: Callable[[JobRecord], JobRecord], *, durable: bool = False) -> JobRecord:
        async with self._lock:
            self.record = change(self.record)
            await trio.to_thread.run_sync(functools.partial(self.journal.save, self.record, durable=durable))
        return self.record
