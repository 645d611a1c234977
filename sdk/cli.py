"""The ``cairn`` command line.

Each Cairn package contributes its own sub-commands through the ``cairn.commands`` entry-point group
(declared in ``pyproject.toml``). Loading them here, by name, keeps this module free of imports from
the packages above the SDK in the layering (``devnet``, ``storage_node``, ...).
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Callable, Iterator

import click

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from runtime.keyring import Keypair
    from sdk.account import Token
    from sdk.client import Client

ENTRY_POINT_GROUP = "cairn.commands"
DEV_ACCOUNT = re.compile(r"//[A-Za-z][A-Za-z0-9]*")
"""A development account's secret URI, as the devnet names its accounts (``//Alice``, ``//Storage0``)."""
DEFAULT_RPC = "ws://127.0.0.1:9944"
RPC_ENVVAR = "CAIRN_RPC"
"""Where ``--rpc`` defaults from when set: ``eval "$(cairn devnet env)"`` points it at the devnet's validator."""
NO_NODE_HINT = (". Is a node running there? `./run-devnet` starts a devnet, and "
                "`eval \"$(.venv/bin/cairn devnet env)\"` points cairn at a running one "
                f"(or pass --rpc, or set {RPC_ENVVAR})")
"""Added to a connection failure: a devnet's validators listen on ports they pick, not on the default one."""


class PluginGroup(click.Group):
    """A click group whose commands are the ``cairn.commands`` entry points, loaded on demand."""

    def _entry_points(self) -> dict[str, object]:
        return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._entry_points()))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is not None:
            return command
        entry = self._entry_points().get(name)
        return entry.load() if entry is not None else None  # type: ignore[attr-defined]

    def invoke(self, ctx: click.Context) -> object:
        """Run the sub-command; a file it cannot read or write (``-o`` into a missing folder, a file it may not
        open) ends it with one line naming the path, exit 1, rather than a traceback."""
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.filename is None:  # not about a path: a bug or the network, shown whole
                raise
            raise click.ClickException(f"{exc.filename}: {exc.strerror or exc}") from None


@click.group(cls=PluginGroup)
@click.version_option(package_name="cairn-chain")
def main() -> None:
    """Cairn: a modular, Substrate-style blockchain for AI data."""


# --- what the sub-commands that act on a chain as an account share (``cairn storage``, ``cairn da``; the
# daemons' ``cairn storage-node`` and ``cairn da-node`` read their ``--key`` the same way) ---------------------


def key_argument(value: str) -> "Keypair":
    """The key pair a ``--key`` flag names (a secret URI, a ``0x`` seed or a file holding either); a usage error
    (``click.BadParameter``, exit 2) if it names none."""
    from runtime.keyring import InvalidSecretUri
    from sdk.chain import keypair_from_arg

    try:
        return keypair_from_arg(value)
    except (InvalidSecretUri, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="'--key'") from None


def cli_account(value: str) -> str:
    """An ACCOUNT argument as an SS58 address: an address or ``0x`` hex as given (the client checks it), or a
    development account's ``//Name`` (``//Dave``, ``//Provider1``: the account ``--key //Name`` signs as), as a
    devnet's users name its accounts everywhere else. Only on the command line: the SDK's account arguments
    take no secret URIs, so no program sends funds to a key anyone can derive by mistake."""
    if not DEV_ACCOUNT.fullmatch(value):
        return value
    from runtime.keyring import Keypair

    return Keypair.from_uri(value).ss58_address()


def shown_account(account: bytes, *, short: bool = False) -> str:
    """An account for people: its SS58 address, as wallets, ``cairn storage grant`` and the dashboard name it
    (``short``: its first and last six characters, as the dashboard's tables show it). JSON keeps ``0x`` hex."""
    from runtime.ss58 import ss58_encode

    address = ss58_encode(account)
    return f"{address[:6]}…{address[-6:]}" if short else address


class AmountType(click.ParamType):
    """An amount on the command line: tokens with the chain's symbol (``2.5CAIRN``, ``2.5 CAIRN``) or plain units
    (``2500``, as the SDK and the chain count). Its form is checked here; :func:`amount_units` converts it with the
    chain's token once the command is connected."""

    name = "amount"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> str:
        from sdk.account.api import amount_form
        from sdk.chain import BadArgument

        try:
            amount_form(str(value))
        except BadArgument as exc:
            self.fail(str(exc), param, ctx)
        return str(value)


AMOUNT = AmountType()


def amount_units(client: "Client", value: str, param_hint: str) -> int:
    """An :data:`AMOUNT` option's value in units, read with the chain's token (:func:`units_of`)."""
    return units_of(client.account.token(), value, param_hint)


def units_of(token: "Token", value: str, param_hint: str) -> int:
    """An :data:`AMOUNT` option's value in units of ``token``; a usage error (exit 2) naming ``param_hint`` if it
    is not one (another symbol, a fraction without one, finer than a unit)."""
    from sdk.chain import BadArgument

    try:
        return token.parse(value)
    except BadArgument as exc:
        raise click.BadParameter(str(exc), param_hint=param_hint) from None


def chain_options(command: Callable[..., None]) -> Callable[..., None]:
    """Add ``--rpc`` (a node's WebSocket) and ``--key`` (the signing account) to a command."""
    command = click.option("--key", default="//Alice", show_default=True,
                           help="The signing account: //Name, 0x seed, or a key file (cairn account new).")(command)
    return click.option("--rpc", default=DEFAULT_RPC, show_default=True, envvar=RPC_ENVVAR, show_envvar=True,
                        help="A node's JSON-RPC WebSocket.")(command)


def output_file(ctx: click.Context, param: click.Parameter, value: "Path | None") -> "Path | None":
    """A ``-o FILE`` callback: FILE's folder must exist, checked before anything is fetched (the write of a
    download's last byte found it missing, naming its temporary file); ``-`` (standard output) passes."""
    if value is not None and str(value) != "-" and not value.parent.is_dir():
        raise click.BadParameter(f"{value.parent}: no such folder", ctx=ctx, param=param)
    return value


def stdout_console() -> "Console":
    """Where a command's tables and reports go: a terminal at its width (rich fits the columns to it); a pipe or a
    file at the tables' own width, so that a script reading them never gets an id cut short (rich would fit
    them to 80 columns, ending long cells with an ellipsis). Without console markup: cells hold what the chain's
    accounts wrote (a node's endpoint, a GPU's model), and ``[/]`` in one ended the command with rich's
    MarkupError while ``[red]`` repainted the table."""
    from rich.console import Console

    console = Console(markup=False)
    return console if console.is_terminal else Console(width=UNLIMITED_WIDTH, markup=False)


UNLIMITED_WIDTH = 1 << 12
"""Wider than any table a command prints: tables take their content's width, not the console's."""


@contextmanager
def user_client(rpc: str, key: str, *, errors: tuple[type[Exception], ...] = ()) -> Iterator["Client"]:
    """The blocking user-facing client for ``--rpc`` and ``--key``: a bad key is a usage error (exit 2); a chain
    client error, or one of ``errors``, raised inside the block ends the command with one line (exit 1)."""
    from sdk.chain import ChainClientError
    from sdk.client import Client

    signer = key_argument(key)
    try:
        with Client(rpc, signer=signer) as client:
            yield client
    except (ChainClientError, *errors) as exc:
        raise click.ClickException(error_line(exc)) from None


def error_line(exc: Exception) -> str:
    """How a command's failure reads: the error's class and message, and after a connection failure where a node
    may be found."""
    from sdk.chain import ConnectionFailed

    return f"{type(exc).__name__}: {exc}{NO_NODE_HINT if isinstance(exc, ConnectionFailed) else ''}"
