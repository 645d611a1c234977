"""The storage node's HTTP API against a real dev node: uploads checked against the chain, reads refused to
anyone not allowed, every class of bad input refused with nothing left behind, and a restart losing nothing.

Storage nodes run in the test's own trio loop (``StorageNode.run``), the chain is a real ``cairn node``
process; files are declared on chain by ``//Alice`` with RS(1, 1) so that two registered nodes suffice.
"""

from __future__ import annotations

import socket
import time
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import trio

from node.chain_spec import DEVNET_FILE_BANK
from runtime.keyring import Keypair
from sdk.chain import AsyncClient
from sdk.storage.wire import fragment_path
from storage_node.auth import body_hash, sign_request
from storage_node.crypto import new_data_key, seal_key, x25519_keypair_from
from storage_node.service.api import ApiLimits
from storage_node.service.daemon import NodeConfig, StorageNode
from tests.storage_node.service.chain import declare, start_storage_chain, ws_url
from tests.storage_node.service.coded import CodedFile, code_file

pytestmark = pytest.mark.long(1.3)  # minutes, about: started early (tests/conftest.py)

ALICE = Keypair.from_uri("//Alice")
BOB = Keypair.from_uri("//Bob")
NODE_KEYS = (Keypair.from_uri("//Storage0"), Keypair.from_uri("//Storage1"))
CAPACITY = 1 << 30
WAIT_S = 60


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    # the nodes run in each test's own loop, so nobody answers audits between tests: rounds rare enough that
    # none comes in the module's few minutes (audit drawing by bytes found a fragment to challenge more often,
    # and three misses in a row forced a node out)
    node = start_storage_chain(tmp_path_factory.mktemp("storage-api-chain"),
                               {"FileBank": {**DEVNET_FILE_BANK, "audit_period": 3_000}})
    yield node
    node.stop()


@pytest.fixture
async def client(chain):
    async with AsyncClient(ws_url(chain)) as client:
        yield client


@asynccontextmanager
async def running(client: AsyncClient, base: Path, *, min_free_disk: int = 0, max_reads: int = 64):
    """Both storage nodes, registered and serving: ``{account: (node, url)}``."""
    async with trio.open_nursery() as nursery:
        nodes = {}
        for index, keypair in enumerate(NODE_KEYS):
            node = StorageNode(client, keypair, NodeConfig(base / f"node{index}", capacity=CAPACITY,
                                                           stake=client.get_constant("StorageNodes", "MinStake"),
                                                           min_free_disk=min_free_disk, max_reads=max_reads,
                                                           confirm_delay=10 * WAIT_S))  # sent once idle
            port = await nursery.start(node.run)
            nodes[keypair.public] = (node, f"http://127.0.0.1:{port}")
        yield nodes
        nursery.cancel_scope.cancel()


async def declared(client: AsyncClient, *, size: int = 50_000, encrypted: bool = False,
                   embargoed: bool = False) -> CodedFile:
    segment_size = client.get_constant("FileBank", "SegmentSize")
    chunk_size = client.get_constant("FileBank", "ChunkSize")
    coded = code_file(bytes(range(256)) * (size // 256) + bytes(size % 256), ALICE.public,
                      segment_size=segment_size, k=1, m=1, chunk_size=chunk_size, encrypted=encrypted)
    await declare(client, ALICE, coded.manifest.encode(), embargoed=embargoed)
    return coded


def path_of(coded: CodedFile, segment: int, fragment: int) -> str:
    return fragment_path(coded.file_id, segment, fragment)


def signed(keypair: Keypair, method: str, path: str, body: bytes, node: bytes, *, at_ms: int | None = None) -> dict:
    stamp = int(time.time() * 1000) if at_ms is None else at_ms
    return sign_request(keypair, method, path, body_hash(body), stamp, node)


async def put(http: httpx.AsyncClient, url: str, node: bytes, coded: CodedFile, segment: int, fragment: int,
              *, body: bytes | None = None, signer: Keypair = ALICE, headers: dict | None = None) -> httpx.Response:
    path = path_of(coded, segment, fragment)
    body = coded.bodies[(segment, fragment)] if body is None else body
    return await http.put(url + path, content=body, headers=headers or signed(signer, "PUT", path, body, node))


async def placement(client: AsyncClient, coded: CodedFile) -> list[bytes]:
    return list(await client.query("FileBank", "Placements", [coded.file_id, 0]))


async def wait_confirmed(client: AsyncClient, coded: CodedFile) -> None:
    with trio.fail_after(WAIT_S):
        while not all(await client.query("FileBank", "Confirmed", [coded.file_id, 0]) or [False]):
            await trio.sleep(0.5)


async def raw_status(url: str, head: str) -> int:
    """Send a request head (what httpx will not send: a length with no body behind it); the status answered."""
    host, port = url.removeprefix("http://").split(":")
    with trio.fail_after(WAIT_S):
        stream = await trio.open_tcp_stream(host, int(port))
        async with stream:
            await stream.send_all(head.encode())
            answer = await stream.receive_some(4096)
    return int(answer.split(b" ", 2)[1])


def leftovers(node: StorageNode) -> list[Path]:
    return list((node.store.root / "tmp").iterdir())


async def test_upload_is_stored_served_and_confirmed(client, tmp_path):
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client)
        owners = await placement(client, coded)
        for fragment, account in enumerate(owners):
            node, url = nodes[account]
            response = await put(http, url, account, coded, 0, fragment)
            assert response.status_code == 201, response.text
            got = await http.get(url + path_of(coded, 0, fragment))  # public file: no signature needed
            assert got.status_code == 200 and got.content == coded.bodies[(0, fragment)]
        await wait_confirmed(client, coded)
        node, url = nodes[owners[0]]
        # the node counts its confirmation once its inclusion wait returns, a bit after the chain shows it
        with trio.fail_after(WAIT_S):
            while node.metrics.confirmations["ok"] < 1:
                await trio.sleep(0.1)
        health = (await http.get(url + "/v1/health")).json()
        assert health["fragments"] == 1 and health["used"] == len(coded.bodies[(0, 0)])
        metrics = (await http.get(url + "/metrics")).text
        assert 'cairn_storage_uploads_total{status="201"} 1' in metrics
        assert 'cairn_storage_confirmations_total{outcome="ok"} 1' in metrics


async def test_bad_uploads_are_refused_and_leave_nothing(client, tmp_path):
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client)
        owners = await placement(client, coded)
        account = owners[0]
        node, url = nodes[account]
        other = owners[1]
        body = coded.bodies[(0, 0)]
        path = path_of(coded, 0, 0)

        async def status(response_future) -> int:
            response = await response_future
            return response.status_code

        # path characters and malformed ids
        for bad in ("/v1/fragments/0x" + coded.file_id.hex() + "/0/..%2F1", "/v1/fragments/0xzz/0/0",
                    "/v1/fragments/0x" + coded.file_id.hex() + "/00/0"):
            assert await status(http.put(url + bad, content=b"x", headers=signed(ALICE, "PUT", bad, b"x", account))) == 400
        # a body over the largest any fragment may have: refused on its declared length
        huge = node.config.max_fragment_size * 2
        assert await raw_status(url, f"PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {huge}\r\n\r\n") == 413
        # longer than this fragment's body
        assert await status(put(http, url, account, coded, 0, 0, body=body + b"x")) == 413
        # a file the chain does not know
        unknown = code_file(b"never declared", ALICE.public, segment_size=coded.manifest.segment_size, k=1, m=1,
                            chunk_size=coded.manifest.chunk_size)
        assert await status(put(http, url, account, unknown, 0, 0)) == 404
        # a fragment placed on the other node
        assert await status(put(http, url, account, coded, 0, 1)) == 404
        # no signature; an expired one; one by another account; one claiming Alice but made by Bob
        assert await status(http.put(url + path, content=body)) == 401
        old = signed(ALICE, "PUT", path, body, account, at_ms=int(time.time() * 1000) - 10 * 60_000)
        assert await status(put(http, url, account, coded, 0, 0, headers=old)) == 401
        assert await status(put(http, url, account, coded, 0, 0, signer=BOB)) == 403
        forged = {**signed(BOB, "PUT", path, body, account), "cairn-account": "0x" + ALICE.public.hex()}
        assert await status(put(http, url, account, coded, 0, 0, headers=forged)) == 401
        # signed for the other node
        assert await status(put(http, url, account, coded, 0, 0, headers=signed(ALICE, "PUT", path, body, other))) == 401
        # a body other than the one whose hash the signature covers (the headers say it: checked at the body's end)
        wrong_bytes = body[:-1] + bytes([body[-1] ^ 1])
        signed_for_body = signed(ALICE, "PUT", path, body, account)
        assert await status(put(http, url, account, coded, 0, 0, body=wrong_bytes, headers=signed_for_body)) == 400
        # wrong roots; wrong bytes
        wrong_roots = body[:2] + bytes(32) + body[34:]
        assert await status(put(http, url, account, coded, 0, 0, body=wrong_roots)) == 409
        assert await status(put(http, url, account, coded, 0, 0, body=wrong_bytes)) == 409
        assert node.store.fragment_count == 0 and node.store.used == 0 and leftovers(node) == []
        # the right upload, then the same signed request again: a replay
        headers = signed(ALICE, "PUT", path, body, account)
        assert await status(put(http, url, account, coded, 0, 0, headers=headers)) == 201
        assert await status(put(http, url, account, coded, 0, 0, headers=headers)) == 401
        assert node.store.fragment_count == 1 and leftovers(node) == []


async def send_head(url: str, path: str, headers: dict, length: int, body_start: bytes = b"") -> trio.SocketStream:
    """A PUT's head and the first bytes of its body, and no more: the open connection, to read the answer from."""
    host, port = url.removeprefix("http://").split(":")
    stream = await trio.open_tcp_stream(host, int(port))
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    await stream.send_all(f"PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {length}\r\n{lines}\r\n".encode()
                          + body_start)
    return stream


async def answered_status(stream: trio.SocketStream) -> int:
    with trio.fail_after(WAIT_S):
        async with stream:
            return int((await stream.receive_some(4096)).split(b" ", 2)[1])


async def test_a_claim_by_another_account_is_refused_before_the_body_and_a_stalled_body_in_time(client, tmp_path,
                                                                                                   monkeypatch):
    """Nothing is reserved for a request that claims an account other than the file's owner (403), or claims
    the owner's with a signature it did not make (401): the node answers on its head, before any of the body.
    A body that stops coming is answered 408 at its deadline (1 s here), and leaves nothing."""
    monkeypatch.setattr(ApiLimits, "body_seconds", lambda limits, size: 1.0)
    async with running(client, tmp_path) as nodes:
        coded = await declared(client)
        account = (await placement(client, coded))[0]
        node, url = nodes[account]
        body, path = coded.bodies[(0, 0)], path_of(coded, 0, 0)
        bobs = await send_head(url, path, signed(BOB, "PUT", path, body, account), len(body))
        assert await answered_status(bobs) == 403
        forged = {**signed(BOB, "PUT", path, body, account), "cairn-account": "0x" + ALICE.public.hex()}
        assert await answered_status(await send_head(url, path, forged, len(body))) == 401
        unhashed = {name: value for name, value in signed(ALICE, "PUT", path, body, account).items()
                    if name != "cairn-body-hash"}
        assert await answered_status(await send_head(url, path, unhashed, len(body))) == 401
        stalled = await send_head(url, path, signed(ALICE, "PUT", path, body, account), len(body), body[:1000])
        assert await answered_status(stalled) == 408
        assert node.store.fragment_count == 0 and node.store.used == 0 and leftovers(node) == []


async def test_a_signature_fresh_when_the_head_arrived_is_not_refused_for_its_bodys_time(client, tmp_path):
    """A slow link's upload: signed 110 s before the node got its head (the window is 120 s), its body ends
    past the window (2 s past, or more). It used to be judged when the body ended, and refused as expired.
    (Signed 118 s before, a busy machine's connect and scheduling could take the 2 s left and the head itself
    arrive expired.)"""
    async with running(client, tmp_path) as nodes:
        coded = await declared(client)
        account = (await placement(client, coded))[0]
        node, url = nodes[account]
        body, path = coded.bodies[(0, 0)], path_of(coded, 0, 0)
        at_ms = int(time.time() * 1000) - 110_000
        headers = signed(ALICE, "PUT", path, body, account, at_ms=at_ms)
        stream = await send_head(url, path, headers, len(body), body[:1000])
        await trio.sleep(max(0.0, (at_ms + ApiLimits.auth_window_ms + 2_000) / 1000 - time.time()))
        await stream.send_all(body[1000:])
        assert await answered_status(stream) == 201
        assert node.store.fragment_count == 1


@pytest.mark.parametrize("kind", ["private", "public, embargoed"])
async def test_private_and_embargoed_fragments_are_served_only_to_the_owner(client, tmp_path, kind):
    """A public file under embargo (a job output before its provider's reveal) is served as a private one,
    grants aside: the provider that uploaded it, and nobody who could copy it."""
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client, encrypted=kind == "private", embargoed=kind != "private")
        account = (await placement(client, coded))[0]
        node, url = nodes[account]
        assert (await put(http, url, account, coded, 0, 0)).status_code == 201
        path = path_of(coded, 0, 0)
        refused = await http.get(url + path)
        assert refused.status_code == 401 and coded.bodies[(0, 0)][40:80] not in refused.content
        refused = await http.get(url + path, headers=signed(BOB, "GET", path, b"", account))
        assert refused.status_code == 403 and coded.bodies[(0, 0)][40:80] not in refused.content
        served = await http.get(url + path, headers=signed(ALICE, "GET", path, b"", account))
        assert served.status_code == 200 and served.content == coded.bodies[(0, 0)]


async def test_a_full_disk_answers_507_and_keeps_nothing(client, tmp_path):
    """The disk is "full" for a node told to keep more free than the disk has: the quota it enforces."""
    async with running(client, tmp_path, min_free_disk=1 << 62) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client, size=40_000)
        account = (await placement(client, coded))[0]
        node, url = nodes[account]
        response = await put(http, url, account, coded, 0, 0)
        assert response.status_code == 507, response.text
        assert node.store.fragment_count == 0 and leftovers(node) == []


async def test_a_restart_keeps_acknowledged_fragments_and_confirms_them(client, tmp_path):
    async with httpx.AsyncClient(timeout=30) as http:
        async with running(client, tmp_path) as nodes:
            coded = await declared(client)
            owners = await placement(client, coded)
            for fragment, account in enumerate(owners):
                assert (await put(http, nodes[account][1], account, coded, 0, fragment)).status_code == 201
            # stopped at once: the confirmations may not have been sent
        async with running(client, tmp_path) as nodes:
            for fragment, account in enumerate(owners):
                got = await http.get(nodes[account][1] + path_of(coded, 0, fragment))
                assert got.status_code == 200 and got.content == coded.bodies[(0, fragment)]
            await wait_confirmed(client, coded)


async def test_a_fragment_confirmed_already_does_not_hold_back_the_others_of_its_batch(client, tmp_path):
    """A client uploads a fragment again (its first answer timed out): the node stores it and queues it for
    confirmation with the file's other fresh fragment. The chain takes a confirmation batch whole or not at
    all, so the batch naming a confirmed fragment was refused, and the fresh one never confirmed."""
    segment_size = client.get_constant("FileBank", "SegmentSize")
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client, size=segment_size + 1000)  # two segments, a fragment of each per node
        account = (await placement(client, coded))[0]
        url = nodes[account][1]
        second = list(await client.query("FileBank", "Placements", [coded.file_id, 1])).index(account)

        async def confirmed(segment: int, fragment: int) -> bool:
            return (await client.query("FileBank", "Confirmed", [coded.file_id, segment]) or [False] * 2)[fragment]

        assert (await put(http, url, account, coded, 0, 0)).status_code == 201
        with trio.fail_after(WAIT_S):
            while not await confirmed(0, 0):
                await trio.sleep(0.2)
        async with trio.open_nursery() as nursery:  # one burst: one batch
            nursery.start_soon(put, http, url, account, coded, 0, 0)
            nursery.start_soon(put, http, url, account, coded, 1, second)
        with trio.fail_after(WAIT_S):
            while not await confirmed(1, second):
                await trio.sleep(0.2)


async def submit(client: AsyncClient, signer: Keypair, pallet: str, call: str, args: dict) -> None:
    receipt = await client.sign_and_submit(client.compose_call(pallet, call, args), signer, wait_for_inclusion=True)
    assert receipt.is_success, receipt.error_message


async def test_a_grantee_is_served_after_an_access_record_and_refused_after_revoke(client, tmp_path):
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client, encrypted=True)
        account = (await placement(client, coded))[0]
        url = nodes[account][1]
        assert (await put(http, url, account, coded, 0, 0)).status_code == 201
        path = path_of(coded, 0, 0)

        async def read_as_bob() -> int:
            return (await http.get(url + path, headers=signed(BOB, "GET", path, b"", account))).status_code

        _, bob_key = x25519_keypair_from(BOB)
        await submit(client, BOB, "StorageAccess", "register_key", {"key": bob_key})
        await submit(client, ALICE, "StorageAccess", "grant", {
            "file_id": coded.file_id, "grantee": BOB.public, "sealed_key": seal_key(new_data_key(), bob_key)})
        assert await read_as_bob() == 403  # a grant alone is not an access record
        await submit(client, BOB, "StorageAccess", "record_access", {"file_id": coded.file_id})
        assert await read_as_bob() == 200
        await submit(client, ALICE, "StorageAccess", "revoke", {"file_id": coded.file_id, "grantee": BOB.public})
        assert await read_as_bob() == 403

        # the owner records Bob's read with the grant: served with no record of Bob's own, until revoked
        grant = {"file_id": coded.file_id, "grantee": BOB.public, "sealed_key": seal_key(new_data_key(), bob_key)}
        await submit(client, ALICE, "StorageAccess", "grant_and_record", grant)
        assert await read_as_bob() == 200
        await submit(client, ALICE, "StorageAccess", "revoke", {"file_id": coded.file_id, "grantee": BOB.public})
        assert await read_as_bob() == 403
        await submit(client, ALICE, "StorageAccess", "grant", grant)
        assert await read_as_bob() == 403  # granted again, but the old record went with the revoke


async def test_fragments_of_a_deleted_file_are_dropped(client, tmp_path):
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client)
        for fragment, account in enumerate(await placement(client, coded)):
            assert (await put(http, nodes[account][1], account, coded, 0, fragment)).status_code == 201
        await wait_confirmed(client, coded)
        await submit(client, ALICE, "FileBank", "delete", {"file_id": coded.file_id})
        # (the store empties in a worker thread before the daemon counts the drop: wait for both)
        with trio.fail_after(WAIT_S):
            while not all(node.store.fragment_count == 0 and node.store.used == 0 and node.metrics.dropped == 1
                          for node, _ in nodes.values()):
                await trio.sleep(0.5)
        gone = await http.get(next(iter(nodes.values()))[1] + path_of(coded, 0, 0))
        assert gone.status_code == 404
        # pushed again once the deletion is handled (its placements outlive it a few blocks): refused, not kept
        account = (await placement(client, coded) or [None])[0] or next(iter(nodes))
        again = await put(http, nodes[account][1], account, coded, 0, 0)
        assert (again.status_code, again.json()["error"]) == (404, "unknown_file")
        assert all(node.store.fragment_count == 0 for node, _ in nodes.values())


async def test_a_fragment_whose_file_is_deleted_while_it_is_uploaded_is_not_kept(client, tmp_path):
    """The node drops a deleted file's fragments when the deletion is final: one whose upload was under way
    then was stored after the drop, and kept for good (no later event drops it)."""
    async with running(client, tmp_path) as nodes:
        coded = await declared(client)
        account = (await placement(client, coded))[0]
        node, url = nodes[account]
        body, path = coded.bodies[(0, 0)], path_of(coded, 0, 0)
        stream = await send_head(url, path, signed(ALICE, "PUT", path, body, account), len(body), body[:1000])
        drops = node.store.drops
        await submit(client, ALICE, "FileBank", "delete", {"file_id": coded.file_id})
        with trio.fail_after(WAIT_S):
            while node.store.drops == drops:  # the deletion is final, and the node has acted on it
                await trio.sleep(0.2)
        await stream.send_all(body[1000:])
        assert await answered_status(stream) == 409
        assert node.store.fragment_count == 0 and node.store.used == 0 and leftovers(node) == []


async def test_garbage_and_a_client_gone_mid_body_leave_nothing_and_the_node_serving(client, tmp_path):
    async with running(client, tmp_path) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client)
        account = (await placement(client, coded))[0]
        node, url = nodes[account]
        host, port = url.removeprefix("http://").split(":")
        body = coded.bodies[(0, 0)]
        path = path_of(coded, 0, 0)
        head = "".join(f"{name}: {value}\r\n" for name, value in signed(ALICE, "PUT", path, body, account).items())
        with trio.fail_after(WAIT_S):
            for request in (b"\x16\x03\x01 not http at all\r\n\r\n",
                            f"PUT {path} HTTP/1.1\r\nhost: x\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode()
                            + body[:len(body) // 2]):
                stream = await trio.open_tcp_stream(host, int(port))
                await stream.send_all(request)
                await stream.aclose()  # gone: mid-body for the second
            while node.metrics.uploads[400] < 1:  # the node saw the half body end
                await trio.sleep(0.1)
        assert node.store.fragment_count == 0 and leftovers(node) == []
        assert (await put(http, url, account, coded, 0, 0)).status_code == 201
        assert (await http.get(url + "/v1/health")).json()["fragments"] == 1


async def test_reads_past_the_limit_are_answered_busy_while_a_reader_stalls_and_the_node_serves_on(client, tmp_path):
    """A reader that never reads holds its read as long as it stays connected; past ``max_reads`` of them the
    node answers 503 rather than run out of file descriptors (and fail its proofs)."""
    async with running(client, tmp_path, max_reads=1) as nodes, httpx.AsyncClient(timeout=30) as http:
        coded = await declared(client, size=client.get_constant("FileBank", "SegmentSize"))  # more than a socket holds
        account = (await placement(client, coded))[0]
        _, url = nodes[account]
        assert (await put(http, url, account, coded, 0, 0)).status_code == 201
        host, port = url.removeprefix("http://").split(":")
        staller = socket.socket()
        staller.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # reads nothing: the node's send fills up
        staller.connect((host, int(port)))
        try:
            staller.sendall(f"GET {path_of(coded, 0, 0)} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            staller.setblocking(False)
            with trio.fail_after(WAIT_S):  # its answer has begun: the read is held
                while not _peek(staller):
                    await trio.sleep(0.05)
            busy = await http.get(url + path_of(coded, 0, 0))
            assert (busy.status_code, busy.json()["error"]) == (503, "busy")
            assert (await http.get(url + "/v1/health")).status_code == 200
        finally:
            staller.close()
        with trio.fail_after(WAIT_S):  # the stalled read ends with its connection
            while (got := await http.get(url + path_of(coded, 0, 0))).status_code != 200:
                await trio.sleep(0.1)
        assert got.content == coded.bodies[(0, 0)]


def _peek(sock: socket.socket) -> bool:
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
