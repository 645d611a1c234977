"""``cairn account``: keys, balances and transfers.

    cairn account new -o FILE                       # a fresh key, written to FILE (0600); prints its address
    cairn account balance [ACCOUNT] [--json]        # free, transferable, reserved and each hold, frozen, nonce
    cairn account transfer DEST AMOUNT [--allow-death]

ACCOUNT and DEST are SS58 addresses, ``0x`` hex or a development account's ``//Name``; ``balance`` without one
shows ``--key``'s account. AMOUNT is tokens with the symbol (``2.5CAIRN``) or plain units (``2500``). Amounts
print as tokens; ``--json`` gives units.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
from rich.table import Table

from sdk.account.errors import AccountError, TransferRefused
from sdk.cli import (
    AMOUNT,
    amount_units,
    chain_options,
    cli_account,
    output_file,
    shown_account,
    stdout_console,
    user_client,
)


@click.group()
def account() -> None:
    """Keys, balances and transfers."""


@account.command()
@click.option("-o", "--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              callback=output_file, help="The key file to write (never overwritten).")
def new(out: Path) -> None:
    """Make a fresh key (a random seed) and write it to a file only its owner may read; print its address.

    The file is what every --key takes. Fund the account from one that holds tokens (on a devnet, a development
    account): cairn account transfer ADDRESS 100CAIRN --key //Alice."""
    from runtime.keyring import Keypair

    if str(out) == "-":
        raise click.BadParameter("a key is written to a file, never to standard output", param_hint="'-o'")
    seed = os.urandom(32)
    try:
        descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise click.BadParameter(f"{out} exists: a key file is never overwritten", param_hint="'-o'") from None
    with os.fdopen(descriptor, "w") as file:
        file.write(f"0x{seed.hex()}\n")
    address = Keypair.from_uri(f"0x{seed.hex()}").ss58_address()
    click.echo(f"wrote the key of {address} to {out}: --key {out} signs as it", err=True)
    click.echo(address)


@account.command()
@click.argument("who", metavar="[ACCOUNT]", required=False)
@chain_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON (amounts in units).")
def balance(rpc: str, key: str, who: str | None, as_json: bool) -> None:
    """An account's balance: free (and how much of it a transfer can send), reserved with each hold that makes it
    up (storage deposits, stakes, job escrow), frozen, and its nonce. Without ACCOUNT: --key's account."""
    with user_client(rpc, key, errors=(AccountError,)) as client:
        found = client.account.balance(None if who is None else cli_account(who))
        token = client.account.token()
    if as_json:
        click.echo(json.dumps({**found.to_json(), "token": {"symbol": token.symbol, "decimals": token.decimals}},
                              indent=2))
        return
    table = Table("", "amount", box=None, show_header=False, pad_edge=False)
    table.add_row("account", shown_account(found.account))
    table.add_row("free", token.format(found.free))
    table.add_row("  transferable", token.format(found.transferable))
    table.add_row("reserved", token.format(found.reserved))
    for hold in found.holds:
        table.add_row(f"  held by {hold.pallet} ({hold.reason})", token.format(hold.amount))
    unnamed = found.reserved - sum(hold.amount for hold in found.holds)
    if unnamed and found.holds:
        table.add_row("  reserved otherwise", token.format(unnamed))
    table.add_row("frozen", token.format(found.frozen))
    table.add_row("nonce", str(found.nonce))
    stdout_console().print(table)


REFUSALS = {
    "InsufficientBalance": "{source} can send {transferable} now (free less frozen, less the {ed} an account "
                           "keeps to exist)",
    "ExistentialDeposit": "{dest} holds nothing yet, and an account is made by at least the existential deposit "
                          "({ed})",
    "Expendability": "it would leave {source} with less than the existential deposit ({ed}); --allow-death lets "
                     "the chain reap an account with nothing held, reserved or frozen",
}
"""What a transfer refused by the chain means, in the sender's terms."""


@account.command()
@click.argument("dest")
@click.argument("amount", type=AMOUNT)
@click.option("--allow-death", is_flag=True,
              help="Let the transfer take --key's account below the existential deposit (it is then reaped).")
@chain_options
def transfer(rpc: str, key: str, dest: str, amount: str, allow_death: bool) -> None:
    """Send AMOUNT (2.5CAIRN, or units) from --key's account to DEST; print the fee and what the sender has left."""
    with user_client(rpc, key, errors=(AccountError,)) as client:
        token = client.account.token()
        units = amount_units(client, amount, "'AMOUNT'")
        to = cli_account(dest)
        try:
            fee = client.account.transfer(to, units, keep_alive=not allow_death)
        except TransferRefused as exc:
            if exc.reason not in REFUSALS:
                raise
            now = client.account.balance()
            sendable = now.free - now.frozen if allow_death else now.transferable
            paid = "" if exc.failure is None else " (refused by the chain: the fee was paid)"
            why = REFUSALS[exc.reason].format(source=shown_account(now.account), dest=to,
                                              transferable=token.format(sendable),
                                              ed=token.format(now.existential_deposit))
            raise click.ClickException(f"TransferRefused: {token.format(units)} not sent{paid}: {why}") from None
        left = client.account.balance()
    click.echo(f"sent {token.format(units)} to {to}; fee {token.format(fee)}; "
               f"{shown_account(left.account)} has {token.format(left.free)} free")
