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
any handshake work is spent on it (counted in ``inbound_refused_per_ip``); ``ip_limits`` says how addresses
are counted, and why loopback and private ones are exempt by default. Garbage in the handshake cannot be
pinned on a peer (its identity is not proven yet), so it is counted (``handshakes_failed``) and the socket
closed; once a peer is authenticated, every protocol violation costs it ``Penalty.MALFORMED_FRAME``.

Reputation (``peers``): ``report`` changes a peer's reputation; at ``ban_threshold`` the peer is disconnected
and banned for ``ban_duration``. Gossip (``gossip``, ``deferred``): a message is forwarded only after its
topic's verdict accepted it.

One peer's connection failing, at any moment and in any order with its replacement, never ends the
service: ``Connection.close`` never raises, and anything else escaping a connection's task (a bug) is
logged, counted in ``connection_errors`` and ends that connection only.

Bootnodes are dialled when the service starts and re-dialled after every disconnection, with exponential
backoff from ``redial_initial_backoff`` up to ``redial_max_backoff``, so a restarted peer is reachable again
within about ``redial_max_backoff`` seconds.

Peer events (``PeerConnected``, ``PeerDisconnected``) go to every channel opened with
``subscribe_peer_events``; a consumer that falls ``peer_events_capacity`` events behind loses events
(counted in ``statistics().peer_events_dropped``) and should resynchronise from ``peers()``.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import trio

from node.network.config import NetworkConfig
from node.network.connection import Connection, receive_admission, refuse, send_admission
from node.network.deferred import DeferredGossip, DeferredSubscription, Offer, PendingGossip
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
from node.network.ip_limits import InboundQuotas
from node.network.noise import NoiseIdentity, SecureChannel, secure_inbound, secure_outbound
from node.network.peers import (
    Direction,
    PeerConnected,
    PeerDisconnected,
    PeerEvent,
    PeerInfo,
    Penalty,
    Reputations,
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
    connection_errors: int = 0
    """Connections ended by an unexpected error in this node's own code (a bug, logged with its traceback)."""
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
    """Accepted messages a full subscription channel could not take; for a deferred topic, new messages its
    full queue could not take (neither delivered nor forwarded)."""
    gossip_over_budget: int = 0
    """New messages of deferred topics dropped because their sender's, or the total, budget of messages
    waiting for a verdict was full."""
    gossip_expired: int = 0
    """Messages of deferred topics dropped, unforwarded, because no verdict came within
    ``gossip_validation_timeout``."""
    gossip_pending: int = 0
    """Messages of deferred topics waiting for a verdict now."""
    gossip_dropped_outbound: int = 0
    """Per peer: messages not sent because that peer's outbound queue was full."""
    gossip_paced: int = 0
    """Per peer: messages not sent because this node already sent that peer its gossip rate."""
    peer_events_dropped: int = 0


@dataclass
class _Subscription:
    validator: Validator
    channel: trio.MemorySendChannel[GossipMessage]


@dataclass
class _GossipLimits:
    """One connected peer's token buckets (see ``gossip``)."""

    received: TokenBucket
    """What the peer may send us."""
    sent: TokenBucket
    """What we send it: pacing below its limit."""


class NetworkService:
    """The node's peer-to-peer network. Start it with ``await nursery.start(network.run)``."""

    def __init__(self, node_key: NodeKey, config: NetworkConfig) -> None:
        self._config = config
        self._identity = NoiseIdentity(node_key)
        self._connections: dict[PeerId, Connection] = {}
        self._protocols: dict[str, RequestHandler] = {}
        self._subscriptions: dict[str, _Subscription | DeferredSubscription] = {}
        self._deferred = DeferredGossip(timeout=config.gossip_validation_timeout,
                                        max_per_peer=config.max_pending_gossip_per_peer,
                                        max_bytes_per_peer=config.max_pending_gossip_bytes_per_peer,
                                        max_bytes=config.max_pending_gossip_bytes, on_verdict=self._on_deferred_verdict)
        self._event_channels: list[trio.MemorySendChannel[PeerEvent]] = []
        self._gossip_limits: dict[PeerId, _GossipLimits] = {}
        self._seen = SeenCache(config.seen_cache_size)
        self._reputations = Reputations(ban_threshold=config.ban_threshold, ban_duration=config.ban_duration,
                                        half_life=config.reputation_half_life)
        self._statistics = NetworkStatistics()
        self._pending_handshakes = 0
        self._quotas = InboundQuotas(max_pending_per_ip=config.max_pending_handshakes_per_ip,
                                     max_inbound_per_ip=config.max_inbound_per_ip,
                                     limit_private=config.per_ip_limits_on_private_addresses)
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
            if exc.cost:
                self.report(peer_id, exc.cost, f"rejected {protocol!r} request: {exc}")
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
        self._check_topic(topic)
        send_channel, receive_channel = trio.open_memory_channel[GossipMessage](
            capacity or self._config.subscription_capacity)
        self._subscriptions[topic] = _Subscription(validator, send_channel)
        return receive_channel

    def subscribe_deferred(self, topic: str, *, capacity: int | None = None) -> DeferredSubscription:
        """Receive every new message of the topic as a ``PendingGossip`` and decide on each later: nothing
        is forwarded until its ``accept()`` (see ``deferred`` for deadlines and memory bounds).

        One subscription per topic; closing the returned subscription ends it. It queues ``capacity``
        messages (default ``subscription_capacity``); when it is full, new messages are dropped, neither
        delivered nor forwarded, and counted in ``gossip_dropped_local``.
        """
        self._check_topic(topic)
        subscription = self._deferred.subscribe(topic, capacity or self._config.subscription_capacity)
        self._subscriptions[topic] = subscription
        return subscription

    def _check_topic(self, topic: str) -> None:
        encode_name(topic)
        if topic in self._subscriptions:
            raise ValueError(f"topic {topic!r} already has a subscriber")

    async def publish(self, topic: str, payload: bytes) -> int:
        """Send a message to every connected peer; return how many it was queued for.

        Peers whose outbound queue is full (``gossip_dropped_outbound``), or who were already sent their
        gossip rate (``gossip_paced``), miss it. Local subscribers do not receive their own node's messages.
        """
        await trio.lowlevel.checkpoint()
        encoded = encode_frame(Gossip(topic, payload))
        if len(encoded) - FRAME_LENGTH_PREFIX > self._config.max_frame_size:
            raise MessageTooLarge(f"a {len(payload)}-byte gossip payload exceeds max_frame_size")
        self._seen.add(gossip_message_id(topic, payload))
        self._statistics.gossip_published += 1
        return self._flood(encoded, source=None)

    def _flood(self, encoded_frame: bytes, *, source: PeerId | None) -> int:
        queued, now = 0, trio.current_time()
        for peer_id, connection in self._connections.items():
            if peer_id == source:
                continue
            if not self._gossip_limits[peer_id].sent.try_take(now):
                self._statistics.gossip_paced += 1
            elif connection.send_encoded(encoded_frame):
                queued += 1
            else:
                self._statistics.gossip_dropped_outbound += 1
        return queued

    def _on_gossip(self, connection: Connection, topic: str, payload: bytes) -> None:
        """Runs on the connection's reader task: must not block."""
        statistics, peer_id = self._statistics, connection.peer_id
        statistics.gossip_received += 1
        if not self._gossip_limits[peer_id].received.try_take(trio.current_time()):
            statistics.gossip_rate_limited += 1
            self.report(peer_id, Penalty.RATE_EXCEEDED, "gossip rate limit exceeded")
            return
        message_id, subscription = gossip_message_id(topic, payload), self._subscriptions.get(topic)
        if isinstance(subscription, DeferredSubscription):  # seen only once queued (see ``gossip``)
            is_new = message_id not in self._seen
        else:
            is_new = self._seen.add(message_id)
        if not is_new:
            statistics.gossip_duplicates += 1
        elif subscription is None:
            statistics.gossip_unsubscribed += 1
        elif isinstance(subscription, DeferredSubscription):
            self._offer(subscription, peer_id, payload, message_id)
        else:
            self._validate_now(subscription, peer_id, topic, payload)

    def _validate_now(self, subscription: _Subscription, peer_id: PeerId, topic: str, payload: bytes) -> None:
        try:
            verdict = subscription.validator(peer_id, payload)
        except Exception:
            logger.exception("the %r validator failed; ignoring the message", topic)
            verdict = Verdict.IGNORE
        if verdict is Verdict.ACCEPT:
            try:
                subscription.channel.send_nowait(GossipMessage(peer_id, payload))
            except trio.WouldBlock:
                self._statistics.gossip_dropped_local += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                del self._subscriptions[topic]
        self._apply_verdict(topic, peer_id, payload, verdict, "", Penalty.INVALID_GOSSIP)

    def _offer(self, subscription: DeferredSubscription, peer_id: PeerId, payload: bytes, message_id: bytes) -> None:
        match self._deferred.offer(subscription, peer_id, payload):
            case Offer.QUEUED:
                self._seen.add(message_id)
            case Offer.OVER_BUDGET:
                self._statistics.gossip_over_budget += 1
            case Offer.QUEUE_FULL:
                self._statistics.gossip_dropped_local += 1
            case Offer.CLOSED:
                del self._subscriptions[subscription.topic]
                self._statistics.gossip_unsubscribed += 1

    def _on_deferred_verdict(self, message: PendingGossip, verdict: Verdict, reason: str, cost: float) -> None:
        self._apply_verdict(message.topic, message.peer_id, message.payload, verdict, reason, cost)

    def _apply_verdict(self, topic: str, peer_id: PeerId, payload: bytes, verdict: Verdict, reason: str,
                       cost: float) -> None:
        """Count the verdict, and forward (``ACCEPT``) or charge the sender (``REJECT``)."""
        statistics = self._statistics
        if verdict is Verdict.ACCEPT:
            statistics.gossip_accepted += 1
            self._flood(encode_frame(Gossip(topic, payload)), source=peer_id)
        elif verdict is Verdict.REJECT:
            statistics.gossip_rejected += 1
            self.report(peer_id, cost, f"invalid {topic!r} gossip" + (f": {reason}" if reason else ""))
        else:
            statistics.gossip_ignored += 1

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
            if self.is_banned(peer_id):
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
        """Change ``peer_id``'s reputation by ``delta`` (a ``Penalty``, for faults the peer itself could
        have avoided); at ``ban_threshold`` it is disconnected and banned for ``ban_duration``."""
        now = trio.current_time()
        banned = self._reputations.change(peer_id, delta, now)
        logger.debug("reputation of %s %+g, now %g: %s", peer_id, delta, self._reputations.reputation(peer_id, now),
                     reason)
        if banned:
            self._statistics.peers_banned += 1
            logger.info("banned %s for %g s: %s", peer_id, self._config.ban_duration, reason)
            connection = self._connections.get(peer_id)
            if connection is not None:
                connection.close(GoodbyeReason.BANNED)

    def reputation(self, peer_id: PeerId) -> float:
        """The current reputation of any peer, connected or not (0 for one never reported)."""
        return self._reputations.reputation(peer_id, trio.current_time())

    def reputations(self) -> dict[PeerId, float]:
        """Every remembered peer's non-zero reputation, connected or not (e.g. for a metrics gauge)."""
        return self._reputations.all(trio.current_time())

    def is_banned(self, peer_id: PeerId) -> bool:
        return self._reputations.is_banned(peer_id, trio.current_time())

    def peers(self) -> list[PeerInfo]:
        now = trio.current_time()
        return [PeerInfo(peer_id, connection.address, connection.direction,
                         self._reputations.reputation(peer_id, now), connection.connected_since,
                         connection.round_trip_time)
                for peer_id, connection in self._connections.items()]

    def subscribe_peer_events(self) -> trio.MemoryReceiveChannel[PeerEvent]:
        """A new channel of ``PeerConnected`` / ``PeerDisconnected`` events, from now on."""
        send_channel, receive_channel = trio.open_memory_channel[PeerEvent](self._config.peer_events_capacity)
        self._event_channels.append(send_channel)
        return receive_channel

    def statistics(self) -> NetworkStatistics:
        self._deferred.expire(trio.current_time())
        return dataclasses.replace(self._statistics, inbound_peers=self._count(Direction.INBOUND),
                                   outbound_peers=self._count(Direction.OUTBOUND),
                                   pending_handshakes=self._pending_handshakes,
                                   gossip_expired=self._deferred.expired,
                                   gossip_pending=self._deferred.pending_messages)

    def _count(self, direction: Direction) -> int:
        return sum(connection.direction is direction for connection in self._connections.values())

    def _count_traffic(self, sent: int, received: int) -> None:
        self._statistics.bytes_sent += sent
        self._statistics.bytes_received += received

    @contextmanager
    def _contained(self, what: str) -> Iterator[None]:
        """One peer's connection failing never ends the node: an error escaping it (which would be a bug:
        peers' faults are handled where they happen) is logged with its traceback and counted, and only that
        connection ends. Cancellation passes through."""
        try:
            yield
        except* Exception:
            self._statistics.connection_errors += 1
            logger.exception("%s failed; the node goes on without it", what)

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
        if self.is_banned(peer_id):
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
        quotas = self._quotas
        key = quotas.key(host)
        if quotas.is_full(key):
            self._statistics.inbound_refused_per_ip += 1
            logger.debug("refused an inbound socket from %s:%s: %d pending and %d inbound from %s", host, port,
                         quotas.pending[key], quotas.inbound[key], key)
            await trio.aclose_forcefully(stream)
            return
        if self._pending_handshakes >= self._config.max_pending_handshakes:
            self._statistics.connections_refused += 1
            await trio.aclose_forcefully(stream)
            return
        with quotas.holding_inbound(key), self._contained(f"the inbound connection from {host}:{port}"):
            await self._handshake_and_admit(stream, host, port, key)

    async def _handshake_and_admit(self, stream: trio.SocketStream, host: str, port: int, key: str | None) -> None:
        """The rest of ``_accept``, while the socket counts against its source address's quota."""
        self._pending_handshakes += 1
        try:
            with self._quotas.holding_pending(key), trio.fail_after(self._config.handshake_timeout):
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
        with self._contained(f"the connection to {address}"):
            await self._run_connection(channel, Direction.OUTBOUND, PeerAddress(address.host, address.port, peer_id),
                                       task_status=task_status)

    async def _run_connection(self, channel: SecureChannel, direction: Direction, address: PeerAddress, *,
                              task_status: trio.TaskStatus[PeerId] = trio.TASK_STATUS_IGNORED) -> None:
        """Register an admitted connection (the caller checked admission without awaiting since) and serve it."""
        peer_id = channel.remote_peer_id
        connection = Connection(channel, direction=direction, address=address, config=self._config,
                                serve_request=self._serve_request, on_gossip=self._on_gossip,
                                count_traffic=self._count_traffic, report=self.report)
        replaced = self._connections.get(peer_id)
        self._connections[peer_id] = connection
        if replaced is None:
            config, now = self._config, trio.current_time()
            self._gossip_limits[peer_id] = _GossipLimits(
                received=TokenBucket(config.gossip_rate_per_second, config.gossip_burst, now),
                sent=TokenBucket(config.gossip_rate_per_second, max(1, config.gossip_burst // 2), now))
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
                del self._gossip_limits[peer_id]
                logger.info("disconnected from %s: %s", peer_id, connection.close_reason)
                self._emit(PeerDisconnected(peer_id, connection.close_reason or "closed"))
            if connection.violation is not None:
                self._statistics.protocol_violations += 1
                self.report(peer_id, Penalty.MALFORMED_FRAME, f"protocol violation: {connection.violation}")

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
