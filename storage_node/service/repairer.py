"""Executing repair orders: copy the fragment, or fetch any k of the segment and rebuild it; verify, store, confirm.

A ``RepairOrdered`` event (or, after a restart, an open order in ``FileBank.RepairOrders``) names this node
as the repairer of one fragment. The repairer asks the segment's nodes for their fragments over the same HTTP
API the clients use, signed as itself (the nodes serve the repairer of an open order), all at once with a
deadline each: the fragment's own node too, whose copy, if it still serves one (a leaving node does), is the
fragment itself. Every fetched body is checked: its roots must hash to the on-chain segment root and its
fragment to its own root; a node that sends anything else is skipped. Without a good copy, with k good
fragments the lost one is rebuilt with :meth:`ErasureCoder.reconstruct` (in a worker thread), checked against
its root. The fragment is stored crash-safely like an upload, and confirmed with ``FileBank.confirm_repair``
once no challenge of the fragment is open (the chain holds a leaving node's fragment until its challenge
closes), within the repair's time limit.
"""

from __future__ import annotations

import functools
import logging

import numpy as np
import trio

from runtime.keyring import Keypair
from sdk.chain import AsyncClient, ChainClientError
from sdk.storage.nodes import NodeAddress, NodeError, NodeHttp
from storage_node.chunks import fragment_root
from storage_node.erasure import CodeParams, ErasureCoder, ErasureCodingError, Fragment, SegmentInfo
from sdk.storage.wire import (
    BadFragment,
    FragmentBody,
    body_length,
    check_fragment_body,
    encode_body_prefix,
    fragment_path,
)
from storage_node.service.chain import ChainView, NodeEndpoint, StoredFile
from storage_node.service.metrics import NodeMetrics
from storage_node.service.store import FragmentKey, FragmentStore, StoreError

__all__ = ["Repairer", "RepairFailed"]

log = logging.getLogger(__name__)


UNDER_CHALLENGE_RETRY_S = 5.0
"""Pause before looking again whether a fragment's open challenge, which holds its repair back, has closed."""


class RepairFailed(Exception):
    """The fragment could not be rebuilt (too few good fragments reachable, or a check failed)."""


class Repairer:
    def __init__(self, client: AsyncClient, keypair: Keypair, chain: ChainView, store: FragmentStore,
                 metrics: NodeMetrics, *, fetch_timeout: float = 30.0, timeout: float = 300.0) -> None:
        self._client, self._keypair, self._chain, self._store = client, keypair, chain, store
        self._metrics = metrics
        self._fetch_timeout, self._timeout = fetch_timeout, timeout
        self._running: set[FragmentKey] = set()

    async def repair(self, key: FragmentKey) -> None:
        """Execute the repair order for ``key``; failures are logged and counted, never raised."""
        if key in self._running:
            return
        self._running.add(key)
        try:
            with trio.fail_after(self._timeout):
                await self._repair(key)
            self._metrics.repairs["done"] += 1
        except (RepairFailed, ChainClientError, StoreError, trio.TooSlowError) as exc:
            log.warning("repair of %s failed: %s", key, exc)
            self._metrics.repairs["failed"] += 1
        finally:
            self._running.discard(key)

    async def _repair(self, key: FragmentKey) -> None:
        drops = self._store.drops  # before the order is read: a drop from then on re-checks it
        stored = await self._chain.file(key.file_id)
        root = await self._chain.segment_root(key.file_id, key.segment)
        if stored is None or root is None:
            raise RepairFailed("the file is gone")
        placement = await self._chain.placement(key.file_id, key.segment)
        # the fragment's own node is asked too: a leaving node serves its fragment until it has moved, and a copy
        # of it (checked against its root like any) moves a fragment no rebuild can make (a segment below k, or
        # one whose fragments do not decode as one code) with a k-th of the traffic
        peers = [(index, node) for index, node in enumerate(placement) if node != self._chain.account]
        endpoints = {endpoint.account: endpoint for endpoint in
                     await self._chain.endpoints(tuple(dict.fromkeys(node for _, node in peers)))}
        sources = [(index, endpoints[node]) for index, node in peers if node in endpoints]
        fetched = await self._fetch_any_k(key, stored, root, sources)
        if (copy := fetched.get(key.fragment)) is not None:
            body = encode_body_prefix(copy.roots) + bytes(copy.fragment)
        else:
            body = await trio.to_thread.run_sync(_rebuild, stored, key, fetched)
        await trio.to_thread.run_sync(self._store.write, key, body)
        if self._store.drops != drops and not await self._still_repairer(key):
            await trio.to_thread.run_sync(self._store.remove, key)  # (it would never be dropped after)
            raise RepairFailed("the file was deleted, or the order went to another node, while it was rebuilt")
        self._metrics.bytes_received += len(body)
        call = self._client.compose_call("FileBank", "confirm_repair", {
            "file_id": key.file_id, "segment": key.segment, "fragment": key.fragment})
        while True:
            # a leaving node's open challenge of the fragment holds an exit's repair back until it closes: looked
            # at first, as a refused confirmation would pay its fee every time
            if not await self._chain.challenged(key.file_id, key.segment, key.fragment):
                receipt = await self._client.sign_and_submit(call, self._keypair, wait_for_inclusion=True)
                if receipt.is_success:
                    return
                if receipt.error_message is None or receipt.error_message.name != "UnderChallenge":
                    raise RepairFailed(f"the chain refused confirm_repair: {receipt.error_message}")
            log.info("repair of %s: its node's challenge of it is still open; confirming in %.0f s", key,
                     UNDER_CHALLENGE_RETRY_S)
            await trio.sleep(UNDER_CHALLENGE_RETRY_S)

    async def _still_repairer(self, key: FragmentKey) -> bool:
        """Whether the chain still has the order open with this node, and the file (read afresh)."""
        order = await self._client.query("FileBank", "RepairOrders", [key.file_id, (key.segment, key.fragment)])
        return (order is not None and order.repairer == self._chain.account
                and await self._chain.file_at(key.file_id) is not None)

    async def _fetch_any_k(self, key: FragmentKey, stored: StoredFile, root: bytes,
                           sources: list[tuple[int, NodeEndpoint]]) -> dict[int, FragmentBody]:
        """Good fragments of the segment from ``sources`` (fragment index, node), all asked at once; returns
        once the fragment ``key`` itself is in (alone), or k others (the rest are cancelled), or every source
        answered."""
        k = stored.info.k
        good: dict[int, FragmentBody] = {}
        async with NodeHttp(self._keypair, timeout=self._fetch_timeout) as http, trio.open_nursery() as nursery:
            async def fetch(index: int, node: NodeEndpoint) -> None:
                body = await self._fetch(http, key, stored, root, index, node)
                if body is None or key.fragment in good or len(good) == k:
                    return
                if index == key.fragment:
                    good.clear()
                good[index] = body
                if index == key.fragment or len(good) == k:
                    nursery.cancel_scope.cancel()

            for index, node in sources:
                nursery.start_soon(fetch, index, node)
        if key.fragment not in good and len(good) < k:
            raise RepairFailed(f"only {len(good)} good fragments of {key.segment} reachable; {k} needed")
        return good

    async def _fetch(self, http: NodeHttp, key: FragmentKey, stored: StoredFile, root: bytes, index: int,
                     node: NodeEndpoint) -> FragmentBody | None:
        """Fragment ``index`` from ``node``, checked against the segment's root; ``None`` if it did not come
        (:class:`~sdk.storage.nodes.NodeHttp` bounds what a node can send, and how long it can take) or is bad."""
        path = fragment_path(key.file_id, key.segment, index)
        size = body_length(stored.fragment_count, stored.fragment_size(key.segment))
        try:
            data = await http.get(NodeAddress(node.account, node.url), path, size, signed=True)
        except NodeError as exc:
            log.info("repair of %s: no fragment %d: %s", key, index, exc)
            return None
        try:
            body = await trio.to_thread.run_sync(functools.partial(
                check_fragment_body, bytes(data), fragment=index, fragment_count=stored.fragment_count,
                fragment_size=stored.fragment_size(key.segment), chunk_size=stored.info.chunk_size,
                expected_segment_root=root))
        except BadFragment as exc:
            log.warning("repair of %s: %s sent a bad fragment %d: %s", key, node.url, index, exc)
            return None
        return body


def _rebuild(stored: StoredFile, key: FragmentKey, fetched: dict[int, FragmentBody]) -> bytes:
    """The lost fragment's body, rebuilt from k good ones and checked against its root (blocking CPU work)."""
    info = stored.info
    segment = SegmentInfo(CodeParams(info.k, info.m), stored.coded_length(key.segment), key.segment,
                          key.segment == info.segment_count - 1)
    fragments = {index: Fragment(segment, index, np.frombuffer(body.fragment, dtype=np.uint8))
                 for index, body in fetched.items()}
    try:
        rebuilt = ErasureCoder(info.k, info.m).reconstruct(fragments, [key.fragment])[key.fragment]
    except ErasureCodingError as exc:
        raise RepairFailed(f"reconstruct: {exc}") from None
    payload = np.asarray(rebuilt.payload).tobytes()
    roots = next(iter(fetched.values())).roots
    if fragment_root(payload, info.chunk_size) != roots[key.fragment]:
        raise RepairFailed("the rebuilt fragment does not hash to its root")
    return encode_body_prefix(roots) + payload
