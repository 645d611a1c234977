"""DA faults with real processes: a submitter that withholds, a submitter that lies, a node that attests and
then withholds, a node that loses its disk.

- A submitter that hands out fewer than half the cells gets no signature (every node wants all of its
  custody), so no quorum forms, the chain marks the blob unavailable at its deadline, and light clients
  report failure instead of a confidence.
- A node given cells whose proofs do not verify refuses to sign and stores nothing.
- A node that signed and then withholds is challenged by a sampling audit, does not answer, and is slashed
  (the others answer theirs and pass).
- A node restarted with an empty disk, on another address, moves its registered endpoint and rebuilds its
  custody from its peers' cells, byte for byte.
- A node that leaves is out of the node set at once and keeps its stake on hold until its blobs' retention
  ends; restarted meanwhile, it says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from da_layer import kzg
from da_layer.attestation import quorum_weights
from da_layer.blobs import pack
from sdk.chain import AsyncClient
from sdk.client import AsyncClient as SdkClient
from sdk.da.chain import read_blob, read_custody
from sdk.da.errors import BondRefused, LeaveRefused, NoQuorum
from sdk.da.peers import PeerError
from sdk.da.wire import Cell
from tests.da_layer.service.network import da, da_api, pools, start_da_network  # noqa: F401 - fixtures

pytestmark = pytest.mark.long(1.4)  # minutes, about: started early (tests/conftest.py)

CAIRN = str(Path(sys.executable).parent / "cairn")
DEADLINE_S = 120  # dev preset: a blob is judged 10 blocks (20 s) after submission; an audit round every 10 s


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    network = start_da_network(tmp_path_factory.mktemp("da-faults"))
    yield network
    network.stop()


async def test_a_submitter_withholding_more_than_half_gets_no_quorum_and_the_blob_is_unavailable(da, network):
    submitter = da.submitter
    encoded = await submitter.encode(pack(os.urandom(5000))[0])
    custody = await submitter.post(encoded.commitment, 5000, 0)
    half = kzg.CELLS_PER_BLOB // 2
    signatures = await submitter.distribute(custody, lambda position: [
        encoded.cells[c] for c in custody.columns_of(position) if c < half - 1])  # 62 of 128 cells handed out
    assert signatures.signed == {}
    assert all("IncompleteCustody" in why for why in signatures.refusals.values())
    with pytest.raises(NoQuorum):
        await submitter.attest(custody, signatures)
    with trio.fail_after(DEADLINE_S):
        while (await da.status(custody.blob_id)).status != "Unavailable":
            await trio.sleep(1)
    report = await da.sample(custody.blob_id)
    assert not report.available and report.confidence == 0.0 and report.verified == 0
    assert len(report.failed) == report.samples == 20
    result = subprocess.run([CAIRN, "da", "sample", "0x" + custody.blob_id.hex(), "--rpc", network.url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stdout == "" and "unavailable" in result.stderr


async def test_an_attestation_another_account_landed_first_is_a_success(da, network):
    """Anyone may attest: a griefer copying the aggregate from the pool and landing it first must not turn
    the submitter's own, refused as AlreadyAvailable, into a failed submission."""
    submitter = da.submitter
    encoded = await submitter.encode(pack(os.urandom(3000))[0])
    custody = await submitter.post(encoded.commitment, 3000, 0)
    signatures = await submitter.distribute(custody, lambda position: [
        encoded.cells[c] for c in custody.columns_of(position)])
    async with SdkClient(network.url, signer="//Bob") as bob:
        await bob.da.submitter.attest(custody, signatures)
    await submitter.attest(custody, signatures)  # AlreadyAvailable: the blob is available, as it wanted
    assert (await da.status(custody.blob_id)).status == "Available"


async def test_an_attestation_the_chain_finds_below_quorum_is_no_quorum(da, network):
    """The submitter weighs the signers with the registrations it read; when the chain weighs them otherwise (a
    signer slashed before the attestation's block) and refuses it, the submission fails with NoQuorum, in the
    chain's figures, not as a refused transaction. Here the submitter's reading is made stale the other way: the
    nodes that did not sign read as holding nothing, so half the nodes seem to be all of the stake."""
    submitter = da.submitter
    encoded = await submitter.encode(pack(os.urandom(4000))[0])
    custody = await submitter.post(encoded.commitment, 4000, 0)
    signatures = await submitter.distribute(custody, lambda position: [
        encoded.cells[c] for c in custody.columns_of(position)])
    half = len(custody.nodes) // 2
    signatures.signed = {position: signature for position, signature in signatures.signed.items() if position < half}
    stale = replace(custody, nodes=tuple(node if node.position < half else replace(node, stake=0)
                                         for node in custody.nodes))
    with pytest.raises(NoQuorum) as refused:
        await submitter.attest(stale, signatures)
    weights = quorum_weights([node.stake for node in custody.nodes], custody.blob.stakes)
    signed, total = sum(weights[:half]), sum(weights)
    assert f"nodes with {signed} of {total} stake signed, more than 2/3" in str(refused.value)
    assert refused.value.refusals["the chain"] == "attest refused: BelowQuorum"
    assert (await da.status(custody.blob_id)).status == "Pending"


async def test_a_node_given_cells_with_bad_proofs_refuses_to_sign_and_keeps_nothing(da, network):
    submitter = da.submitter
    encoded = await submitter.encode(pack(os.urandom(7000))[0])
    custody = await submitter.post(encoded.commitment, 7000, 0)
    target = network.nodes[0]
    columns = custody.columns_of(custody.position_of(target.account))
    honest = [encoded.cells[c] for c in columns]
    swapped = [Cell(c.index, c.data, honest[(i + 1) % len(honest)].proof) for i, c in enumerate(honest)]
    extension = next(c.index for c in honest if c.index >= kzg.CELLS_TO_RECOVER)  # no layout: only its proof tells
    flipped = [Cell(c.index, c.data[:-1] + bytes([c.data[-1] ^ 1]), c.proof) if c.index == extension else c
               for c in honest]
    for forged in (swapped, flipped):
        with pytest.raises(PeerError) as refused:
            await da.peers.put_cells(target.url, custody.blob_id, forged)
        assert refused.value.kind == "InvalidProof"
    with pytest.raises(PeerError) as nothing:
        await da.peers.get_cells(target.url, custody.blob_id)
    assert nothing.value.kind == "UnknownBlob"
    assert not list(target.cells_folder.glob(custody.blob_id.hex() + "*"))


async def test_a_node_that_attested_and_then_withholds_is_slashed_by_an_audit(da, network):
    refs = await da.submit(os.urandom(20_000))
    custody = await read_custody(da.chain, refs[0].blob_id, await read_blob(da.chain, refs[0].blob_id))
    # a node that is no column's only custodian (with eight draws a column, nearly every node), so the others
    # still serve every column of the blob while it withholds
    liar = next(node for node in network.nodes if all(
        [keeper.account for keeper in custody.custodians_of(column)] != [node.account] for column in range(128)))
    liar.withhold(True)
    try:
        async with AsyncClient(network.url) as client:
            before = (await client.query("DataAvailability", "Nodes", [liar.account])).stake
            # audits opened in a block made after the switch: one opened earlier (the subscription starts at
            # the current head, which may predate it) may have been answered already
            withheld_at = (await client.get_block_header()).number
            slashed = passed = False
            opened = set()
            with trio.fail_after(DEADLINE_S * 2):
                async with client.subscribe_events("DataAvailability") as blocks:
                    async for block in blocks:
                        for record in block.events:
                            if record.name == "AuditStarted" and block.block_number > withheld_at:
                                opened.add(record.event.audit_id)
                            if record.name == "Slashed" and record.event.node == liar.account:
                                slashed = True
                            if record.name == "AuditPassed" and record.event.audit_id in opened:
                                assert record.event.node != liar.account
                                passed = True
                        if slashed and passed:
                            break
            after = await client.query("DataAvailability", "Nodes", [liar.account])
            assert after.stake < before and after.audits_missed >= 1
        report = await da.sample(refs[0])  # the other custodians still serve every column
        assert report.available
    finally:
        liar.withhold(False)


async def test_a_node_restarted_with_an_empty_disk_and_a_new_address_recovers_its_custody_from_peers(da, network):
    payload = os.urandom(9000)
    refs = await da.submit(payload)
    blob_id = refs[0].blob_id
    cells, proofs = kzg.cells_and_proofs(pack(payload)[0])
    custody = await read_custody(da.chain, blob_id, await read_blob(da.chain, blob_id))
    victim = network.nodes[2]
    mine = custody.columns_of(custody.position_of(victim.account))
    victim.stop()
    shutil.rmtree(victim.cells_folder)
    victim.host = "127.0.0.2"  # the node moved: at start it updates its registered endpoint
    victim.spawn().wait_ready()
    moved = await read_custody(da.chain, blob_id, await read_blob(da.chain, blob_id))
    assert moved.nodes[custody.position_of(victim.account)].endpoint == victim.url
    with trio.fail_after(DEADLINE_S):
        while True:
            try:
                held = await da.peers.get_cells(victim.url, blob_id)
            except PeerError:
                held = {}
            if sorted(held) == list(mine):
                break
            await trio.sleep(0.5)
    assert all(cell.data == cells[i] and cell.proof == proofs[i] for i, cell in held.items())


async def test_a_node_bonds_more_stake_which_weighs_in_the_next_blobs_custody(da, network, pools):
    """``cairn da bond``: the stake goes up at once, on hold, and the next blob's node set carries it; bonding
    nothing, or without a node, is refused."""
    bonder = network.nodes[2]
    async with da_api(network, pools, signer=bonder.key) as operator:
        before = (await operator.chain.query("DataAvailability", "Nodes", [bonder.account])).stake
        assert await operator.bond(10**12) == before + 10**12
        with pytest.raises(BondRefused, match="NothingToBond"):
            await operator.bond(0)
    with pytest.raises(BondRefused, match="NotRegistered"):
        await da.bond(10**12)  # Alice runs no DA node
    result = subprocess.run([CAIRN, "da", "bond", str(10**12), "--key", bonder.key, "--rpc", network.url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "DA stake now" in result.stdout, result.stderr
    (ref,) = await da.submit(os.urandom(1000))
    record = await read_blob(da.chain, ref.blob_id)
    position = record.node_set.index(bonder.account)
    assert record.stakes[position] == before + 2 * 10**12 == max(record.stakes)


async def test_a_node_that_leaves_is_named_by_no_new_blob_and_its_stake_waits_out_the_retention(da, network, pools):
    """``cairn da leave``: the node leaves the node set at once, its stake is released when the blobs that name
    it are past their retention; leaving twice, or without a node, is refused. Last in this module: two of the
    network's four nodes leave, and a test after it would run on the other two."""
    leaver = network.nodes[-1]
    async with da_api(network, pools, signer=leaver.key) as operator:
        block = (await operator.chain.get_block_header()).number
        unbonds_at = await operator.leave()  # the inclusion block's number, plus the retention
        assert unbonds_at - operator.chain.get_constant("DataAvailability", "RetentionPeriod") > block
        assert leaver.account not in await operator.chain.query("DataAvailability", "NodeSet")
        listed = {node.account: node.leaves_at for node in await operator.nodes()}  # still registered, slashable
        assert listed[leaver.account] == unbonds_at and listed[network.nodes[0].account] is None
        with pytest.raises(LeaveRefused, match="AlreadyLeaving"):
            await operator.leave()
    with pytest.raises(LeaveRefused, match="NotRegistered"):
        await da.leave()  # Alice runs no DA node
    result = subprocess.run([CAIRN, "da", "leave", "--key", network.nodes[0].key, "--rpc", network.url],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "its stake is released at block" in result.stdout, result.stderr
    shown = subprocess.run([CAIRN, "da", "nodes", "--rpc", network.url], capture_output=True, text=True, timeout=120)
    assert shown.stdout.count("stake back at #") == 2, shown.stdout
    leaver.stop()
    leaver.spawn().wait_ready()
    assert "this DA node is leaving" in leaver.log_path.read_text()

