"""Commit-reveal formats of the compute market: what a provider commits to before anyone reveals.

A provider that has run a job commits ``commitment(job_id, provider, digest, salt)`` on chain; once every
assigned provider has committed, each reveals ``digest`` and ``salt`` and the chain recomputes the
commitment. The provider's account is inside the hash, so a lazy provider that copies another's commitment
commits to something it can never open as its own: it must know a digest before anyone reveals one, which
only running the job gives it. The salt (32 random bytes, the provider's own) keeps a commitment to a
guessable digest from being matched against candidate results before the reveal.

A federated-learning participant commits the same way to the update file it will deliver for a round:
``update_commitment(task_id, round, participant, file_id, salt)``.

Byte layouts (version 1, every integer little-endian):

- ``commitment = blake2_256(DOMAIN_COMPUTE_COMMIT ++ u64 job_id ++ provider(32) ++ digest(32) ++ salt(32))``
- ``update_commitment = blake2_256(DOMAIN_FL_UPDATE_COMMIT ++ u64 task_id ++ u32 round ++ participant(32)
  ++ file_id(32) ++ salt(32))``
"""

from __future__ import annotations

from runtime.hashing import DOMAIN_COMPUTE_COMMIT, DOMAIN_FL_UPDATE_COMMIT, blake2_256

__all__ = ["SALT_LENGTH", "commitment", "update_commitment", "CommitmentFormatError"]

SALT_LENGTH = 32
"""Bytes of a reveal's salt."""


class CommitmentFormatError(ValueError):
    """An argument of a commitment has the wrong length."""


def _check(**fields: bytes) -> None:
    for name, value in fields.items():
        if len(value) != 32:
            raise CommitmentFormatError(f"{name} must be 32 bytes, got {len(value)}")


def commitment(job_id: int, provider: bytes, digest: bytes, salt: bytes) -> bytes:
    """What ``provider`` commits on chain for result ``digest`` of job ``job_id``."""
    _check(provider=provider, digest=digest, salt=salt)
    return blake2_256(DOMAIN_COMPUTE_COMMIT + job_id.to_bytes(8, "little") + provider + digest + salt)


def update_commitment(task_id: int, round: int, participant: bytes, file_id: bytes, salt: bytes) -> bytes:
    """What ``participant`` commits for the update file ``file_id`` it will deliver in ``round`` of a task."""
    _check(participant=participant, file_id=file_id, salt=salt)
    return blake2_256(DOMAIN_FL_UPDATE_COMMIT + task_id.to_bytes(8, "little") + round.to_bytes(4, "little")
                      + participant + file_id + salt)
