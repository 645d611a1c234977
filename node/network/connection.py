"""One authenticated connection to a peer: frame scheduling, multiplexed requests, keepalive, goodbye.

A ``Connection`` owns a ``SecureChannel`` and runs four tasks in its own nursery; when one of them decides
the connection is over, it records why and cancels the others:

- the **reader** receives Noise messages, cuts each lane into frames (``frames.FrameAssembler``) and
  dispatches them without ever blocking: requests start a handler task (at most
  ``max_concurrent_inbound_requests`` at once; beyond that the answer is ``OVERLOADED``), responses wake
  their waiting ``request`` call, gossip goes to the service's synchronous sink, pings are answered. Every
  receive has a deadline of ``keepalive_timeout``: since the peer pings every ``keepalive_interval``,
  silence for that long means the peer is dead or frozen.
- the **writer** drains the bounded outbound queue: priority frames first (several small ones share a
  Noise message), bulk frames one 64 KiB Noise message at a time with every waiting priority frame sent
  between two pieces — so gossip and votes never wait behind a whole bulk response. Every send has a
  deadline of ``keepalive_timeout``: a peer that stops reading is dead too. When nothing is queued or
  being sent, a task with a small frame (a request, a response) sends it itself instead of waking the
  writer, which saves about a third of a small round trip; that send is shielded from the task's own
  cancellation (but not from its ``keepalive_timeout`` deadline), so a request that times out can never
  leave half a Noise message on the wire.
- the **keepalive** task queues a PING every ``keepalive_interval`` and measures the round trip.
- the **goodbye** task waits until ``close`` is called, then says goodbye (below).

Requests are multiplexed by id (0, 1, 2, ... per connection). A response to an id that was never issued is
dropped and costs the peer ``Penalty.UNSOLICITED``; a late response to one that was (its ``request`` call
timed out) is dropped quietly, since the lateness may be ours.

Closing: the side that closes sends GOODBYE(reason), half-closes the TCP stream and keeps reading
(discarding frames) until the peer closes its side or ``LINGER`` passes, so the goodbye is not destroyed
by a TCP reset. ``close`` may be called at any moment, from any task, in any order with the connection
ending by itself (a replacement connection closes the one it replaces while that one may be failing):
it only records the request, which the goodbye task carries out if the connection is still running, so
it never starts a task and never raises. A peer that breaks the protocol (see ``errors.ProtocolViolation``)
gets GOODBYE(PROTOCOL_VIOLATION) and is dropped at once; ``violation`` tells the service to penalise it.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Awaitable, Callable

import trio
from trio.lowlevel import ParkingLot

from node.network.config import NetworkConfig
from node.network.errors import (
    ConnectionLost,
    ConnectionRefused,
    HandshakeError,
    MalformedFrame,
    MessageTooLarge,
    PeerUnavailable,
    ProtocolViolation,
    RemoteError,
    RequestTimeout,
)
from node.network.frames import (
    FRAME_LENGTH_PREFIX,
    MAX_LANE_DATA,
    FrameAssembler,
    Goodbye,
    GoodbyeReason,
    Gossip,
    Hello,
    Lane,
    Ping,
    Pong,
    Request,
    Response,
    ResponseStatus,
    decode_frame,
    encode_frame,
    lane_for,
)
from node.network.identity import PeerAddress, PeerId
from node.network.noise import SecureChannel
from node.network.peers import Direction, Penalty

__all__ = ["Connection", "GOODBYE_TIMEOUT", "receive_admission", "refuse", "send_admission"]

GOODBYE_TIMEOUT = 1.0
"""How long we try to deliver a GOODBYE before closing regardless."""
LINGER = 1.0
"""After our GOODBYE, how long we wait for the peer to close its side."""

ServeRequest = Callable[[PeerId, str, bytes], Awaitable[tuple[ResponseStatus, bytes]]]
GossipSink = Callable[["Connection", str, bytes], None]
TrafficCounter = Callable[[int, int], None]
"""Called with (bytes sent, bytes received) as traffic happens."""
Reporter = Callable[[PeerId, float, str], None]
"""``NetworkService.report``: lower a peer's reputation for a fault that does not end the connection."""


def _lane_message(lane: Lane, data: bytes | memoryview) -> bytes:
    return bytes([lane]) + data


_HELLO_MESSAGE = _lane_message(Lane.PRIORITY, encode_frame(Hello()))
_ADMISSION_MESSAGES: dict[bytes, GoodbyeReason | None] = {
    _HELLO_MESSAGE: None,
    **{_lane_message(Lane.PRIORITY, encode_frame(Goodbye(reason))): reason for reason in GoodbyeReason},
}


async def send_admission(channel: SecureChannel) -> None:
    """Responder, after the handshake: accept the connection (HELLO as the first message)."""
    await channel.send(_HELLO_MESSAGE)


async def refuse(channel: SecureChannel, reason: GoodbyeReason) -> None:
    """Say GOODBYE(reason) on a connection that never started, and close it."""
    with trio.move_on_after(GOODBYE_TIMEOUT):
        try:
            await channel.send(_lane_message(Lane.PRIORITY, encode_frame(Goodbye(reason))))
            await channel.send_eof()
        except ConnectionLost:
            pass
    await channel.aclose()


async def receive_admission(channel: SecureChannel) -> None:
    """Dialer, after the handshake: wait for HELLO; raise ``ConnectionRefused`` on GOODBYE."""
    try:
        message = await channel.receive()
    except ProtocolViolation as exc:
        raise HandshakeError(f"the first transport message did not decrypt: {exc}") from exc
    if message not in _ADMISSION_MESSAGES:
        raise HandshakeError("expected HELLO or GOODBYE as the first frame")
    reason = _ADMISSION_MESSAGES[message]
    if reason is not None:
        raise ConnectionRefused(reason)


class _QueueClosed(Exception):
    pass


class _GoodbyeReceived(Exception):
    def __init__(self, reason: GoodbyeReason) -> None:
        super().__init__(reason.name)
        self.reason = reason


class _OutboundQueue:
    """Encoded frames waiting for the writer: a FIFO per lane, bounded in frames and in bytes (an empty
    lane takes any one frame); PRIORITY is always taken first."""

    def __init__(self, max_frames: int, max_bytes: int) -> None:
        self._max_frames = max_frames
        self._max_bytes = max_bytes
        self._lanes: tuple[deque[bytes], deque[bytes]] = (deque(), deque())
        self._bytes = [0, 0]
        self._space = (ParkingLot(), ParkingLot())
        self._data = ParkingLot()
        self._closed = False

    def put_nowait(self, lane: Lane, frame: bytes) -> bool:
        """Queue ``frame`` unless the lane is full or the queue closed; say whether it was queued."""
        queued = self._lanes[lane]
        if self._closed or queued and (len(queued) >= self._max_frames
                                       or self._bytes[lane] + len(frame) > self._max_bytes):
            return False
        queued.append(frame)
        self._bytes[lane] += len(frame)
        self._data.unpark_all()
        return True

    async def put(self, lane: Lane, frame: bytes) -> None:
        """Queue ``frame``, waiting for space; ``_QueueClosed`` if the connection closes first."""
        await trio.lowlevel.checkpoint()
        while not self.put_nowait(lane, frame):
            if self._closed:
                raise _QueueClosed
            await self._space[lane].park()

    def is_empty(self) -> bool:
        return not any(self._lanes)

    def pop_priority_nowait(self, max_size: int) -> bytes | None:
        """The next priority frame, if there is one of at most ``max_size`` bytes."""
        queued = self._lanes[Lane.PRIORITY]
        if not queued or len(queued[0]) > max_size:
            return None
        return self._pop(Lane.PRIORITY)

    async def get(self) -> tuple[Lane, bytes]:
        while not self._closed and not any(self._lanes):
            await self._data.park()
        if self._closed:
            raise _QueueClosed
        lane = Lane.PRIORITY if self._lanes[Lane.PRIORITY] else Lane.BULK
        return lane, self._pop(lane)

    def _pop(self, lane: Lane) -> bytes:
        frame = self._lanes[lane].popleft()
        self._bytes[lane] -= len(frame)
        self._space[lane].unpark_all()  # waiters re-check; a big frame may make room for several
        return frame

    def close(self) -> None:
        self._closed = True
        self._data.unpark_all()
        for lot in self._space:
            lot.unpark_all()


class _PendingRequest:
    __slots__ = ("answered", "response")

    def __init__(self) -> None:
        self.answered = trio.Event()
        self.response: Response | None = None


class Connection:
    """A running connection to one authenticated peer. ``run`` serves it until it closes."""

    def __init__(self, channel: SecureChannel, *, direction: Direction, address: PeerAddress,
                 config: NetworkConfig, serve_request: ServeRequest, on_gossip: GossipSink,
                 count_traffic: TrafficCounter, report: Reporter) -> None:
        self.peer_id = channel.remote_peer_id
        self.direction = direction
        self.address = address
        self.connected_since = time.time()
        self.round_trip_time: float | None = None
        self.close_reason: str | None = None
        """Why the connection ended (first cause wins); set once it is closing."""
        self.violation: ProtocolViolation | None = None
        """The peer's protocol violation, if that is what ended the connection."""
        self.closed = trio.Event()
        self._channel = channel
        self._config = config
        self._serve_request = serve_request
        self._on_gossip = on_gossip
        self._count_traffic = count_traffic
        self._report = report
        self._queue = _OutboundQueue(config.outbound_queue_frames, config.outbound_queue_bytes)
        # (a priority frame fits one Noise message, as the sender's lane_for makes it: a peer announcing a 16 MiB
        # one there, and another on the bulk lane, had us hold 32 MiB of each of its connections)
        self._assemblers = (FrameAssembler(min(config.max_frame_size, MAX_LANE_DATA - FRAME_LENGTH_PREFIX)),
                            FrameAssembler(config.max_frame_size))
        self._pending: dict[int, _PendingRequest] = {}
        self._next_request_id = 0
        self._inbound_requests = 0
        self._last_ping: tuple[int, float] | None = None
        self._transmitting = 0       # tasks holding a dequeued or direct frame that is not on the wire yet
        self._nursery: trio.Nursery | None = None
        self._closing = False
        self._goodbye_requested = trio.Event()
        self._goodbye_reason = GoodbyeReason.REQUESTED
        self._goodbye_said = False

    @property
    def is_closing(self) -> bool:
        """Whether the connection is saying goodbye, ending, or has ended."""
        return self._closing

    async def run(self) -> None:
        """Serve the connection until it ends; the peer's failures end it quietly (see ``close_reason``)."""
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                nursery.start_soon(self._read_loop)
                nursery.start_soon(self._write_loop)
                nursery.start_soon(self._keepalive_loop)
                nursery.start_soon(self._goodbye_when_asked)
        finally:
            self._nursery = None
            self._closing = True
            self.close_reason = self.close_reason or "the local node stopped"
            self._queue.close()
            for pending in self._pending.values():
                pending.answered.set()
            self.closed.set()
            await self._channel.aclose()

    async def request(self, protocol: str, payload: bytes, *, timeout: float) -> bytes:
        """Send a request and wait for its response payload (errors: see ``NetworkService.request``)."""
        if self._closing:
            raise PeerUnavailable(f"the connection to {self.peer_id} is closing: {self.close_reason}")
        request_id = self._next_request_id
        encoded = encode_frame(Request(request_id, protocol, payload))
        self._check_size(encoded)
        self._next_request_id += 1
        pending = self._pending[request_id] = _PendingRequest()
        try:
            with trio.CancelScope(deadline=trio.current_time() + timeout) as deadline:
                await self._send(encoded)
                await pending.answered.wait()
        except _QueueClosed:
            pass
        finally:
            del self._pending[request_id]
        if deadline.cancelled_caught:
            raise RequestTimeout(f"no answer from {self.peer_id} to {protocol!r} within {timeout} s")
        response = pending.response
        if response is None:
            raise PeerUnavailable(f"the connection to {self.peer_id} closed: {self.close_reason}")
        if response.status is ResponseStatus.OK:
            return response.payload
        raise RemoteError(response.status, response.payload.decode("utf-8", "replace"))

    def send_encoded(self, encoded_frame: bytes) -> bool:
        """Queue an already encoded frame without waiting; ``False`` if the queue is full or closed."""
        return self._queue.put_nowait(lane_for(encoded_frame), encoded_frame)

    def close(self, reason: GoodbyeReason) -> None:
        """Say GOODBYE(reason) and close, in the background; ``run`` returns once done. Safe at any moment
        (see the module docstring); does nothing if the connection is already closing or ended."""
        if self._closing:
            return
        self._closing = True
        self.close_reason = self.close_reason or f"goodbye sent: {reason.name}"
        self._goodbye_reason = reason
        self._goodbye_requested.set()

    def _check_size(self, encoded: bytes) -> None:
        if len(encoded) - FRAME_LENGTH_PREFIX > self._config.max_frame_size:
            raise MessageTooLarge(f"a {len(encoded)}-byte frame exceeds max_frame_size={self._config.max_frame_size}")

    async def _send(self, encoded: bytes) -> None:
        """Send a frame: directly from the calling task when nothing is ahead of it (saving a hand-off to
        the writer, about a third of a small request's round trip), otherwise through the queue."""
        lane = lane_for(encoded)
        if lane is Lane.BULK or self._transmitting or not self._queue.is_empty():
            await self._queue.put(lane, encoded)
            return
        self._transmitting += 1
        try:
            await self._transmit(lane, encoded, shield=True)  # half a message would break the session
        except trio.TooSlowError:
            self._end(f"send timeout: the peer read nothing for {self._config.keepalive_timeout} s")
            raise _QueueClosed from None
        except ConnectionLost as exc:
            self._end(str(exc))
            raise _QueueClosed from None
        finally:
            self._transmitting -= 1

    def _end(self, reason: str) -> None:
        """Called by the connection's own tasks: it is over, at once."""
        self._closing = True
        self.close_reason = self.close_reason or reason
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _say_goodbye(self, reason: GoodbyeReason) -> None:
        self._closing = True
        self._queue.close()
        if self._goodbye_said:
            return
        self._goodbye_said = True
        with trio.move_on_after(GOODBYE_TIMEOUT):
            try:
                await self._channel.send(_lane_message(Lane.PRIORITY, encode_frame(Goodbye(reason))))
                await self._channel.send_eof()
            except ConnectionLost:
                pass

    async def _goodbye_when_asked(self) -> None:
        await self._goodbye_requested.wait()
        await self._say_goodbye(self._goodbye_reason)
        assert self._nursery is not None  # this task runs in it
        scope = self._nursery.cancel_scope
        scope.deadline = min(scope.deadline, trio.current_time() + LINGER)

    # -- reader -------------------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        timeout = self._config.keepalive_timeout
        try:
            with trio.CancelScope() as silence:  # one scope, its deadline pushed back by every message
                while True:
                    silence.deadline = trio.current_time() + timeout
                    message = await self._channel.receive()
                    self._count_traffic(0, len(message))
                    if not self._closing:
                        self._receive_message(message)
            self._end(f"keepalive timeout: nothing received for {timeout} s")
        except ConnectionLost as exc:
            self._end(str(exc))
        except _GoodbyeReceived as goodbye:
            self._end(f"goodbye received: {goodbye.reason.name}")
        except ProtocolViolation as exc:
            self.violation = exc
            self.close_reason = self.close_reason or f"protocol violation: {exc}"
            await self._say_goodbye(GoodbyeReason.PROTOCOL_VIOLATION)
            self._end(self.close_reason)

    def _receive_message(self, message: bytes) -> None:
        if not message or message[0] > Lane.BULK:
            raise MalformedFrame("a transport message without a valid lane byte")
        for body in self._assemblers[message[0]].feed(memoryview(message)[1:]):
            if self._closing:
                return
            self._dispatch(body)

    def _dispatch(self, body: bytes) -> None:
        match decode_frame(body):
            case Request() as request:
                self._start_serving(request)
            case Response() as response:
                self._complete_request(response)
            case Gossip(topic, payload):
                self._on_gossip(self, topic, payload)
            case Ping(nonce):
                self._queue.put_nowait(Lane.PRIORITY, encode_frame(Pong(nonce)))
            case Pong(nonce):
                if self._last_ping is not None and self._last_ping[0] == nonce:
                    self.round_trip_time = trio.current_time() - self._last_ping[1]
            case Goodbye(reason):
                raise _GoodbyeReceived(reason)
            case Hello():
                raise MalformedFrame("HELLO after the connection was set up")

    def _start_serving(self, request: Request) -> None:
        if self._inbound_requests >= self._config.max_concurrent_inbound_requests:
            self._queue.put_nowait(Lane.PRIORITY, encode_frame(Response(request.request_id, ResponseStatus.OVERLOADED, b"")))
            return
        assert self._nursery is not None
        self._inbound_requests += 1
        self._nursery.start_soon(self._serve, request)

    async def _serve(self, request: Request) -> None:
        """Run the handler and send its answer, both within ``request_timeout``."""
        answered = False
        try:
            with trio.CancelScope(deadline=trio.current_time() + self._config.request_timeout):
                status, payload = await self._serve_request(self.peer_id, request.protocol, request.payload)
                encoded = encode_frame(Response(request.request_id, status, payload))
                if len(encoded) - FRAME_LENGTH_PREFIX > self._config.max_frame_size:
                    encoded = encode_frame(Response(request.request_id, ResponseStatus.ERROR, b"the response is too large"))
                await self._send(encoded)
                answered = True
            if not answered:  # out of time: a short answer saves the requester waiting for its own deadline
                with trio.CancelScope(deadline=trio.current_time() + self._config.keepalive_timeout):
                    await self._send(encode_frame(Response(request.request_id, ResponseStatus.ERROR, b"timed out")))
        except _QueueClosed:
            pass
        finally:
            self._inbound_requests -= 1

    def _complete_request(self, response: Response) -> None:
        if response.request_id >= self._next_request_id:
            self._report(self.peer_id, Penalty.UNSOLICITED,
                         f"a response to request {response.request_id}, which was never sent")
            return
        pending = self._pending.get(response.request_id)
        if pending is not None and pending.response is None:
            pending.response = response
            pending.answered.set()

    # -- writer -------------------------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        try:
            while True:
                lane, frame = await self._queue.get()
                self._transmitting += 1
                try:
                    if lane is Lane.PRIORITY:
                        await self._send_priority(frame)
                    else:
                        await self._send_bulk(frame)
                finally:
                    self._transmitting -= 1
        except _QueueClosed:
            return
        except trio.TooSlowError:
            self._end(f"send timeout: the peer read nothing for {self._config.keepalive_timeout} s")
        except ConnectionLost as exc:
            self._end(str(exc))

    async def _send_priority(self, first: bytes) -> None:
        frames, size = [first], len(first)
        while (following := self._queue.pop_priority_nowait(MAX_LANE_DATA - size)) is not None:
            frames.append(following)
            size += len(following)
        await self._transmit(Lane.PRIORITY, b"".join(frames))

    async def _send_bulk(self, frame: bytes) -> None:
        view = memoryview(frame)
        for start in range(0, len(view), MAX_LANE_DATA):
            while (urgent := self._queue.pop_priority_nowait(MAX_LANE_DATA)) is not None:
                await self._send_priority(urgent)
            await self._transmit(Lane.BULK, view[start:start + MAX_LANE_DATA])

    async def _transmit(self, lane: Lane, data: bytes | memoryview, *, shield: bool = False) -> None:
        """Send one Noise message within ``keepalive_timeout`` (else ``TooSlowError``); ``shield`` also
        protects it from the caller's cancellation."""
        if self._closing:  # GOODBYE is (being) sent: nothing may follow it
            raise _QueueClosed
        message = _lane_message(lane, data)
        deadline = trio.current_time() + self._config.keepalive_timeout
        with trio.CancelScope(deadline=deadline, shield=shield) as scope:
            await self._channel.send(message)
        if scope.cancelled_caught:
            raise trio.TooSlowError
        self._count_traffic(len(message), 0)

    # -- keepalive ----------------------------------------------------------------------------------------

    async def _keepalive_loop(self) -> None:
        for nonce in itertools.count():
            await trio.sleep(self._config.keepalive_interval)
            if self._queue.put_nowait(Lane.PRIORITY, encode_frame(Ping(nonce))):
                self._last_ping = (nonce, trio.current_time())
