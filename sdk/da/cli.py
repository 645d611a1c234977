"""``cairn da``: the data-availability layer from the command line.

    cairn da submit FILE                      # waits for availability; progress on stderr; blob ids on stdout
    cairn da status BLOB [--json]
    cairn da sample BLOB [--samples N] [--json]   # prints the confidence; exit status 1 if it fails
    cairn da get BLOB... -o OUT               # submit's FILE and get's OUT may be -: standard input, output
    cairn da nodes [--json]
    cairn da leave --key OPERATOR             # a DA node leaves; its stake back when its blobs' retention ends
    cairn da bond AMOUNT --key OPERATOR       # a DA node puts more stake on hold

Every command takes ``--rpc`` (a node's WebSocket, default ``ws://127.0.0.1:9944``) and ``--key`` (the
signing account: a ``//Name`` URI, a ``0x`` seed or a file holding either; default ``//Alice``, a devnet
account; only ``submit``, ``leave`` and ``bond`` sign). ``submit`` prints the blob references, one per line and nothing
else, so ``cairn da get $(cairn da submit data.bin) -o copy.bin`` round-trips. Errors exit with status 1 and one
line on stderr.
"""

from __future__ import annotations

import dataclasses
import json
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, Callable, Iterator

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from da_layer.blobs import USABLE_BYTES_PER_BLOB
from sdk.cli import AMOUNT, amount_units, chain_options, output_file, shown_account, stdout_console, user_client
from sdk.da.config import DaConfig
from sdk.da.errors import DaError
from sdk.da.types import BlobRef
from sdk.da.types import Progress as SubmitProgress

__all__ = ["da"]

ERRORS = (DaError, ValueError)
"""What ends a command with one line (exit 1) besides chain client errors: DA failures and bad blob ids."""
STAGES = {"encode": "encoding", "submit": "submitting", "push": "distributing", "attest": "attesting"}


@contextmanager
def _progress() -> Iterator[Callable[[SubmitProgress], None]]:
    """Rich progress bars on stderr, one per stage, counting blobs."""
    columns = (TextColumn("{task.description:>12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True)) as bars:
        tasks: dict[str, Any] = {}

        def update(report: SubmitProgress) -> None:
            if report.stage not in tasks:
                tasks[report.stage] = bars.add_task(STAGES.get(report.stage, report.stage), total=report.total)
            bars.update(tasks[report.stage], completed=report.done)

        yield update


def _plain(item: Any) -> Any:
    """A result as JSON values: bytes as 0x hex, a blob reference as its text, records as objects."""
    if isinstance(item, bytes):
        return "0x" + item.hex()
    if isinstance(item, (list, tuple)):
        return [_plain(i) for i in item]
    if isinstance(item, BlobRef):
        return str(item)
    if dataclasses.is_dataclass(item):
        return {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}
    return item


def _print_json(value: Any) -> None:
    click.echo(json.dumps(_plain(value), indent=2))


@click.group()
def da() -> None:
    """Publish blobs, check their availability by sampling, read them back."""


@da.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, allow_dash=True, path_type=Path))
@click.option("--namespace", type=click.IntRange(0, 2**32 - 1), default=0, show_default=True,
              help="The application id the blobs are filed under.")
@chain_options
def submit(rpc: str, key: str, file: Path, namespace: int) -> None:
    """Publish FILE (``-``: standard input) and wait until every blob is available; prints the blob ids, one
    per line."""
    limit = DaConfig().max_blobs * USABLE_BYTES_PER_BLOB
    piped = str(file) == "-"
    # read up to a byte more than a submission takes, which tells it is too much: a path may name a pipe or a
    # device (/dev/stdin, <(…)), whose size reads 0; a regular file too large is refused unread
    with nullcontext(click.get_binary_stream("stdin")) if piped else open(file, "rb") as stream:
        oversized = not piped and os.fstat(stream.fileno()).st_size > limit
        data = b"" if oversized else stream.read(limit + 1)
    if oversized or len(data) > limit:
        raise click.BadParameter(f"{'standard input' if piped else file} has more than {limit} bytes, what one "
                                 "submission takes at most", param_hint="FILE")
    reached: dict[str, str] = {}  # each blob the chain has, by id: the last stage it passed

    def note(report: SubmitProgress) -> None:
        if report.blob is not None:
            reached[str(report.blob)] = report.stage

    try:
        with user_client(rpc, key, errors=ERRORS) as client, _progress() as bars:
            refs = client.da.submit(data, namespace=namespace, progress=lambda report: (note(report), bars(report)))
    except BaseException:  # an error or Ctrl-C once the chain has a blob: its id was to be printed
        _tell_left(reached)
        raise
    for ref in refs:
        click.echo(str(ref))


LEFT = {
    "submit": "was submitted and not attested: the chain marks it Unavailable and burns its fee at its attestation "
              "deadline (DataAvailability.AttestationDeadline blocks), as only its submitter holds the nodes' "
              "signatures that attest it",
    "push": "was submitted and its cells pushed; its attestation may have been sent: `cairn da status {blob}` says "
            "whether it became Available (if it stays Pending past its attestation deadline, its fee burns)",
    "attest": "was submitted and attested: `cairn da get {blob} -o FILE` reads it",
}
"""What a blob of a submission stopped midway is left as, by the last stage it passed."""


def _tell_left(reached: dict[str, str]) -> None:
    """What a submission stopped midway leaves on chain: each blob the chain confirmed to it, by how far it got (a
    ``submit_blob`` sent and not seen included is not known here; ``cairn da`` lists nothing by submitter)."""
    for blob, stage in list(reached.items()):
        click.echo(f"blob {blob} {LEFT[stage].format(blob=blob)}", err=True)


@da.command()
@click.argument("blob")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def status(rpc: str, key: str, blob: str, as_json: bool) -> None:
    """What the chain records of BLOB: status, size, submitter, node set."""
    with user_client(rpc, key, errors=ERRORS) as client:
        info = client.da.status(blob)
    if as_json:
        _print_json(info)
        return
    click.echo(f"{info.blob}  {info.status}  {info.length} bytes  namespace {info.namespace}  "
               f"submitted at #{info.submitted_at}  {len(info.node_set)} DA nodes")


@da.command()
@click.argument("blob")
@click.option("--samples", type=click.IntRange(1, 128), default=None,
              help="Cells to sample [default: 20, for a confidence of 1 - 10^-6].")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def sample(rpc: str, key: str, blob: str, samples: int | None, as_json: bool) -> None:
    """Sample random cells of BLOB against its finalized commitment and print the confidence; exits 1 when
    a sampled cell cannot be had (the blob looks unavailable)."""
    with user_client(rpc, key, errors=ERRORS) as client:
        report = client.da.sample(blob, samples)
    if as_json:
        _print_json(report)
    elif report.available:
        click.echo(f"{report.confidence!r}")
    else:
        click.echo(f"unavailable: {len(report.failed)} of {report.samples} sampled cells were not served "
                   f"with a valid proof (cells {', '.join(map(str, report.failed))})", err=True)
    if not report.available:
        raise SystemExit(1)


@da.command()
@click.argument("blobs", nargs=-1, required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path), required=True,
              help="Where to write the payload (the blobs' bytes, in the order given; -: standard output).",
              callback=output_file)
@chain_options
def get(rpc: str, key: str, blobs: tuple[str, ...], output: Path) -> None:
    """Rebuild the payload of BLOBS from any half of each one's cells and write it to OUTPUT."""
    with user_client(rpc, key, errors=ERRORS) as client:
        data = client.da.get(list(blobs))
    if str(output) == "-":
        click.get_binary_stream("stdout").write(data)
        return
    partial = output.with_name(output.name + ".partial")
    partial.write_bytes(data)
    partial.replace(output)


@da.command()
@chain_options
def leave(rpc: str, key: str) -> None:
    """Take the DA node of --key out of the node set: new blobs do not name it; it keeps the custody of those
    that do (still audited) until their retention ends, when its stake is released."""
    with user_client(rpc, key, errors=ERRORS) as client:
        unbonds_at = client.da.leave()
        address = client.signer.ss58_address()
    click.echo(f"{address}: leaving the DA node set; its stake is released at block {unbonds_at} (keep it running "
               "until then: it still holds custody of the blobs that name it)")


@da.command()
@click.argument("amount", type=AMOUNT)
@chain_options
def bond(amount: str, rpc: str, key: str) -> None:
    """Put AMOUNT (500CAIRN, or units) more on hold as the stake of the DA node of --key: it weighs more in
    the quorums of blobs submitted from then on, keeps more of their columns, and stays in a full node set,
    where a newcomer evicts the lowest stake."""
    with user_client(rpc, key, errors=ERRORS) as client:
        stake = client.da.bond(amount_units(client, amount, "AMOUNT"))
        address = client.signer.ss58_address()
        shown = client.account.token().format(stake)
    click.echo(f"{address}: DA stake now {shown}")


@da.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@chain_options
def nodes(rpc: str, key: str, as_json: bool) -> None:
    """The registered DA nodes: endpoint, stake, audit record."""
    with user_client(rpc, key, errors=ERRORS) as client:
        found = client.da.nodes()
        token = client.account.token()
    if as_json:
        _print_json(found)
        return
    table = Table("account", "endpoint", "stake", "audits passed", "missed", "leaving")
    for node in found:
        table.add_row(shown_account(node.account), node.endpoint, token.format(node.stake), str(node.audits_passed),
                      str(node.audits_missed), "-" if node.leaves_at is None else f"stake back at #{node.leaves_at}")
    stdout_console().print(table)
