"""Commit-reveal formats of the compute market: what a provider commits to before anyone reveals.

A provider that has run a job commits ``commitment(job_id, provider, digest, salt)`` on chain; once every
assigned provider has committed, each reveals ``digest`` and ``salt`` and the chain recomputes the
commitment. The provider's account is inside the hash, so a lazy provider that copies another's commitment
commits to something it can never open as its own: it must know a digest before anyone reveals one, which
only running the job gives it. The salt (32 random bytes, the provider's own) keeps a commitment to a
guessable digest from being matched against candidate results before the reveal.

A federated-learning participant commits the same way to the update file it will deliver for a round:
``update_commitment(task_id, round, participant, file_id, salt)``.

A private output (a job with a private input) is sealed under a key derived from the job's *seal* (from the
job and the data keys of the private inputs the provider read, :func:`job_seal`) and the output's bytes
(:func:`output_seal`), not a random one: honest providers' copies are then the same ciphertext, their
manifests the same content digest, and the chain compares them as it does public outputs. A lazy dispute
referee that copies a revealed digest cannot make that ciphertext without the bytes (the output is never
readable by it), and an outsider without the inputs' keys cannot derive the key. A provider derives the seal
when it reads the inputs and journals it: a grant revoked after that does not stop its upload.

Byte layouts (version 1, every integer little-endian):

- ``commitment = blake2_256(DOMAIN_COMPUTE_COMMIT ++ u64 job_id ++ provider(32) ++ digest(32) ++ salt(32))``
- ``update_commitment = blake2_256(DOMAIN_FL_UPDATE_COMMIT ++ u64 task_id ++ u32 round ++ participant(32)
  ++ file_id(32) ++ salt(32))``
- ``job_seal = blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY ++ u64 job_id ++ input_key(32)...)`` over the data keys of
  the private inputs read, in the job's input order (an input refused unread, by its size, is not read);
- ``output_seal``: ``key = blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY ++ job_seal(32) ++ content(32))``, where
  ``content`` is the ``blake2_256`` of the output's bytes; the manifest salt is the first 16 bytes of
  ``blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY ++ key)``.
"""

from __future__ import annotations

from runtime.hashing import DOMAIN_COMPUTE_COMMIT, DOMAIN_COMPUTE_OUTPUT_KEY, DOMAIN_FL_UPDATE_COMMIT, blake2_256

__all__ = ["SALT_LENGTH", "commitment", "update_commitment", "job_seal", "output_seal", "CommitmentFormatError"]

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


def job_seal(job_id: int, input_keys: list[bytes]) -> bytes:
    """The secret a provider seals job ``job_id``'s private outputs with: from the data keys of the private
    inputs it read, in input order."""
    _check(**{f"input_keys[{i}]": key for i, key in enumerate(input_keys)})
    return blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY + job_id.to_bytes(8, "little") + b"".join(input_keys))


def output_seal(seal: bytes, content: bytes) -> tuple[bytes, bytes]:
    """The (data key, 16-byte manifest salt) a private output is sealed under: from its job's :func:`job_seal`
    and ``content``, the ``blake2_256`` of its bytes."""
    _check(seal=seal, content=content)
    key = blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY + seal + content)
    return key, blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY + key)[:16]
