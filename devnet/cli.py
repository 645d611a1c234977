"""``cairn chain-spec`` and ``cairn devnet``: chain specs and the local development network."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from devnet.chain_spec import PRESETS, ChainSpec, InvalidChainSpec, preset
from devnet.local_chain import LocalChain
from sdk.keyring import DEV_ACCOUNTS, Keypair


def _load_spec(chain: str) -> ChainSpec:
    try:
        return preset(chain) if chain in PRESETS else ChainSpec.load(Path(chain))
    except (InvalidChainSpec, OSError) as exc:
        raise click.ClickException(str(exc)) from None


@click.command("chain-spec")
@click.option("--preset", "preset_name", type=click.Choice(sorted(PRESETS)), default="dev", show_default=True,
              help="Which built-in chain to describe.")
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the spec here instead of standard output.")
def chain_spec(preset_name: str, output: Path | None) -> None:
    """Write a chain spec (JSON) for a preset; its genesis hash goes to standard error."""
    spec = preset(preset_name)
    _, genesis, _ = spec.build()
    text = json.dumps(spec.to_json(), indent=2) + "\n"
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text)
    click.echo(f"genesis hash 0x{genesis.hash.hex()}", err=True)


@click.group()
def devnet() -> None:
    """Run a local development network."""


@devnet.command("up")
@click.option("--chain", default="dev", show_default=True, help="A preset name or a chain spec file.")
@click.option("--blocks", type=int, default=0, help="Stop after this many blocks (0: run until Ctrl-C).")
@click.option("--slot-ms", type=int, default=None, help="Override the spec's slot duration (milliseconds).")
def devnet_up(chain: str, blocks: int, slot_ms: int | None) -> None:
    """Start the devnet: build the chain from its spec and author a block every slot.

    At this stage the devnet is one in-process chain that executes real blocks (timestamp inherent,
    state root, extrinsics root) on the runtime; validators, RPC and the storage, DA and compute
    networks join it as they land.
    """
    spec = _load_spec(chain)
    slot_ms = slot_ms if slot_ms is not None else spec.slot_duration_ms
    if slot_ms < 2 * spec.runtime.minimum_period_ms:
        raise click.BadParameter(f"slots must be at least {2 * spec.runtime.minimum_period_ms} ms: the runtime "
                                 f"requires {spec.runtime.minimum_period_ms} ms between block timestamps",
                                 param_hint="--slot-ms")
    local = LocalChain(spec)
    slot = slot_ms / 1000
    click.echo(f"{spec.name} ({spec.id}): genesis 0x{local.genesis_hash.hex()}")
    click.echo("dev accounts (sr25519, SS58 prefix 42):")
    for name in DEV_ACCOUNTS:
        click.echo(f"  //{name:<8} {Keypair.from_uri('//' + name).ss58_address()}")
    produced = 0
    try:
        while blocks == 0 or produced < blocks:
            started = time.monotonic()
            result = local.produce_block([], timestamp_ms=int(time.time() * 1000))
            header = result.block.header
            produced += 1
            click.echo(f"block #{header.number} 0x{header.hash.hex()[:16]}… state 0x{header.state_root.hex()[:16]}…")
            time.sleep(max(0.0, slot - (time.monotonic() - started)))
    except KeyboardInterrupt:
        click.echo("stopped", err=True)
        sys.exit(0)
