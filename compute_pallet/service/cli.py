"""``cairn provider``: rent this machine's compute to the chain's job market.

    cairn provider --chain-rpc ws://127.0.0.1:9944 --key //Provider1 --base-path ./provider-1 [--http-port 0] \\
        [--gpu auto|none] [--cores N] [--memory-mib N] [--price train=2CAIRN ...] [--stake AMOUNT] \\
        [--fault wrong-result|no-show|copy] [--http-host 127.0.0.1] [--public-url URL] [--input-cache-mib N]

The provider registers its account (``--key``: a ``//Name`` URI, a ``0x`` seed, or a file holding either)
with the hardware found (or the ``--cores`` / ``--memory-mib`` given; a GPU through CuPy with ``--gpu
auto``), an offer for every job kind (``--price KIND=AMOUNT`` overrides one kind's price; an amount is tokens,
``2CAIRN``, or base units) and the stake given, then takes the jobs the chain assigns it. Jobs and their journal
live under ``--base-path``, with the public inputs downloaded (``<base-path>/input-cache``, at most
``--input-cache-mib``, least recently used dropped first: jobs that share a model or a dataset fetch it
once); once ready it writes ``<base-path>/endpoints.json`` (``{"pid": ..., "ports": {"http": port}}``), as
the other daemons do. ``--fault`` makes it misbehave on purpose (tests and demos). SIGINT or
SIGTERM stop it; a restarted provider resumes its jobs from the journal.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import click

from compute_pallet.kinds import KIND_IDS
from compute_pallet.service.daemon import Provider, ProviderConfig, RegistrationFailed
from compute_pallet.service.hardware import detect
from compute_pallet.service.jobs import Fault
from sdk.account.api import amount_form
from sdk.chain import BadArgument
from sdk.cli import AMOUNT, key_argument, units_of
from sdk.client import AsyncClient
from sdk.serving import DaemonRun, chain_rpc_option, daemon_logging, public_url_option, run_daemon
from sdk.storage.cache import PublicFileCache

__all__ = ["provider", "parse_prices"]



def parse_prices(values: tuple[str, ...]) -> dict[str, str]:
    """``("train=5CAIRN", "infer=1000")`` → ``{"train": "5CAIRN", "infer": "1000"}``, each amount's form checked
    (:func:`sdk.account.api.amount_form`; read with the chain's token once connected); ``click.BadParameter``
    for anything else."""
    prices = {}
    for value in values:
        kind, _, amount = value.partition("=")
        if kind not in KIND_IDS:
            raise click.BadParameter(f"{value!r} is not KIND=AMOUNT with KIND one of {', '.join(KIND_IDS)}",
                                     param_hint="'--price'")
        try:
            amount_form(amount)
        except BadArgument as exc:
            raise click.BadParameter(f"{value!r} is not KIND=AMOUNT: {exc}", param_hint="'--price'") from None
        prices[kind] = amount
    return prices


DEFAULT_STAKE_MULTIPLE = 2
"""Stake held by default, in multiples of ``MinStake``. The chain assigns nothing to a provider below the minimum,
and the daemon tops a stake back up only at its next start (or as a leave is taken back), so one staked at exactly
the minimum would be out of the market after its first slash (2 % for a no-show, 10 % for a lost dispute); twice
the minimum outlasts several."""

INPUT_CACHE = "input-cache"
DEFAULT_INPUT_CACHE_MIB = 2048
"""Room for a few models and datasets of the size jobs here use, on any machine that runs jobs at all."""


@click.command("provider")
@chain_rpc_option
@click.option("--key", required=True, help="The provider account: //Name, 0x seed, or a key file (cairn account new).")
@click.option("--base-path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where jobs, their journal and endpoints.json live.")
@click.option("--http-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of /v1/health and /metrics (0: any free port, written to endpoints.json).")
@click.option("--http-host", default="127.0.0.1", show_default=True, help="Address the HTTP API binds.")
@public_url_option
@click.option("--gpu", type=click.Choice(["auto", "none"]), default="auto", show_default=True,
              help="auto: offer the first CUDA device CuPy finds, if any.")
@click.option("--cores", type=click.IntRange(1), default=None, help="CPU cores offered [default: all].")
@click.option("--memory-mib", type=click.IntRange(1), default=None, help="Memory offered [default: all].")
@click.option("--price", "prices", multiple=True, metavar="KIND=AMOUNT",
              help="Price of one job of KIND: 2CAIRN, or base units (repeatable) [default: 1 token each].")
@click.option("--stake", type=AMOUNT, default=None,
              help="Stake to hold (200CAIRN, or base units): on registration, and topped back up to at every start "
                   "(a provider slashed below the chain's minimum is assigned nothing) "
                   f"[default: {DEFAULT_STAKE_MULTIPLE} × the chain's minimum].")
@click.option("--input-cache-mib", type=click.IntRange(0), default=DEFAULT_INPUT_CACHE_MIB, show_default=True,
              help="Disk kept for public job inputs, to run the next job on the same model or dataset without "
                   "fetching it again (0: keep none).")
@click.option("--fault", type=click.Choice([fault.value for fault in Fault]), default=None,
              help="Misbehave on purpose: a wrong result, no commit at all, or a copied reveal.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def provider(chain_rpc: tuple[str, ...], key: str, base_path: Path, http_port: int, http_host: str,
             public_url: str | None, gpu: str, cores: int | None, memory_mib: int | None, prices: tuple[str, ...],
             stake: str | None, input_cache_mib: int, fault: str | None, log_level: str) -> None:
    """Run a compute provider: register, heartbeat, run the jobs the chain assigns, commit and reveal."""
    daemon_logging(log_level)
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))  # not a line per fragment
    keypair = key_argument(key)
    price_texts = parse_prices(prices)
    hardware = detect(cores=cores, memory_mib=memory_mib, gpu=gpu == "auto")

    @asynccontextmanager
    async def worker() -> AsyncIterator[DaemonRun]:
        input_cache = PublicFileCache(base_path / INPUT_CACHE, input_cache_mib << 20) if input_cache_mib else None
        async with AsyncClient(chain_rpc, signer=keypair, file_cache=input_cache) as client:
            token = await client.account.token()
            yield Provider(client, keypair, ProviderConfig(
                base_path=base_path, hardware=hardware,
                prices={kind: units_of(token, amount, "'--price'") for kind, amount in price_texts.items()},
                stake=units_of(token, stake, "'--stake'") if stake is not None
                else DEFAULT_STAKE_MULTIPLE * client.get_constant("ComputeProviders", "MinStake"),
                http_host=http_host, http_port=http_port, public_url=public_url,
                fault=Fault(fault) if fault else None)).run

    run_daemon(base_path, chain_rpc, worker, refusals=(RegistrationFailed,))
