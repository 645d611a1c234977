"""A blob's record as the SDK reads it: the node set it names, checked against the id the blob names it by."""

from __future__ import annotations

import pytest

from da_layer.pallet import Blob, BlobStatus, NodeSet, node_set_id_of
from sdk.chain import InvalidProof
from sdk.da.chain import BlobRecord

MEMBERS = (b"\x01" * 32, b"\x02" * 32)
NODE_SET = NodeSet(MEMBERS, (100, 300), 8)
BLOB = Blob(b"\x09" * 32, bytes([0xC0]) + bytes(47), 1000, 7, 12, BlobStatus.Available, node_set_id_of(NODE_SET),
            b"\x05" * 32, b"\x03", 1000)


def test_a_record_carries_the_node_set_the_blob_names():
    record = BlobRecord.of(BLOB, NODE_SET)
    assert (record.node_set, record.stakes, record.replication, record.node_set_id) == (
        MEMBERS, (100, 300), 8, BLOB.node_set_id)
    assert (record.commitment, record.custody_seed, record.status, record.fee) == (
        BLOB.commitment, BLOB.custody_seed, BLOB.status, BLOB.fee)


@pytest.mark.parametrize("served", [
    NodeSet(MEMBERS, (100, 301), 8),            # other stakes: custody dealt otherwise
    NodeSet(MEMBERS, (100, 300), 4),            # other draws per column: custody dealt otherwise
    NodeSet(MEMBERS[::-1], (300, 100), 8),      # another order: the signer bits name other nodes
    NodeSet(MEMBERS + (b"\x03" * 32,), (100, 300, 5), 8),
], ids=["stakes", "replication", "order", "members"])
def test_a_node_set_that_is_not_the_one_named_is_a_lie(served):
    with pytest.raises(InvalidProof):
        BlobRecord.of(BLOB, served)
