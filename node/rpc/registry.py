"""The method registry: which names the server answers, and with what.

A handler is ``async def handler(params: list, ctx: CallContext) -> result``: ``params`` is always a list
(``null``/absent → ``[]``; named parameters are mapped to positions when the method declares
``param_names``), the result must be JSON-serializable. It signals a client error by raising
:class:`~node.rpc.jsonrpc.RpcError` (``RpcError.invalid_params(...)`` for bad params); any other exception
is a bug, answered as ``-32603 Internal error`` and logged.

Two kinds of registrations:

- :meth:`RpcModule.register` — a plain call.
- :meth:`RpcModule.register_subscription` — a subscribe method plus its unsubscribe method, both with
  aliases (Substrate has ``chain_subscribeNewHeads`` with aliases ``chain_subscribeNewHead`` and
  ``subscribe_newHead``, unsubscribed by ``chain_unsubscribeNewHeads`` / ``chain_unsubscribeNewHead`` /
  ``unsubscribe_newHead``). The subscribe handler calls ``ctx.subscribe(notification, unsubscribe)`` and
  returns the subscription's id; the unsubscribe method is provided: ``[id] -> bool``, true when that
  subscription was open on this connection and belonged to this unsubscribe method (jsonrpsee's rule),
  false otherwise, never an error. Both answer only over WebSocket.

``unsafe=True`` marks methods that change node state (``author_rotateKeys``, admin): they answer only where
the server's ``rpc_methods`` policy allows (see :mod:`node.rpc.dispatch`).

Names are unique across a module, aliases included; :meth:`RpcModule.merge` combines per-namespace modules
(``chain``, ``state``, ``author``, ...) into the one the server serves. ``rpc_methods`` is added by the
server itself and may not be registered.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterable

from node.rpc.jsonrpc import RpcError

if TYPE_CHECKING:
    from node.rpc.subscriptions import CallContext

__all__ = ["Handler", "MethodKind", "Method", "RpcModule"]

Handler = Callable[[list[Any], "CallContext"], Awaitable[Any]]

RESERVED_NAMES = frozenset({"rpc_methods"})


class MethodKind(enum.Enum):
    CALL = "call"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"


@dataclass(frozen=True)
class Method:
    """One registered method; every alias of it maps to the same object."""

    name: str
    """The canonical name (the first one given at registration)."""
    kind: MethodKind
    handler: Handler
    unsafe: bool
    """Answers only where the server's ``rpc_methods`` policy allows unsafe calls."""
    param_names: tuple[str, ...]
    """Positions of named parameters; empty: only positional parameters are accepted."""
    unsubscribe: str | None
    """SUBSCRIBE and UNSUBSCRIBE: the canonical unsubscribe name that closes the subscriptions; else None."""

    def positional(self, params: list[Any] | dict[str, Any]) -> list[Any]:
        """The handler's ``params`` list; named parameters go to their declared positions (absent → None,
        trailing absent ones dropped). Raises ``RpcError`` -32602 for unknown names."""
        if isinstance(params, list):
            return params
        if not params:
            return []
        if not self.param_names:
            raise RpcError.invalid_params(f"{self.name} takes positional parameters only")
        unknown = sorted(set(params) - set(self.param_names))
        if unknown:
            raise RpcError.invalid_params(f"unknown parameter(s): {', '.join(unknown)}")
        values = [params.get(name) for name in self.param_names]
        last = max(i for i, name in enumerate(self.param_names) if name in params)
        return values[: last + 1]


def _unsubscriber(unsubscribe: str) -> Handler:
    async def unsubscribe_handler(params: list[Any], ctx: CallContext) -> bool:
        return ctx.unsubscribe(unsubscribe, params[0] if params else None)

    return unsubscribe_handler


class RpcModule:
    """A set of methods by name; build it once, before the server starts."""

    def __init__(self) -> None:
        self._methods: dict[str, Method] = {}

    def register(
        self,
        name: str,
        handler: Handler,
        *,
        aliases: Iterable[str] = (),
        unsafe: bool = False,
        param_names: Iterable[str] = (),
    ) -> None:
        """Answer ``name`` (and each alias) with ``handler``. Raises ``ValueError`` for a taken name."""
        method = Method(name, MethodKind.CALL, handler, unsafe, tuple(param_names), None)
        self._add([name, *aliases], method)

    def register_subscription(
        self,
        name: str,
        handler: Handler,
        *,
        unsubscribe: str,
        aliases: Iterable[str] = (),
        unsubscribe_aliases: Iterable[str] = (),
        unsafe: bool = False,
        param_names: Iterable[str] = (),
    ) -> None:
        """Answer the subscribe method ``name`` with ``handler`` and provide ``unsubscribe`` for it.

        The handler must call ``ctx.subscribe(notification_method, unsubscribe)`` and return the id.
        """
        subscribe = Method(name, MethodKind.SUBSCRIBE, handler, unsafe, tuple(param_names), unsubscribe)
        closer = Method(unsubscribe, MethodKind.UNSUBSCRIBE, _unsubscriber(unsubscribe), unsafe, (), unsubscribe)
        names = [name, *aliases]
        closer_names = [unsubscribe, *unsubscribe_aliases]
        self._check_free([*names, *closer_names])
        self._add(names, subscribe)
        self._add(closer_names, closer)

    def merge(self, other: RpcModule) -> None:
        """Add every method of ``other``; raises ``ValueError`` (and adds nothing) if a name is taken."""
        self._check_free(other._methods)
        self._methods.update(other._methods)

    def lookup(self, name: str) -> Method | None:
        """The method answering ``name`` (canonical or alias)."""
        return self._methods.get(name)

    def method_names(self) -> list[str]:
        """Every name answered, aliases included, sorted."""
        return sorted(self._methods)

    def _check_free(self, names: Iterable[str]) -> None:
        names = list(names)
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate method names in {names}")
        for name in names:
            if not isinstance(name, str) or not name:
                raise ValueError(f"method names are non-empty strings, not {name!r}")
            if name in RESERVED_NAMES:
                raise ValueError(f"{name} is provided by the server")
            if name in self._methods:
                raise ValueError(f"method {name} is already registered")

    def _add(self, names: list[str], method: Method) -> None:
        self._check_free(names)
        for name in names:
            self._methods[name] = method
