"""The storage node's HTTP API: a raw ASGI app served by hypercorn's trio worker.

Routes (all ids ``0x``-hex; the shapes are in :mod:`storage_node.service.body`):

- ``PUT /v1/fragments/{file_id}/{segment}/{fragment}``: an upload, signed by the file's owner. Checked, in
  order: the path (400), the declared length against the largest body any fragment may have (413, before a
  byte is read), the signature headers' presence and form (401), the file on chain and this fragment placed
  on this node (404), the claimed account against the owner (403), the declared length against the exact
  length the manifest implies (413 / 400), the signature over the body hash its headers name and against
  replays (401), the capacity (507): all before a byte of the body is taken. Then the body is streamed to a
  temporary file (around the page cache; at most 1 MiB of it in memory, never more than the expected
  length: 413), its hash checked against the signed one (400), the segment's roots against the on-chain
  segment root and the fragment against its own root (409); only then is it fsynced and renamed into the
  store, ``201`` answered, and the fragment queued for an on-chain confirmation. Any refusal leaves nothing
  behind.
- ``GET /v1/fragments/{file_id}/{segment}/{fragment}``: the stored body. A public file is served to anyone;
  a private one to a request signed by its owner, by a grantee whose access record is within the access
  window, or by the repairer of an open repair order for the segment (else 401 / 403, no bytes); an embargoed
  one (a job output before its job ends), public or not, to its owner and repairers only.
- ``GET /v1/health`` (JSON) and ``GET /metrics`` (Prometheus text).

Errors are JSON ``{"error": <code>, "message": <text>}``. A failing request never ends the server: the chain
not answering is 503, anything unexpected is logged and answered 500. The plumbing the DA node shares
(lifespan, headers, bounded bodies, replies, serving) is :mod:`sdk.serving`.
"""

from __future__ import annotations

import json
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import blake3
import trio

from sdk.chain import ChainClientError
from sdk.serving import (BodyTooLarge, ClientGone, HttpApp, MalformedLength, Receive, Scope, Send, body_chunks,
                         declared_length, request_headers, respond, respond_error)
from storage_node.auth import (
    HEADER_ACCOUNT,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    AuthError,
    body_hash,
    claimed_signer,
    signed_body_hash,
    verify_request,
)
from storage_node import chunks
from storage_node.chunks import ChunkHasher
from storage_node.params import MAX_FRAGMENTS
from sdk.storage.nodes import MIN_TRANSFER_RATE
from sdk.storage.wire import BadFragment, body_length, split_body
from storage_node.service.body import FRAGMENTS_PREFIX, BadPath, parse_fragment_path
from storage_node.service.chain import ChainView, StoredFile
from storage_node.service.direct_io import DirectWriter
from storage_node.service.metrics import NodeMetrics
from storage_node.service.replay import GuardFull, ReplayGuard, Replayed
from storage_node.service.store import FragmentKey, FragmentStore, StoreError, StoreFull, disk_error

__all__ = ["FragmentApi", "ApiLimits", "HttpError"]

log = logging.getLogger(__name__)

EMPTY_BODY_HASH = body_hash(b"")
AUTH_HEADERS = (HEADER_ACCOUNT, HEADER_TIMESTAMP, HEADER_SIGNATURE)


@dataclass(frozen=True)
class ApiLimits:
    max_fragment_size: int
    """The largest fragment the node accepts (the chain's segment size over k = 1, plus padding)."""
    buffer_size: int = 1 << 20
    """Bytes of an upload held in memory before they go to the temporary file."""
    auth_window_ms: int = 120_000
    """How far a request's timestamp may be from the node's clock when its headers arrive."""
    body_timeout: float = 60.0
    min_body_rate: int = MIN_TRANSFER_RATE
    """An upload's body must arrive within ``body_timeout`` plus its size at this many bytes a second (the rate
    the SDK's requests are held to): a client cannot hold a reservation, a temporary file and its buffers by
    trickling a body."""

    max_reads: int = 64
    """Fragment reads served at once; one more waits ``read_slot_wait`` seconds for a slot, then is answered
    503. A reader that never reads holds its connection, an open fragment and a buffer until the kernel drops it
    (:data:`sdk.serving.STALLED_PEER_TIMEOUT_S`): unbounded, a few hundred of them took every file descriptor
    meanwhile, and the node's proofs failed with them."""
    read_slot_wait: float = 5.0

    @property
    def max_body(self) -> int:
        return body_length(MAX_FRAGMENTS, self.max_fragment_size)

    def body_seconds(self, size: int) -> float:
        return self.body_timeout + size / self.min_body_rate


class HttpError(Exception):
    """A refusal: its status, a short machine-readable code and a message for people."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FragmentApi(HttpApp):
    """The ASGI application. ``stored`` receives each fragment once it is safely stored (for confirmation)."""

    def __init__(self, store: FragmentStore, chain: ChainView, replay: ReplayGuard, metrics: NodeMetrics,
                 stored: trio.MemorySendChannel[FragmentKey], *, limits: ApiLimits,
                 clock_ms: Callable[[], int] = lambda: int(time.time() * 1000)) -> None:
        self.store, self.chain, self.replay, self.metrics = store, chain, replay, metrics
        self.account = chain.account
        self._stored = stored
        self.limits = limits
        self._clock_ms = clock_ms
        self._reads = trio.Semaphore(limits.max_reads)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope.get("raw_path", scope["path"].encode()).decode("latin-1")
        try:
            if path.startswith(FRAGMENTS_PREFIX) and method == "PUT":
                await self._counted(self.metrics.uploads, self._put(scope, receive, send))
            elif path.startswith(FRAGMENTS_PREFIX) and method == "GET":
                await self._counted(self.metrics.reads, self._get(scope, send))
            elif path == "/v1/health" and method == "GET":
                await respond(send, 200, json.dumps(self.health()).encode(), "application/json")
            elif path == "/metrics" and method == "GET":
                page = self.metrics.render(capacity=self.store.capacity, used=self.store.used,
                                           fragments=self.store.fragment_count)
                await respond(send, 200, page.encode(), "text/plain; version=0.0.4")
            elif path in ("/v1/health", "/metrics") or path.startswith(FRAGMENTS_PREFIX):
                raise HttpError(405, "method_not_allowed", f"{method} is not served on {path}")
            else:
                raise HttpError(404, "not_found", f"no such endpoint: {path[:100]}")
        except HttpError as error:
            await respond_error(send, error.status, error.code, error.message)

    def health(self) -> dict[str, object]:
        return {"account": "0x" + self.account.hex(), "capacity": self.store.capacity, "used": self.store.used,
                "fragments": self.store.fragment_count}

    async def _counted(self, counter: Counter[int], handler: Awaitable[int]) -> None:
        try:
            status = await handler
        except HttpError as error:
            counter[error.status] += 1
            raise
        except ChainClientError as exc:
            counter[503] += 1
            raise HttpError(503, "chain_unavailable", f"the chain did not answer: {exc}") from None
        except Exception:
            log.exception("request failed")
            counter[500] += 1
            raise HttpError(500, "internal", "internal error (logged)") from None
        counter[status] += 1

    # --- PUT ------------------------------------------------------------------------------------------

    async def _put(self, scope: Scope, receive: Receive, send: Send) -> int:
        key = _fragment_key(scope)
        headers = request_headers(scope)
        declared = _content_length(headers)
        if declared is not None and declared > self.limits.max_body:
            raise HttpError(413, "too_large", f"a fragment body is at most {self.limits.max_body} bytes")
        _require_auth_headers(headers)
        arrived = self._clock_ms()  # freshness is judged here: a slow link's body does not age its signature
        claimed, signed_hash = self._claimed_upload(headers, arrived)
        drops = self.store.drops  # before the placement is read: a drop from then on re-checks it
        stored = await self._assigned_file(key)
        if claimed != stored.owner:
            raise HttpError(403, "not_owner", "only the file's owner uploads its fragments")
        expected = body_length(stored.fragment_count, stored.fragment_size(key.segment))
        if declared is not None and declared != expected:
            raise HttpError(413 if declared > expected else 400, "too_large" if declared > expected else "bad_length",
                            f"this fragment's body is {expected} bytes, not {declared}")
        # the signature is checked against the body hash it names before any room is reserved or a byte of the
        # body read: a stranger claiming the owner's account can hold neither (the body is checked at its end)
        self._authenticate(headers, "PUT", scope, signed_hash, now=arrived,
                           remember_ms=int(1000 * self.limits.body_seconds(expected)) + 1)
        temp = self.store.temp_path()
        try:
            with _store_errors(), self.store.reserve(expected):
                with trio.move_on_after(self.limits.body_seconds(expected)) as receiving:
                    digest = await self._receive_to(receive, temp, expected, _UploadDigest(stored))
                if receiving.cancelled_caught:
                    raise HttpError(408, "too_slow", f"this fragment's body ({expected} bytes) did not arrive within "
                                                     f"{self.limits.body_seconds(expected):.0f} s")
                if digest.body_hash() != signed_hash:
                    raise HttpError(400, "body_mismatch", "the body is not the one whose hash the request signed")
                digest.check(key.fragment, await self.chain.segment_root(key.file_id, key.segment))
                await trio.to_thread.run_sync(self.store.commit, temp, key)
        finally:
            temp.unlink(missing_ok=True)
        if self.store.drops != drops and not await self._still_placed(key):
            await trio.to_thread.run_sync(self.store.remove, key)
            raise HttpError(409, "not_assigned", f"fragment {key} was placed elsewhere, or its file deleted, while it "
                                                 "was uploaded: not kept")
        self.metrics.bytes_received += expected
        await self._stored.send(key)
        await respond(send, 201, json.dumps({"stored": str(key)}).encode(), "application/json")
        return 201

    async def _assigned_file(self, key: FragmentKey) -> StoredFile:
        stored = await self.chain.file(key.file_id)
        if stored is None:
            raise HttpError(404, "unknown_file", f"the chain knows no file 0x{key.file_id.hex()}")
        if not stored.has_fragment(key.segment, key.fragment):
            raise HttpError(404, "unknown_fragment", f"file 0x{key.file_id.hex()} has no fragment {key}")
        if not await self.chain.assigned_to_me(key.file_id, key.segment, key.fragment):
            raise HttpError(404, "not_assigned", f"fragment {key} is not placed on this node")
        return stored

    async def _still_placed(self, key: FragmentKey) -> bool:
        """Whether the chain still places ``key`` here and still has its file (read afresh: the view remembers
        deleted files, and a deleted file's placements go a few blocks after it)."""
        return (await self.chain.assigned_to_me(key.file_id, key.segment, key.fragment)
                and await self.chain.file_at(key.file_id) is not None)

    async def _receive_to(self, receive: Receive, temp: Path, expected: int, digest: _UploadDigest) -> _UploadDigest:
        """Stream the request body into ``temp`` and through ``digest``. Exactly ``expected`` bytes, else 413/400."""
        received = held = 0
        pieces: list[bytes] = []  # what arrived since the last hand-off: the writer copies it into its own buffer
        with self.store.writer(temp) as sink:
            try:
                async for chunk in body_chunks(receive, expected):
                    received += len(chunk)
                    held += len(chunk)
                    pieces.append(chunk)
                    if held >= self.limits.buffer_size:  # one worker-thread trip per buffer's worth, not per piece
                        await trio.to_thread.run_sync(_write_and_digest, sink, digest, pieces)
                        pieces, held = [], 0
            except ClientGone:
                raise HttpError(400, "disconnected", "the client went away mid-body") from None
            except BodyTooLarge:
                raise HttpError(413, "too_large", f"this fragment's body is {expected} bytes; more was sent") from None
            if pieces:
                await trio.to_thread.run_sync(_write_and_digest, sink, digest, pieces)
            await trio.to_thread.run_sync(sink.finish)
        if received != expected:
            raise HttpError(400, "bad_length", f"this fragment's body is {expected} bytes, got {received}")
        return digest

    # --- GET ------------------------------------------------------------------------------------------

    async def _get(self, scope: Scope, send: Send) -> int:
        key = _fragment_key(scope)
        stored = await self.chain.file(key.file_id)
        if stored is None:
            raise HttpError(404, "unknown_file", f"the chain knows no file 0x{key.file_id.hex()}")
        if not stored.public or await self.chain.embargoed(key.file_id):
            reader = self._authenticate(request_headers(scope), "GET", scope, EMPTY_BODY_HASH)
            if not await self._may_read(stored, key, reader):
                raise HttpError(403, "forbidden", "not the owner, a grantee with a recent access record (none while "
                                                  "the file is embargoed), or the segment's repairer")
        size = self.store.size(key)
        if size is None:
            raise HttpError(404, "not_stored", f"fragment {key} is not stored here")
        acquired = False
        with trio.move_on_after(self.limits.read_slot_wait):
            await self._reads.acquire()
            acquired = True
        if not acquired:
            raise HttpError(503, "busy", f"{self.limits.max_reads} reads are being served: another node holds "
                                         "the segment's other fragments, or try again")
        try:
            return await self._send_fragment(key, size, send)
        finally:
            self._reads.release()

    async def _send_fragment(self, key: FragmentKey, size: int, send: Send) -> int:
        try:
            source = await trio.to_thread.run_sync(self.store.reader, key)
        except OSError:
            raise HttpError(404, "not_stored", f"fragment {key} is not stored here") from None
        with source:
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/octet-stream"),
                                    (b"content-length", str(size).encode())]})
            sent = 0
            while sent < size:
                chunk = await trio.to_thread.run_sync(source.read)
                if not chunk:
                    break  # removed meanwhile: the client sees a short body, never wrong bytes
                if len(chunk) > size - sent:
                    chunk = chunk[:size - sent]  # replaced meanwhile by a longer copy: never more than announced
                sent += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": sent < size})
        self.metrics.bytes_served += sent
        return 200

    async def _may_read(self, stored: StoredFile, key: FragmentKey, reader: bytes) -> bool:
        if reader == stored.owner:
            return True
        if await self.chain.repairer_of_segment(key.file_id, key.segment, reader, stored.fragment_count):
            return True
        # a public file is here only under embargo (read in _get), which no grant lifts
        return (not stored.public and not await self.chain.embargoed(key.file_id)
                and await self.chain.may_read_private(key.file_id, reader))

    # --- auth -----------------------------------------------------------------------------------------

    def _claimed_upload(self, headers: Mapping[str, str], now: int) -> tuple[bytes, bytes]:
        """The account an upload's headers claim and the body hash they say its signature covers, if they are
        well formed and fresh (else 401)."""
        try:
            account, _, _ = claimed_signer(headers, now, window_ms=self.limits.auth_window_ms)
            return account, signed_body_hash(headers)
        except AuthError as exc:
            raise HttpError(401, "unauthorized", str(exc)) from None

    def _authenticate(self, headers: Mapping[str, str], method: str, scope: Scope, body_hash: bytes, *,
                      now: int | None = None, remember_ms: int = 0) -> bytes:
        """The signer of the request (401 for a missing, malformed, expired, forged or replayed signature), its
        freshness judged at ``now`` (when its headers arrived; by default, the present); its signature is
        remembered ``remember_ms`` past the window (an upload's: the longest its body may take, so a replay
        sent as the original's body ends is still found)."""
        _require_auth_headers(headers)
        now = self._clock_ms() if now is None else now
        try:
            signer = verify_request(headers, method, _signed_path(scope), body_hash, now, self.account,
                                    window_ms=self.limits.auth_window_ms)
        except AuthError as exc:
            raise HttpError(401, "unauthorized", str(exc)) from None
        try:
            self.replay.accept(bytes.fromhex(headers[HEADER_SIGNATURE][2:]), int(headers[HEADER_TIMESTAMP]), now,
                               longer_ms=remember_ms)
        except Replayed as exc:
            raise HttpError(401, "replayed", str(exc)) from None
        except GuardFull as exc:
            raise HttpError(503, "busy", str(exc)) from None
        return signer


@contextmanager
def _store_errors() -> Iterator[None]:
    """Turn the store's errors into HTTP refusals (507 for a full store or disk)."""
    try:
        yield
    except StoreFull as exc:
        raise HttpError(507, "insufficient_storage", str(exc)) from None
    except OSError as exc:
        error = disk_error(exc, "receiving the upload")
        raise HttpError(507 if isinstance(error, StoreFull) else 500, "store_failed", str(error)) from None
    except StoreError as exc:
        raise HttpError(500, "store_failed", str(exc)) from None


class _UploadDigest:
    """One pass over an upload's body as it arrives (in the worker thread that writes it): the BLAKE3 hash its
    signature covers, the segment's roots at its head, and the chunk tree of the fragment after them, so the body
    is never read back to be checked."""

    def __init__(self, stored: StoredFile) -> None:
        self._hasher = blake3.blake3()
        self._head = bytearray()
        self._head_length = body_length(stored.fragment_count, 0)
        self._chunks = ChunkHasher(stored.info.chunk_size)
        self._fragment_count = stored.fragment_count

    def update(self, data: bytes) -> None:
        self._hasher.update(data)
        view = memoryview(data)
        if len(self._head) < self._head_length:
            take = self._head_length - len(self._head)
            self._head += view[:take]
            view = view[take:]
        if len(view):
            self._chunks.update(view)

    def body_hash(self) -> bytes:
        return self._hasher.digest()

    def check(self, fragment: int, segment_root: bytes | None) -> None:
        """The body against the chain, as :func:`sdk.storage.wire.check_fragment_body` checks a whole one: 400
        without the segment's roots, 409 if they do not hash to the on-chain ``segment_root`` or the fragment's
        bytes to ``roots[fragment]``."""
        try:
            roots = split_body(self._head, self._fragment_count).roots
        except BadFragment:
            raise HttpError(400, "bad_body", f"the body must carry the segment's {self._fragment_count} fragment "
                                             "roots") from None
        if chunks.segment_root(roots) != segment_root:
            raise HttpError(409, "root_mismatch", "the body's fragment roots do not hash to the segment root on chain")
        if self._chunks.root() != roots[fragment]:
            raise HttpError(409, "root_mismatch", f"the bytes are not fragment {fragment} (chunk-tree root mismatch)")


def _write_and_digest(sink: DirectWriter, digest: _UploadDigest, pieces: list[bytes]) -> None:
    for piece in pieces:
        digest.update(piece)
        sink.write(piece)


def _fragment_key(scope: Scope) -> FragmentKey:
    try:
        return parse_fragment_path(scope.get("raw_path", scope["path"].encode()).decode("latin-1"))
    except BadPath as exc:
        raise HttpError(400, "bad_path", str(exc)) from None


def _signed_path(scope: Scope) -> str:
    """The path as the client signed it: raw path, then ``?query`` if there is one."""
    path = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"")
    return f"{path}?{query.decode('latin-1')}" if query else path


def _content_length(headers: Mapping[str, str]) -> int | None:
    try:
        return declared_length(headers)
    except MalformedLength:
        raise HttpError(400, "bad_length", "content-length is not a number") from None


def _require_auth_headers(headers: Mapping[str, str]) -> None:
    missing = [name for name in AUTH_HEADERS if name not in headers]
    if missing:
        raise HttpError(401, "unauthorized", f"missing signature header(s): {', '.join(missing)}")
