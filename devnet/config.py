"""What a devnet runs: which roles, how many processes of each, their first ports and the base path.

A TOML file (read with ``tomllib``) or the defaults, overridden by ``cairn devnet up`` flags::

    base_path = "devnet-data"      # every process's data folder and log go under it
    [validators]                   # a role's section (devnet.registry), here the "validator" role
    count = 4
    rpc_port = 9944                # optional: the first process's port, the next one's is 9945, ...
    p2p_port = 30333               #   left out: each process binds a free port and the launcher records
    prometheus_port = 9615         #   the one it got, so two devnets on one machine never collide

A section's keys are ``count`` and ``<port>_port`` for each port its role declares. A key or section that
means nothing (a typo, a role that does not exist yet) is an error naming it, never silently ignored: a
devnet that starts without the storage nodes you asked for is worse than one that does not start. A role
without a section starts its default count.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

if TYPE_CHECKING:
    from devnet.role import Role

__all__ = ["ConfigError", "DevnetConfig", "RoleConfig", "DEFAULT_BASE_PATH"]

DEFAULT_BASE_PATH = Path("devnet-data")
MAX_PORT = 65535


class ConfigError(ValueError):
    """A devnet config that cannot be run as written; the message names the key at fault."""


@dataclass(frozen=True)
class RoleConfig:
    """One role's settings."""

    count: int
    """How many processes of the role to start."""
    first_ports: Mapping[str, int]
    """Port name → the first process's port (process ``i`` gets ``first + i``); a port not named here is
    picked by each process itself (it binds port 0 and reports what it got)."""

    def ports(self, index: int, names: Sequence[str]) -> dict[str, int]:
        """Process ``index``'s port for each of ``names`` (0: let the process pick)."""
        return {name: self.first_ports[name] + index if name in self.first_ports else 0 for name in names}


@dataclass(frozen=True)
class DevnetConfig:
    base_path: Path
    roles: Mapping[str, RoleConfig]
    """By section name, for every role of the registry (a role that starts nothing has count 0)."""
    base_path_set: bool = False
    """Whether the file named ``base_path`` (a default of the shell's, ``$CAIRN_DEVNET``, must not beat it)."""

    @classmethod
    def load(cls, path: Path | None, roles: Sequence[Role]) -> DevnetConfig:
        """The config in the TOML file at ``path``, or the defaults when ``path`` is None."""
        if path is None:
            return cls.parse({}, roles)
        try:
            doc = tomllib.loads(path.read_text())
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror or exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not TOML: {exc}") from None
        try:
            return cls.parse(doc, roles)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None

    @classmethod
    def parse(cls, doc: Mapping[str, Any], roles: Sequence[Role]) -> DevnetConfig:
        sections = {role.section: role for role in roles}
        for key, value in doc.items():
            if key != "base_path" and key not in sections:
                what = "role" if isinstance(value, dict) else "key"
                raise ConfigError(f"unknown {what} {key!r} (roles: {', '.join(sections)}; keys: base_path)")
        base_path = doc.get("base_path", str(DEFAULT_BASE_PATH))
        if not isinstance(base_path, str) or not base_path:
            raise ConfigError(f"base_path must be a folder name, not {base_path!r}")
        parsed = {role.section: _role_config(role, doc.get(role.section, {})) for role in roles}
        config = cls(Path(base_path), parsed, base_path_set="base_path" in doc)
        config.check_ports(roles)
        return config

    def with_role(self, section: str, *, count: int | None = None,
                  first_ports: Mapping[str, int | None] | None = None) -> DevnetConfig:
        """This config with a section's count and first ports replaced where given (command-line flags)."""
        role = self.roles[section]
        ports = dict(role.first_ports)
        ports.update({name: port for name, port in (first_ports or {}).items() if port is not None})
        updated = RoleConfig(role.count if count is None else count, ports)
        return replace(self, roles={**self.roles, section: updated})

    def check_ports(self, roles: Sequence[Role]) -> None:
        """Every configured port fits below 65536 and no two processes are given the same one."""
        claimed: dict[int, str] = {}
        for role in roles:
            settings = self.roles[role.section]
            for name, first in settings.first_ports.items():
                last = first + settings.count - 1
                if last > MAX_PORT:
                    raise ConfigError(f"{role.section}.{name}_port = {first}: {settings.count} processes need "
                                      f"ports up to {last}, past {MAX_PORT}")
                for port in range(first, last + 1):
                    key = f"{role.section}.{name}_port"
                    if port in claimed and claimed[port] != key:
                        raise ConfigError(f"port {port} is given by both {claimed[port]} and {key}")
                    claimed[port] = key


def _role_config(role: Role, section: object) -> RoleConfig:
    if not isinstance(section, dict):
        raise ConfigError(f"[{role.section}] must be a table, not {section!r}")
    port_keys = {f"{name}_port": name for name in role.ports}
    unknown = sorted(set(section) - {"count", *port_keys})
    if unknown:
        raise ConfigError(f"[{role.section}]: unknown key(s) {', '.join(map(repr, unknown))} "
                          f"(keys: count, {', '.join(port_keys)})")
    count = section.get("count", role.default_count)
    if not _is_int(count) or not role.min_count <= count <= role.max_count:
        raise ConfigError(f"{role.section}.count must be a whole number from {role.min_count} to {role.max_count}, "
                          f"not {count!r}")
    first_ports = {}
    for key, name in port_keys.items():
        if key in section:
            port = section[key]
            if not _is_int(port) or not 1 <= port <= MAX_PORT:
                raise ConfigError(f"{role.section}.{key} must be a TCP port from 1 to {MAX_PORT}, not {port!r}")
            first_ports[name] = port
    return RoleConfig(count, first_ports)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
