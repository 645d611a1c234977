"""Per-source-address quotas on inbound sockets: pending handshakes and connections per IP address.

One host must not hold every handshake slot with sockets that never finish (slowloris), nor take every
``max_inbound_peers`` slot. Each inbound socket is charged to its address's *quota key*:

- an IPv4 address is its own key; an IPv4-mapped IPv6 address (``::ffff:a.b.c.d``, as a dual-stack
  listener reports IPv4 peers) is the IPv4 address, so one host has one quota whichever form it arrives in;
- an IPv6 address counts by its /64 network: one host is routinely given a whole /64 and can pick any
  address in it, so per-address quotas would bind it to nothing;
- loopback, private (RFC 1918, IPv6 ULA) and link-local addresses have no key — no quota — unless
  ``NetworkConfig.per_ip_limits_on_private_addresses`` is set: every node of a devnet shares 127.0.0.1,
  and the limits refused real handshakes there.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["InboundQuotas", "quota_key"]

IPV6_HOST_PREFIX = 64
PRIVATE_NETWORKS = tuple(ipaddress.ip_network(network) for network in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16",  # RFC 1918
    "fc00::/7",                                        # RFC 4193 unique local addresses
))


def quota_key(host: str, *, limit_private: bool) -> str | None:
    """The key ``host``'s sockets are counted under, or ``None`` if they are not limited (see above)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:  # not an IP address (TCP peers always are): used as is
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if not limit_private and (address.is_loopback or address.is_link_local
                              or any(address in network for network in PRIVATE_NETWORKS)):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, IPV6_HOST_PREFIX), strict=False))
    return str(address)


class InboundQuotas:
    """Counts of inbound sockets per quota key: pending (in the handshake) and inbound (accepted until
    closed); only keys with at least one socket are stored."""

    def __init__(self, *, max_pending_per_ip: int, max_inbound_per_ip: int, limit_private: bool) -> None:
        self._max_pending = max_pending_per_ip
        self._max_inbound = max_inbound_per_ip
        self._limit_private = limit_private
        self.pending: Counter[str] = Counter()
        self.inbound: Counter[str] = Counter()

    def key(self, host: str) -> str | None:
        return quota_key(host, limit_private=self._limit_private)

    def is_full(self, key: str | None) -> bool:
        """Whether a new socket from ``key`` must be refused."""
        return key is not None and (self.pending[key] >= self._max_pending or self.inbound[key] >= self._max_inbound)

    @contextmanager
    def holding_inbound(self, key: str | None) -> Iterator[None]:
        with _holding(self.inbound, key):
            yield

    @contextmanager
    def holding_pending(self, key: str | None) -> Iterator[None]:
        with _holding(self.pending, key):
            yield


@contextmanager
def _holding(counts: Counter[str], key: str | None) -> Iterator[None]:
    """Count one more for ``key`` while the block runs, however it exits (errors, timeouts, cancellation);
    a key is deleted when its count returns to zero. An unlimited (``None``) key is not counted."""
    if key is None:
        yield
        return
    counts[key] += 1
    try:
        yield
    finally:
        counts[key] -= 1
        if not counts[key]:
            del counts[key]
