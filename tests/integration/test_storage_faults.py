"""Storage faults with real processes: one dev validator, six ``cairn storage-node`` processes, the SDK's client.

- a fragment corrupted on disk → a download rejects the node's wrong bytes and still comes out exact → the
  next audit fails it → the node is slashed → a repair is ordered and executed by another node → the file is
  at full redundancy again, with no command from anyone;
- m storage nodes killed → the download is still exact;
- nodes down when an upload starts and restarted meanwhile → the upload completes;
- a node that leaves → its fragments are rebuilt elsewhere, then its stake is released, and it may come back;
- a node that never confirms (paused) → its fragments are reassigned and the upload completes (slow set).

The chain runs with short audit and repair periods (runtime parameters in its spec) so that each fault plays
out within a minute or two on a loaded machine; every wait has a deadline.
"""

from __future__ import annotations

import re
import signal
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from devnet.storage import corrupt_stored_fragment
from node.network.identity import NodeKey
from sdk.chain.follow import EventSubscription
from sdk.client import AsyncClient
from sdk.storage import TransactionFailed
from tests.integration.nodes import NodeProcess, wait_until
from tests.storage_node.service.chain import start_storage_chain, ws_url
from tests.storage_node.service.cluster import StorageNodeProcess, start_cluster

FAST_AUDITS = {
    "FileBank": {"audit_period": 4, "proof_deadline": 6, "confirm_deadline": 10, "repair_deadline": 20,
                 "challenges_per_audit": 16},
}
"""Audits every 4 blocks (8 s), proofs due 6 blocks later, repairs within 20 blocks: faults resolve in ~a minute."""
FAULT_TIMEOUT_S = 240
DATA = bytes(range(256)) * 4096 + b"tail"  # 1 MiB and 4 bytes: one segment


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    node = start_storage_chain(tmp_path_factory.mktemp("storage-faults-chain"), FAST_AUDITS)
    yield node
    node.stop()


@pytest.fixture(scope="module")
def cluster(chain, tmp_path_factory):
    nodes = start_cluster(ws_url(chain), tmp_path_factory.mktemp("storage-faults-nodes"), 6)
    yield nodes
    for node in nodes:
        node.stop()


@pytest.fixture
async def client(chain):
    async with AsyncClient(ws_url(chain), signer="//Alice") as client:
        yield client


async def download(client: AsyncClient, file_id: bytes, folder) -> bytes:
    out = folder / f"0x{file_id.hex()}.out"
    await client.storage.download(file_id, out)
    return out.read_bytes()


def storage_events(client: AsyncClient) -> EventSubscription:
    """Finalized storage events, from the finalized head when it is opened on: open it before the fault, so
    that events the fault causes at once (a download's rejected bytes) are not missed."""
    return client.subscribe_events(["FileBank", "StorageNodes"], finalized=True)


async def wait_for_events(blocks: EventSubscription, wanted: dict[str, object], timeout: float) -> dict[str, object]:
    """Follow ``blocks`` until each name in ``wanted`` was seen with ``wanted[name](event)`` true; the first
    matching event of each name."""
    seen: dict[str, object] = {}
    with trio.fail_after(timeout):
        async for block in blocks:
            for event in block.events:
                check = wanted.get(event.name)
                if check is not None and event.name not in seen and check(event.attributes):
                    seen[event.name] = event.attributes
            if len(seen) == len(wanted):
                return seen
    raise AssertionError("event subscription ended")


def node_of(cluster: list[StorageNodeProcess], account: bytes) -> StorageNodeProcess:
    return next(node for node in cluster if node.account == account)


async def test_a_corrupted_fragment_is_audited_slashed_and_repaired(client, cluster, tmp_path):
    """A private file: the repairer reads the other fragments as the segment's repairer, the nodes check it."""
    file_id = await client.storage.upload(DATA, private=True)
    placement = list(await client.query("FileBank", "Placements", [file_id, 0]))
    victim = node_of(cluster, placement[0])

    def of_victim(fields) -> bool:
        return fields.get("node") == victim.account

    async with storage_events(client) as blocks:  # the download's rejection may fail an audit at once
        corrupt_stored_fragment(victim.base_path)
        assert await download(client, file_id, tmp_path) == DATA  # the victim now serves wrong bytes: rejected
        seen = await wait_for_events(blocks, {
            "AuditFailed": of_victim,
            "NodeSlashed": of_victim,
            "RepairCompleted": lambda f: f["file_id"] == file_id and f["segment"] == 0 and f["fragment"] == 0,
        }, FAULT_TIMEOUT_S)
    repairer = seen["RepairCompleted"]["repairer"]
    assert repairer != victim.account and repairer not in placement

    after = list(await client.query("FileBank", "Placements", [file_id, 0]))
    assert after[0] == repairer and after[1:] == placement[1:]
    assert all(await client.query("FileBank", "Confirmed", [file_id, 0]))
    info = await client.query("FileBank", "Files", [file_id])
    assert info.healthy == info.width  # full redundancy again
    assert await download(client, file_id, tmp_path) == DATA


async def test_a_file_as_wide_as_the_network_has_a_corrupted_fragment_rebuilt_by_its_own_node(client, cluster,
                                                                                             tmp_path):
    """Every node holds a fragment of the segment: nobody else can take the order, so its node rebuilds it."""
    file_id = await client.storage.upload(DATA, private=False, k=4, m=2)
    try:
        await _rebuilt_by_its_own_node(client, cluster, tmp_path, file_id)
    finally:  # on every node: a node leaving later in this module could never hand its fragment on (no spare)
        await client.storage.delete(file_id)


async def _rebuilt_by_its_own_node(client, cluster, tmp_path, file_id: bytes) -> None:
    placement = list(await client.query("FileBank", "Placements", [file_id, 0]))
    assert sorted(placement) == sorted(node.account for node in cluster)
    victim = node_of(cluster, placement[0])
    async with storage_events(client) as blocks:
        corrupted = corrupt_stored_fragment(victim.base_path, file_id=file_id)
        seen = await wait_for_events(blocks, {
            "AuditFailed": lambda f: f["node"] == victim.account,
            "RepairCompleted": lambda f: f["file_id"] == file_id and f["segment"] == 0 and f["fragment"] == 0,
        }, FAULT_TIMEOUT_S)
    assert (seen["RepairCompleted"]["repairer"], seen["RepairCompleted"]["reward"]) == (victim.account, 0)
    assert list(await client.query("FileBank", "Placements", [file_id, 0])) == placement
    info = await client.query("FileBank", "Files", [file_id])
    assert info.healthy == info.width
    # the rebuilt fragment is good: with m others killed, the download needs it among its k
    killed = [node_of(cluster, account) for account in placement[1:info.m + 1]]
    for node in killed:
        node.kill()
    try:
        assert corrupted.exists() and await download(client, file_id, tmp_path) == DATA
    finally:
        for node in killed:
            node.spawn().wait_ready()


async def test_a_node_started_against_an_rpc_node_behind_drops_nothing_it_acknowledged(client, chain, cluster,
                                                                                         tmp_path):
    """Its start reconciles the store with the chain: an RPC node behind (synced, then cut off) does not know
    the file yet, and the node must not take that for a deletion (it would miss the audits of what it holds)."""
    spec = chain.base_path.parent / "spec.json"
    validator = f"/ip4/127.0.0.1/tcp/{chain.p2p_port}/p2p/" \
                f"{NodeKey.load_or_create(chain.base_path / 'network' / 'secret_ed25519').peer_id}"
    behind = NodeProcess(["--chain", str(spec), "--bootnodes", validator], tmp_path / "behind", 0, 0,
                         tmp_path / "behind.log").start()
    try:
        wait_until(lambda: behind.best() >= chain.best(), 60, "the full node synced")
        behind.stop()
        behind.args = ["--chain", str(spec)]  # no peers: its chain stays where it was
        behind.start()
        file_id = await client.storage.upload(DATA + b"behind", private=False)
        holder = node_of(cluster, (await client.query("FileBank", "Placements", [file_id, 0]))[0])
        held = [path for path in holder.fragment_files() if path.parent.name == file_id.hex()]
        holder.stop()
        lagging = replace(holder, chain_rpc=f"ws://127.0.0.1:{behind.rpc_port}").spawn()
        try:
            lagging.wait_ready()  # registered, reconciled
            assert [path for path in held if path.exists()] == held
        finally:
            lagging.stop()
            holder.spawn().wait_ready()
    finally:
        behind.stop()
    assert await download(client, file_id, tmp_path) == DATA + b"behind"


async def test_downloads_stay_exact_with_m_nodes_killed(client, cluster, tmp_path):
    file_id = await client.storage.upload(DATA, private=True)
    placement = list(await client.query("FileBank", "Placements", [file_id, 0]))
    info = await client.query("FileBank", "Files", [file_id])
    killed = [node_of(cluster, account) for account in placement[:info.m]]
    for node in killed:
        node.kill()
    try:
        assert await download(client, file_id, tmp_path) == DATA
    finally:
        for node in killed:
            node.spawn().wait_ready()


async def test_an_upload_completes_across_nodes_restarted_mid_upload(client, cluster, tmp_path):
    """Two of six nodes are down when the upload starts (so at least one holds a fragment of it) and come back
    a few seconds later: the client's retries reach them and nothing they acknowledged is lost."""
    down = cluster[:2]
    for node in down:
        node.kill()
    data = DATA + b"restarted"
    file_id = None
    async with trio.open_nursery() as nursery:
        async def upload() -> None:
            nonlocal file_id
            with trio.fail_after(FAULT_TIMEOUT_S):
                file_id = await client.storage.upload(data, private=False)

        nursery.start_soon(upload)
        await trio.sleep(3)
        for node in down:
            await trio.to_thread.run_sync(lambda node=node: node.spawn().wait_ready())
    assert file_id is not None
    info = await client.query("FileBank", "Files", [file_id])
    assert info.healthy == info.width
    assert await download(client, file_id, tmp_path) == data


async def test_a_node_that_leaves_has_its_fragments_rebuilt_then_its_stake_back_and_may_come_back(
        client, chain, cluster, tmp_path):
    """``cairn storage leave``: the node gets no new fragments, the chain rebuilds its fragments on other nodes
    while it still serves and answers audits, then releases its stake; its daemon tells its operator each step,
    and started again it registers anew. Leaving twice, or without a node, is refused."""
    file_id = await client.storage.upload(DATA, private=False)
    leaver = node_of(cluster, (await client.query("FileBank", "Placements", [file_id, 0]))[0])
    async with AsyncClient(ws_url(chain), signer=leaver.key) as operator, storage_events(client) as blocks:
        held = (await operator.query("System", "Account", [leaver.account])).data.reserved
        assert await operator.storage.leave() is False  # it holds fragments: they are rebuilt first
        (mine,) = [n for n in await operator.storage.nodes() if n.account == leaver.account]
        assert mine.status == "Exiting"
        with pytest.raises(TransactionFailed, match="NotActive"):
            await operator.storage.leave()
        seen = await wait_for_events(blocks, {"NodeExited": lambda f: f["node"] == leaver.account},
                                     FAULT_TIMEOUT_S)
        assert seen["NodeExited"]["released"] == held > 0
        assert (await operator.query("System", "Account", [leaver.account])).data.reserved == 0
    cairn = str(Path(sys.executable).parent / "cairn")
    alice = await trio.run_process([cairn, "storage", "leave", "--rpc", ws_url(chain)], capture_stdout=True,
                                   capture_stderr=True, check=False)  # Alice runs no storage node
    assert alice.returncode == 1 and b"StorageNodes.NotRegistered" in alice.stderr, alice.stderr
    placement = list(await client.query("FileBank", "Placements", [file_id, 0]))
    info = await client.query("FileBank", "Files", [file_id])
    assert leaver.account not in placement and info.healthy == info.width
    assert await download(client, file_id, tmp_path) == DATA
    with trio.fail_after(30):
        while "this storage node has left" not in leaver.log_path.read_text():
            await trio.sleep(0.5)
    assert "this storage node is leaving" in leaver.log_path.read_text()
    assert re.search(r"has left: [0-9.]+ CAIRN of its stake was released", leaver.log_path.read_text())
    leaver.stop()
    await trio.to_thread.run_sync(lambda: leaver.spawn().wait_ready())  # registers anew, for the tests after this
    assert leaver.account in [n.account for n in await client.storage.nodes() if n.status == "Active"]


@pytest.mark.slow
async def test_a_node_that_never_confirms_is_replaced_and_the_upload_completes(client, cluster, tmp_path):
    """A paused node takes no upload and confirms nothing. Five of the six nodes hold each file, so within a
    few uploads one places a fragment on it; that upload must still complete, the fragment held elsewhere
    (reassigned, or repaired from the four confirmed ones)."""
    paused = cluster[-1]
    paused.kill(signal.SIGSTOP)
    try:
        for attempt in range(4):
            data = DATA + bytes([attempt])
            with trio.fail_after(FAULT_TIMEOUT_S):
                file_id = await client.storage.upload(data, private=False)
            declared = await client.query("FileBank", "Files", [file_id])
            reassigned = await client.query("FileBank", "Placements", [file_id, 0])
            assert paused.account not in reassigned and declared.healthy == declared.width
            assert await download(client, file_id, tmp_path) == data
            if await _was_placed_on(client, file_id, paused.account):
                return
        pytest.fail("four uploads in a row placed nothing on the paused node (odds 1 in 1300)")
    finally:
        paused.kill(signal.SIGCONT)


async def _was_placed_on(client: AsyncClient, file_id: bytes, account: bytes) -> bool:
    """Whether the declaration of ``file_id`` placed a fragment on ``account`` (its ``FragmentsAssigned``)."""
    head = await client.get_block_header()
    for number in range(head.number, max(head.number - 300, 0), -1):
        for event in await client.get_events(await client.get_block_hash(number)):
            fields = event.attributes
            if event.name == "FragmentsAssigned" and fields["file_id"] == file_id:
                return account in fields["nodes"]
    raise AssertionError(f"no FragmentsAssigned for 0x{file_id.hex()} in the last 300 blocks")
