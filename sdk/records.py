"""What the SDK's namespaces answer with: plain frozen records, each with :meth:`Record.to_json` (ids and accounts
as ``0x`` hex), which the CLI's ``--json`` prints. A module of its own, so that a namespace's records need no
other namespace."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

__all__ = ["Record"]


class Record:
    """A record the API answers with: :meth:`to_json` gives its fields, bytes as ``0x`` hex."""

    def to_json(self) -> dict[str, Any]:
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, tuple):
        return [_json_value(item) for item in value]
    if isinstance(value, Record):
        return value.to_json()
    return value
