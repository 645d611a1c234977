"""Reading the node's JSON replies into the runtime's types, checking each one (the node is a trust boundary).

Substrate's shapes (``shared/reference/substrate-rpc.md``): byte strings are ``0x``-hex, header numbers are
hex strings, digest logs are each the SCALE encoding of a ``DigestItem``, a runtime version is the
``state_getRuntimeVersion`` object. Anything else raises :class:`InvalidResponse`; a header whose hash is
not the one asked for is refused too, so a header a caller holds is the block it named.
"""

from __future__ import annotations

from typing import Any

from runtime.cairn import RuntimeVersion
from runtime.primitives import DIGEST_ITEM, Digest, Header
from sdk.chain.errors import InvalidResponse

__all__ = ["to_hex", "from_hex", "optional_hex", "header_from_json", "runtime_version_from_json"]


def to_hex(data: bytes) -> str:
    return "0x" + data.hex()


def from_hex(value: Any, what: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise InvalidResponse(f"{what}: expected a 0x-hex string, got {value!r:.80}")
    try:
        data = bytes.fromhex(value[2:])
    except ValueError:
        raise InvalidResponse(f"{what}: not valid hex") from None
    if length is not None and len(data) != length:
        raise InvalidResponse(f"{what}: expected {length} bytes, got {len(data)}")
    return data


def optional_hex(value: Any, what: str, length: int | None = None) -> bytes | None:
    """``null`` (absent) or hex bytes."""
    return None if value is None else from_hex(value, what, length)


def header_from_json(value: Any, expected_hash: bytes | None = None) -> Header:
    """A header object as ``chain_getHeader`` and the head subscriptions send it; if ``expected_hash`` is
    given, the header must hash to it."""
    if not isinstance(value, dict):
        raise InvalidResponse(f"header: expected an object, got {value!r:.80}")
    try:
        number = int(value["number"], 16)
        logs = value["digest"]["logs"]
        header = Header(
            parent_hash=from_hex(value["parentHash"], "header parentHash", 32),
            number=number,
            state_root=from_hex(value["stateRoot"], "header stateRoot", 32),
            extrinsics_root=from_hex(value["extrinsicsRoot"], "header extrinsicsRoot", 32),
            digest=Digest(tuple(DIGEST_ITEM.decode(from_hex(log, "digest log")) for log in logs)),
        )
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: bad numbers and undecodable logs
        raise InvalidResponse(f"header: malformed ({type(exc).__name__}: {exc})") from None
    if expected_hash is not None and header.hash != expected_hash:
        raise InvalidResponse(f"header for 0x{expected_hash.hex()} hashes to 0x{header.hash.hex()}")
    return header


def runtime_version_from_json(value: Any) -> RuntimeVersion:
    """A ``state_getRuntimeVersion`` object."""
    try:
        return RuntimeVersion(
            spec_name=str(value["specName"]),
            impl_name=str(value["implName"]),
            authoring_version=int(value["authoringVersion"]),
            spec_version=int(value["specVersion"]),
            impl_version=int(value["implVersion"]),
            apis=tuple((from_hex(api, "runtime API id", 8), int(version)) for api, version in value["apis"]),
            transaction_version=int(value["transactionVersion"]),
            state_version=int(value["stateVersion"]),
        )
    except (KeyError, TypeError, ValueError) as exc:  # ValueError: bad numbers and undecodable logs
        raise InvalidResponse(f"runtime version: malformed ({type(exc).__name__}: {exc})") from None
