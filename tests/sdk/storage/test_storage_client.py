"""``client.storage`` against a real network: a dev validator and six storage node processes.

The chain uses 64 KiB segments, so a many-segment file is a few hundred KiB. Tests that take nodes down run
last in the module: the network is shared.
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import signal
import subprocess
import sys
import time

import anyio
import pytest
from click.testing import CliRunner

from runtime.keyring import Keypair
from sdk.chain import BadArgument
from sdk.cli import main
from sdk.client import AsyncClient, Client
from sdk.storage import ledger as ledger_module
from sdk.storage import (AccessDenied, DownloadFailed, FileNotFound, NoEncryptionKey, NoSigner, Progress,
                         PublicFileCache, SourceChanged)
from sdk.storage.nodes import NodeAddress, NodeError, NodeHttp
from sdk.storage.wire import BadFragment, body_length, check_fragment_body, fragment_path
from tests.integration.nodes import killed_output
from tests.sdk.storage.network import StorageNetwork, start_network

pytestmark = pytest.mark.long(1.2)  # minutes, about: started early (tests/conftest.py)

SEGMENT = 64 * 1024
CONFIRM_DEADLINE = 30
"""Blocks before the chain replaces a fragment nobody confirmed (60 s): an upload past a dead node waits this
long, and a live node confirms well within it even on a loaded machine."""
DEADLINE = 240


@pytest.fixture(scope="module")
def network(tmp_path_factory) -> StorageNetwork:
    params = {"FileBank": {"segment_size": SEGMENT, "confirm_deadline": CONFIRM_DEADLINE}}
    network = start_network(tmp_path_factory.mktemp("storage-network"), params)
    yield network
    network.stop()


@pytest.fixture
async def alice(network):
    async with AsyncClient(network.url, signer="//Alice") as client:
        yield client


async def download(client: AsyncClient, file_id: bytes) -> bytes:
    out = io.BytesIO()
    await client.storage.download(file_id, out)
    return out.getvalue()


async def test_round_trips_of_public_and_private_files(alice):
    sizes = {"empty": 0, "one byte": 1, "one segment": SEGMENT, "many segments": 5 * SEGMENT + 1234}
    files = {(name, private): os.urandom(size) for name, size in sizes.items() for private in (True, False)}
    ids: dict[tuple[str, bool], bytes] = {}
    reports: list[Progress] = []

    async def store(key: tuple[str, bool]) -> None:
        ids[key] = await alice.storage.upload(files[key], private=key[1], progress=reports.append)

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as group:  # concurrent uploads: one signer, many transactions
            for key in files:
                group.start_soon(store, key)
        for key, data in files.items():
            assert await download(alice, ids[key]) == data, key
    for (name, private), file_id in ids.items():
        info = await alice.storage.info(file_id)
        assert (info.status, info.size, info.encrypted) == ("Active", sizes[name], private)
        assert len(info.fragments) == info.segment_count * (info.k + info.m)
        assert all(f.healthy for f in info.fragments)
    assert {p.stage for p in reports} >= {"encode", "declare", "push", "activate"}
    assert {p.file_id for p in reports if p.stage in ("push", "activate")} <= set(ids.values())  # once declared
    assert all(p.file_id is None for p in reports if p.stage == "encode")
    listed = {f.file_id for f in await alice.storage.ls()}
    assert set(ids.values()) <= listed


async def test_uploads_from_paths_and_streams_and_downloads_to_paths(alice, tmp_path):
    data = os.urandom(2 * SEGMENT + 5)
    path = tmp_path / "in.bin"
    path.write_bytes(data)
    with anyio.fail_after(DEADLINE):
        from_path = await alice.storage.upload(path)
        from_stream = await alice.storage.upload(io.BytesIO(data), private=False)
        for file_id in (from_path, from_stream):
            out = tmp_path / f"out-{file_id.hex()[:8]}"
            await alice.storage.download(file_id, out)
            assert out.read_bytes() == data
            assert not out.with_name(out.name + ".part").exists()


async def test_a_public_file_s_id_is_known_before_its_upload(alice, tmp_path):
    """A federated round's participant commits to its update's id before anything of it leaves its machine:
    the upload with the same salt stores the file under that very id, from bytes or from a path."""
    data = os.urandom(SEGMENT + 7)
    path = tmp_path / "update.bin"
    path.write_bytes(data)
    with anyio.fail_after(DEADLINE):
        for source, salt in ((data, os.urandom(16)), (path, os.urandom(16))):
            planned = await alice.storage.planned_id(source, salt=salt)
            assert planned not in {summary.file_id for summary in await alice.storage.ls()}  # nothing declared
            assert await alice.storage.upload(source, private=False, salt=salt) == planned
        with pytest.raises(BadArgument, match="bytes or a path"):
            await alice.storage.planned_id(io.BytesIO(data), salt=bytes(16))



async def test_a_private_file_sealed_under_a_given_key_and_salt_is_the_same_ciphertext_whoever_stores_it(
        alice, network):
    """How two compute providers' copies of one private output compare on chain: sealed under the key and salt
    ``output_seal`` derives, they are the same ciphertext, so their files have the same content digest; a
    random key gives another."""
    data = os.urandom(SEGMENT + 7)
    key, salt = os.urandom(32), os.urandom(16)
    with anyio.fail_after(DEADLINE):
        async with AsyncClient(network.url, signer="//Bob") as bob:
            copies = [await client.storage.upload(data, data_key=key, salt=salt) for client in (alice, bob)]
            assert await alice.storage.upload(data, data_key=key, salt=salt) == copies[0]  # tried again: the same
            copies.append(await bob.storage.upload(data, salt=salt))
            contents = [(await alice.query("FileBank", "Files", [file_id])).content for file_id in copies]
            assert contents[0] == contents[1] != contents[2] and copies[0] != copies[1]
            assert await download(bob, copies[1]) == data
        for misuse in (dict(private=False, data_key=key), dict(data_key=key[:16])):
            with pytest.raises(BadArgument, match="a data key is for a private file"):
                await alice.storage.upload(data, **misuse)


async def test_an_upload_of_a_fixed_salt_tried_again_takes_up_the_declaration_it_left(alice):
    """A compute provider's sealed output or a federated update has a fixed salt (and key), so its id is fixed:
    tried again after a lost connection or a restart, the upload found its own declaration and failed on it
    (FileExists) until the job's deadline, and the provider was slashed. It now pushes the fragments again
    (a declaration left pending) or returns at once (one active)."""
    data, salt = os.urandom(64 * SEGMENT), os.urandom(16)
    planned = await alice.storage.planned_id(data, salt=salt)
    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as group:
            group.start_soon(functools.partial(alice.storage.upload, data, private=False, salt=salt))
            while (record := await alice.query("FileBank", "Files", [planned])) is None:
                await anyio.sleep(0.05)
            group.cancel_scope.cancel()  # declared, not active: its confirmations come a block later at least
        assert record.status.name == "Pending"
        assert await alice.storage.upload(data, private=False, salt=salt) == planned
        assert (await alice.query("FileBank", "Files", [planned])).status.name == "Active"
        assert await alice.storage.upload(data, private=False, salt=salt) == planned  # active: nothing to do
        assert await download(alice, planned) == data

async def test_a_node_serving_wrong_bytes_is_rejected_and_another_serves(alice, network):
    data = os.urandom(3 * SEGMENT)
    with anyio.fail_after(DEADLINE):
        file_id = await alice.storage.upload(data, private=False)
        info = await alice.storage.info(file_id)
        liar = network.node_of(info.fragments[0].node)  # holds data fragment 0 of segment 0: asked first
        for stored in liar.fragment_files():
            if stored.parent.name == file_id.hex():
                body = bytearray(stored.read_bytes())
                body[-100:] = bytes(b ^ 0xFF for b in body[-100:])
                stored.write_bytes(bytes(body))
        manifest = (await alice.storage.ledger.file(file_id)).manifest
        async with NodeHttp(None) as http:  # the liar does serve the wrong bytes ...
            served = await http.get(NodeAddress(info.fragments[0].node, liar.url), fragment_path(file_id, 0, 0),
                                    body_length(5, manifest.fragment_size(0)), signed=False)
        with pytest.raises(BadFragment):
            check_fragment_body(served, fragment=0, fragment_count=5, fragment_size=manifest.fragment_size(0),
                                chunk_size=manifest.chunk_size, expected_segment_root=manifest.segment_roots[0])
        assert await download(alice, file_id) == data  # ... and the download is exact anyway


async def test_private_reads_need_a_grant_and_an_access_record(alice, network):
    data = os.urandom(SEGMENT + 7)
    async with AsyncClient(network.url, signer="//Bob") as bob, \
            AsyncClient(network.url, signer="//Charlie") as charlie:
        with anyio.fail_after(DEADLINE):
            file_id = await alice.storage.upload(data)
            info = await alice.storage.info(file_id)
            holder = NodeAddress(info.fragments[0].node, network.node_of(info.fragments[0].node).url)
            expected = body_length(info.k + info.m, (await alice.storage.ledger.file(file_id)).manifest.fragment_size(0))

            with pytest.raises(AccessDenied):  # no grant: the SDK refuses before asking anyone ...
                await download(charlie, file_id)
            async with NodeHttp(Keypair.from_uri("//Charlie")) as http:  # ... and a node refuses a signed read
                with pytest.raises(NodeError) as refused:
                    await http.get(holder, fragment_path(file_id, 0, 0), expected, signed=True)
            assert refused.value.status == 403

            with pytest.raises(NoEncryptionKey):
                await alice.storage.grant(file_id, Keypair.from_uri("//Charlie").public)
            await bob.storage.register_key()
            await alice.storage.grant(file_id, Keypair.from_uri("//Bob").public)
            assert await download(bob, file_id) == data
            assert await download(bob, file_id) == data
            log = await alice.storage.access_log(file_id)
            assert [record.account for record in log] == [Keypair.from_uri("//Bob").public] * 2
            assert [record.index for record in log] == [0, 1]
            assert log[0].block <= log[1].block

            await alice.storage.revoke(file_id, Keypair.from_uri("//Bob").public)
            with pytest.raises(AccessDenied):
                await download(bob, file_id)
            with pytest.raises(AccessDenied, match="NotFileOwner"):  # the chain's refusal, typed as a read's is
                await bob.storage.delete(file_id)
            async with NodeHttp(Keypair.from_uri("//Bob")) as http:  # the record is still fresh: the grant is gone
                with pytest.raises(NodeError) as refused:
                    await http.get(holder, fragment_path(file_id, 0, 0), expected, signed=True)
            assert refused.value.status == 403
            assert len(await alice.storage.access_log(file_id)) == 2

            await alice.storage.delete(file_id)  # the log outlives the file
            with pytest.raises(FileNotFound):
                await alice.storage.info(file_id)
            assert await alice.storage.access_log(file_id) == log


async def test_a_public_file_under_embargo_is_served_to_its_owner_only(alice, network):
    """A job's public output before its job ends: the owner's download signs its requests (a public file's
    were not), anyone else's is refused by every node, no bytes served."""
    data = os.urandom(SEGMENT + 7)
    async with AsyncClient(network.url, signer="//Bob") as bob:
        with anyio.fail_after(DEADLINE):
            file_id = await alice.storage.upload(data, private=False, embargoed=True)
            assert await bob.storage.ledger.embargoed(file_id)
            assert await download(alice, file_id) == data
            with pytest.raises(DownloadFailed) as refused:
                await download(bob, file_id)
    assert all("401" in reason or "403" in reason for reason in refused.value.reasons.values())


async def test_a_read_recorded_with_the_grant_spares_one_download_its_own_record(alice, network):
    """Bob as a reader of Alice's upload: granted with his read recorded in the declaration's block, so his
    first download signs nothing (the log's entry is Alice's, made for him) and his second records its own;
    ``grant_all`` does the same for a file already stored. A reader with no key refuses the upload before
    anything is declared."""
    alice_account, bob_account = Keypair.from_uri("//Alice").public, Keypair.from_uri("//Bob").public
    data = os.urandom(SEGMENT + 7)
    async with AsyncClient(network.url, signer="//Bob") as bob:
        with anyio.fail_after(DEADLINE):
            await bob.storage.register_key()
            file_id = await alice.storage.upload(data, readers=[bob_account])
            assert [(r.account, r.recorder) for r in await alice.storage.access_log(file_id)] == [
                (bob_account, alice_account)]
            nonce = await bob.get_account_nonce(bob_account)
            assert await download(bob, file_id) == data
            assert await bob.get_account_nonce(bob_account) == nonce  # no transaction of Bob's
            assert len(await alice.storage.access_log(file_id)) == 1
            assert await download(bob, file_id) == data
            assert [(r.account, r.recorder) for r in await alice.storage.access_log(file_id)] == [
                (bob_account, alice_account), (bob_account, bob_account)]

            stored = await alice.storage.upload(data)
            await alice.storage.grant_all([(stored, bob_account)], record_access=True)
            assert await download(bob, stored) == data
            assert [r.recorder for r in await alice.storage.access_log(stored)] == [alice_account]

            before = await alice.storage.ls()
            with pytest.raises(NoEncryptionKey):
                await alice.storage.upload(data, readers=[Keypair.from_uri("//Charlie").public])
            assert await alice.storage.ls() == before


class ChangingFile(io.BytesIO):
    """A file someone rewrites while it is uploaded: once read through, it reads back other bytes."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.unread = len(data)

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if self.unread <= 0:
            return bytes(b ^ 0x5A for b in data)
        self.unread -= len(data)
        return data


async def test_a_file_cache_serves_public_files_again_without_the_network_and_never_keeps_private_ones(
        network, tmp_path, monkeypatch):
    cache = PublicFileCache(tmp_path / "cache", 16 * SEGMENT)
    public_data, private_data = os.urandom(3 * SEGMENT + 5), os.urandom(SEGMENT + 1)
    async with AsyncClient(network.url, signer="//Alice", file_cache=cache) as client:
        with anyio.fail_after(DEADLINE):
            public = await client.storage.upload(public_data, private=False)
            private = await client.storage.upload(private_data)
            outs = [io.BytesIO(), io.BytesIO()]
            async with anyio.create_task_group() as group:  # at once: one fetches, the other waits for it and hits
                for out in outs:
                    group.start_soon(client.storage.download, public, out)
            assert [out.getvalue() for out in outs] == [public_data] * 2
            assert (cache.hits, cache.misses) == (1, 1)

            def no_network(*_: object, **__: object) -> None:
                raise AssertionError("a cached public file read the chain or a node")

            with monkeypatch.context() as patched:
                patched.setattr(client.storage.ledger, "file", no_network)
                patched.setattr(client.storage._http, "get", no_network)
                await client.storage.download(public, tmp_path / "copy.bin")
            assert (tmp_path / "copy.bin").read_bytes() == public_data
            assert not (tmp_path / "copy.bin.part").exists()

            for _ in range(2):
                assert await download(client, private) == private_data
            assert private not in cache
            assert [entry.name[:64] for entry in cache.folder.iterdir()] == [public.hex()]

            (entry,) = cache.folder.iterdir()
            body = bytearray(entry.read_bytes())
            body[SEGMENT] ^= 1
            entry.write_bytes(bytes(body))
            assert await download(client, public) == public_data  # fetched again, and kept again
            assert await download(client, public) == public_data
            assert cache.hits == 3 and public in cache


async def test_a_source_that_changes_between_the_passes_is_refused(alice):
    with anyio.fail_after(DEADLINE), pytest.raises(SourceChanged):
        await alice.storage.upload(ChangingFile(os.urandom(2 * SEGMENT)), private=False)


async def test_unknown_files_and_bad_ids_are_typed_errors(alice):
    with pytest.raises(FileNotFound):
        await alice.storage.info(bytes(32))
    with pytest.raises(FileNotFound):
        await download(alice, "0x" + "11" * 32)
    with pytest.raises(FileNotFound):  # no file and no read: a mistyped id, not an unread file
        await alice.storage.access_log("0x" + "22" * 32)
    bob = Keypair.from_uri("//Bob").public
    for change in (alice.storage.delete, functools.partial(alice.storage.renew, days=1),
                   functools.partial(alice.storage.revoke, account=bob)):  # the chain's refusals, typed
        with pytest.raises(FileNotFound, match="no file 0x3333"):
            await change("0x" + "33" * 32)
    with pytest.raises(BadArgument):
        await alice.storage.info("0x1234")


async def test_misused_arguments_are_refused_before_any_transfer(alice, network, tmp_path):
    """A folder as a download's target, or a file in a missing folder (refused before a byte is fetched, so no
    .part is left), a grant of a public file (there is nothing to grant), a source that is no file: each one
    BadArgument."""
    with anyio.fail_after(DEADLINE):
        file_id = await alice.storage.upload(b"anyone may read this", private=False)
        with pytest.raises(BadArgument, match="is a folder"):
            await alice.storage.download(file_id, tmp_path)
        with pytest.raises(BadArgument, match="no such folder"):
            await alice.storage.download(file_id, tmp_path / "missing" / "copy")
        assert list(tmp_path.iterdir()) == []
        with pytest.raises(BadArgument, match="is public"):
            await alice.storage.grant(file_id, Keypair.from_uri("//Bob").public)
        with pytest.raises(BadArgument, match="not int"):
            await alice.storage.upload(12345)  # type: ignore[arg-type]
    async with AsyncClient(network.url) as anonymous:  # reads need no account; signing and "my files" do
        assert [f.file_id for f in await anonymous.storage.ls(alice.signer.public)] == [
            f.file_id for f in await alice.storage.ls()]
        with pytest.raises(NoSigner, match="whose files"):
            await anonymous.storage.ls()
        with pytest.raises(NoSigner, match="signs"):
            await anonymous.storage.upload(b"abc")


class UnreadFile(io.BytesIO):
    """A file that must not be read: the upload should refuse before its first pass."""

    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("read before the parameters were checked")

    readinto = read  # type: ignore[assignment]


@pytest.mark.parametrize("k, m", [(0, 2), (3, 0), (10, 7)])
async def test_redundancy_the_chain_cannot_place_is_refused_before_the_file_is_read(alice, k, m):
    """k = 0, m = 0 (the coder's bounds) and k + m past ``MaxFragments`` (16): nothing read, nothing declared."""
    nonce = await alice.get_account_nonce(Keypair.from_uri("//Alice").public)
    with anyio.fail_after(DEADLINE), pytest.raises(BadArgument, match=f"k={k}, m={m}"):
        await alice.storage.upload(UnreadFile(os.urandom(SEGMENT)), k=k, m=m)
    assert await alice.get_account_nonce(Keypair.from_uri("//Alice").public) == nonce


async def test_a_file_of_more_segments_than_the_chain_stores_is_refused_before_it_is_read(alice, tmp_path):
    """``MaxSegments`` (1024) of 64 KiB here: one byte more was read, encrypted and coded whole before the
    chain refused its declaration (TooManySegments). A sparse file: its size costs no disk."""
    too_large = tmp_path / "too-large.bin"
    with too_large.open("wb") as file:
        file.truncate(alice.get_constant("FileBank", "MaxSegments") * SEGMENT + 1)
    nonce = await alice.get_account_nonce(Keypair.from_uri("//Alice").public)
    with anyio.fail_after(DEADLINE), pytest.raises(BadArgument, match="1025 segments .* at most 1024 a file"):
        await alice.storage.upload(too_large)
    assert await alice.get_account_nonce(Keypair.from_uri("//Alice").public) == nonce


def test_cli_output_shapes(network, tmp_path):
    """Sync: the CLI runs its own blocking client."""
    runner = CliRunner()
    chain = ["--rpc", network.url]
    data = os.urandom(SEGMENT + 9)
    (tmp_path / "in.bin").write_bytes(data)

    put = runner.invoke(main, ["storage", "put", str(tmp_path / "in.bin"), "--public", *chain])
    assert put.exit_code == 0, put.output
    file_id = put.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"0x[0-9a-f]{64}", file_id), put.stdout

    got = runner.invoke(main, ["storage", "get", file_id, "-o", str(tmp_path / "out.bin"), *chain])
    assert got.exit_code == 0, got.output
    assert (tmp_path / "out.bin").read_bytes() == data
    piped = runner.invoke(main, ["storage", "put", "-", *chain], input=data[::-1])  # - : stdin, and stdout
    assert piped.exit_code == 0, piped.output
    streamed = runner.invoke(main, ["storage", "get", piped.stdout.splitlines()[-1], "-o", "-", *chain])
    assert streamed.exit_code == 0 and streamed.stdout_bytes == data[::-1]

    info = json.loads(runner.invoke(main, ["storage", "info", file_id, "--json", *chain]).stdout)
    assert (info["file_id"], info["status"], info["size"], info["encrypted"]) == (file_id, "Active", len(data), False)
    assert (info["uses"], info["deleting"], info["locked"]) == (0, False, False)
    assert {"segment", "fragment", "node", "endpoint", "confirmed", "node_status", "repairing"} <= set(info["fragments"][0])
    listed = json.loads(runner.invoke(main, ["storage", "ls", "--json", *chain]).stdout)
    assert file_id in [f["file_id"] for f in listed]
    assert file_id in runner.invoke(main, ["storage", "ls", *chain]).stdout  # a piped table: no id cut short
    nodes = json.loads(runner.invoke(main, ["storage", "nodes", "--json", *chain]).stdout)
    assert len(nodes) == len(network.nodes)
    assert {"endpoint", "capacity", "stake", "audits_passed", "audits_missed", "repairs_done"} <= set(nodes[0])
    assert json.loads(runner.invoke(main, ["storage", "log", file_id, "--json", *chain]).stdout) == []

    refused = runner.invoke(main, ["storage", "grant", file_id, Keypair.from_uri("//Eve").ss58_address(), *chain])
    assert refused.exit_code == 1 and "is public" in refused.stderr  # nothing to grant
    renewed = runner.invoke(main, ["storage", "renew", file_id, "--days", "1", "--key", "//Bob", *chain])  # anyone
    assert renewed.exit_code == 0, renewed.output
    paid_until = json.loads(runner.invoke(main, ["storage", "info", file_id, "--json", *chain]).stdout)["paid_until"]
    assert renewed.stdout.strip() == f"paid until block {paid_until}" and paid_until > info["paid_until"]
    assert runner.invoke(main, ["storage", "renew", file_id, "--days", "0", *chain]).exit_code == 2
    deleted = runner.invoke(main, ["storage", "delete", file_id, *chain])  # in use by nothing: gone at once
    assert deleted.exit_code == 0 and deleted.stdout == "", deleted.output
    gone = runner.invoke(main, ["storage", "info", file_id, *chain])
    assert gone.exit_code == 1 and "FileNotFound" in gone.stderr, gone.output
    unread = runner.invoke(main, ["storage", "log", file_id, *chain])  # deleted, and no read ever recorded
    assert unread.exit_code == 1 and "FileNotFound" in unread.stderr, unread.output
    bad_key = runner.invoke(main, ["storage", "ls", "--key", "not a key", *chain])
    assert bad_key.exit_code == 2 and "--key" in bad_key.stderr

    # a grantee with no key is told how to register one, from the command line too
    private = runner.invoke(main, ["storage", "put", str(tmp_path / "in.bin"), *chain]).stdout.splitlines()[-1]
    eve = Keypair.from_uri("//Eve").ss58_address()
    keyless = runner.invoke(main, ["storage", "grant", private, eve, *chain])
    assert keyless.exit_code == 1 and "`cairn storage register-key`" in keyless.stderr, keyless.output
    for said in ("registered", "already registered"):
        registered = runner.invoke(main, ["storage", "register-key", "--key", "//Eve", *chain])
        assert registered.exit_code == 0 and registered.stdout == f"{eve}: encryption key {said}\n", registered.output
    granted = runner.invoke(main, ["storage", "grant", private, "//Eve", *chain])  # a dev account by its name
    assert granted.exit_code == 0 and granted.stdout == f"{private}: granted to {eve}\n", granted.output
    got = runner.invoke(main, ["storage", "get", private, "-o", str(tmp_path / "eve.bin"), "--key", "//Eve", *chain])
    assert got.exit_code == 0 and (tmp_path / "eve.bin").read_bytes() == data, got.output
    revoked = runner.invoke(main, ["storage", "revoke", private, eve, *chain])
    assert revoked.exit_code == 0 and revoked.stdout == f"{private}: revoked from {eve}\n", revoked.output
    refused = runner.invoke(main, ["storage", "get", private, "-o", str(tmp_path / "eve2.bin"), "--key", "//Eve",
                                   *chain])
    assert refused.exit_code == 1 and "AccessDenied" in refused.stderr, refused.output


def test_an_interrupted_put_names_the_file_it_declared_and_how_to_get_its_deposit_back(network, tmp_path):
    """Ctrl-C once the chain holds the declaration: the file stays declared, its deposit held, and the command
    says which file it is (its id was to be the last line of stdout) and how to delete it, or that it was
    stored after all where the interrupt came as it was activated."""
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(64 * SEGMENT))
    with Client(network.url, signer="//Alice") as alice:
        before = {f.file_id for f in alice.storage.ls()}
        put = subprocess.Popen([sys.executable, "-c", "from sdk.cli import main; main()", "storage", "put",
                                str(source), "--rpc", network.url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + DEADLINE
        while not (declared := [f.file_id for f in alice.storage.ls() if f.file_id not in before]):
            assert put.poll() is None and time.monotonic() < deadline, killed_output(put)
            time.sleep(0.05)
        # the command learns the file id once its declaration's inclusion wait returns, a bit after the chain
        # shows it: a fragment of the file on some node says it is pushing, so it knows the id by then
        while not any(stored.parent.name == declared[0].hex() for node in network.nodes
                      for stored in node.fragment_files()):
            assert put.poll() is None and time.monotonic() < deadline, killed_output(put)
            time.sleep(0.05)
        put.send_signal(signal.SIGINT)
        out, err = put.communicate(timeout=DEADLINE)
        file_id = "0x" + declared[0].hex()
        assert put.returncode != 0 and out == b"", (out, err)
        # ls reads the best block, as the wait above did (info reads the finalized one, which may lag behind)
        status = next(f.status for f in alice.storage.ls() if f.file_id == declared[0])
        if status == "Active":  # the interrupt came as the nodes' confirmations did
            assert f"file {file_id} is stored (active)" in err.decode(), err
        else:
            assert f"file {file_id} was declared and not completed" in err.decode(), err
            assert f"`cairn storage delete {file_id}`" in err.decode()
        alice.storage.delete(file_id)


async def test_a_node_that_moves_is_asked_at_its_new_endpoint(alice, network, monkeypatch):
    """The client keeps node endpoints a while (``Ledger.address``); a node restarted on another port does not
    answer at the old one, and that drops the endpoint kept, so the next request reads the new one."""
    monkeypatch.setattr(ledger_module, "ADDRESS_KEPT_S", 3600.0)  # kept for the whole test, however slow
    data = os.urandom(4 * SEGMENT)
    with anyio.fail_after(DEADLINE):
        file_id = await alice.storage.upload(data, private=False)
        info = await alice.storage.info(file_id)
        ledger = alice.storage.ledger
        mover = network.node_of(info.fragments[0].node)  # fragment 0 of segment 0: a download asks it first
        old = await ledger.address(mover.account)
        mover.kill()
        mover.port = 0
        mover.spawn().wait_ready()  # registered again, at its new endpoint
        assert old is not None and not old.endpoint.endswith(f":{mover.port}")
        assert await ledger.address(mover.account) == old  # still kept
        assert await download(alice, file_id) == data  # the other fragments serve; the old endpoint is dropped
        moved = await ledger.address(mover.account)
        assert moved is not None and moved.endpoint.endswith(f":{mover.port}")


@pytest.mark.slow  # ~65 s: it waits out the confirmation deadline; test_storage_faults's restarted-node upload covers the path
async def test_an_upload_completes_past_a_dead_node(alice, network):
    """The chain replaces the fragments the dead node never confirms (reassigned to another node, which the
    upload pushes to, or rebuilt by a repairer); the upload waits for that and returns an active file."""
    dead = network.nodes[-1]
    dead_account = dead.account
    dead.kill()
    try:
        data = os.urandom(6 * SEGMENT)  # 6 segments of 5 fragments on 6 nodes: the dead node gets some
        with anyio.fail_after(DEADLINE):
            file_id = await alice.storage.upload(data, private=False)
            info = await alice.storage.info(file_id)
            assert info.status == "Active" and all(f.healthy for f in info.fragments), info.to_json()
            assert dead_account not in {f.node for f in info.fragments}, info.to_json()
            assert await download(alice, file_id) == data
    finally:
        dead.spawn().wait_ready()


async def test_downloads_are_exact_with_m_nodes_down(alice, network):
    """Runs last: it stops two storage nodes for good."""
    public, private = os.urandom(4 * SEGMENT + 3), os.urandom(3 * SEGMENT)
    with anyio.fail_after(DEADLINE):
        public_id = await alice.storage.upload(public, private=False)
        private_id = await alice.storage.upload(private)
        info = await alice.storage.info(public_id)
        down = {info.fragments[0].node, info.fragments[1].node}  # two data fragments of segment 0: m = 2
        for account in down:
            network.node_of(account).kill()
        assert await download(alice, public_id) == public
        assert await download(alice, private_id) == private
