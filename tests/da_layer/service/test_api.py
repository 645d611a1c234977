"""The DA node's HTTP API against garbage: every bad request gets its typed JSON error and changes nothing.

One real DA node (``//Bob``, the only member of every blob's node set, so it keeps all 128 columns) on a real
dev node; requests are raw ``httpx`` calls, as a hostile client would send them.
"""

from __future__ import annotations

import os

import httpx
import pytest

from da_layer.blobs import pack
from da_layer.kzg import BYTES_PER_CELL, BYTES_PER_PROOF
from sdk.da.wire import CELL_RECORD, MAX_CELL_SET, Cell, encode_cells
from tests.da_layer.service.network import da, pools, start_da_network  # noqa: F401 - fixtures

UNKNOWN = "0x" + "ee" * 32


@pytest.fixture(scope="module")
def network(tmp_path_factory):
    network = start_da_network(tmp_path_factory.mktemp("da-api"), count=1)
    yield network
    network.stop()


@pytest.fixture
async def http(network):
    async with httpx.AsyncClient(base_url=network.nodes[0].url, timeout=30) as client:
        yield client


@pytest.fixture
async def pending(da):
    """A blob on chain whose cells nobody has been given yet, and its encoding."""
    submitter = da.submitter
    encoded = await submitter.encode(pack(os.urandom(4000))[0])
    custody = await submitter.post(encoded.commitment, 4000, 0)
    return custody, encoded


def assert_error(response: httpx.Response, status: int, kind: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == kind and response.json()["message"]


@pytest.mark.parametrize("method, path, status, kind", [
    ("GET", f"/v1/blobs/{UNKNOWN}/cells/3", 404, "UnknownBlob"),
    ("GET", f"/v1/blobs/{UNKNOWN}/cells", 404, "UnknownBlob"),
    ("GET", "/v1/blobs/0x1234/cells/3", 400, "Malformed"),
    ("GET", "/v1/blobs/..%2F..%2Fetc/cells/3", 404, "NotFound"),
    ("GET", "/v1/blobs/" + "0x" + "zz" * 32 + "/cells", 400, "Malformed"),
    ("GET", f"/v1/blobs/{UNKNOWN}/cells/128x", 400, "Malformed"),
    ("GET", f"/v1/blobs/{UNKNOWN}/cells/-1", 400, "Malformed"),
    ("GET", f"/v1/blobs/{UNKNOWN}/cells/99999", 400, "Malformed"),
    ("GET", f"/v1/blobs/{UNKNOWN}/cells/%C2%B2", 400, "Malformed"),  # a digit to str.isdigit, not to int()
    ("DELETE", f"/v1/blobs/{UNKNOWN}/cells", 405, "MethodNotAllowed"),
    ("POST", "/v1/health", 405, "MethodNotAllowed"),
    ("GET", "/v2/anything", 404, "NotFound"),
    ("GET", "/", 404, "NotFound"),
])
async def test_bad_paths_and_methods(http, method, path, status, kind):
    assert_error(await http.request(method, path), status, kind)


async def test_a_cell_index_past_the_blob_is_malformed(http, da):
    refs = await da.submit(b"x" * 100)
    assert_error(await http.get(f"/v1/blobs/{refs[0]}/cells/128"), 400, "Malformed")
    assert (await http.get(f"/v1/blobs/{refs[0]}/cells/127")).status_code == 200


@pytest.mark.parametrize("body", [b"", b"\x01", b"garbage!", b"\x01\x00" + bytes(CELL_RECORD - 1)])
async def test_garbage_bodies_are_malformed(http, pending, body):
    custody, _ = pending
    assert_error(await http.put(f"/v1/blobs/0x{custody.blob_id.hex()}/cells", content=body), 400, "Malformed")


async def test_oversized_bodies_are_refused_before_they_are_read(http, pending):
    custody, _ = pending
    path = f"/v1/blobs/0x{custody.blob_id.hex()}/cells"
    assert_error(await http.put(path, content=bytes(MAX_CELL_SET + 1)), 413, "TooLarge")

    async def stream():  # no Content-Length: cut off once it passes the limit
        for _ in range(MAX_CELL_SET // 65536 + 2):
            yield bytes(65536)

    try:
        assert_error(await http.put(path, content=stream()), 413, "TooLarge")
    except httpx.RemoteProtocolError:
        # The node answers 413 and closes while the client is still sending: closing a socket with unread bytes
        # resets the connection, and the reset may reach the client before it has read the 413. Either way the
        # node refused the body without reading it; what it must never do is take it (any other answer fails).
        pass


async def test_cells_of_a_blob_the_chain_does_not_know(http, pending):
    _, encoded = pending
    assert_error(await http.put(f"/v1/blobs/{UNKNOWN}/cells", content=encode_cells(encoded.cells)), 404, "UnknownBlob")


async def test_an_incomplete_custody_gets_no_signature_and_nothing_is_kept(http, pending):
    custody, encoded = pending
    path = f"/v1/blobs/0x{custody.blob_id.hex()}/cells"
    assert_error(await http.put(path, content=encode_cells(encoded.cells[:100])), 409, "IncompleteCustody")
    assert_error(await http.get(path), 404, "UnknownBlob")


@pytest.mark.parametrize("spoil, index, status, kind", [
    # field elements past the BLS modulus: in the extension, ckzg refuses them; in the blob's own cells, so
    # does the layout (each element's first byte is zero), checked first as it is cheaper
    (lambda cell: Cell(cell.index, b"\xff" * BYTES_PER_CELL, cell.proof), 70, 422, "InvalidProof"),
    (lambda cell: Cell(cell.index, b"\xff" * BYTES_PER_CELL, cell.proof), 7, 422, "BadLayout"),
    (lambda cell: Cell(cell.index, cell.data, b"\xff" * BYTES_PER_PROOF), 7, 422, "InvalidProof"),  # no G1 point
], ids=["non-canonical-extension-cell", "non-canonical-blob-cell", "proof-not-a-point"])
async def test_cells_that_are_not_even_cells_get_no_signature_and_nothing_is_kept(http, pending, spoil, index, status,
                                                                                  kind):
    custody, encoded = pending
    path = f"/v1/blobs/0x{custody.blob_id.hex()}/cells"
    cells = [spoil(cell) if cell.index == index else cell for cell in encoded.cells]
    assert_error(await http.put(path, content=encode_cells(cells)), status, kind)
    assert_error(await http.get(path), 404, "UnknownBlob")


async def test_cells_carrying_more_than_the_recorded_length_get_no_signature_and_nothing_is_kept(http, da):
    """The fee is per recorded byte: a blob recording 100 bytes whose cells hold 4,000 is refused by the
    custodians of the cells holding the unpaid bytes (here the one node, custodian of every cell)."""
    submitter = da.submitter
    encoded = await submitter.encode(pack(os.urandom(4000))[0])
    custody = await submitter.post(encoded.commitment, 100, 0)
    path = f"/v1/blobs/0x{custody.blob_id.hex()}/cells"
    answer = await http.put(path, content=encode_cells(encoded.cells))
    assert_error(answer, 422, "BadLayout")
    assert "cell 0" in answer.json()["message"] and "past the blob's 100 bytes" in answer.json()["message"]
    assert_error(await http.get(path), 404, "UnknownBlob")


async def test_a_complete_custody_is_signed_and_served(http, pending, network):
    custody, encoded = pending
    path = f"/v1/blobs/0x{custody.blob_id.hex()}/cells"
    answer = await http.put(path, content=encode_cells(encoded.cells))
    assert answer.status_code == 200 and len(bytes.fromhex(answer.json()["signature"][2:])) == 96
    assert (await http.get(path)).content == encode_cells(encoded.cells)
    assert (await http.get(path + "?indices=90,3,17")).content == encode_cells([encoded.cells[i] for i in (3, 17, 90)])
    for query in ("indices=128", "indices=", "indices=1,,2", "index=1", "indices=1&x=2", "indices=-1"):
        assert_error(await http.get(f"{path}?{query}"), 400, "Malformed")
    network.nodes[0].withhold(True)
    try:
        assert_error(await http.get(path), 503, "Withholding")
        assert_error(await http.get(path + "/0"), 503, "Withholding")
    finally:
        network.nodes[0].withhold(False)


async def test_health_and_metrics(http):
    health = (await http.get("/v1/health")).json()
    assert health["withholding"] is False and health["account"].startswith("5")
    metrics = (await http.get("/metrics")).text
    assert "cairn_da_cells_received_total" in metrics
    assert 'cairn_da_requests_refused_total{kind="' in metrics
