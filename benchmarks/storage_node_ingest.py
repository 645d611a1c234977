"""Storage node ingest: how fast one ``cairn storage-node`` process accepts fragments over HTTP.

A dev chain (one validator), two storage node processes, and one file of ``--segments`` 8 MiB segments
declared with RS(1, 1), so each node is placed one 8 MiB fragment per segment. The script then PUTs every
fragment placed on the first node, ``--parallel`` at a time, each signed by the owner as a client would, and
reports the node's ingest rate: MB/s (10^6 bytes) and fragments/s, from the first request sent to the last
``201``. Every accepted fragment was streamed to disk, checked against the chain (file, placement, segment
root, fragment root), fsynced and renamed before its ``201``. Fragments are built before the clock starts.

    python benchmarks/storage_node_ingest.py [--segments 12] [--parallel 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repository, for its test helpers
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)
from runtime.keyring import Keypair  # noqa: E402
from sdk.chain import AsyncClient  # noqa: E402
from sdk.storage.wire import fragment_path  # noqa: E402
from storage_node.auth import body_hash, sign_request  # noqa: E402
from tests.storage_node.service.chain import declare, start_storage_chain, ws_url  # noqa: E402
from tests.storage_node.service.cluster import start_cluster  # noqa: E402
from tests.storage_node.service.coded import CodedFile, code_file  # noqa: E402

ALICE = Keypair.from_uri("//Alice")


async def declared(url: str, segments: int) -> tuple[CodedFile, list[tuple[bytes, ...]]]:
    """A file of ``segments`` full segments at RS(1, 1), declared by //Alice; its placements."""
    async with AsyncClient(url) as client:
        segment_size = client.get_constant("FileBank", "SegmentSize")
        data = bytes(range(256)) * (segments * segment_size // 256)
        coded = code_file(data, ALICE.public, segment_size=segment_size, k=1, m=1,
                          chunk_size=client.get_constant("FileBank", "ChunkSize"))
        await declare(client, ALICE, coded.manifest.encode())
        placements = [await client.query("FileBank", "Placements", [coded.file_id, s]) for s in range(segments)]
    return coded, placements


async def push(coded: CodedFile, target: bytes, node_url: str, placements: list[tuple[bytes, ...]],
               parallel: int) -> tuple[float, int, int]:
    """PUT every fragment placed on ``target``; (seconds, bytes, fragments)."""
    jobs = [(segment, fragment) for segment, nodes in enumerate(placements)
            for fragment, node in enumerate(nodes) if node == target]
    limiter = trio.CapacityLimiter(parallel)
    sent = 0
    async with httpx.AsyncClient(timeout=120) as http:
        async def one(segment: int, fragment: int) -> None:
            nonlocal sent
            async with limiter:
                body = coded.bodies[(segment, fragment)]
                path = fragment_path(coded.file_id, segment, fragment)
                headers = sign_request(ALICE, "PUT", path, body_hash(body), int(time.time() * 1000), target)
                response = await http.put(node_url + path, content=body, headers=headers)
                assert response.status_code == 201, response.text
                sent += len(body)

        started = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for segment, fragment in jobs:
                nursery.start_soon(one, segment, fragment)
        elapsed = time.perf_counter() - started
    return elapsed, sent, len(jobs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=12)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ingest-") as folder:
        chain = start_storage_chain(Path(folder))
        nodes = []
        try:
            nodes = start_cluster(ws_url(chain), Path(folder), 2)
            coded, placements = trio.run(declared, ws_url(chain), args.segments)
            target = nodes[0]
            elapsed, sent, count = trio.run(push, coded, target.account, target.url, placements, args.parallel)
        finally:
            for node in nodes:
                node.stop()
            chain.stop()
    figures = (f"one storage node ingested {count} fragments of {sent / count / 1e6:.1f} MB in {elapsed:.2f} s: "
               f"{sent / elapsed / 1e6:.0f} MB/s, {count / elapsed:.1f} fragments/s ({args.parallel} in parallel)\n")
    print(figures, end="")
    if not args.no_record:
        record("Storage node ingest", "the client pushing to it and a one-validator chain share its cores", figures)


if __name__ == "__main__":
    main()
