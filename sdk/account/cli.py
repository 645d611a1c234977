"""``cairn account``: keys, balances and transfers.

    cairn account new -o FILE                       # a fresh key (BIP-39 phrase) in FILE (0600); prints its address
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
    """Make a fresh key (a random 12-word BIP-39 phrase, as subkey and wallets make them) and write it to a file
    only its owner may read; print its address.

    The file is what every --key takes, and its phrase imports the same sr25519 account into polkadot.js or
    subkey. Fund the account from one that holds tokens (on a devnet, a development account): cairn account
    transfer ADDRESS 100CAIRN --key //Alice."""
    import bip39

    from runtime.keyring import Keypair

    if str(out) == "-":
        raise click.BadParameter("a key is written to a file, never to standard output", param_hint="'-o'")
    phrase = bip39.bip39_generate(12)  # 128 bits from tiny-bip39: rand's thread_rng, seeded by the operating system
    if out.exists() or out.is_symlink():
        raise click.BadParameter(f"{out} exists: a key file is never overwritten", param_hint="'-o'")
    _write_new(out, phrase + "\n")
    address = Keypair.from_uri(phrase).ss58_address()
    click.echo(f"wrote the key of {address} to {out}: --key {out} signs as it", err=True)
    click.echo(address)


def _write_new(out: Path, text: str) -> None:
    """Write ``text`` to a new file ``out`` (owner-only) that is never seen half-written: a half-written key would
    read as another (an empty one as the development phrase's root), and hold funds no one can spend. It is
    written and synced under a temporary name, then linked to ``out``, which fails if ``out`` exists by then."""
    temporary = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())  # on disk before its address is printed, and funded
        os.link(temporary, out)
        folder = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(folder)  # and its name too
        finally:
            os.close(folder)
    except FileExistsError as exc:
        if exc.filename == str(temporary):
            raise
        raise click.BadParameter(f"{out} exists: a key file is never overwritten", param_hint="'-o'") from None
    except OSError as exc:
        raise click.ClickException(f"{out}: {exc.strerror or exc}") from None
    finally:
        temporary.unlink(missing_ok=True)


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
    table.add_row("  transferable", f"{token.format(found.transferable)} (less a transfer's fee)")
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
    "InsufficientBalance": "{source} has not that much to send",
    "ExistentialDeposit": "{dest} holds nothing yet, and an account is made by at least the existential deposit "
                          "({ed})",
    "Expendability": "it would leave {source} with less than the existential deposit ({ed}), which it keeps while "
                     "anything is held, reserved or frozen on it, or without --allow-death",
}
"""What a refused transfer means, in the sender's terms."""


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
        to = shown_account(_account_id(cli_account(dest)))
        try:
            fee = client.account.transfer(to, units, keep_alive=not allow_death)
        except TransferRefused as exc:
            if exc.reason not in REFUSALS:
                raise
            source = shown_account(client.signer.public)
            why = REFUSALS[exc.reason].format(source=source, dest=to, ed=token.format(client.get_constant(
                "Balances", "ExistentialDeposit")))
            if exc.failure is not None:  # the balance changed between the check and the block
                raise click.ClickException(f"TransferRefused: {token.format(units)} not sent (refused by the chain, "
                                           f"the fee paid): {why}") from None
            raise click.ClickException(f"TransferRefused: {token.format(units)} not sent: {why}; it can send "
                                       f"{token.format(exc.sendable or 0)} now, after the fee") from None
        left = client.account.balance()
    click.echo(f"sent {token.format(units)} to {to}; fee {token.format(fee)}; "
               f"{shown_account(left.account)} has {token.format(left.free)} free")


def _account_id(value: str) -> bytes:
    """An account argument's id; a usage error if it names none (a typo in an address)."""
    from sdk.chain.keys import account_id

    try:
        return account_id(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'DEST'") from None
