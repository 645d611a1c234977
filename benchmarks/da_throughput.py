"""DA throughput: Cairn's submit path against raw ckzg, end to end on a devnet, light clients, reconstruction.

In one run, on a fresh devnet (one validator, four DA nodes, no storage nodes; every process and this
script share the machine's cores, all on loopback):

- **raw ckzg**: ``compute_cells_and_kzg_proofs`` on ``--blobs`` random blobs in 2 worker processes
  (precompute 8, the setup loaded before the clock starts), called directly on ``ckzg``, the cells left in
  the workers, while the devnet idles. It takes turns with Cairn's two figures below, a window of 16 blobs
  at a time, so that all three see the same other load on the machine. MB = 10^6 blob bytes (131,072 per
  blob).
- **Cairn, client side only**: the same blobs from payload bytes to commitment, cells and proofs in the
  client's hands (pack, then ``blob_to_kzg_commitment`` and ``compute_cells_and_kzg_proofs`` in the SDK's
  pool): what the SDK adds to raw ckzg before anything leaves the machine.
- **Cairn's data path** (goal >= 0.8x raw): from payload bytes to every cell delivered and acknowledged, for
  the same number of blobs: pack, commitment + cells + proofs in the SDK's KZG pool (2 workers, precompute
  8, cells shipped back to the client), every DA node sent its custody cells, which it checks with
  ``verify_cell_kzg_proof_batch``, stores (fsync) and signs before it answers. Each window of blobs is posted
  on chain first (``submit_blob``, not timed): a node takes cells only for a blob the chain knows, and block
  time is not what this figure compares. Blob MB/s, as raw.
- **end to end**: ``client.da.submit(payload)`` of another payload of the same size, from the call to every
  blob marked available on chain (encode, ``submit_blob`` to inclusion, custody pushed, signatures
  aggregated, ``attest`` to inclusion). Payload MB/s.
- **light clients**: once a blob's block is final, the time for ``client.da.sample(blob)`` to reach
  1 - 10^-6 (20 cells fetched from custodians and verified against the commitment read with a read proof
  against a finalized header, whose GRANDPA justification the client checks with authority sets it has
  already followed), for one client (goal <= 1 s) and for 100 clients at once (100 samplers
  with their own connections sharing this process's chain connection and 2 verifying workers).
- **reconstruction** per blob: ``client.da.get(blob)`` (cells fetched from custodians, verified, the blob's
  half of them concatenated, unpacked), and ``recover_cells_and_kzg_proofs`` from 64 random cells.
- **aggregate verification**: one ``fast_aggregate_verify`` of 4 signers' attestations (the runtime's check
  in ``attest``; ``benchmarks/da_pallet_weights.py`` measures the whole call).

Run: ``.venv/bin/python benchmarks/da_throughput.py [--blobs 32] [--clients 100] [--no-record]``
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Awaitable, Callable

import anyio
import ckzg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from da_layer import bls, kzg  # noqa: E402
from da_layer.attestation import attestation_message  # noqa: E402
from da_layer.blobs import BYTES_PER_BLOB, USABLE_BYTES_PER_BLOB, pack  # noqa: E402
from devnet import launcher  # noqa: E402
from devnet.config import DevnetConfig  # noqa: E402
from devnet.registry import ROLES  # noqa: E402
from sdk.client import AsyncClient  # noqa: E402
from sdk.da.api import DaApi  # noqa: E402
from sdk.da.chain import Custody, read_final_blob  # noqa: E402
from sdk.da.lanes import for_each  # noqa: E402
from sdk.da.peers import DaPeers  # noqa: E402
from sdk.da.sample import Sampler  # noqa: E402
from sdk.da.types import BlobRef  # noqa: E402
from results import record  # noqa: E402  (a sibling: the script's folder is on the path)

PROCESSES = 2
RAW_GOAL = 0.8
SAMPLE_GOAL_S = 1.0
FINALITY_TIMEOUT_S = 120.0
MB = 1e6

_setup: object | None = None


def _load_raw_setup() -> None:
    global _setup
    _setup = kzg.load_trusted_setup(kzg.PRECOMPUTE_COMPUTE)


def _raw_cells(blob: bytes) -> int:
    cells, _ = ckzg.compute_cells_and_kzg_proofs(blob, _setup)
    return len(cells)


class RawCkzg:
    """:data:`PROCESSES` worker processes with the setup loaded, timing raw ckzg on a list of blobs."""

    def __enter__(self) -> "RawCkzg":
        self._pool = ProcessPoolExecutor(PROCESSES, mp_context=multiprocessing.get_context("spawn"),
                                         initializer=_load_raw_setup)
        self._pool.__enter__()
        list(self._pool.map(_raw_cells, [bytes(BYTES_PER_BLOB)] * PROCESSES))  # every worker started and loaded
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.__exit__(*exc_info)

    def seconds(self, blobs: list[bytes]) -> float:
        start = time.perf_counter()
        list(self._pool.map(_raw_cells, blobs))
        return time.perf_counter() - start


async def timed(action: Callable[[], Awaitable[object]]) -> float:
    start = time.perf_counter()
    await action()
    return time.perf_counter() - start


async def data_path(api: DaApi, raw: RawCkzg, payload: bytes, window: int) -> dict[str, float]:
    """Seconds, summed over windows of blobs, for raw ckzg on a window, then for Cairn from the window's bytes
    to every blob's commitment, cells and proofs in hand, then (the window posted on chain, untimed) from its
    bytes to every custody cell acknowledged. Taking turns window by window, the three share whatever else
    loads the machine, and no blob waits past its attestation deadline for its turn."""
    submitter = api.submitter
    count = len(payload) // USABLE_BYTES_PER_BLOB
    totals = {"raw_s": 0.0, "encode_s": 0.0, "data_path_s": 0.0}

    def blob(index: int) -> bytes:
        return pack(payload[index * USABLE_BYTES_PER_BLOB:(index + 1) * USABLE_BYTES_PER_BLOB])[0]

    for first in range(0, count, window):
        batch = range(first, min(first + window, count))
        custodies: dict[int, Custody] = {}

        async def encode(index: int) -> None:
            await submitter.encode(blob(index))

        async def post(index: int) -> None:
            encoded = await submitter.encode(blob(index))
            custodies[index] = await submitter.post(encoded.commitment, USABLE_BYTES_PER_BLOB, 0)

        async def deliver(index: int) -> None:
            encoded = await submitter.encode(blob(index))
            custody = custodies[index]
            signatures = await submitter.distribute(custody, lambda position: [encoded.cells[c] for c in
                                                                               custody.columns_of(position)])
            if len(signatures.signed) != len(custody.nodes):
                raise SystemExit(f"blob {index}: not every node signed: {signatures.refusals}")

        totals["raw_s"] += await anyio.to_thread.run_sync(raw.seconds, [blob(i) for i in batch])
        totals["encode_s"] += await timed(lambda: for_each(len(batch), window, lambda k: encode(batch[k])))
        await for_each(len(batch), window, lambda k: post(batch[k]))
        totals["data_path_s"] += await timed(lambda: for_each(len(batch), window, lambda k: deliver(batch[k])))
    return totals


async def light_clients(api: DaApi, ref: BlobRef, clients: int) -> list[float]:
    """Seconds each of ``clients`` concurrent samplers took to reach 1 - 10^-6 on ``ref``."""
    latencies: list[float] = []

    async def one() -> None:
        async with DaPeers(timeout=60) as peers:
            sampler = Sampler(api.chain, api.finality, api.pool, peers, parallel=32,
                              finality_timeout=FINALITY_TIMEOUT_S)
            start = time.perf_counter()
            report = await sampler.sample(ref)
            latencies.append(time.perf_counter() - start)
        if not report.available or report.confidence < 1 - 10**-6:
            raise SystemExit(f"sampling failed: {report}")

    async with anyio.create_task_group() as group:
        for _ in range(clients):
            group.start_soon(one)
    return latencies


async def run(url: str, payload_blobs: int, clients: int) -> dict[str, float | list[float]]:
    figures: dict[str, float | list[float]] = {}
    async with AsyncClient(url, signer="//Alice") as client:
        api = client.da
        await api.encoder.warm()
        await api.pool.warm()
        window = 2 * PROCESSES * 4
        size = payload_blobs * USABLE_BYTES_PER_BLOB
        print(f"raw ckzg and Cairn's data path, taking turns: {payload_blobs} blobs …", flush=True)
        with RawCkzg() as raw:
            figures.update(await data_path(api, raw, os.urandom(size), window))
        print(f"Cairn end to end: {payload_blobs} blobs …", flush=True)
        payload = os.urandom(size)
        refs: list[BlobRef] = []
        figures["end_to_end_s"] = await timed(lambda: _submit(api, payload, refs))
        if await read_final_blob(api.chain, api.finality, refs[-1].blob_id, timeout=FINALITY_TIMEOUT_S) is None:
            raise SystemExit("the last blob never became final")
        print("light clients …", flush=True)
        figures["one_client_s"] = statistics.median(
            [(await light_clients(api, refs[i % len(refs)], 1))[0] for i in range(5)])
        figures["many_clients_s"] = await light_clients(api, refs[0], clients)
        print("reconstruction …", flush=True)
        figures["get_s"] = statistics.median([await timed(lambda r=ref: api.get(r)) for ref in refs[:5]])
        assert await api.get(refs) == payload
        everything = {}
        for node in (await api.nodes()):
            everything.update(await api.peers.get_cells(node.endpoint, refs[0].blob_id))
        recovers = []
        for _ in range(5):
            chosen = [everything[i] for i in random.sample(sorted(everything), kzg.CELLS_TO_RECOVER)]
            recovers.append(await timed(lambda c=chosen: api.pool.recover(c)))
        figures["recover_s"] = statistics.median(recovers)
    figures["aggregate_s"] = aggregate_verify()
    return figures


async def _submit(api: DaApi, payload: bytes, refs: list[BlobRef]) -> None:
    refs.extend(await api.submit(payload))


def aggregate_verify(signers: int = 4, repeats: int = 50) -> float:
    secrets = [bls.secret_from_seed(bytes([i + 1]) * 32) for i in range(signers)]
    message = attestation_message(bytes(32), bytes(range(32)), bytes(48))
    aggregate = bls.aggregate([bls.sign(s, message) for s in secrets])
    publics = [bls.public_key(s) for s in secrets]
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert bls.fast_aggregate_verify(publics, message, aggregate)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def start_devnet(base: Path) -> tuple[DevnetConfig, str]:
    config = DevnetConfig.parse({"validators": {"count": 1}, "storage_nodes": {"count": 0},
                                 "da_nodes": {"count": 4}}, ROLES)
    config = replace(config, base_path=base / "devnet")
    state = launcher.up(config, fresh=True)
    return config, state.process("validator-0").url("rpc", "ws")


def report(args: argparse.Namespace, figures: dict) -> str:
    blob_mb = args.blobs * BYTES_PER_BLOB / MB
    raw_s = figures["raw_s"]
    payload_mb = args.blobs * USABLE_BYTES_PER_BLOB / MB
    raw = blob_mb / raw_s
    path = blob_mb / figures["data_path_s"]
    encode = blob_mb / figures["encode_s"]
    many = sorted(figures["many_clients_s"])
    lines = [
        "| figure | value |", "|---|---:|",
        f"| raw ckzg `compute_cells_and_kzg_proofs`, {PROCESSES} processes | {raw:.2f} MB/s ({raw_s:.2f} s) |",
        f"| Cairn, client side only: bytes → commitment, cells and proofs (SDK pool, 2 processes) | {encode:.2f} "
        f"MB/s ({figures['encode_s']:.2f} s) |",
        f"| Cairn data path: bytes → every cell delivered, verified and acknowledged | {path:.2f} MB/s "
        f"({figures['data_path_s']:.2f} s) |",
        f"| Cairn end to end: `submit` → every blob available on chain | {payload_mb / figures['end_to_end_s']:.2f} "
        f"MB/s of payload ({figures['end_to_end_s']:.1f} s) |",
        f"| one light client: finalized blob → 1 - 10^-6 (median of 5) | {figures['one_client_s'] * 1000:.0f} ms |",
        f"| {args.clients} light clients at once: median / slowest | {statistics.median(many) * 1000:.0f} ms / "
        f"{many[-1] * 1000:.0f} ms |",
        f"| `get` one blob (median of 5) | {figures['get_s'] * 1000:.0f} ms |",
        f"| recover a blob from 64 random cells (median of 5) | {figures['recover_s'] * 1000:.0f} ms |",
        f"| `fast_aggregate_verify`, 4 signers (median of 50) | {figures['aggregate_s'] * 1000:.2f} ms |",
        "",
        f"- data path / raw ckzg: {path / raw:.2f}x (goal {RAW_GOAL}x: "
        f"{'met' if path / raw >= RAW_GOAL else 'MISSED'}); client side only / raw ckzg: {encode / raw:.2f}x",
        f"- one light client: goal {SAMPLE_GOAL_S:.0f} s: "
        f"{'met' if figures['one_client_s'] <= SAMPLE_GOAL_S else 'MISSED'}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blobs", type=int, default=32, help="blobs per measured payload")
    parser.add_argument("--clients", type=int, default=100, help="concurrent light clients")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="cairn-da-bench-"))
    config = None
    try:
        config, url = start_devnet(base)
        figures = anyio.run(run, url, args.blobs, args.clients)
    finally:
        if config is not None:
            launcher.down(config.base_path)
        shutil.rmtree(base, ignore_errors=True)
    summary = report(args, figures)
    print(summary)
    if args.no_record:
        return
    record("DA throughput", "a devnet of 1 validator and 4 DA nodes (8 custody draws per column) and this client share "
           "its cores, all on loopback", summary, notes=[f"{args.blobs} blobs of random payload per measured pass; "
                                                          "MB = 10^6 bytes"])


if __name__ == "__main__":
    with launcher.signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
