"""Commit-reveal formats: the documented byte layout, and what each argument binds."""

from __future__ import annotations

import pytest

from compute_pallet.commitment import CommitmentFormatError, commitment, job_seal, output_seal, update_commitment
from runtime.hashing import DOMAIN_COMPUTE_COMMIT, DOMAIN_COMPUTE_OUTPUT_KEY, DOMAIN_FL_UPDATE_COMMIT, blake2_256

A, B = bytes([1]) * 32, bytes([2]) * 32
DIGEST, SALT = bytes([3]) * 32, bytes([4]) * 32


def test_layouts_are_as_documented():
    assert commitment(7, A, DIGEST, SALT) == blake2_256(DOMAIN_COMPUTE_COMMIT + (7).to_bytes(8, "little") + A
                                                        + DIGEST + SALT)
    assert update_commitment(7, 2, A, DIGEST, SALT) == blake2_256(
        DOMAIN_FL_UPDATE_COMMIT + (7).to_bytes(8, "little") + (2).to_bytes(4, "little") + A + DIGEST + SALT)


def test_every_argument_is_bound():
    base = commitment(7, A, DIGEST, SALT)
    assert len({base, commitment(8, A, DIGEST, SALT), commitment(7, B, DIGEST, SALT),
                commitment(7, A, SALT, SALT), commitment(7, A, DIGEST, DIGEST)}) == 5
    assert commitment(7, A, DIGEST, SALT) != update_commitment(7, 0, A, DIGEST, SALT)


@pytest.mark.parametrize("args", [(A[:31], DIGEST, SALT), (A, DIGEST + b"x", SALT), (A, DIGEST, b"")])
def test_wrong_lengths_are_refused(args):
    with pytest.raises(CommitmentFormatError):
        commitment(1, *args)
    with pytest.raises(CommitmentFormatError):
        update_commitment(1, 0, *args)


def test_seals_are_as_documented_and_bind_the_job_the_input_keys_and_the_bytes():
    seal = job_seal(7, [A, B])
    assert seal == blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY + (7).to_bytes(8, "little") + A + B)
    key, salt = output_seal(seal, DIGEST)
    assert key == blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY + seal + DIGEST)
    assert salt == blake2_256(DOMAIN_COMPUTE_OUTPUT_KEY + key)[:16]
    assert output_seal(job_seal(7, [A, B]), DIGEST) == (key, salt)  # what lets two honest copies be one ciphertext
    seals = {seal, job_seal(8, [A, B]), job_seal(7, [B, A]), job_seal(7, [A]), job_seal(7, [])}
    assert len(seals) == 5 and len({output_seal(each, DIGEST)[0] for each in seals} | {output_seal(seal, SALT)[0]}) == 6


@pytest.mark.parametrize("call", [lambda: job_seal(1, [A[:31]]), lambda: output_seal(A[:31], DIGEST),
                                  lambda: output_seal(A, DIGEST[:16])])
def test_seals_refuse_wrong_lengths(call):
    with pytest.raises(CommitmentFormatError):
        call()
