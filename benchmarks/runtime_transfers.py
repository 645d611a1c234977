"""How many signed transfers per second the runtime applies on one core, against signature checks alone.

Builds real blocks (timestamp inherent, signed ``Balances.transfer_keep_alive`` extrinsics among many
accounts, finalization with the state root and extrinsics root) from pre-signed extrinsics, and in the same
run times sr25519 verification of the very same signing payloads: the floor no runtime can beat. Then it
profiles one block and appends the figures and the profile's top entries to ``benchmarks/RESULTS.md``.

    python benchmarks/runtime_transfers.py [--accounts 2000] [--blocks 5] [--block-size 1000]
"""

from __future__ import annotations

import argparse
import dataclasses
import cProfile
import datetime
import io
import platform
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

import sr25519

from node.chain_spec import preset
from runtime.pallets.balances import BalancesGenesis
from devnet.local_chain import LocalChain
from runtime.executive import Block, BlockBuilder, timestamp_inherent
from runtime.extrinsic import decode_extrinsic, encode_signed, signing_payload
from runtime.hashing import blake2_256
from runtime.primitives import Era
from runtime.keyring import Keypair

RESULTS = Path(__file__).with_name("RESULTS.md")
TARGET = 5_000


def _accounts(n: int) -> list[Keypair]:
    return [Keypair.from_uri("0x" + blake2_256(b"cairn-bench-account" + i.to_bytes(4, "little")).hex()) for i in range(n)]


def _chain(keys: list[Keypair]) -> LocalChain:
    base = preset("dev")
    endowed = BalancesGenesis(tuple((k.public, 10**18) for k in keys))
    return LocalChain(dataclasses.replace(base, name="Cairn Benchmark", id="cairn_bench",
                                          genesis=base.genesis.replace(Balances=endowed)))


def _presign(chain: LocalChain, keys: list[Keypair], count: int, rng: random.Random) -> list[tuple[bytes, bytes]]:
    """(extrinsic, signing payload) pairs: each sender's nonces in order, random recipients."""
    runtime, version = chain.runtime, chain.runtime.VERSION
    nonces = [0] * len(keys)
    out = []
    for i in range(count):
        sender = i % len(keys)
        dest = keys[rng.randrange(len(keys))].public
        call = runtime.call_codec.encode(runtime.call("Balances", "transfer_keep_alive", dest=dest,
                                                      value=rng.randrange(10**12, 10**13)))
        payload = signing_payload(call, Era(), nonces[sender], 0, version.spec_version, version.transaction_version,
                                  chain.genesis_hash, chain.genesis_hash)
        key = keys[sender]
        out.append((encode_signed(call, key.public, key.scheme, key.sign(payload), Era(), nonces[sender], 0), payload))
        nonces[sender] += 1
    return out


def _build_block(chain: LocalChain, extrinsics: list[bytes]) -> int:
    parent = chain.blocks[chain.best_hash]
    number = parent.header.number + 1
    builder = BlockBuilder(chain.runtime, chain.best_state, parent.hash, number)
    builder.apply_extrinsic(timestamp_inherent(chain.runtime, number * 2000))
    for raw in extrinsics:
        outcome = builder.apply_extrinsic(raw)
        assert outcome.error is None, outcome
    header, state = builder.finalize()
    block = Block(header, tuple(builder.extrinsics))
    chain.blocks[block.hash], chain.states[block.hash] = block, state
    chain.hashes.append(block.hash)
    return len(extrinsics)


PHASES = (
    ("signature verification", "extrinsic.py", "verify_signature"),
    ("extrinsic decoding", "extrinsic.py", "decode_extrinsic"),
    ("other signed-extension checks (nonce, mortality, weight, fee)", "executive.py", "check_signed"),
    ("fee withdrawal", "transaction_payment.py", "charge"),
    ("the transfer itself", "construct.py", "dispatch"),
    ("events (encode + append)", "system.py", "deposit_event"),
    ("nonce, weight and length bookkeeping", "system.py", "inc_nonce"),
    ("finalize: hooks, state root, extrinsics root", "executive.py", "finalize"),
)


def _breakdown(stats: pstats.Stats) -> str:
    """Cumulative time of the block's main phases, as a share of the whole block (phases nest: check
    figures exclude the signature check they contain; events are also counted inside their callers)."""
    cumulative: dict[str, float] = {}
    for (filename, _, function), (_, _, _, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        for label, file_suffix, name in PHASES:
            if function == name and filename.endswith(file_suffix):
                cumulative[label] = cumulative.get(label, 0.0) + cum
    total = next(cum for (f, _, fn), (_, _, _, cum, _) in stats.stats.items()  # type: ignore[attr-defined]
                 if fn == "_build_block")
    cumulative["other signed-extension checks (nonce, mortality, weight, fee)"] -= cumulative.get("signature verification", 0.0)
    return "\n".join(f"- {label}: {cumulative.get(label, 0.0) / total:.0%}" for label, _, _ in PHASES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--block-size", type=int, default=1000)
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    rng = random.Random(1)

    keys = _accounts(args.accounts)
    chain = _chain(keys)
    total = args.blocks * args.block_size
    signed = _presign(chain, keys, total + args.block_size, rng)
    extrinsics = [raw for raw, _ in signed]

    # 1. signature verification alone, on the same payloads (decode included, as the runtime must)
    codec = chain.runtime.call_codec
    start = time.perf_counter()
    for raw, payload in signed[:total]:
        xt = decode_extrinsic(raw, codec)
        assert sr25519.verify(xt.signature, payload, xt.signer)
    verify_rate = total / (time.perf_counter() - start)

    # 2. whole blocks
    block_rates = []
    for b in range(args.blocks):
        batch = extrinsics[b * args.block_size:(b + 1) * args.block_size]
        start = time.perf_counter()
        _build_block(chain, batch)
        block_rates.append(len(batch) / (time.perf_counter() - start))
    rate = statistics.median(block_rates)

    # 3. where the time goes, in one more block
    profiler = cProfile.Profile()
    profiler.enable()
    _build_block(chain, extrinsics[total:total + args.block_size])
    profiler.disable()
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(14)
    profile_lines = [line for line in text.getvalue().splitlines() if line.strip()][-15:]
    breakdown = _breakdown(stats)

    verdict = "met" if rate >= TARGET else "MISSED"
    summary = (
        f"- applied: **{rate:,.0f} transfers/s** (median of {args.blocks} blocks of {args.block_size}; "
        f"min {min(block_rates):,.0f}, max {max(block_rates):,.0f}); target >= {TARGET:,}: {verdict}\n"
        f"- sr25519 verification alone (decode + verify, same payloads): {verify_rate:,.0f}/s — the runtime "
        f"runs at {rate / verify_rate:.0%} of this floor\n"
    )
    print(summary)
    print(breakdown)
    print("\n".join(profile_lines))
    if args.no_record:
        return
    machine = f"{platform.processor() or platform.machine()}, Linux {platform.release()}, Python {platform.python_version()}"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
        machine = f"{cpu}; {machine}"
    except (OSError, StopIteration):
        pass
    with RESULTS.open("a") as out:
        out.write(
            f"\n## Runtime transfers — {datetime.datetime.now().isoformat(timespec='seconds')}\n\n"
            f"- machine: {machine}; one core (single process)\n"
            f"- command: `python benchmarks/runtime_transfers.py --accounts {args.accounts} --blocks {args.blocks} "
            f"--block-size {args.block_size}`\n"
            f"- workload: {args.accounts:,} endowed accounts, pre-signed sr25519 `transfer_keep_alive` to random "
            f"accounts, immortal; each block = timestamp inherent + transfers + finalize (state root over the "
            f"trie, extrinsics root)\n"
            f"{summary}\n"
            f"Where one block's time goes (cumulative, from the profile below):\n\n{breakdown}\n"
            f"Profile of one block (cProfile, by own time; cProfile slows everything ~2x):\n\n```\n"
            + "\n".join(profile_lines) + "\n```\n"
        )


if __name__ == "__main__":
    sys.setrecursionlimit(10_000)
    main()
