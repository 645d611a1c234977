"""The ``cairn`` command line.

Each Cairn package contributes its own sub-commands through the ``cairn.commands`` entry-point group
(declared in ``pyproject.toml``). Loading them here, by name, keeps this module free of imports from
the packages above the SDK in the layering (``devnet``, ``storage_node``, ...).
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click

ENTRY_POINT_GROUP = "cairn.commands"


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


@click.group(cls=PluginGroup)
@click.version_option(package_name="cairn-chain")
def main() -> None:
    """Cairn: a modular, Substrate-style blockchain for AI data."""
