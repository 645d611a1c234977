"""What the launcher needs to know about a role, so that adding one is a declaration, not a launcher change.

A :class:`Role` says what its section in the config is called, which ports each of its processes listens on,
how to build a process's command line, when a started process is ready, and what ``status`` shows about it.
The launcher (:mod:`devnet.launcher`) starts the roles of :data:`devnet.registry.ROLES` in order, one
process at a time, each once the ones before it are ready, so a role's command may use what they report:
validators find earlier validators as bootnodes, and a later role (storage nodes, DA nodes, providers, the
dashboard) finds the chain's RPC endpoints in :attr:`Launch.chain_rpc`.

Processes report their ports the way ``cairn node`` does: once listening, they write
``<data folder>/endpoints.json`` holding ``{"pid": ..., "ports": {name: port, ...}}`` (written to a temporary
name and renamed). :func:`reported_ports` reads it; it is the readiness check of every role that follows the
convention, and how a process given port 0 tells the launcher which port it got.
:func:`read_endpoints` gives the whole file (``cairn node`` adds its ``peer_id``).
"""

from __future__ import annotations

import http.client
import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devnet.config import ConfigError, DevnetConfig
from devnet.state import ProcessRecord
from node.chain_spec import TOKEN_DECIMALS, TOKEN_SYMBOL, ChainSpec
from node.cli import ENDPOINTS_FILE
from sdk.account.api import Token

__all__ = ["Launch", "ProcessPaths", "Role", "Reading", "http_health", "read_endpoints", "reported_ports", "shown"]

MAX_HEALTH_SIZE = 65536

Reading = int | str
"""One column a running process reports: a count or an amount (an ``int``: ``status --json`` keeps it a
number) or text (an endpoint, a state)."""

_UNITS = {"best": "#{}", "finalized": "#{}", "used": "{} B", "reputation": "{}‰"}


_TOKEN = Token(TOKEN_SYMBOL, TOKEN_DECIMALS)
"""The devnet's token, as its chain spec names it: a stake read from a daemon's health endpoint is in units."""


def shown(column: str, value: Reading) -> str:
    """How ``cairn devnet status`` prints a column's reading: block numbers as ``#12``, bytes with ``B``, a
    reputation in ‰, a stake in tokens."""
    if column == "stake" and isinstance(value, int):
        return _TOKEN.format(value)
    return _UNITS.get(column, "{}").format(value)


@dataclass(frozen=True)
class ProcessPaths:
    data: Path
    """The process's own data folder (created before its command runs)."""
    log: Path
    """Where its standard output and error go."""


@dataclass(frozen=True)
class Launch:
    """What a command-line builder may use besides its own index, ports and paths."""

    config: DevnetConfig
    spec: ChainSpec
    spec_path: Path
    """The chain spec file every node starts from."""
    started: tuple[ProcessRecord, ...]
    """The processes started before this one (all ready), in start order."""

    @property
    def chain_rpc(self) -> tuple[str, ...]:
        """The chain's JSON-RPC endpoints (``http://``; the same port speaks WebSocket): the ``rpc`` port of
        every process started so far."""
        return tuple(record.url("rpc") for record in self.started if "rpc" in record.ports)

    def started_of(self, role: str) -> tuple[ProcessRecord, ...]:
        return tuple(record for record in self.started if record.role == role)

    def follow_args(self, index: int, role: str) -> list[str]:
        """The ``--chain-rpc`` arguments of process ``index`` of a daemon role: every started validator's
        ``ws://`` endpoint, starting with validator ``index mod n`` (so the daemons spread over them) and then
        the others in turn, which the daemon moves to when the one it follows is down."""
        rpc = self.chain_rpc
        if not rpc:
            raise ConfigError(f"{role} need a validator to follow: validators.count must be at least 1")
        first = index % len(rpc)
        urls = ["ws://" + url.split("://", 1)[1] for url in rpc[first:] + rpc[:first]]
        return [arg for url in urls for arg in ("--chain-rpc", url)]


def read_endpoints(folder: Path, pid: int | None) -> dict[str, Any] | None:
    """``endpoints.json`` in ``folder`` once process ``pid`` (not an earlier run) wrote it, else None; with
    ``pid`` None, whichever process wrote it (its ``pid`` says which)."""
    try:
        doc = json.loads((folder / ENDPOINTS_FILE).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("pid"), int):
        return None
    return doc if pid is None or doc["pid"] == pid else None


def http_health(record: ProcessRecord, timeout: float = 2.0) -> dict[str, Any] | None:
    """What a daemon's ``GET /v1/health`` on its ``http`` port answers (a JSON object), or None if it does
    not answer one."""
    try:
        with urllib.request.urlopen(f"{record.url('http')}/v1/health", timeout=timeout) as response:
            health = json.loads(response.read(MAX_HEALTH_SIZE))
    except (OSError, ValueError, http.client.HTTPException):  # (a reply cut short, or not HTTP at all)
        return None
    return health if isinstance(health, dict) else None


def reported_ports(record: ProcessRecord) -> dict[str, int] | None:
    """The ports the recorded process reported in its data folder's ``endpoints.json``."""
    doc = read_endpoints(Path(record.data), record.pid)
    try:
        return None if doc is None else {str(name): int(port) for name, port in doc["ports"].items()}
    except (KeyError, AttributeError, TypeError, ValueError):
        return None


CommandBuilder = Callable[[Launch, int, Mapping[str, int], ProcessPaths], list[str]]
"""``(launch, index, ports, paths) -> argv``; a port given as 0 means "bind any free port and report it"."""


@dataclass(frozen=True)
class Role:
    name: str
    """Process names are ``<name>-<index>``; ``status`` shows it."""
    section: str
    """The role's table in the config file, e.g. ``validators``."""
    ports: tuple[str, ...]
    """The ports each process listens on; the config may fix them as ``<port>_port``."""
    command: CommandBuilder
    status: Callable[[ProcessRecord], Mapping[str, Reading]]
    """Columns ``status`` shows for a running process (e.g. block heights), asked of the process itself."""
    ready: Callable[[ProcessRecord], Mapping[str, int] | None] = reported_ports
    """The ports the process listens on once it is ready, else None."""
    default_count: int = 0
    min_count: int = 0
    max_count: int = 32
    account: Callable[[int], str] | None = None
    """The secret URI of process ``i``'s on-chain account, for roles that act on chain (storage nodes, DA
    nodes): the launcher endows each in the devnet's chain spec as it endows the dev accounts."""
