"""Job parameters: strict JSON objects parsed against a per-kind schema of bounded fields.

A job's ``params`` are opaque bytes on chain; the runtime calls ``validate_params`` on them at submission
so that a job no provider could run is refused before anything is escrowed. Parsing is strict on purpose:
honest providers must read the same bytes the same way, so unknown keys, duplicate keys, ``NaN`` /
``Infinity``, booleans where numbers are expected and values outside the bounds are all refused with
``InvalidParams`` rather than coerced. Only ``json`` is imported: the runtime imports this module.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = [
    "MAX_PARAMS_BYTES",
    "InvalidParams",
    "IntField",
    "FloatField",
    "ChoiceField",
    "IntListField",
    "Field",
    "parse_params",
]

MAX_PARAMS_BYTES = 4096
"""No kind's params come near this; the chain's own ``max_params_length`` may be smaller."""


class InvalidParams(ValueError):
    """A job's params are not a JSON object this kind accepts (named field, reason)."""


N = TypeVar("N", int, float)


def _within(name: str, value: N, low: float, high: float) -> N:
    if not low <= value <= high:
        raise InvalidParams(f"{name}: {value} is outside [{low}, {high}]")
    return value


@dataclass(frozen=True)
class IntField:
    """An integer in ``[low, high]`` (JSON booleans are not integers)."""

    low: int
    high: int
    default: int

    def parse(self, name: str, value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidParams(f"{name}: expected an integer, got {type(value).__name__}")
        return _within(name, value, self.low, self.high)


@dataclass(frozen=True)
class FloatField:
    """A finite number in ``[low, high]``; integers are accepted and read as floats."""

    low: float
    high: float
    default: float

    def parse(self, name: str, value: object) -> float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise InvalidParams(f"{name}: expected a number, got {type(value).__name__}")
        return float(_within(name, value, self.low, self.high))  # a huge int is refused before float()


@dataclass(frozen=True)
class ChoiceField:
    """One of a fixed set of strings."""

    choices: tuple[str, ...]
    default: str

    def parse(self, name: str, value: object) -> str:
        if value not in self.choices or not isinstance(value, str):
            raise InvalidParams(f"{name}: expected one of {', '.join(self.choices)}, got {value!r}")
        return value


@dataclass(frozen=True)
class IntListField:
    """A list of ``min_length`` to ``max_length`` integers, each in ``[low, high]``."""

    low: int
    high: int
    min_length: int
    max_length: int
    default: tuple[int, ...] | None

    def parse(self, name: str, value: object) -> tuple[int, ...]:
        if not isinstance(value, list):
            raise InvalidParams(f"{name}: expected a list, got {type(value).__name__}")
        if not self.min_length <= len(value) <= self.max_length:
            raise InvalidParams(f"{name}: {len(value)} entries, expected {self.min_length} to {self.max_length}")
        item = IntField(self.low, self.high, self.low)
        return tuple(item.parse(f"{name}[{i}]", v) for i, v in enumerate(value))


Field = IntField | FloatField | ChoiceField | IntListField


def _refuse_constant(token: str) -> object:
    raise InvalidParams(f"{token} is not a number params may hold")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise InvalidParams(f"duplicate key {key!r}")
        result[key] = value
    return result


T = TypeVar("T")


def parse_params(params: bytes, fields: Mapping[str, Field], into: Callable[..., T]) -> T:
    """``into`` called with every field's value, given in ``params`` (checked) or its default.

    Raises ``InvalidParams``."""
    if len(params) > MAX_PARAMS_BYTES:
        raise InvalidParams(f"params are {len(params)} bytes, at most {MAX_PARAMS_BYTES}")
    try:
        obj = json.loads(params.decode("utf-8"), object_pairs_hook=_unique_keys, parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InvalidParams(f"params are not UTF-8 JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise InvalidParams(f"params must be a JSON object, got {type(obj).__name__}")
    unknown = sorted(set(obj) - set(fields))
    if unknown:
        raise InvalidParams(f"unknown keys: {', '.join(unknown)}")
    return into(**{name: field.parse(name, obj[name]) if name in obj else field.default
                    for name, field in fields.items()})
