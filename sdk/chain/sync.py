"""The blocking chain client, for scripts and notebooks: the :class:`AsyncClient` behind a portal.

``Client`` starts an event loop in a background thread (``anyio.from_thread.start_blocking_portal``),
enters an :class:`AsyncClient` there and runs each method call in that loop, so there is one
implementation of the protocol and both clients behave the same (deadlines, reconnection, errors).
Any number of threads may use one ``Client`` at once: their calls run concurrently in its loop::

    with Client("ws://127.0.0.1:9944") as client:
        receipt = client.sign_and_submit(client.compose_call("Balances", "transfer_keep_alive",
                                                             {"dest": bob, "value": 10**12}),
                                         "//Alice", wait_for_inclusion=True)
        with client.subscribe_new_heads() as heads:
            for header in heads: ...

Iterators (``query_map``, subscriptions) fetch each item through the portal as they are iterated. The
SDK's namespaces (``client.storage``, ``client.da``) get their blocking faces the same way, as
:class:`BlockingApi` subclasses whose methods are :func:`blocking`.
"""

from __future__ import annotations

import functools
from contextlib import AbstractContextManager, ExitStack
from types import TracebackType
from typing import Any, AsyncIterator, Awaitable, Callable, Generic, Sequence, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from sdk.chain.client import AsyncClient

__all__ = ["Client", "BlockingApi", "BlockingIterator", "BlockingSubscription", "blocking"]

T = TypeVar("T")
A = TypeVar("A")


class BlockingIterator(Generic[T]):
    """An async iterator of the client's loop, iterated from a plain thread."""

    def __init__(self, portal: BlockingPortal, iterator: AsyncIterator[T]) -> None:
        self._portal = portal
        self._iterator = iterator

    def __iter__(self) -> "BlockingIterator[T]":
        return self

    def __next__(self) -> T:
        try:
            return self._portal.call(self._iterator.__anext__)
        except StopAsyncIteration:
            raise StopIteration from None

    def __getattr__(self, name: str) -> Any:  # e.g. QueryMapResult.last_key, Subscription.id
        return getattr(self._iterator, name)


class BlockingSubscription(BlockingIterator[T], AbstractContextManager):
    """A subscription of the client's loop: ``with client.subscribe_new_heads() as heads: for h in heads``."""

    def __init__(self, portal: BlockingPortal, subscription: Any) -> None:
        super().__init__(portal, subscription)
        self._context = portal.wrap_async_context_manager(subscription)

    def __enter__(self) -> "BlockingSubscription[T]":
        self._context.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool | None:
        return self._context.__exit__(exc_type, exc, tb)


def blocking(method: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    """An async method (``AsyncClient.method``, ``StorageApi.method``...) as a blocking method of
    :class:`Client` or a :class:`BlockingApi` (same signature and docs), run in the loop of their portal."""

    @functools.wraps(method)
    def call(self: "Client | BlockingApi[Any]", *args: Any, **kwargs: Any) -> T:
        return self._portal.call(functools.partial(method, self._client, *args, **kwargs))

    return call


class BlockingApi(Generic[A]):
    """The blocking face of one of the SDK's async APIs, run through a blocking :class:`Client`'s portal;
    a subclass declares each method as ``name = blocking(AsyncApi.name)`` (same arguments, same errors)."""

    def __init__(self, portal: BlockingPortal, api: A) -> None:
        self._portal = portal
        self._client = api  # the name ``blocking`` calls through

    @property
    def api(self) -> A:
        """The asynchronous API behind this one."""
        return self._client


def _delegated(method: Callable[..., T]) -> Callable[..., T]:
    """A method of :class:`AsyncClient` that does no I/O, called directly."""

    @functools.wraps(method)
    def call(self: "Client", *args: Any, **kwargs: Any) -> T:
        return method(self._client, *args, **kwargs)

    return call


def _shared(attribute: property) -> property:
    """A property of :class:`AsyncClient` (no I/O), read from the wrapped client."""
    getter = attribute.fget
    assert getter is not None
    return property(lambda self: getter(self._client), doc=attribute.__doc__)


def _iterating(method: Callable[..., Any], wrapper: type[BlockingIterator[Any]]) -> Callable[..., Any]:
    """A method of :class:`AsyncClient` returning an async iterator, its result wrapped to iterate from here."""

    @functools.wraps(method)
    def call(self: "Client", *args: Any, **kwargs: Any) -> BlockingIterator[Any]:
        return wrapper(self._portal, method(self._client, *args, **kwargs))

    return call


class Client:
    """A blocking client of one node. Connects on construction (errors are raised there), closes with
    :meth:`close` or at the end of a ``with`` block. Takes :class:`AsyncClient`'s arguments, plus the
    event-loop ``backend`` to run it on (``"asyncio"`` or ``"trio"``)."""

    ASYNC_CLIENT: type[AsyncClient] = AsyncClient
    """The asynchronous client run in the loop (``sdk.client.Client`` runs one with namespaces)."""

    def __init__(self, url: str | Sequence[str] = "ws://127.0.0.1:9944", *, backend: str = "asyncio",
                 **options: Any) -> None:
        client = self.ASYNC_CLIENT(url, **options)  # bad arguments raise here, before a thread is started
        with ExitStack() as stack:
            self._portal = stack.enter_context(start_blocking_portal(backend))
            stack.enter_context(self._portal.wrap_async_context_manager(client))
            self._stack = stack.pop_all()
        self._client = client
        self.url = client.url
        self.urls = client.urls
        self.nonces = client.nonces
        """The nonce manager of the transactions signed through this client."""

    def close(self) -> None:
        """Disconnect and stop the background loop (idempotent)."""
        self._stack.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    runtime = _shared(AsyncClient.runtime)
    view = _shared(AsyncClient.view)
    genesis_hash = _shared(AsyncClient.genesis_hash)
    ss58_format = _shared(AsyncClient.ss58_format)

    rpc_request = blocking(AsyncClient.rpc_request)
    get_block_hash = blocking(AsyncClient.get_block_hash)
    get_chain_head = blocking(AsyncClient.get_chain_head)
    get_chain_finalised_head = blocking(AsyncClient.get_chain_finalised_head)
    get_block_header = blocking(AsyncClient.get_block_header)
    get_block = blocking(AsyncClient.get_block)
    get_events = blocking(AsyncClient.get_events)
    get_runtime_version = blocking(AsyncClient.get_runtime_version)
    get_constant = _delegated(AsyncClient.get_constant)
    create_storage_key = _delegated(AsyncClient.create_storage_key)
    query = blocking(AsyncClient.query)
    get_read_proof = blocking(AsyncClient.get_read_proof)
    verified_query = blocking(AsyncClient.verified_query)
    compose_call = _delegated(AsyncClient.compose_call)
    get_account_nonce = blocking(AsyncClient.get_account_nonce)
    create_signed_extrinsic = blocking(AsyncClient.create_signed_extrinsic)
    get_payment_info = blocking(AsyncClient.get_payment_info)
    submit_extrinsic = blocking(AsyncClient.submit_extrinsic)
    get_extrinsic_receipt = blocking(AsyncClient.get_extrinsic_receipt)
    sign_and_submit = blocking(AsyncClient.sign_and_submit)
    sign_and_submit_all = blocking(AsyncClient.sign_and_submit_all)
    query_map = _iterating(AsyncClient.query_map, BlockingIterator)

    def subscribe_block_headers(self, handler: Callable[[Any, int, Any], Any], finalized_only: bool = False) -> Any:
        """substrate-interface's callback form: ``handler(header, update_nr, subscription_id)`` for each new
        (or finalized) head until it returns something other than ``None``, which is returned. The handler
        runs in the calling thread, not the client's loop, so it may use the client, as such handlers do."""
        with (self.subscribe_finalized_heads() if finalized_only else self.subscribe_new_heads()) as heads:
            for update_nr, header in enumerate(heads):
                result = handler(header, update_nr, heads.id)
                if result is not None:
                    return result
        return None

    subscribe_new_heads = _iterating(AsyncClient.subscribe_new_heads, BlockingSubscription)
    subscribe_finalized_heads = _iterating(AsyncClient.subscribe_finalized_heads, BlockingSubscription)
    subscribe_events = _iterating(AsyncClient.subscribe_events, BlockingSubscription)
