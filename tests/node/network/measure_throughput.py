"""Measure the transport over loopback between two processes. Not a test (tests never assert timings).

    .venv/bin/python -m tests.node.network.measure_throughput

Reports the median of 5 runs in the shape of ``reference/networking.md``'s table: 100-byte request/response
round trip, 4 MiB transfers up and down, 2 KiB replies with 32 requests in flight, and connection setup
(TCP + Noise XX + HELLO). On loopback these are CPU ceilings, not network figures.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

import trio

from node.network import NetworkConfig, NetworkService, NodeKey, PeerAddress

RUNS = 5
SMALL_PAYLOAD = bytes(100)
BULK_PAYLOAD = bytes(4 * 1024 * 1024)
SAMPLE_PAYLOAD = bytes(2048)
CONFIG = NetworkConfig(listen_port=0, request_timeout=60, max_concurrent_inbound_requests=64)


async def serve() -> None:
    """The server process: print the listen address, serve until stdin closes."""
    service = NetworkService(NodeKey.generate(), CONFIG)

    async def echo(peer_id, payload):
        return payload

    async def download(peer_id, payload):
        return BULK_PAYLOAD

    async def upload(peer_id, payload):
        return b"ok"

    async def sample(peer_id, payload):
        return SAMPLE_PAYLOAD

    for name, handler in (("echo", echo), ("download", download), ("upload", upload), ("sample", sample)):
        service.register_protocol(name, handler)
    async with trio.open_nursery() as nursery:
        await nursery.start(service.run)
        print(service.listen_address, flush=True)
        await trio.to_thread.run_sync(sys.stdin.read)
        nursery.cancel_scope.cancel()


async def _timed(operation, count: int) -> float:
    started = time.perf_counter()
    for _ in range(count):
        await operation()
    return time.perf_counter() - started


async def measure(address: PeerAddress) -> dict[str, float]:
    client = NetworkService(NodeKey.generate(), CONFIG)
    results: dict[str, list[float]] = {name: [] for name in
                                       ("round_trip_us", "upload_mb_s", "download_mb_s", "sample_req_s", "setup_ms")}
    async with trio.open_nursery() as nursery:
        await nursery.start(client.run)
        peer = await client.connect(address)
        await _timed(lambda: client.request(peer, "echo", SMALL_PAYLOAD), 500)  # warm up

        async def sample_batch(count: int, in_flight: int) -> None:
            async def worker():
                for _ in range(count // in_flight):
                    await client.request(peer, "sample", b"cell")
            async with trio.open_nursery() as workers:
                for _ in range(in_flight):
                    workers.start_soon(worker)

        async def reconnect() -> None:
            client.disconnect(peer)
            while client.peers():
                await trio.sleep(0.001)
            started = time.perf_counter()
            await client.connect(address)
            results["setup_ms"].append((time.perf_counter() - started) * 1e3)

        megabytes = len(BULK_PAYLOAD) / 1e6
        for _ in range(RUNS):
            results["round_trip_us"].append(
                await _timed(lambda: client.request(peer, "echo", SMALL_PAYLOAD), 2000) / 2000 * 1e6)
            results["upload_mb_s"].append(
                10 * megabytes / await _timed(lambda: client.request(peer, "upload", BULK_PAYLOAD), 10))
            results["download_mb_s"].append(
                10 * megabytes / await _timed(lambda: client.request(peer, "download", b""), 10))
            started = time.perf_counter()
            await sample_batch(6400, 32)
            results["sample_req_s"].append(6400 / (time.perf_counter() - started))
            for _ in range(20):
                await reconnect()
        nursery.cancel_scope.cancel()
    return {name: statistics.median(values) for name, values in results.items()}


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        trio.run(serve)
        return
    server = subprocess.Popen([sys.executable, "-m", "tests.node.network.measure_throughput", "--serve"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        address = PeerAddress.parse(server.stdout.readline().strip())
        result = trio.run(measure, address)
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    print(f"100-byte request/response round trip: {result['round_trip_us']:.0f} µs")
    print(f"4 MiB transfer: {result['upload_mb_s']:.0f} MB/s up, {result['download_mb_s']:.0f} MB/s down")
    print(f"2 KiB replies, 32 in flight: {result['sample_req_s']:.0f} req/s")
    print(f"connection setup (TCP + Noise XX + HELLO): {result['setup_ms']:.2f} ms")


if __name__ == "__main__":
    main()
