"""The submitter counts only signatures that verify against their nodes' registered keys: all of them at once
as one aggregate, then, when that fails, one by one (a forged or garbage answer becomes a refusal); and it posts
no attestation whose signers keep too few of the columns the blob was dealt."""

from __future__ import annotations

from dataclasses import replace

import anyio
import pytest

from da_layer import bls
from da_layer.attestation import attestation_message
from da_layer.custody import columns_kept
from da_layer.kzg import CELLS_TO_RECOVER
from da_layer.pallet import BlobStatus
from sdk.da.chain import BlobRecord, Custody, DaNodeView
from sdk.da.errors import NoQuorum
from sdk.da.submit import Signatures, Submitter, drop_forged

GENESIS = bytes(range(32))
BLOB_ID = b"\x42" * 32
COMMITMENT = bytes([0xC0]) + bytes(47)
SECRETS = [bls.secret_from_seed(bytes([i + 1]) * 32) for i in range(4)]
NODES = tuple(DaNodeView(i, bytes([i]) * 32, f"http://da-{i}", bls.public_key(secret), 100)
              for i, secret in enumerate(SECRETS))
CUSTODY = Custody(BLOB_ID, BlobRecord(b"\x01" * 32, COMMITMENT, 10, 0, 1, BlobStatus.Pending,
                                      tuple(node.account for node in NODES), tuple(node.stake for node in NODES),
                                      2, bytes(32), bytes(32), b"", 0), NODES)
MESSAGE = attestation_message(GENESIS, BLOB_ID, COMMITMENT)


def test_honest_signatures_all_count():
    result = Signatures({i: bls.sign(secret, MESSAGE) for i, secret in enumerate(SECRETS)})
    drop_forged(CUSTODY, result, GENESIS)
    assert sorted(result.signed) == [0, 1, 2, 3] and result.refusals == {}


def test_forged_and_garbage_signatures_become_refusals():
    result = Signatures({0: bls.sign(SECRETS[0], MESSAGE), 1: bls.sign(SECRETS[2], MESSAGE),  # another's key
                         2: bls.sign(SECRETS[2], b"another message"), 3: b"\x01" * 96})     # not a point
    drop_forged(CUSTODY, result, GENESIS)
    assert sorted(result.signed) == [0]
    assert sorted(result.refusals) == ["http://da-1", "http://da-2", "http://da-3"]
    assert set(result.refusals.values()) == {"its signature does not verify against its key"}


def test_nothing_signed_is_nothing_to_check():
    result = Signatures()
    drop_forged(CUSTODY, result, GENESIS)
    assert result.signed == {} and result.refusals == {}


def test_the_column_pre_check_counts_the_draws_the_blob_was_dealt_with():
    """Node 0 alone holds the quorum now (its peers' stakes fell since the blob was submitted). At the one draw a
    column the blob was dealt with it keeps about a quarter of the columns, too few to rebuild it: the submitter
    refuses to post the attestation (at the chain's eight draws now, it would keep nearly all of them)."""
    record = replace(CUSTODY.blob, replication=1)
    nodes = tuple(replace(node, stake=100 if node.position == 0 else 10) for node in NODES)
    assert columns_kept([0], record.stakes, record.custody_seed, 1) < CELLS_TO_RECOVER
    assert columns_kept([0], record.stakes, record.custody_seed, 8) >= CELLS_TO_RECOVER
    submitter = Submitter(None, None, None, None, None)  # (refused before any of them is used)
    with pytest.raises(NoQuorum, match="keep [0-9]+ columns, at least half"):
        anyio.run(submitter.attest, Custody(BLOB_ID, record, nodes), Signatures({0: bls.sign(SECRETS[0], MESSAGE)}))
