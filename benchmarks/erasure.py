"""Erasure-coding throughput: Cairn's backends against the strongest peers, in the same run.

For RS(10,4) and RS(4,2) on random data (64 MiB; 8 MiB with ``--quick``), MB/s of original data,
medians of several runs (see ``storage_node.erasure.bench``). The size is rounded down to whole 64-byte
shards (k x 64 bytes) so every implementation codes exactly the same k equal shards: Cairn's padding of a
ragged last shard (one extra copy of that shard) is not what is being compared.

- Cairn, every backend available here: ``encode``; ``rebuild`` = worst-case repair, the m lost data
  fragments rebuilt from the k survivors (what an ISA-L decode call computes); ``decode`` = the same loss
  decoded into one contiguous data buffer.
- ISA-L called raw through ctypes on preallocated NumPy buffers (no Cairn code on the timed path).
- pyeclib's own API with backend ``isa_l_rs_cauchy`` (its fragments carry headers; decode joins data).
- zfec (Tahoe-LAFS), given the data already split into k blocks; its decode returns the k blocks.
- reedsolo (pure Python) on a small input only: RSCodec(m, nsize=k+m), erasures at the data positions.

Targets (ratios, as the design asks): ``isal`` >= 0.8x raw ISA-L, ``numpy`` >= 1x zfec. CuPy figures
are printed only where a CUDA device exists. Results are appended to ``benchmarks/RESULTS.md``.

Run: ``.venv/bin/python benchmarks/erasure.py [--quick]``
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import os
import platform
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import reedsolo
import zfec
from pyeclib.ec_iface import ECDriver

from storage_node.erasure import ErasureCoder, available_backends
from storage_node.erasure.backends.isal_library import load_isal
from storage_node.erasure.bench import Throughput, measure, median_seconds
from storage_node.erasure.params import SHARD_ALIGNMENT

RESULTS = Path(__file__).with_name("RESULTS.md")
CODES = ((10, 4), (4, 2))
REEDSOLO_BYTES = 16 * 1024
ISAL_TARGET, ZFEC_TARGET = 0.8, 1.0


@dataclass(frozen=True)
class Row:
    """One line of the results table; ``None`` where a figure does not apply."""

    implementation: str
    encode: float
    rebuild: float | None
    decode: float | None


def raw_isal(k: int, m: int, data: np.ndarray, repeats: int) -> Row:
    """ISA-L through ctypes, written out here without any Cairn wrapper."""
    _, path = load_isal()                      # only to find the file; the calls below are plain ctypes
    lib = ctypes.CDLL(path)
    n, length = k + m, data.size // k
    pointer = ctypes.c_void_p
    generator = np.empty((n, k), np.uint8)
    lib.gf_gen_cauchy1_matrix(pointer(generator.ctypes.data), n, k)
    shards = data[: k * length].reshape(k, length)
    parity = np.empty((m, length), np.uint8)
    tables = np.empty(32 * k * m, np.uint8)
    lib.ec_init_tables(k, m, pointer(generator[k:].ctypes.data), pointer(tables.ctypes.data))
    sources = (pointer * k)(*(row.ctypes.data for row in shards))
    targets = (pointer * m)(*(row.ctypes.data for row in parity))

    def encode() -> None:
        lib.ec_encode_data(length, k, m, pointer(tables.ctypes.data), sources, targets)

    encode()
    lost = min(m, k)
    survivors = list(range(lost, k + lost))
    available = np.vstack([shards, parity])[survivors]
    available_pointers = (pointer * k)(*(row.ctypes.data for row in available))
    rebuilt = np.empty((lost, length), np.uint8)
    rebuilt_pointers = (pointer * lost)(*(row.ctypes.data for row in rebuilt))

    def rebuild() -> None:
        square = np.ascontiguousarray(generator[survivors])
        inverse = np.empty_like(square)
        lib.gf_invert_matrix(pointer(square.ctypes.data), pointer(inverse.ctypes.data), k)
        rows = np.ascontiguousarray(inverse[:lost])
        decode_tables = np.empty(32 * k * lost, np.uint8)
        lib.ec_init_tables(k, lost, pointer(rows.ctypes.data), pointer(decode_tables.ctypes.data))
        lib.ec_encode_data(length, k, lost, pointer(decode_tables.ctypes.data), available_pointers,
                           rebuilt_pointers)

    rebuild()
    assert np.array_equal(rebuilt, shards[:lost]), "raw ISA-L rebuild is wrong"
    return Row("ISA-L raw (ctypes)", rate(data, encode, repeats), rate(data, rebuild, repeats), None)


def pyeclib_api(k: int, m: int, data: np.ndarray, repeats: int) -> Row:
    driver = ECDriver(k=k, m=m, ec_type="isa_l_rs_cauchy")
    payload = data.tobytes()
    fragments = driver.encode(payload)
    survivors = fragments[min(m, k):]
    assert driver.decode(survivors) == payload
    return Row("pyeclib API (isa_l_rs_cauchy)", rate(data, lambda: driver.encode(payload), repeats), None,
               rate(data, lambda: driver.decode(survivors), repeats))


def zfec_peer(k: int, m: int, data: np.ndarray, repeats: int) -> Row:
    n, length = k + m, data.size // k
    blocks = [data[i * length:(i + 1) * length].tobytes() for i in range(k)]
    encoder, decoder = zfec.Encoder(k, n), zfec.Decoder(k, n)
    coded = encoder.encode(blocks)
    lost = min(m, k)
    numbers = list(range(lost, k + lost))
    survivors = [coded[i] for i in numbers]
    assert decoder.decode(survivors, numbers) == blocks
    return Row("zfec", rate(data, lambda: encoder.encode(blocks), repeats),
               rate(data, lambda: decoder.decode(survivors, numbers), repeats), None)


def reedsolo_peer(k: int, m: int, data: np.ndarray) -> Row:
    small = data[:REEDSOLO_BYTES - REEDSOLO_BYTES % k].tobytes()
    codec = reedsolo.RSCodec(m, nsize=k + m)
    coded = codec.encode(small)
    erasures = [chunk * (k + m) + i for chunk in range(len(coded) // (k + m)) for i in range(min(m, k))]
    damaged = bytearray(coded)
    for position in erasures:
        damaged[position] = 0
    assert bytes(codec.decode(damaged, erase_pos=erasures)[0]) == small
    sample = np.frombuffer(small, np.uint8)
    return Row(f"reedsolo (pure Python, {len(small) // 1024} KiB)", rate(sample, lambda: codec.encode(small), 1),
               None, rate(sample, lambda: codec.decode(damaged, erase_pos=erasures), 1))


def rate(data: np.ndarray, run: Callable[[], object], repeats: int) -> float:
    return data.size / median_seconds(run, repeats) / 1e6


def cairn_row(result: Throughput) -> Row:
    return Row(f"cairn `{result.backend}`", result.encode, result.rebuild, result.decode)


def machine() -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        model = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.CalledProcessError, StopIteration):
        model = platform.processor() or "unknown CPU"
    return (f"{model}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, NumPy {np.__version__}, ISA-L from {Path(load_isal()[1]).name}")


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def ratio_line(name: str, ours: Row, peer: Row, target: float) -> str:
    pairs = [("encode", ours.encode, peer.encode)]
    if peer.rebuild is not None:
        pairs.append(("rebuild", ours.rebuild, peer.rebuild))
    figures = ", ".join(f"{label} {a / b:.2f}x" for label, a, b in pairs)
    verdict = "met" if all(a / b >= target for _, a, b in pairs) else "MISSED"
    return f"{name}: {figures} (target >= {target:g}x: {verdict})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 MiB and 3 repeats instead of 64 MiB and 5")
    arguments = parser.parse_args()
    size, repeats = (8 << 20, 3) if arguments.quick else (64 << 20, 7)
    random_bytes = np.random.default_rng(2024).integers(0, 256, size, dtype=np.uint8)
    backends = available_backends()

    lines = [f"## Erasure coding — {datetime.datetime.now().isoformat(timespec='seconds')}", "",
             f"- machine: {machine()}",
             f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
             f"- input: {size >> 20} MiB of random data, median of {repeats} runs, MB/s of original data; "
             "decode = worst case, m data fragments lost. `rebuild` = the lost fragments only (what ISA-L "
             "decode computes), `decode` = data assembled into one buffer.", ""]
    for k, m in CODES:
        print(f"RS({k},{m}) ...", flush=True)
        data = random_bytes[: size // (k * SHARD_ALIGNMENT) * k * SHARD_ALIGNMENT]
        ours = {name: cairn_row(measure(ErasureCoder(k, m, name), data, repeats=repeats)) for name in backends}
        peers = [raw_isal(k, m, data, repeats), pyeclib_api(k, m, data, repeats), zfec_peer(k, m, data, repeats),
                 reedsolo_peer(k, m, data)]
        lines += [f"### RS({k},{m}), {data.size:,} bytes", "",
                  "| implementation | encode MB/s | rebuild MB/s | decode MB/s |", "|---|---:|---:|---:|"]
        lines += [f"| {row.implementation} | {fmt(row.encode)} | {fmt(row.rebuild)} | {fmt(row.decode)} |"
                  for row in [*ours.values(), *peers]]
        lines.append("")
        lines.append(f"- {ratio_line('`isal` / raw ISA-L', ours['isal'], peers[0], ISAL_TARGET)}")
        lines.append(f"- {ratio_line('`numpy` / zfec', ours['numpy'], peers[2], ZFEC_TARGET)}")
        if "cupy" not in ours:
            lines.append("- no GPU: cupy figures owed")
        lines.append("")
    report = "\n".join(lines)
    print(report)
    if not RESULTS.exists():
        RESULTS.write_text("# Benchmark results\n")
    with RESULTS.open("a") as results:
        results.write("\n" + report)


if __name__ == "__main__":
    main()
