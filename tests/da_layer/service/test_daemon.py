"""What a DA node must outlive, with real processes (one dev node, four DA nodes): peers that serve garbage,
and audits opened while it was down.

- Garbage is cells whose bytes are not field elements (past the BLS modulus) and proofs that are not points
  of G1: ``ckzg`` cannot even check them. A node serves what its disk holds, unchecked, so rewriting a node's
  stored cells under it makes it such a peer. A light client counts those cells as bad, a reader rebuilds the
  blob from the other nodes' cells, and a node recovering its custody passes those peers over and keeps
  running (one such cell once ended the node, and every restart of it).
- An audit opened while its node was stopped has no event left for the node to see once it is back: the node
  finds it in the chain's open audits and answers it before its deadline.

With four nodes of equal stake and eight custody draws a column (``da_layer.custody``), each node keeps ~90 %
of a blob's columns: three serving garbage leave the fourth's (enough to rebuild the blob) and spoil the
columns it does not keep (~13 of them).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import pytest
import trio

from da_layer.blobs import USABLE_BYTES_PER_BLOB, pack
from da_layer.kzg import BYTES_PER_CELL, BYTES_PER_PROOF, CELLS_PER_BLOB, CELLS_TO_RECOVER, cells_and_proofs
from sdk.chain import AsyncClient, ChainEvent, EventSubscription
from sdk.da.chain import read_blob, read_custody
from sdk.da.peers import PeerError
from sdk.da.wire import Cell, decode_cells, encode_cells
from tests.da_layer.service.network import DaNodeProcess, da, pools, start_da_network  # noqa: F401 - fixtures

AUDIT_DEADLINE = 30
"""Blocks (60 s) to answer an audit, three times the dev preset's: a node restarted after its audit opened
answers it even when a busy machine takes many seconds to start it."""
DEADLINE_S = 120  # an audit round every 5 blocks (10 s, the dev preset's), AUDIT_DEADLINE blocks to answer one


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    network = start_da_network(tmp_path_factory.mktemp("da-daemon"),
                               params={"DataAvailability": {"audit_deadline": AUDIT_DEADLINE}})
    yield network
    network.stop()


GARBAGE: tuple[Callable[[Cell], Cell], ...] = (
    lambda cell: Cell(cell.index, b"\xff" * BYTES_PER_CELL, cell.proof),  # field elements past the modulus
    lambda cell: Cell(cell.index, cell.data, b"\xff" * BYTES_PER_PROOF),  # a proof that is no point of G1
)


@contextmanager
def serving_garbage(nodes: Sequence[DaNodeProcess], blob_id: bytes) -> Iterator[None]:
    """The nodes serve garbage for the blob until the block ends: each one's stored cells of it are rewritten,
    one node's with cells that are no field elements, the next one's with proofs that are no points, and so
    on (the same indices, so the node's index of its store stays right); then put back."""
    originals = {}
    try:
        for turn, node in enumerate(nodes):
            path = node.cells_folder / f"{blob_id.hex()}.cells"
            originals[path] = path.read_bytes()
            spoil = GARBAGE[turn % len(GARBAGE)]
            _replace(path, encode_cells(spoil(cell) for cell in decode_cells(originals[path]).values()))
        yield
    finally:
        for path, data in originals.items():
            _replace(path, data)


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` under another name and rename it over ``path``: the node never reads half a file."""
    partial = path.with_name(path.name + ".test")
    partial.write_bytes(data)
    partial.replace(path)


async def test_a_light_client_and_a_reader_count_garbage_as_bad_cells(da, network):
    payload = os.urandom(9000)
    (ref,) = await da.submit(payload)
    custody = await read_custody(da.chain, ref.blob_id, await read_blob(da.chain, ref.blob_id))
    keeper = max(custody.nodes, key=lambda node: len(custody.columns_of(node.position)))
    spoilt = {column for column in range(CELLS_PER_BLOB) if keeper not in custody.custodians_of(column)}
    assert spoilt and len(spoilt) <= CELLS_PER_BLOB - CELLS_TO_RECOVER
    with serving_garbage([node for node in network.nodes if node.account != keeper.account], ref.blob_id):
        report = await da.sample(ref, samples=CELLS_PER_BLOB)
        # the cells the keeper does not keep failed (all their custodians asked), every other one verified; but
        # for any that an audit of a garbage node repaired meanwhile (a node checks the audited cell, and one
        # corrupt on disk is rebuilt from the keeper's)
        assert not report.available and report.confidence == 0.0
        assert report.failed and set(report.failed) <= spoilt
        assert report.verified == report.samples - len(report.failed)
        assert await da.get(ref) == payload  # rebuilt from the keeper's cells, the others asked of all and refused


async def test_a_node_recovering_from_peers_that_serve_garbage_passes_them_over_and_keeps_running(da, network):
    payload = os.urandom(USABLE_BYTES_PER_BLOB + 9000)
    first, second = await da.submit(payload)
    victim, peers = network.nodes[3], network.nodes[:3]
    custody = await read_custody(da.chain, first.blob_id, await read_blob(da.chain, first.blob_id))
    mine = custody.columns_of(custody.position_of(victim.account))
    cells, proofs = cells_and_proofs(pack(payload)[0])
    victim.stop()
    shutil.rmtree(victim.cells_folder)
    # the first blob from the one peer that still serves it; the second from no peer at all, so every peer's
    # garbage is asked for and refused whatever order the victim asks them in
    with serving_garbage(peers[:2], first.blob_id), serving_garbage(peers, second.blob_id):
        await trio.to_thread.run_sync(victim.spawn().wait_ready)
        with trio.fail_after(DEADLINE_S):
            while True:
                assert victim.process.poll() is None, victim.log_tail()
                try:
                    held = await da.peers.get_cells(victim.url, first.blob_id)
                except PeerError:
                    held = {}
                gave_up = f"blob 0x{second.blob_id.hex()}: only 0 verified cells" in victim.log_path.read_text()
                if sorted(held) == list(mine) and gave_up:
                    break
                await trio.sleep(0.5)
        assert all(cell.data == cells[i] and cell.proof == proofs[i] for i, cell in held.items())
        async with httpx.AsyncClient(timeout=10) as http:
            assert (await http.get(victim.url + "/v1/health")).json()["withholding"] is False


async def test_an_audit_opened_while_its_node_was_down_is_answered_once_it_is_back(da, network):
    await da.submit(os.urandom(5000))  # attested by every node: each can be audited on it
    node = network.nodes[1]
    async with AsyncClient(network.url) as client, client.subscribe_events("DataAvailability") as blocks:
        node.stop()
        try:
            stopped_at = (await client.get_block_header()).number  # an audit in a later block: the node was down
            with trio.fail_after(DEADLINE_S):
                opened = await next_event(blocks, lambda record: record.name == "AuditStarted"
                                          and record.event.node == node.account, after=stopped_at)
                # back while its block is still the best one, the node would see the audit's event: it must not
                opened_in = opened.event.deadline - client.get_constant("DataAvailability", "AuditDeadline")
                while (await client.get_block_header()).number <= opened_in:
                    await trio.sleep(0.2)
        finally:
            await trio.to_thread.run_sync(node.spawn().wait_ready)
        with trio.fail_after(DEADLINE_S):
            closed = await next_event(blocks, lambda record: record.name in ("AuditPassed", "Slashed")
                                      and record.event.audit_id == opened.event.audit_id)
    assert closed.name == "AuditPassed" and closed.event.node == node.account


async def next_event(blocks: EventSubscription, wanted: Callable[[ChainEvent], bool], *, after: int = -1) -> ChainEvent:
    """The first event ``wanted`` of a block numbered above ``after``."""
    async for block in blocks:
        for record in block.events:
            if block.block_number > after and wanted(record):
                return record
    raise AssertionError("the subscription ended")


async def test_a_cell_corrupted_on_disk_is_found_when_audited_then_recovered_and_the_audit_passed(da, network):
    """A flipped bit inside a stored cell leaves a file that still decodes: the node finds it only by checking
    the cell against the commitment before it answers, drops it and recovers it from its peers. Answering it
    as stored would fail the audit, at every draw of that cell. Every cell this node holds is spoiled, so the
    first audit naming it after that meets one."""
    await da.submit(os.urandom(5000))  # (in case no earlier test left a blob this node attested)
    node = network.nodes[2]
    spoil_every_cell(node)
    async with AsyncClient(network.url) as client, client.subscribe_events("DataAvailability") as blocks:
        spoiled_at = (await client.get_block_header()).number
        with trio.fail_after(DEADLINE_S):
            opened = await next_event(blocks, lambda record: record.name == "AuditStarted"
                                      and record.event.node == node.account, after=spoiled_at)
            closed = await next_event(blocks, lambda record: record.name in ("AuditPassed", "Slashed")
                                      and record.event.audit_id == opened.event.audit_id)
    assert closed.name == "AuditPassed", node.log_tail()
    assert f"stored cell {opened.event.cell_index} does not verify" in node.log_path.read_text()
    async with httpx.AsyncClient(timeout=10) as http:
        metrics = (await http.get(node.url + "/metrics")).text
    corrupt = next(line for line in metrics.splitlines() if line.startswith("cairn_da_cells_corrupt_total "))
    assert int(corrupt.split()[1]) >= 1  # (more if other audits of the node met spoiled cells meanwhile)


def spoil_every_cell(node: DaNodeProcess) -> list[bytes]:
    """Flip a bit in every cell the node stores (see :func:`_flip_last_bit`); the ids of the blobs spoiled."""
    blobs = []
    for path in node.cells_folder.glob("*.cells"):
        cells = decode_cells(path.read_bytes()).values()
        _replace(path, encode_cells(Cell(cell.index, _flip_last_bit(cell.data), cell.proof) for cell in cells))
        blobs.append(bytes.fromhex(path.stem))
    return blobs


def _flip_last_bit(data: bytes) -> bytes:
    """The cell with its first field element's last bit flipped: still a canonical element (layout v1 keeps
    each element's first byte zero, far below the modulus), so the cell decodes and only its proof fails."""
    return data[:31] + bytes([data[31] ^ 1]) + data[32:]


async def test_an_audit_whose_cell_cannot_be_recovered_at_first_is_answered_once_the_peers_serve_again(da,
                                                                                                     network):
    """The audited node's cells are spoiled, so it must recover the audited one, and every peer serves garbage
    until its first recovery has failed. It tries again while the audit is open (it once gave up after that
    first try, and an honest node was slashed for a moment of its peers' trouble)."""
    (ref,) = await da.submit(os.urandom(5000))  # (in case no earlier test left a blob this node attested)
    node, peers = network.nodes[3], network.nodes[:3]
    with trio.fail_after(DEADLINE_S):  # its own copy first: one stored after the spoiling would answer at once
        while not (node.cells_folder / f"{ref.blob_id.hex()}.cells").exists():
            await trio.sleep(0.1)
    blobs = spoil_every_cell(node)
    async with AsyncClient(network.url) as client, client.subscribe_events("DataAvailability") as blocks:
        spoiled_at = (await client.get_block_header()).number
        with trio.fail_after(DEADLINE_S):
            with ExitStack() as garbage:
                for blob_id in blobs:
                    garbage.enter_context(serving_garbage(peers, blob_id))
                opened = await next_event(blocks, lambda record: record.name == "AuditStarted"
                                          and record.event.node == node.account, after=spoiled_at)
                failed_first = f"audit {opened.event.audit_id}: cell {opened.event.cell_index} of blob"
                while not any(failed_first in line and "could not be recovered yet: trying again" in line
                              for line in node.log_path.read_text().splitlines()):
                    await trio.sleep(0.2)  # (a busy machine can show the node its audit blocks late)
            closed = await next_event(blocks, lambda record: record.name in ("AuditPassed", "Slashed")
                                      and record.event.audit_id == opened.event.audit_id)
    assert closed.name == "AuditPassed", node.log_tail()
