"""Storage transfer: Cairn's storage network and Tahoe-LAFS side by side, same file, same redundancy, loopback.

Issue 10's figures. One random file is uploaded and downloaded through each system, every process on this
machine, and each download is checked byte for byte (by its BLAKE3 hash) against the file:

- **Tahoe-LAFS** (the ``bench`` extra: ``pip install -e .[bench]``): an introducer, ``--storage-nodes``
  storage nodes and one client node without storage, each a ``tahoe run`` process; the file goes up with
  ``PUT /uri`` and comes back with ``GET /uri/<cap>`` on the client's web API, with ``shares.needed = k``,
  ``shares.total = shares.happy = k + m`` (Tahoe encrypts every file, so it is compared with Cairn's
  private uploads).
- **Cairn**: a devnet (``--validators`` validators and the storage nodes its default config starts), the
  file uploaded and downloaded through ``sdk.client.Client(...).storage``, private and public, with the same
  k and m (see :func:`cairn_transfers`).

- **Client memory** (``--memory-mb``, Cairn only): a file of that size uploaded (private) and downloaded by a
  client in a process of its own; its peak resident memory (``ru_maxrss``, the interpreter and imports
  included) is the figure.

Goals (issue 10): Cairn >= 4x Tahoe-LAFS both ways, >= 200 MB/s upload and >= 300 MB/s download (MB = 10^6
bytes, wall time of the whole call: upload includes waiting until the file is active on chain); client peak
memory <= 512 MiB for a 4 GiB file. Appends the figures to ``benchmarks/RESULTS.md``.

    python benchmarks/storage_transfer.py [--size-mb 1024] [-k 3] [-m 2] [--peer both|tahoe|cairn]
        [--memory-mb 4096] [--no-record]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

import httpx
import numpy as np
from blake3 import blake3

from devnet import launcher
from devnet.config import DevnetConfig
from devnet.registry import ROLES
from sdk.client import Client
from sdk.storage.transfer import Progress
from cpu import cpu_by_role  # siblings: the script's folder is on the path
from results import record

BLOCK = 16 << 20
"""Bytes per read and write while generating, hashing, streaming."""
START_TIMEOUT_S = 120.0
TRANSFER_TIMEOUT_S = 1800.0
UPLOAD_GOAL_MBPS = 200.0
DOWNLOAD_GOAL_MBPS = 300.0
TAHOE_FACTOR_GOAL = 4.0
MEMORY_GOAL = 512 << 20


@dataclass(frozen=True)
class Transfer:
    """One system's figures for one file."""

    system: str
    mode: str
    upload_s: float
    download_s: float
    size: int
    upload_stages: str = ""
    """Where an upload's time went, when the system reports its stages."""
    upload_cpu: str = ""
    download_cpu: str = ""
    """CPU seconds each side used during the transfer, by role (Cairn's processes only)."""

    @property
    def upload_mbps(self) -> float:
        return self.size / self.upload_s / 1e6

    @property
    def download_mbps(self) -> float:
        return self.size / self.download_s / 1e6


# --- the file --------------------------------------------------------------------------------------


def write_random_file(path: Path, size: int) -> bytes:
    """Write ``size`` pseudo-random (incompressible, seeded) bytes to ``path``; answer their BLAKE3 hash."""
    rng = np.random.default_rng(10)
    hasher = blake3()
    with path.open("wb") as out:
        for offset in range(0, size, BLOCK):
            block = rng.bytes(min(BLOCK, size - offset))
            hasher.update(block)
            out.write(block)
    return hasher.digest()


def file_hash(path: Path) -> bytes:
    hasher = blake3()
    with path.open("rb") as source:
        while block := source.read(BLOCK):
            hasher.update(block)
    return hasher.digest()


def check_download(path: Path, expected: bytes, system: str) -> None:
    if file_hash(path) != expected:
        raise SystemExit(f"{system}: the downloaded file differs from the uploaded one")
    path.unlink()


class StageClock:
    """A transfer's progress callback that notes when each stage was first and last reported."""

    def __init__(self) -> None:
        self.spans: dict[str, list[float]] = {}   # stage -> [first report, last report], in order of first

    def __call__(self, progress: Progress) -> None:
        now = time.perf_counter()
        self.spans.setdefault(progress.stage, [now, now])[1] = now

    def summary(self) -> str:
        """Each stage's seconds, from its first report to the next stage's (the last: to its last report)."""
        if not self.spans:
            return ""
        stages = list(self.spans.items())
        ends = [span[0] for _, span in stages[1:]] + [stages[-1][1][1]]
        return ", ".join(f"{stage} {end - span[0]:.1f} s" for (stage, span), end in zip(stages, ends))


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


# --- Tahoe-LAFS --------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until(predicate: Callable[[], object], what: str, timeout: float = START_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


class TahoeGrid:
    """A local Tahoe-LAFS grid: introducer, storage nodes and a storage-less client node, on loopback.

    ``with TahoeGrid(base, storage_nodes, k, n) as grid`` creates and starts every node and returns once the
    client is connected to all storage nodes; leaving the block stops them (SIGTERM, then SIGKILL)."""

    def __init__(self, base: Path, storage_nodes: int, k: int, n: int) -> None:
        self.tahoe = Path(sys.executable).with_name("tahoe")
        if not self.tahoe.exists():
            raise SystemExit(f"no {self.tahoe}: install the bench extra (pip install -e .[bench])")
        self.base, self.storage_nodes, self.k, self.n = base, storage_nodes, k, n
        self.web_port = _free_port()
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def __enter__(self) -> "TahoeGrid":
        try:
            self.base.mkdir(parents=True)
            introducer = self.base / "introducer"
            port = _free_port()
            self._tahoe("create-introducer", f"--port=tcp:{port}:interface=127.0.0.1",
                        f"--location=tcp:127.0.0.1:{port}", str(introducer))
            self._run(introducer)
            furl_file = introducer / "private" / "introducer.furl"
            _wait_until(furl_file.exists, "the introducer's fURL")
            furl = furl_file.read_text().strip()
            shares = (f"--shares-needed={self.k}", f"--shares-happy={self.n}", f"--shares-total={self.n}")
            for index in range(self.storage_nodes):
                node = self.base / f"storage-{index}"
                port = _free_port()
                self._tahoe("create-node", f"--nickname=storage-{index}", f"--introducer={furl}",
                            f"--port=tcp:{port}:interface=127.0.0.1", f"--location=tcp:127.0.0.1:{port}",
                            "--webport=none", *shares, str(node))
                self._run(node)
            client = self.base / "client"
            self._tahoe("create-client", f"--introducer={furl}", f"--webport=tcp:{self.web_port}:interface=127.0.0.1",
                        *shares, str(client))
            self._run(client)
            _wait_until(lambda: self._connected() >= self.storage_nodes,
                        f"the Tahoe client to see {self.storage_nodes} storage nodes")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def _tahoe(self, *args: str) -> None:
        subprocess.run([str(self.tahoe), *args], check=True, stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL)

    def _run(self, node: Path) -> None:
        # Without a terminal `tahoe run` stops when stdin closes, unless told to allow it.
        with (node.parent / f"{node.name}.log").open("ab") as log:
            self.processes.append(subprocess.Popen(
                [str(self.tahoe), "run", "--allow-stdin-close", str(node)], stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True))

    def _connected(self) -> int:
        try:
            servers = httpx.get(f"{self.url}/?t=json", timeout=5).json()["servers"]
        except (httpx.HTTPError, json.JSONDecodeError, KeyError):
            return 0  # not serving yet
        return sum(server.get("connection_status") == "connected" for server in servers)

    def upload(self, path: Path) -> str:
        """The file's read capability, once the grid stored all of it."""
        with path.open("rb") as source:
            response = httpx.put(f"{self.url}/uri", content=_blocks(source), timeout=TRANSFER_TIMEOUT_S)
        response.raise_for_status()
        return response.text.strip()

    def download(self, cap: str, out: Path) -> None:
        with httpx.stream("GET", f"{self.url}/uri/{cap}", timeout=TRANSFER_TIMEOUT_S) as response, \
                out.open("wb") as sink:
            response.raise_for_status()
            for block in response.iter_bytes(BLOCK):
                sink.write(block)


def _blocks(source: BinaryIO) -> Iterator[bytes]:
    while block := source.read(BLOCK):
        yield block


def tahoe_transfer(path: Path, digest: bytes, base: Path, *, storage_nodes: int, k: int, m: int) -> Transfer:
    """Tahoe-LAFS's figures: the file up and down through a fresh local grid's web API."""
    with TahoeGrid(base / "tahoe", storage_nodes, k, k + m) as grid:
        caps: list[str] = []
        upload_s = timed(lambda: caps.append(grid.upload(path)))
        out = base / "tahoe-download"
        download_s = timed(lambda: grid.download(caps[0], out))
    check_download(out, digest, "Tahoe-LAFS")
    return Transfer("Tahoe-LAFS 1.20 (web API)", "encrypted (CHK)", upload_s, download_s, path.stat().st_size)


# --- Cairn ---------------------------------------------------------------------------------------------


def _round_trip_in_this_process(rpc: str, path: str, out: str, report: Connection) -> None:
    """The client-memory probe's child: upload ``path`` (private), download it to ``out``, send its own peak
    resident memory in bytes."""
    with Client(rpc, signer="//Alice") as client:
        client.storage.download(client.storage.upload(Path(path)), Path(out))
    report.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)  # Linux counts KiB


def client_peak_memory(rpc: str, path: Path, digest: bytes, out: Path) -> int:
    """Bytes of peak resident memory of a client process that uploads ``path`` privately and downloads it."""
    spawn = multiprocessing.get_context("spawn")
    receive, send = spawn.Pipe(duplex=False)
    child = spawn.Process(target=_round_trip_in_this_process, args=(rpc, str(path), str(out), send))
    child.start()
    child.join(TRANSFER_TIMEOUT_S)
    if child.exitcode != 0 or not receive.poll():
        raise SystemExit(f"the client-memory probe failed (exit code {child.exitcode})")
    check_download(out, digest, "Cairn (memory probe)")
    return receive.recv()


def _cpu_spent(before: dict[str, float], after: dict[str, float]) -> str:
    """CPU seconds by role between two :func:`cpu.cpu_by_role` readings, the busiest first."""
    spent = sorted(((after[role] - before.get(role, 0.0), role) for role in after), reverse=True)
    return ", ".join(f"{role} {seconds:.1f} s" for seconds, role in spent if seconds >= 0.05)


def cairn_transfers(path: Path, digest: bytes, base: Path, *, validators: int, k: int, m: int,
                    memory_size: int = 0) -> tuple[list[Transfer], int | None]:
    """CAIRN'S SIDE: the same file up and down through a fresh devnet's storage nodes, private and public.

    Starts a devnet under ``base`` (``validators`` validators and its default storage nodes, no DA nodes), then for each
    mode uploads with ``Client(...).storage.upload(path, private=..., k=k, m=m)`` (which returns once the
    file is active on chain; its progress reports say how long each stage took) and downloads with
    ``.download(file_id, out)``; then, if ``memory_size``, measures :func:`client_peak_memory` on a file of that
    many bytes. Returns the transfers and the peak (None when not measured)."""
    config = DevnetConfig.load(None, ROLES)
    config = replace(config, base_path=base / "devnet").with_role("validators", count=validators)
    config = config.with_role("da_nodes", count=0)  # no DA daemons taking the cores: Tahoe's side runs none either
    state = launcher.up(config, fresh=True)
    try:
        rpc = state.process("validator-0").url("rpc", "ws")
        processes = [(record.role, record.pid) for record in state.processes]
        transfers = []
        with Client(rpc, signer="//Alice") as client:
            for private in (True, False):
                ids: list[bytes] = []
                clock = StageClock()
                before_upload = cpu_by_role(processes, "client")
                upload_s = timed(lambda: ids.append(
                    client.storage.upload(path, private=private, k=k, m=m, progress=clock)))
                before_download = cpu_by_role(processes, "client")
                out = base / "cairn-download"
                download_s = timed(lambda: client.storage.download(ids[0], out))
                after = cpu_by_role(processes, "client")
                check_download(out, digest, "Cairn")
                transfers.append(Transfer("Cairn", "private" if private else "public", upload_s, download_s,
                                          path.stat().st_size, clock.summary(), _cpu_spent(before_upload, before_download),
                                          _cpu_spent(before_download, after)))
                print(f"  {transfers[-1].mode}: upload {transfers[-1].upload_mbps:.1f} MB/s ({clock.summary()}), "
                      f"download {transfers[-1].download_mbps:.1f} MB/s", flush=True)
        peak = None
        if memory_size:
            probe = base / "memory-probe.bin"
            probe_digest = write_random_file(probe, memory_size)
            peak = client_peak_memory(rpc, probe, probe_digest, base / "memory-probe-download")
            probe.unlink()
            print(f"  client peak memory, {memory_size >> 20} MiB up and down: {peak / 2**20:.0f} MiB", flush=True)
        return transfers, peak
    finally:
        launcher.down(config.base_path)


# --- report --------------------------------------------------------------------------------------------


def _verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def goals(transfers: list[Transfer]) -> list[str]:
    """Lines comparing Cairn's figures with the issue's goals (none when one side did not run)."""
    tahoe = next((t for t in transfers if t.system.startswith("Tahoe")), None)
    lines = []
    for cairn in (t for t in transfers if t.system == "Cairn"):
        lines.append(f"- Cairn {cairn.mode}: upload {_verdict(cairn.upload_mbps >= UPLOAD_GOAL_MBPS)} "
                     f"(goal {UPLOAD_GOAL_MBPS:.0f} MB/s), download {_verdict(cairn.download_mbps >= DOWNLOAD_GOAL_MBPS)} "
                     f"(goal {DOWNLOAD_GOAL_MBPS:.0f} MB/s)")
        if tahoe is not None:
            up, down = cairn.upload_mbps / tahoe.upload_mbps, cairn.download_mbps / tahoe.download_mbps
            lines.append(f"- Cairn {cairn.mode} / Tahoe-LAFS: upload {up:.1f}x, download {down:.1f}x "
                         f"(goal {TAHOE_FACTOR_GOAL:.0f}x both ways: {_verdict(min(up, down) >= TAHOE_FACTOR_GOAL)})")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="file size in MiB")
    parser.add_argument("-k", type=int, default=3, help="fragments (shares) needed to rebuild a segment")
    parser.add_argument("-m", type=int, default=2, help="parity fragments: k + m are stored")
    parser.add_argument("--storage-nodes", type=int, default=6, help="Tahoe-LAFS storage nodes")
    parser.add_argument("--validators", type=int, default=1, help="Cairn devnet validators")
    parser.add_argument("--peer", choices=("both", "tahoe", "cairn"), default="both", help="which systems to run")
    parser.add_argument("--memory-mb", type=int, default=0,
                        help="also measure a Cairn client's peak memory on a file of this many MiB (0: not)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()

    size = args.size_mb << 20
    peak = None
    base = Path(tempfile.mkdtemp(prefix="cairn-storage-bench-"))
    try:
        path = base / "input.bin"
        digest = write_random_file(path, size)
        transfers = []
        if args.peer in ("both", "tahoe"):
            print(f"Tahoe-LAFS: {args.size_mb} MiB, k={args.k}, N={args.k + args.m}, "
                  f"{args.storage_nodes} storage nodes …", flush=True)
            transfers.append(tahoe_transfer(path, digest, base, storage_nodes=args.storage_nodes, k=args.k, m=args.m))
        if args.peer in ("both", "cairn"):
            print(f"Cairn: {args.size_mb} MiB, k={args.k}, m={args.m} …", flush=True)
            cairn, peak = cairn_transfers(path, digest, base, validators=args.validators, k=args.k, m=args.m,
                                          memory_size=args.memory_mb << 20)
            transfers.extend(cairn)
    finally:
        shutil.rmtree(base, ignore_errors=True)

    table = "\n".join(f"| {t.system} | {t.mode} | {t.upload_mbps:,.1f} ({t.upload_s:.1f} s) | "
                      f"{t.download_mbps:,.1f} ({t.download_s:.1f} s) |" for t in transfers)
    summary = ("| system | file | upload MB/s | download MB/s |\n|---|---|---:|---:|\n" + table + "\n"
               + "".join(f"- {t.system} {t.mode} upload stages: {t.upload_stages}\n" for t in transfers if t.upload_stages)
               + "".join(f"- {t.system} {t.mode} CPU (user + system, all processes of a role): upload {t.upload_cpu}; "
                         f"download {t.download_cpu}\n" for t in transfers if t.upload_cpu)
               + "".join(line + "\n" for line in goals(transfers))
               + ("" if peak is None else
                  f"- Cairn client peak memory, a {args.memory_mb} MiB file up (private) and down in its own process: "
                  f"{peak / 2**20:.0f} MiB (goal 512 MiB for 4 GiB: {_verdict(peak <= MEMORY_GOAL)})\n"))
    print(summary)
    if args.no_record:
        return
    record("Storage transfer", "every node and the client share its cores, all on loopback", summary, notes=[
        f"file: {args.size_mb} MiB of random bytes; k={args.k}, m={args.m} (Tahoe-LAFS: shares.needed={args.k}, "
        f"shares.total=shares.happy={args.k + args.m}, {args.storage_nodes} storage nodes); MB = 10^6 bytes over "
        f"the wall time of the whole call, each download checked against the file"])


if __name__ == "__main__":
    with launcher.signals_interrupt():  # `kill` and timeouts, not only Ctrl-C, stop what it started
        main()
