"""The DA layer end to end with real processes: a dev node, four DA nodes (``cairn da-node``) and the SDK.

A payload is submitted, attested and marked available; the cells each DA node serves are exactly those
``ckzg`` computes for the blob, and exactly its custody; 20 samples give a confidence of at least
1 - 10^-6 (and an RPC node that cannot prove what it calls final gets a typed error instead); the payload
comes back byte for byte, also when half the DA nodes withhold their cells and from any 64 cells of a blob;
and the ``cairn da`` commands do the same from a shell.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import trio

from da_layer import kzg
from da_layer.blobs import USABLE_BYTES_PER_BLOB, pack, unpack
from sdk.chain import InvalidProof
from sdk.chain.finality import MissingJustification
from sdk.client import Client
from sdk.da.api import DaApi
from sdk.da.chain import read_blob, read_custody
from tests.da_layer.service.network import da, pools, start_da_network  # noqa: F401 - fixtures
from tests.integration.nodes import wait_until
from tests.sdk.lying_node import LyingNode, proof_at_genesis, strip_justification

pytestmark = pytest.mark.long(1)  # minutes, about: started early (tests/conftest.py)

CAIRN = str(Path(sys.executable).parent / "cairn")


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    network = start_da_network(tmp_path_factory.mktemp("da-submit"))
    yield network
    network.stop()


@pytest.fixture(scope="module")
def payload():
    return os.urandom(USABLE_BYTES_PER_BLOB + 5000)  # two blobs, the second mostly padding


@pytest.fixture
async def submitted(da, payload, network):
    """The payload submitted once per module (the first test that asks submits it)."""
    if not hasattr(network, "refs"):
        network.refs = await da.submit(payload)
    return network.refs


async def test_submit_attests_and_marks_every_blob_available(da, submitted):
    assert len(submitted) == 2
    for ref in submitted:
        status = await da.status(ref)
        assert status.status == "Available" and status.submitter == da.signer.public
        assert len(status.node_set) == 4
    assert [(await da.status(ref)).length for ref in submitted] == [USABLE_BYTES_PER_BLOB, 5000]


async def test_nodes_serve_their_custody_cells_exactly_as_ckzg_computes_them(da, submitted, payload, network):
    blob = pack(payload)[0]
    cells, proofs = kzg.cells_and_proofs(blob)
    record = await read_blob(da.chain, submitted[0].blob_id)
    assert record.commitment == kzg.commitment(blob)
    custody = await read_custody(da.chain, submitted[0].blob_id, record)
    for process in network.nodes:
        position = custody.position_of(process.account)
        held = await da.peers.get_cells(process.url, submitted[0].blob_id)
        assert sorted(held) == list(custody.columns_of(position))
        assert all(cell.data == cells[i] and cell.proof == proofs[i] for i, cell in held.items())
        index = custody.columns_of(position)[-1]
        assert await da.peers.get_cell(process.url, submitted[0].blob_id, index) == held[index]


async def test_twenty_samples_give_one_in_a_million(da, submitted):
    report = await da.sample(submitted[0])
    assert report.available and report.samples == report.verified == 20 and report.failed == ()
    assert report.confidence >= 1 - 10**-6


@pytest.mark.parametrize("method, lie, error", [
    ("chain_getBlock", strip_justification, MissingJustification),
    ("state_getReadProof", proof_at_genesis, InvalidProof),
], ids=["unproven-head", "proof-of-another-root"])
async def test_a_lying_rpc_node_fails_sampling_instead_of_giving_a_confidence(network, pools, submitted, method, lie,
                                                                              error):
    async with LyingNode(network.url, {method: lie}) as client:
        api = DaApi(client, None, pool=pools.verify, encoder=pools.encode)
        try:
            with trio.fail_after(60), pytest.raises(error):
                await api.sample(submitted[0])
        finally:
            await api.peers.aclose()


async def test_get_rebuilds_the_exact_payload(da, submitted, payload):
    assert await da.get(submitted) == payload
    assert await da.get(submitted[1]) == payload[USABLE_BYTES_PER_BLOB:]


async def test_get_still_works_with_half_the_nodes_withholding(da, submitted, payload, network):
    for process in network.nodes[:2]:
        process.withhold(True)
    try:
        assert await da.get(submitted) == payload
    finally:
        for process in network.nodes[:2]:
            process.withhold(False)


async def test_any_64_cells_rebuild_the_blob(da, submitted, payload, network, pools):
    everything = {}
    for process in network.nodes:
        everything.update(await da.peers.get_cells(process.url, submitted[0].blob_id))
    assert len(everything) == kzg.CELLS_PER_BLOB
    for _ in range(3):
        chosen = random.sample(sorted(everything), kzg.CELLS_TO_RECOVER)
        rebuilt = await pools.verify.recover([everything[i] for i in chosen])
        blob = kzg.blob_from_cells([cell.data for cell in rebuilt])
        assert unpack([blob], USABLE_BYTES_PER_BLOB) == payload[:USABLE_BYTES_PER_BLOB]


def test_the_cli_round_trips_a_file(network, tmp_path):
    source = tmp_path / "data.bin"
    source.write_bytes(os.urandom(3000))
    rpc = ["--rpc", network.url]
    submitted = _cairn("da", "submit", str(source), *rpc)
    refs = submitted.stdout.split()
    assert len(refs) == 1 and refs[0].startswith("0x") and submitted.stdout == refs[0] + "\n"
    _cairn("da", "get", *refs, "-o", str(tmp_path / "copy.bin"), *rpc)
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    report = json.loads(_cairn("da", "sample", refs[0], "--samples", "12", "--json", *rpc).stdout)
    assert report["available"] and report["samples"] == 12 and report["confidence"] == 1 - 2**-12
    assert json.loads(_cairn("da", "status", refs[0], "--json", *rpc).stdout)["status"] == "Available"
    nodes = json.loads(_cairn("da", "nodes", "--json", *rpc).stdout)
    assert sorted(node["endpoint"] for node in nodes) == sorted(p.url for p in network.nodes)


def test_the_cli_reads_standard_input_and_writes_standard_output(network):
    """``-`` is standard input for ``da submit`` and standard output for ``da get -o``, as for ``storage put`` and
    ``get`` (``da get -o -`` wrote a file named ``-``); standard input over one submission's size is refused
    before anything is sent."""
    data = os.urandom(5000)
    rpc = ["--rpc", network.url]
    submitted = subprocess.run([CAIRN, "da", "submit", "-", *rpc], input=data, capture_output=True, timeout=300)
    assert submitted.returncode == 0, submitted.stderr
    got = subprocess.run([CAIRN, "da", "get", *submitted.stdout.split(), "-o", "-", *rpc], capture_output=True,
                         timeout=300)
    assert got.returncode == 0 and got.stdout == data, got.stderr
    too_big = subprocess.run([CAIRN, "da", "submit", "-", *rpc], input=bytes(2 ** 26), capture_output=True,
                             timeout=300)
    assert too_big.returncode == 2 and too_big.stdout == b""
    assert b"standard input has more than 65011712 bytes" in too_big.stderr


def test_the_cli_names_unknown_blobs(network):
    result = _cairn("da", "status", "0x" + "cd" * 32, "--rpc", network.url, check=False)
    assert result.returncode == 1 and "UnknownBlob" in result.stderr and result.stdout == ""


def _connected(pid: int, ports: set[int]) -> bool:
    """Whether process ``pid`` holds an established TCP connection to one of ``ports`` (the kernel completes a
    connection to a paused process's listening socket)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == "01" and inode in inodes and int(remote.rsplit(":", 1)[1], 16) in ports:  # 01: ESTABLISHED
                return True
    return False


def _cairn(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([CAIRN, *args], capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr
    return result


def test_a_submission_stopped_once_the_chain_has_its_blob_names_it(network, tmp_path):
    """Last (it pauses every DA node): Ctrl-C while the cells are pushed left a blob on chain whose fee burns unless
    it is attested, under an id printed nowhere. The nodes are paused so that the push waits for them. The Ctrl-C
    goes to the command's whole process group, as a terminal sends it: its KZG workers leave it to the command
    (each printed a KeyboardInterrupt traceback)."""
    with Client(network.url) as client:
        known = {blob["id"] for blob in client.rpc_request("da_blobs", [None, 500])["items"]}
    payload = tmp_path / "payload.bin"
    payload.write_bytes(os.urandom(3000))
    submitting = None
    try:
        for node in network.nodes:
            os.killpg(node.process.pid, signal.SIGSTOP)
        submitting = subprocess.Popen([CAIRN, "da", "submit", str(payload), "--rpc", network.url],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        with Client(network.url) as client:
            new = wait_until(lambda: [blob["id"] for blob in client.rpc_request("da_blobs", [None, 500])["items"]
                                      if blob["id"] not in known], 120, "the blob on chain")
        # the command reads the blob's custody once its inclusion wait returns, a bit after the chain shows the
        # blob, and only then pushes: a connection of its own to a (paused) node says it holds the blob's id
        ports = {node.port for node in network.nodes}

        def pushing() -> bool:
            assert submitting.poll() is None, submitting.communicate()
            return _connected(submitting.pid, ports)

        wait_until(pushing, 120, "the command connected to a DA node", interval=0.1)
        os.killpg(submitting.pid, signal.SIGINT)
        out, err = submitting.communicate(timeout=60)
    finally:
        if submitting is not None and submitting.poll() is None:
            os.killpg(submitting.pid, signal.SIGKILL)
        for node in network.nodes:
            os.killpg(node.process.pid, signal.SIGCONT)
    assert submitting.returncode != 0 and out == b""
    assert b"Aborted!" in err and b"NoQuorum" not in err and b"Traceback" not in err, err
    assert f"blob {new[0]} was submitted and not attested".encode() in err, err
