"""Every role a devnet can run, in the order ``up`` starts them (a role may use what earlier ones report).

Adding a role (storage nodes, DA nodes, providers, the dashboard) is declaring a :class:`devnet.role.Role` in
its own module and listing it here; the config, the launcher and the CLI pick it up from this tuple.
"""

from __future__ import annotations

from devnet.da import DA
from devnet.dashboard.role import DASHBOARD
from devnet.provider import PROVIDER
from devnet.role import Role
from devnet.storage import STORAGE
from devnet.validator import VALIDATOR

__all__ = ["ROLES", "role_named"]

ROLES: tuple[Role, ...] = (VALIDATOR, STORAGE, DA, PROVIDER, DASHBOARD)


def role_named(name: str) -> Role | None:
    """The role of a process record (None for a role this version does not know)."""
    return next((role for role in ROLES if role.name == name), None)
