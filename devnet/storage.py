"""The storage node role: ``cairn storage-node`` processes following the devnet's validators.

Storage node ``i`` acts as the account ``//Storage<i>`` (endowed in the devnet's chain spec through
:attr:`devnet.role.Role.account`), follows validator ``i mod n``'s RPC, serves fragments on the ``http``
port it reports and keeps them under its data folder. Six by default: with the chain's default RS(3, 2)
placement, five hold a segment and one is free to take a repair.

:func:`corrupt_fragment` is the ``cairn devnet corrupt storage-3`` fault: it changes every byte of one stored
fragment (its roots header left intact), so the next audit of that fragment fails whichever chunks it asks
for, and a reader that checks roots rejects it. The command flips the bytes of the first fragment; the fault
soak passes its seeded generator, which picks the fragment and XORs each byte with a random non-zero mask, so
corrupting one node twice never undoes the first corruption (as flipping the same fragment twice would).
"""

from __future__ import annotations

import random
import struct
import sys
from collections.abc import Mapping
from pathlib import Path

from devnet.role import Launch, ProcessPaths, Reading, Role, http_health
from devnet.state import DevnetError, ProcessRecord

__all__ = ["STORAGE", "corrupt_fragment", "corrupt_stored_fragment"]

NAME = "storage"
CAPACITY = "8GiB"
"""What each devnet storage node offers (disk is only used as fragments arrive)."""


def storage_account(index: int) -> str:
    return f"//Storage{index}"


def storage_command(launch: Launch, index: int, ports: Mapping[str, int], paths: ProcessPaths) -> list[str]:
    return [sys.executable, "-m", "storage_node.service", *launch.follow_args(index, "storage nodes"),
            "--key", storage_account(index), "--base-path", str(paths.data), "--http-port", str(ports["http"]),
            "--capacity", CAPACITY]


def storage_status(record: ProcessRecord) -> dict[str, Reading]:
    """Fragments and bytes stored, as the node's health endpoint answers them."""
    url = record.url("http")
    health = http_health(record)
    try:
        return {"fragments": int(health["fragments"]), "used": int(health["used"]), "http": url}
    except (KeyError, TypeError, ValueError):
        return {"http": f"{url} (not answering)"}


def corrupt_fragment(record: ProcessRecord, rng: random.Random | None = None) -> Path:
    """Corrupt one fragment a storage node stores (:func:`corrupt_stored_fragment`); the file it changed."""
    if record.role != NAME:
        raise DevnetError(f"{record.name} is not a storage node: only storage nodes hold fragments to corrupt")
    return corrupt_stored_fragment(Path(record.data), rng)


def corrupt_stored_fragment(data_folder: Path, rng: random.Random | None = None, *,
                            file_id: bytes | None = None) -> Path:
    """Change every byte of one fragment stored under a storage node's data folder (its roots header left
    intact), of file ``file_id`` if given; the file it changed. Without ``rng``, every byte of the first fragment
    is flipped; with it, ``rng`` picks the fragment and each byte is XORed with a mask byte it draws from 1..255
    (never a no-op, and a second corruption of the same fragment does not restore it). ``OSError`` if the node
    moves the fragment meanwhile (a repair, a delete)."""
    stored = sorted(Path(data_folder, "store", "fragments").glob(f"{'*' if file_id is None else file_id.hex()}/*"))
    if not stored:
        raise DevnetError(f"the storage node in {data_folder} holds no fragment yet: upload a file first")
    path = stored[0] if rng is None else rng.choice(stored)
    data = path.read_bytes()
    start = 2 + 32 * struct.unpack_from("<H", data)[0] if len(data) >= 2 else len(data)
    if start >= len(data):
        raise DevnetError(f"{path} is not a fragment body")
    size = len(data) - start
    mask = b"\xff" * size if rng is None else bytes(byte % 255 + 1 for byte in rng.randbytes(size))
    body = int.from_bytes(data[start:], "big") ^ int.from_bytes(mask, "big")
    path.write_bytes(data[:start] + body.to_bytes(size, "big"))
    return path


STORAGE = Role(name=NAME, section="storage_nodes", ports=("http",), command=storage_command, status=storage_status,
               default_count=6, min_count=0, max_count=32, account=storage_account)
