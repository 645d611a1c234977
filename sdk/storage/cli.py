"""``cairn storage``: files on the storage network from the command line.

    cairn storage put FILE [--public] [-k K -m M]     # progress on stderr; the file id (0x…) last on stdout
                                                      # (FILE -: standard input)
    cairn storage get FID -o OUT                      # OUT -: standard output
    cairn storage info FID [--json]                   # status, each fragment's node and health
    cairn storage ls [--owner ACCOUNT] [--json]
    cairn storage register-key                        # once per account: grants are sealed to its key
    cairn storage grant FID ACCOUNT
    cairn storage revoke FID ACCOUNT
    cairn storage log FID [--json]                    # every recorded read
    cairn storage nodes [--json]                      # endpoints, capacity, stake, audit record
    cairn storage leave --key OPERATOR                # a node's exit: rebuilt elsewhere, then its stake back
    cairn storage delete FID

Every command takes ``--rpc`` (a node's WebSocket, default ``ws://127.0.0.1:9944``) and ``--key`` (the
signing account: a ``//Name`` URI, a ``0x`` seed or a file holding either; default ``//Alice``, a devnet
account). Output meant for scripts goes to stdout (ids, ``--json``); progress and tables meant for people
go to stderr and stdout respectively through ``rich``. Errors exit with status 1 and one line on stderr.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar

import click
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn
from rich.table import Table

from sdk.cli import chain_options, cli_account, output_file, shown_account, stdout_console, user_client
from sdk.storage.records import Record
from sdk.storage.transfer import Progress as TransferProgress

__all__ = ["storage"]

R = TypeVar("R", bound=Record)

STAGES = {"encode": "hashing", "declare": "declaring", "push": "uploading", "activate": "confirming",
          "fetch": "downloading"}


@contextmanager
def _progress() -> Iterator[Callable[[TransferProgress], None]]:
    """A rich progress bar on stderr, one task per stage, and the callback that moves it."""
    console = Console(stderr=True)
    columns = (TextColumn("{task.description:>12}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, Any] = {}

        def update(report: TransferProgress) -> None:
            if report.stage not in tasks:
                tasks[report.stage] = bars.add_task(STAGES.get(report.stage, report.stage), total=report.total or 1)
            bars.update(tasks[report.stage], completed=report.done if report.total else 1)

        yield update


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2))


def _show(records: Sequence[R], as_json: bool, columns: tuple[str, ...], cells: Callable[[R], tuple[str, ...]]) -> None:
    """``records`` as a JSON list, or as a table with one row of ``cells(record)`` each."""
    if as_json:
        _print_json([record.to_json() for record in records])
        return
    table = Table(*columns)
    for record in records:
        table.add_row(*cells(record))
    stdout_console().print(table)


@click.group()
def storage() -> None:
    """Store, fetch and share files on the storage network."""


@storage.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--public", is_flag=True, help="Store unencrypted: anyone may read it.")
@click.option("-k", type=click.IntRange(1, 254), default=None, help="Data fragments per segment (chain default).")
@click.option("-m", type=click.IntRange(1, 254), default=None, help="Parity fragments per segment (chain default).")
@chain_options
def put(rpc: str, key: str, file: Path, public: bool, k: int | None, m: int | None) -> None:
    """Upload FILE (``-``: standard input); prints its file id (0x…) as the last line of stdout."""
    source = sys.stdin.buffer if str(file) == "-" else file
    last: list[TransferProgress] = []
    try:
        with user_client(rpc, key) as client, _progress() as progress:
            def watch(report: TransferProgress) -> None:
                last[:] = [report]
                progress(report)

            file_id = client.storage.upload(source, private=not public, k=k, m=m, progress=watch)
    except BaseException:  # an error or Ctrl-C: say what became of a file the chain holds, then end as they do
        if last and last[0].file_id is not None:
            _tell_unfinished(last[0])
        raise
    click.echo("0x" + file_id.hex())


def _tell_unfinished(report: TransferProgress) -> None:
    """What is left of an upload that stopped after its declaration: the file id, and how to get its deposit
    back (the one thing a file id printed nowhere else would cost)."""
    file = "0x" + report.file_id.hex()  # type: ignore[union-attr]
    if report.stage == "activate" and report.done == report.total:
        click.echo(f"file {file} is stored (active)", err=True)
        return
    click.echo(f"file {file} was declared and not completed: its deposit stays held until `cairn storage delete "
               f"{file}` (the chain also drops it, returning the deposit, once no fragment of it is confirmed for "
               "its upload timeout; `cairn storage ls` lists it meanwhile)", err=True)


@storage.command()
@click.argument("file_id")
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=True,
              help="Where to write the file (-: standard output).", callback=output_file)
@chain_options
def get(rpc: str, key: str, file_id: str, output: Path) -> None:
    """Download FILE_ID to OUTPUT."""
    target = sys.stdout.buffer if str(output) == "-" else output
    with user_client(rpc, key) as client, _progress() as progress:
        client.storage.download(file_id, target, progress=progress)


@storage.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def info(rpc: str, key: str, file_id: str, as_json: bool) -> None:
    """A file's status and each fragment's node and health."""
    with user_client(rpc, key) as client:
        details = client.storage.info(file_id)
        token = client.account.token()
    if as_json:
        _print_json(details.to_json())
        return
    console = stdout_console()
    console.print(f"file 0x{details.file_id.hex()}  {details.status}  {details.size} bytes  "
                  f"{'private' if details.encrypted else 'public'}  RS({details.k},{details.m})  "
                  f"{details.segment_count} segments  owner {shown_account(details.owner)}")
    console.print(f"deposit {token.format(details.deposit)}, paid until block {details.paid_until} "
                  "(`cairn storage renew` pays for more)"
                  + ("; a verified job's output: its owner may not delete it" if details.locked else ""))
    if details.uses or details.deleting:
        console.print(f"in use by {details.uses} job(s) or round(s)"
                      + ("; deleted by its owner: goes when the last use ends" if details.deleting else ""))
    table = Table("segment", "fragment", "node", "endpoint", "confirmed", "node status", "health")
    for f in details.fragments:
        table.add_row(str(f.segment), str(f.fragment), shown_account(f.node, short=True), f.endpoint or "-",
                      "yes" if f.confirmed else "no", f.node_status or "gone",
                      "ok" if f.healthy else ("repairing" if f.repairing else "at risk"))
    console.print(table)


@storage.command()
@click.option("--owner", default=None, help="Whose files (default: the --key account): an SS58 address, 0x hex "
              "or a development account's //Name.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def ls(rpc: str, key: str, owner: str | None, as_json: bool) -> None:
    """The files an account stores."""
    with user_client(rpc, key) as client:
        files = client.storage.ls(None if owner is None else cli_account(owner))
    _show(files, as_json, ("file id", "size", "access", "status"),
          lambda f: ("0x" + f.file_id.hex(), str(f.size), "private" if f.encrypted else "public", f.status))


@storage.command("register-key")
@chain_options
def register_key(rpc: str, key: str) -> None:
    """Publish this account's encryption key (derived from --key), once, so owners can grant it private files."""
    with user_client(rpc, key) as client:
        sent = client.storage.register_key()
        address = client.signer.ss58_address()
    click.echo(f"{address}: encryption key {'registered' if sent else 'already registered'}")


@storage.command()
@click.argument("file_id")
@click.argument("account")
@chain_options
def grant(rpc: str, key: str, file_id: str, account: str) -> None:
    """Let ACCOUNT (an SS58 address, 0x hex, or a development account's //Name) read the private file
    FILE_ID; ACCOUNT must have registered its encryption key (`cairn storage register-key`)."""
    account = cli_account(account)
    with user_client(rpc, key) as client:
        client.storage.grant(file_id, account)
    click.echo(f"{file_id}: granted to {account}")


@storage.command()
@click.argument("file_id")
@click.argument("account")
@chain_options
def revoke(rpc: str, key: str, file_id: str, account: str) -> None:
    """Stop ACCOUNT (as for `grant`) reading FILE_ID."""
    account = cli_account(account)
    with user_client(rpc, key) as client:
        client.storage.revoke(file_id, account)
    click.echo(f"{file_id}: revoked from {account}")


@storage.command()
@click.argument("file_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def log(rpc: str, key: str, file_id: str, as_json: bool) -> None:
    """Every recorded read of FILE_ID: who, at which block, recorded by whom (the reader, or the owner with the
    grant)."""
    with user_client(rpc, key) as client:
        records = client.storage.access_log(file_id)
    _show(records, as_json, ("#", "account", "block", "recorded by"),
          lambda r: (str(r.index), shown_account(r.account), str(r.block), shown_account(r.recorder)))


@storage.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def nodes(rpc: str, key: str, as_json: bool) -> None:
    """The registered storage nodes: endpoint, capacity, stake and audit record."""
    with user_client(rpc, key) as client:
        found = client.storage.nodes()
        token = client.account.token()
    _show(found, as_json, ("account", "endpoint", "status", "used / capacity", "stake", "passed", "missed", "repairs"),
          lambda n: (shown_account(n.account, short=True), n.endpoint, n.status, f"{n.used} / {n.capacity}",
                     token.format(n.stake), str(n.audits_passed), str(n.audits_missed), str(n.repairs_done)))


@storage.command()
@chain_options
def leave(rpc: str, key: str) -> None:
    """Take the storage node of --key out of the network: it gets no new fragments, those it holds are rebuilt
    on other nodes (keep it running meanwhile: it is still audited), then its stake is released."""
    with user_client(rpc, key) as client:
        left = client.storage.leave()
        address = client.signer.ss58_address()
    click.echo(f"{address}: left, its stake released" if left else
               f"{address}: leaving; its fragments are being rebuilt on other nodes, then its stake is released "
               "(`cairn storage nodes` lists it Exiting until then; keep it running meanwhile)")


@storage.command()
@click.argument("file_id")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), required=True,
              help="How much more storage to pay for (rounded up to whole audit periods).")
@chain_options
def renew(rpc: str, key: str, file_id: str, days: float) -> None:
    """Pay for DAYS more of FILE_ID's storage (any account may); a file whose paid time ends expires."""
    with user_client(rpc, key) as client:
        paid_until = client.storage.renew(file_id, days=days)
    click.echo(f"paid until block {paid_until}")


@storage.command()
@click.argument("file_id")
@chain_options
def delete(rpc: str, key: str, file_id: str) -> None:
    """Delete FILE_ID (its owner only): nodes drop it, the deposit comes back; a file jobs are reading goes
    when the last of them ends."""
    with user_client(rpc, key) as client:
        uses = client.storage.delete(file_id)
    if uses:
        click.echo(f"in use by {uses} job(s) or round(s): deleted when the last of them ends")
