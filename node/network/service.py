"""The node's peer-to-peer network service: connections, request/response, gossip, reputation.

``NetworkService`` is a trio service (house rule 5). Its constructor does no I/O; ``run`` listens, dials
the bootnodes, calls ``task_status.started()`` once it is listening, and serves until cancelled. Every
connection runs as a task of ``run``'s nursery, so cancelling ``run`` closes them all (peers see the TCP
stream end at once).

Connection setup: TCP, the Noise XX handshake (``noise``; bounded by ``handshake_timeout``), then the
responder's admission decision — HELLO, or GOODBYE(reason) and close. It refuses:

- a banned peer (``BANNED``) — in the other direction the dialer does not dial a banned peer at all;
- a peer beyond ``max_inbound_peers`` / ``max_outbound_peers`` (``TOO_MANY_PEERS``);
- a second connection to a peer that is already connected, unless it is the one to keep
  (``DUPLICATE_CONNECTION``). When two nodes dial each other at once (the two connections have opposite
  directions), both keep the one dialled by the node with the smaller ``PeerId`` (byte order), so they
  agree without a further message. A new connection in the same direction as the existing one replaces
  it: the same node dialled again, typically because it restarted and the old connection is stale (its
  death not yet noticed by keepalive). So does one that finds the existing connection already closing.

Unauthenticated sockets are bounded too: at most ``max_pending_handshakes`` at once, and of those at most
``max_pending_handshakes_per_ip`` from one source IP address, so one host cannot hold every slot with
sockets that never finish the handshake; each lasts at most ``handshake_timeout`` and reads at most two
bytes of a wrongly sized handshake message. One source IP address may also hold at most
``max_inbound_per_ip`` inbound connections (authenticated or not), so one host cannot take every
``max_inbound_peers`` slot. A socket beyond a per-IP limit is closed at once, before anything is read or
any handshake work is spent on it (counted in ``inbound_refused_per_ip``); an IPv4-mapped IPv6 address
counts as its IPv4 address. Garbage in the handshake cannot be pinned on a peer (its identity is not proven
yet), so it is counted (``handshakes_failed``) and the socket closed; once a peer is authenticated, every
protocol violation costs it ``Penalty.PROTOCOL_VIOLATION``.

Bootnodes are dialled when the service starts and re-dialled after every disconnection, with exponential
backoff from ``redial_initial_backoff`` up to ``redial_max_backoff``, so a restarted peer is reachable again
within about ``redial_max_backoff`` seconds.

Peer events (``PeerConnected``, ``PeerDisconnected``) go to every channel opened with
``subscribe_peer_events``; a consumer that falls ``peer_events_capacity`` events behind loses events
(counted in ``statistics().peer_events_dropped``) and should resynchronise from ``peers()``.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from node.network.config import NetworkConfig
from node.network.connection import Connection, receive_admission, refuse, send_admission
from node.network.errors import (
    ConnectionLost,
    HandshakeError,
    MessageTooLarge,
    NetworkError,
    PeerUnavailable,
    RequestRejected,
)
from node.network.frames import FRAME_LENGTH_PREFIX, GoodbyeReason, Gossip, ResponseStatus, encode_frame, encode_name
from node.network.gossip import GossipMessage, SeenCache, TokenBucket, Validator, Verdict, gossip_message_id
from node.network.identity import NodeKey, PeerAddress, PeerId
from node.network.noise import NoiseIdentity, SecureChannel, secure_inbound, secure_outbound
from node.network.peers import (
    Direction,
    PeerConnected,
    PeerDisconnected,
    PeerEvent,
    PeerInfo,
    PeerScores,
    Penalty,
)

__all__ = ["NetworkService", "NetworkStatistics", "RequestHandler"]

logger = logging.getLogger(__name__)

RequestHandler = Callable[[PeerId, bytes], Awaitable[bytes]]
"""Serves one request protocol: ``(peer, request payload) -> response payload``. Raise ``RequestRejected``
to answer with an error message; any other exception is logged and answered "internal error"."""


@dataclass
class NetworkStatistics:
    """Counters since the service was built; ``NetworkService.statistics`` returns a snapshot."""

    inbound_peers: int = 0
    outbound_peers: int = 0
    pending_handshakes: int = 0
    bytes_sent: int = 0
    """Plaintext bytes handed to Noise after the handshake (lane bytes included)."""
    bytes_received: int = 0
    handshakes_failed: int = 0
    connections_refused: int = 0
    inbound_refused_per_ip: int = 0
    """Inbound sockets closed unread because their source IP address was at a per-IP limit (these are not
    in ``connections_refused``)."""
    protocol_violations: int = 0
    peers_banned: int = 0
    requests_sent: int = 0
    requests_served: int = 0
    gossip_published: int = 0
    gossip_received: int = 0
    gossip_rate_limited: int = 0
    gossip_duplicates: int = 0
    gossip_unsubscribed: int = 0
    """Messages for topics this node does not subscribe to: neither delivered nor forwarded."""
    gossip_accepted: int = 0
    gossip_ignored: int = 0
    gossip_rejected: int = 0
    gossip_dropped_local: int = 0
    """Accepted messages a full subscription channel could not take."""
    gossip_dropped_outbound: int = 0
    """Per peer: messages not sent because that peer's outbound queue was full."""
    peer_events_dropped: int = 0


@dataclass
class _Subscription:
    validator: Validator
    channel: trio.MemorySendChannel[GossipMessage]


class NetworkService:
    """The node's peer-to-peer network. Start it with ``await nursery.start(network.run)``."""

    def __init__(self, node_key: NodeKey, config: NetworkConfig) -> None:
        self._config = config
        self._identity = NoiseIdentity(node_key)
        self._connections: dict[PeerId, Connection] = {}
        self._protocols: dict[str, RequestHandler] = {}
        self._subscriptions: dict[str, _Subscription] = {}
        self._event_channels: list[trio.MemorySendChannel[PeerEvent]] = []
        self._rate_limits: dict[PeerId, TokenBucket] = {}
        self._seen = SeenCache(config.seen_cache_size)
        self._scores = PeerScores(ban_threshold=config.ban_threshold, ban_duration=config.ban_duration,
                                  recovery_per_second=config.score_recovery_per_second)
        self._statistics = NetworkStatistics()
        self._pending_handshakes = 0
        self._pending_per_ip: Counter[str] = Counter()
        """Inbound sockets in the handshake, by ``_source_ip``; only addresses with at least one are keys."""
        self._inbound_per_ip: Counter[str] = Counter()
        """Inbound sockets from accept until closed (pending, being admitted, or connected), likewise."""
        self._listen_port: int | None = None
        self._nursery: trio.Nursery | None = None

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Listen, dial the bootnodes, and serve until cancelled."""
        config = self._config
        listeners = await trio.open_tcp_listeners(config.listen_port, host=config.listen_host)
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                self._listen_port = listeners[0].socket.getsockname()[1]
                await nursery.start(trio.serve_listeners, self._accept, listeners)
                for address in config.bootnodes:
                    if address.peer_id != self.local_peer_id:
                        nursery.start_soon(self._keep_connected, address)
                logger.info("listening on %s", self.listen_address)
                task_status.started()
        finally:
            self._nursery = None

    @property
    def local_peer_id(self) -> PeerId:
        return self._identity.peer_id

    @property
    def listen_port(self) -> int:
        """The bound TCP port (the ephemeral one when ``listen_port`` was 0); only once ``run`` started."""
        if self._listen_port is None:
            raise RuntimeError("the network service is not listening yet")
        return self._listen_port

    @property
    def listen_address(self) -> PeerAddress:
        """This node's address for other nodes' bootnode lists."""
        return PeerAddress(self._config.listen_host, self.listen_port, self.local_peer_id)

    # -- request / response -------------------------------------------------------------------------------

    def register_protocol(self, name: str, handler: RequestHandler) -> None:
        """Serve requests for protocol ``name`` (1..255 ASCII bytes, e.g. ``"/cairn/sync/blocks/1"``)."""
        encode_name(name)
        if name in self._protocols:
            raise ValueError(f"protocol {name!r} already has a handler")
        self._protocols[name] = handler

    async def request(self, peer_id: PeerId, protocol: str, payload: bytes, *, timeout: float | None = None) -> bytes:
        """Ask ``peer_id`` and return its answer.

        ``timeout`` defaults to ``request_timeout``. Raises ``PeerUnavailable`` (not connected, or the
        connection closed before the answer), ``RequestTimeout``, ``RemoteError`` (the peer answered with an
        error status, e.g. ``UNKNOWN_PROTOCOL``), or ``MessageTooLarge``.
        """
        connection = self._connections.get(peer_id)
        if connection is None:
            raise PeerUnavailable(f"not connected to {peer_id}")
        self._statistics.requests_sent += 1
        return await connection.request(protocol, payload, timeout=timeout or self._config.request_timeout)

    async def _serve_request(self, peer_id: PeerId, protocol: str, payload: bytes) -> tuple[ResponseStatus, bytes]:
        handler = self._protocols.get(protocol)
        if handler is None:
            return ResponseStatus.UNKNOWN_PROTOCOL, b""
        self._statistics.requests_served += 1
        try:
            response = await handler(peer_id, payload)
            if not isinstance(response, bytes):
                raise TypeError(f"the handler returned {type(response).__name__}, not bytes")
        except RequestRejected as exc:
            return ResponseStatus.ERROR, str(exc).encode("utf-8")
        except Exception:
            logger.exception("the %r handler failed on a request from %s", protocol, peer_id)
            return ResponseStatus.ERROR, b"internal error"
        return ResponseStatus.OK, response

    # -- gossip -------------------------------------------------------------------------------------------

    def subscribe(self, topic: str, validator: Validator, *,
                  capacity: int | None = None) -> trio.MemoryReceiveChannel[GossipMessage]:
        """Receive the topic's messages that ``validator`` accepts (see ``gossip`` for the rules).

        One subscription per topic; closing the returned channel ends it. The channel holds ``capacity``
        messages (default ``subscription_capacity``); when it is full, new messages are dropped for this
        subscriber (still forwarded to peers) and counted in ``gossip_dropped_local``.
        """
        encode_name(topic)
        if topic in self._subscriptions:
            raise ValueError(f"topic {topic!r} already has a subscriber")
        send_channel, receive_channel = trio.open_memory_channel[GossipMessage](
            capacity or self._config.subscription_capacity)
        self._subscriptions[topic] = _Subscription(validator, send_channel)
        return receive_channel

    async def publish(self, topic: str, payload: bytes) -> int:
        """Send a message to every connected peer; return how many it was queued for.

        Peers whose outbound queue is full miss it (``gossip_dropped_outbound``). Local subscribers do not
        receive their own node's messages.
        """
        await trio.lowlevel.checkpoint()
        encoded = encode_frame(Gossip(topic, payload))
        if len(encoded) - FRAME_LENGTH_PREFIX > self._config.max_frame_size:
            raise MessageTooLarge(f"a {len(payload)}-byte gossip payload exceeds max_frame_size")
        self._seen.add(gossip_message_id(topic, payload))
        self._statistics.gossip_published += 1
        return self._flood(encoded, source=None)

    def _flood(self, encoded_frame: bytes, *, source: PeerId | None) -> int:
        queued = 0
        for peer_id, connection in self._connections.items():
            if peer_id == source:
                continue
            if connection.send_encoded(encoded_frame):
                queued += 1
            else:
                self._statistics.gossip_dropped_outbound += 1
        return queued

    def _on_gossip(self, connection: Connection, topic: str, payload: bytes) -> None:
        """Runs on the connection's reader task: must not block."""
        statistics, peer_id = self._statistics, connection.peer_id
        statistics.gossip_received += 1
        if not self._rate_limits[peer_id].try_take(trio.current_time()):
            statistics.gossip_rate_limited += 1
            self.report(peer_id, Penalty.GOSSIP_RATE_EXCEEDED, "gossip rate limit exceeded")
            return
        if not self._seen.add(gossip_message_id(topic, payload)):
            statistics.gossip_duplicates += 1
            return
        subscription = self._subscriptions.get(topic)
        if subscription is None:
            statistics.gossip_unsubscribed += 1
            return
        try:
            verdict = subscription.validator(peer_id, payload)
        except Exception:
            logger.exception("the %r validator failed; ignoring the message", topic)
            verdict = Verdict.IGNORE
        if verdict is Verdict.REJECT:
            statistics.gossip_rejected += 1
            self.report(peer_id, Penalty.INVALID_GOSSIP, f"invalid {topic!r} gossip")
            return
        if verdict is not Verdict.ACCEPT:
            statistics.gossip_ignored += 1
            return
        statistics.gossip_accepted += 1
        try:
            subscription.channel.send_nowait(GossipMessage(peer_id, payload))
        except trio.WouldBlock:
            statistics.gossip_dropped_local += 1
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            del self._subscriptions[topic]
        self._flood(encode_frame(Gossip(topic, payload)), source=peer_id)

    # -- peers --------------------------------------------------------------------------------------------

    async def connect(self, address: PeerAddress) -> PeerId:
        """Dial ``address`` (or return at once if its peer is connected) and return the peer's id.

        Raises ``PeerUnavailable`` or a subclass: ``ConnectionRefused`` (the peer said goodbye),
        ``HandshakeError`` / ``PeerIdMismatch`` (someone else, or something else, answered).
        """
        if self._nursery is None:
            raise RuntimeError("the network service is not running")
        peer_id = address.peer_id
        if peer_id is not None:
            if peer_id == self.local_peer_id:
                raise PeerUnavailable(f"{address} is this node")
            if peer_id in self._connections:
                return peer_id
            if self._scores.is_banned(peer_id, trio.current_time()):
                raise PeerUnavailable(f"{peer_id} is banned")
        if self._count(Direction.OUTBOUND) >= self._config.max_outbound_peers:
            raise PeerUnavailable("max_outbound_peers connections are open")
        return await self._nursery.start(self._dial, address)

    def disconnect(self, peer_id: PeerId) -> None:
        """Say goodbye to ``peer_id`` and close the connection (a bootnode will be re-dialled)."""
        connection = self._connections.get(peer_id)
        if connection is not None:
            connection.close(GoodbyeReason.REQUESTED)

    def report(self, peer_id: PeerId, delta: float, reason: str) -> None:
        """Change ``peer_id``'s score by ``delta``; at ``ban_threshold`` it is disconnected and banned."""
        if self._scores.adjust(peer_id, delta, trio.current_time()):
            self._statistics.peers_banned += 1
            logger.info("banned %s for %s s: %s", peer_id, self._config.ban_duration, reason)
            connection = self._connections.get(peer_id)
            if connection is not None:
                connection.close(GoodbyeReason.BANNED)
        else:
            logger.debug("score of %s %+g: %s", peer_id, delta, reason)

    def peer_score(self, peer_id: PeerId) -> float:
        """The current score of any peer, connected or not (0 for one never scored)."""
        return self._scores.score(peer_id, trio.current_time())

    def is_banned(self, peer_id: PeerId) -> bool:
        return self._scores.is_banned(peer_id, trio.current_time())

    def peers(self) -> list[PeerInfo]:
        now = trio.current_time()
        return [PeerInfo(peer_id, connection.address, connection.direction, self._scores.score(peer_id, now),
                         connection.connected_since, connection.round_trip_time)
                for peer_id, connection in self._connections.items()]

    def subscribe_peer_events(self) -> trio.MemoryReceiveChannel[PeerEvent]:
        """A new channel of ``PeerConnected`` / ``PeerDisconnected`` events, from now on."""
        send_channel, receive_channel = trio.open_memory_channel[PeerEvent](self._config.peer_events_capacity)
        self._event_channels.append(send_channel)
        return receive_channel

    def statistics(self) -> NetworkStatistics:
        return dataclasses.replace(self._statistics, inbound_peers=self._count(Direction.INBOUND),
                                   outbound_peers=self._count(Direction.OUTBOUND),
                                   pending_handshakes=self._pending_handshakes)

    def _count(self, direction: Direction) -> int:
        return sum(connection.direction is direction for connection in self._connections.values())

    def _count_traffic(self, sent: int, received: int) -> None:
        self._statistics.bytes_sent += sent
        self._statistics.bytes_received += received

    def _emit(self, event: PeerEvent) -> None:
        for channel in list(self._event_channels):
            try:
                channel.send_nowait(event)
            except trio.WouldBlock:
                self._statistics.peer_events_dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._event_channels.remove(channel)

    # -- connection setup ---------------------------------------------------------------------------------

    def _admission_refusal(self, peer_id: PeerId, direction: Direction) -> GoodbyeReason | None:
        """Why a new authenticated connection must not be kept, or ``None`` to keep it."""
        if peer_id == self.local_peer_id:
            return GoodbyeReason.DUPLICATE_CONNECTION  # we dialled ourselves: both ends are this node
        if self._scores.is_banned(peer_id, trio.current_time()):
            return GoodbyeReason.BANNED
        existing = self._connections.get(peer_id)
        if existing is not None and direction is not existing.direction and not existing.is_closing:
            preferred = Direction.OUTBOUND if self.local_peer_id < peer_id else Direction.INBOUND
            return None if direction is preferred else GoodbyeReason.DUPLICATE_CONNECTION
        if existing is not None:
            return None  # the newer connection replaces one that is closing or may be stale
        limit = self._config.max_inbound_peers if direction is Direction.INBOUND else self._config.max_outbound_peers
        if self._count(direction) >= limit:
            return GoodbyeReason.TOO_MANY_PEERS
        return None

    async def _accept(self, stream: trio.SocketStream) -> None:
        try:
            host, port = stream.socket.getpeername()[:2]
        except OSError:  # reset before we got here
            await trio.aclose_forcefully(stream)
            return
        ip, config = _source_ip(host), self._config
        if (self._pending_per_ip[ip] >= config.max_pending_handshakes_per_ip
                or self._inbound_per_ip[ip] >= config.max_inbound_per_ip):
            self._statistics.inbound_refused_per_ip += 1
            logger.debug("refused an inbound socket from %s:%s: %d pending and %d inbound from that address",
                         host, port, self._pending_per_ip[ip], self._inbound_per_ip[ip])
            await trio.aclose_forcefully(stream)
            return
        if self._pending_handshakes >= config.max_pending_handshakes:
            self._statistics.connections_refused += 1
            await trio.aclose_forcefully(stream)
            return
        with _holding(self._inbound_per_ip, ip):
            await self._handshake_and_admit(stream, host, port, ip)

    async def _handshake_and_admit(self, stream: trio.SocketStream, host: str, port: int, ip: str) -> None:
        """The rest of ``_accept``, while the socket counts against its source address's quota."""
        self._pending_handshakes += 1
        try:
            with _holding(self._pending_per_ip, ip), trio.fail_after(self._config.handshake_timeout):
                channel = await secure_inbound(stream, self._identity)
        except (HandshakeError, ConnectionLost, trio.TooSlowError) as exc:
            self._statistics.handshakes_failed += 1
            logger.debug("inbound handshake from %s:%s failed: %r", host, port, exc)
            channel = None
        finally:
            self._pending_handshakes -= 1
        if channel is None:
            await trio.aclose_forcefully(stream)
            return
        peer_id = channel.remote_peer_id
        refusal = self._admission_refusal(peer_id, Direction.INBOUND)
        if refusal is None:
            try:
                with trio.fail_after(self._config.handshake_timeout):
                    await send_admission(channel)
            except (ConnectionLost, trio.TooSlowError):
                await channel.aclose()
                return
            refusal = self._admission_refusal(peer_id, Direction.INBOUND)  # things may have changed meanwhile
        if refusal is not None:
            self._statistics.connections_refused += 1
            await refuse(channel, refusal)
            return
        await self._run_connection(channel, Direction.INBOUND, PeerAddress(host, port, peer_id))

    async def _dial(self, address: PeerAddress, *, task_status: trio.TaskStatus[PeerId]) -> None:
        try:
            with trio.fail_after(self._config.dial_timeout):
                stream = await trio.open_tcp_stream(address.host, address.port)
        except (OSError, trio.TooSlowError) as exc:
            raise PeerUnavailable(f"cannot reach {address}: {exc!r}") from exc
        try:
            with trio.fail_after(self._config.handshake_timeout):
                channel = await secure_outbound(stream, self._identity, expected_peer_id=address.peer_id)
                await receive_admission(channel)
        except trio.TooSlowError:
            await trio.aclose_forcefully(stream)
            raise PeerUnavailable(f"the handshake with {address} timed out") from None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        peer_id = channel.remote_peer_id
        refusal = self._admission_refusal(peer_id, Direction.OUTBOUND)
        if refusal is not None:
            await refuse(channel, refusal)
            if refusal is GoodbyeReason.DUPLICATE_CONNECTION and peer_id in self._connections:
                task_status.started(peer_id)
                return
            raise PeerUnavailable(f"not keeping the connection to {peer_id}: {refusal.name}")
        await self._run_connection(channel, Direction.OUTBOUND, PeerAddress(address.host, address.port, peer_id),
                                   task_status=task_status)

    async def _run_connection(self, channel: SecureChannel, direction: Direction, address: PeerAddress, *,
                              task_status: trio.TaskStatus[PeerId] = trio.TASK_STATUS_IGNORED) -> None:
        """Register an admitted connection (the caller checked admission without awaiting since) and serve it."""
        peer_id = channel.remote_peer_id
        connection = Connection(channel, direction=direction, address=address, config=self._config,
                                serve_request=self._serve_request, on_gossip=self._on_gossip,
                                count_traffic=self._count_traffic)
        replaced = self._connections.get(peer_id)
        self._connections[peer_id] = connection
        if replaced is None:
            config = self._config
            self._rate_limits[peer_id] = TokenBucket(config.gossip_rate_per_second, config.gossip_burst,
                                                     trio.current_time())
            logger.info("connected to %s (%s, %s)", peer_id, direction.value, address)
            self._emit(PeerConnected(peer_id, direction, address))
        else:
            replaced.close(GoodbyeReason.DUPLICATE_CONNECTION)
        task_status.started(peer_id)
        try:
            await connection.run()
        finally:
            if self._connections.get(peer_id) is connection:
                del self._connections[peer_id]
                del self._rate_limits[peer_id]
                logger.info("disconnected from %s: %s", peer_id, connection.close_reason)
                self._emit(PeerDisconnected(peer_id, connection.close_reason or "closed"))
            if connection.violation is not None:
                self._statistics.protocol_violations += 1
                self.report(peer_id, Penalty.PROTOCOL_VIOLATION, f"protocol violation: {connection.violation}")

    async def _keep_connected(self, address: PeerAddress) -> None:
        """Keep a bootnode connected: re-dial after every disconnection, backing off while dials fail."""
        backoff = self._config.redial_initial_backoff
        while True:
            try:
                peer_id = await self.connect(address)
            except NetworkError as exc:
                logger.debug("bootnode %s unavailable (%s); next attempt in %.2f s", address, exc, backoff)
                await trio.sleep(backoff)
                backoff = min(2 * backoff, self._config.redial_max_backoff)
                continue
            backoff = self._config.redial_initial_backoff
            while (connection := self._connections.get(peer_id)) is not None:
                await connection.closed.wait()
            await trio.sleep(backoff)


def _source_ip(host: str) -> str:
    """The key of the per-IP limits for a peer's address: an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``,
    as a dual-stack listener reports IPv4 peers) is its IPv4 address, so one host has one quota whichever
    form it arrives in."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an IP address (TCP peers always are): used as is
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)  # canonical text, so "::0:1" and "::1" are one key


@contextmanager
def _holding(counts: Counter[str], key: str) -> Iterator[None]:
    """Count one more for ``key`` while the block runs, however it exits (errors, timeouts, cancellation);
    a key is deleted when its count returns to zero, so ``counts`` holds only addresses with open sockets."""
    counts[key] += 1
    try:
        yield
    finally:
        counts[key] -= 1
        if not counts[key]:
            del counts[key]
