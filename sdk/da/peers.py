"""Calls to DA nodes' HTTP API (sdk.da.wire), for submitters, light clients and DA nodes recovering cells.

One :class:`DaPeers` wraps one ``httpx.AsyncClient`` (connection pooling across nodes). Every request has
one deadline for the whole exchange (the timeout plus its bytes at a minimum rate), not only for each read:
a node that trickles its answer a byte at a time is cut off as surely as a silent one. Answers are bounded
before they are decoded: a node that sends more than the largest valid answer is cut off, and so is one
whose JSON nests too deep to parse. A registered endpoint that is no URL fails only requests to that node.
Every failure is a :class:`PeerError` naming the node, and the error kind it answered (a key of
:data:`sdk.da.wire.ERRORS`) or ``"Unreachable"`` / ``"BadAnswer"``: callers treat any of them as "this node
did not give me the cells" and move on to another custodian; none of them is trusted further than that.
Cells come back unverified: the caller checks them against the commitment it read from the chain.
"""

from __future__ import annotations

import json
from types import TracebackType
from typing import Any, Iterable

import anyio
import httpx

from da_layer.bls import SIGNATURE_BYTES
from sdk.peer_text import peer_text
from sdk.storage.nodes import MIN_TRANSFER_RATE
from sdk.da.wire import (
    CELL_RESPONSE,
    MAX_CELL_SET,
    Cell,
    MalformedCells,
    blob_id_hex,
    decode_cell,
    decode_cells,
    encode_cells,
)

__all__ = ["DaPeers", "PeerError"]

MAX_ERROR_BODY = 4096


class PeerError(Exception):
    """A DA node did not do what was asked."""

    def __init__(self, endpoint: str, kind: str, message: str) -> None:
        super().__init__(f"{endpoint}: {kind}: {message}")
        self.endpoint = endpoint
        self.kind = kind
        """The node's error kind (``"InvalidProof"``, ``"Withholding"``, ...), ``"Unreachable"`` when it
        could not be reached in time, or ``"BadAnswer"`` when its answer was not the API's."""


class DaPeers:
    """``async with DaPeers(timeout=10) as peers: signature = await peers.put_cells(endpoint, blob_id, cells)``."""

    def __init__(self, *, timeout: float = 10.0, max_connections: int = 64) -> None:
        self._timeout = timeout
        """Seconds one request may take, from connecting to the last byte of the answer, besides its bytes'
        time at :data:`~sdk.storage.nodes.MIN_TRANSFER_RATE` (a push of a node's cells over a slow uplink
        shared by a submission's many pushes must not be cut off while it moves)."""
        self._http = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=max_connections),
                                       trust_env=False)

    async def __aenter__(self) -> "DaPeers":
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def put_cells(self, endpoint: str, blob_id: bytes, cells: list[Cell]) -> bytes:
        """Give the node its custody cells of the blob; returns its BLS attestation signature (unchecked)."""
        body = await self._request(endpoint, "PUT", f"/v1/blobs/{blob_id_hex(blob_id)}/cells", encode_cells(cells),
                                   limit=MAX_ERROR_BODY)
        try:
            signature = bytes.fromhex(_json(body)["signature"].removeprefix("0x"))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise PeerError(endpoint, "BadAnswer", "the answer to a cell upload holds no signature") from None
        if len(signature) != SIGNATURE_BYTES:
            raise PeerError(endpoint, "BadAnswer", f"a signature is {SIGNATURE_BYTES} bytes, not {len(signature)}")
        return signature

    async def get_cell(self, endpoint: str, blob_id: bytes, index: int) -> Cell:
        body = await self._request(endpoint, "GET", f"/v1/blobs/{blob_id_hex(blob_id)}/cells/{index}",
                                   limit=CELL_RESPONSE)
        try:
            return decode_cell(index, body)
        except MalformedCells as exc:
            raise PeerError(endpoint, "BadAnswer", str(exc)) from None

    async def get_cells(self, endpoint: str, blob_id: bytes, indices: Iterable[int] | None = None) -> dict[int, Cell]:
        """The cells of the blob the node holds: all of them, or those of ``indices`` it holds."""
        query = "" if indices is None else "?indices=" + ",".join(map(str, sorted(indices)))
        body = await self._request(endpoint, "GET", f"/v1/blobs/{blob_id_hex(blob_id)}/cells{query}",
                                   limit=MAX_CELL_SET)
        try:
            return decode_cells(body)
        except MalformedCells as exc:
            raise PeerError(endpoint, "BadAnswer", str(exc)) from None

    async def _request(self, endpoint: str, method: str, path: str, body: bytes | None = None, *,
                       limit: int) -> bytes:
        try:
            deadline = self._timeout + (len(body or b"") + limit) / MIN_TRANSFER_RATE
            with anyio.fail_after(deadline):
                async with self._http.stream(method, endpoint.rstrip("/") + path, content=body) as response:
                    data = await _read_bounded(endpoint, response,
                                               limit if response.status_code < 300 else MAX_ERROR_BODY)
        except TimeoutError:
            raise PeerError(endpoint, "Unreachable", f"no whole answer within {deadline:.0f} s") from None
        except (httpx.HTTPError, httpx.InvalidURL) as exc:  # InvalidURL: a registered endpoint that is no URL
            raise PeerError(endpoint, "Unreachable", f"{type(exc).__name__}: {exc}") from None
        if response.status_code >= 300:
            raise _error(endpoint, response.status_code, data)
        return data


async def _read_bounded(endpoint: str, response: httpx.Response, limit: int) -> bytes:
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > limit:  # the rest is left unread
            raise PeerError(endpoint, "BadAnswer", f"an answer of more than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _error(endpoint: str, status: int, body: bytes) -> PeerError:
    try:
        document = _json(body)
        return PeerError(endpoint, peer_text(str(document["error"]), 64), peer_text(str(document["message"])))
    except (ValueError, KeyError, TypeError):
        return PeerError(endpoint, "BadAnswer", f"HTTP {status} without an error document")


def _json(body: bytes) -> Any:
    """``body`` parsed; ``ValueError`` for anything but JSON, nesting too deep for the parser included."""
    try:
        return json.loads(body)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
