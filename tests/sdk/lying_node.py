"""An RPC node that lies: a client of a real node whose answers to one method are rewritten, for tests of
what the SDK believes (the rest of the node's answers are its own)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable, Mapping

from runtime.justification import Justification
from sdk.chain import AsyncClient
from sdk.chain.shapes import to_hex

__all__ = ["LyingNode", "Lie", "served_justification", "with_justification", "strip_justification", "proof_at_genesis"]

Lie = Callable[[AsyncClient, list, Any], Awaitable[Any]]


class LyingNode(AsyncClient):
    """A client of a node whose answers to the methods in ``lies`` are rewritten by them: an RPC node that
    lies. A lie gets the client, the request's params and the node's true answer."""

    def __init__(self, url: str, lies: Mapping[str, Lie]) -> None:
        super().__init__(url)
        self._lies = dict(lies)

    async def rpc_request(self, method: str, params=None, *, timeout: float | None = None) -> Any:
        result = await super().rpc_request(method, params, timeout=timeout)
        lie = self._lies.get(method)
        return result if lie is None else await lie(self, list(params or []), result)

    async def truth(self, method: str, params: list) -> Any:
        """What the node really answers (for a lie built on another answer)."""
        return await AsyncClient.rpc_request(self, method, params)


def served_justification(result: Any) -> Justification:
    """The justification in a ``chain_getBlock`` answer."""
    return Justification.decode(bytes.fromhex(result["justifications"][0][1][2:]))


def with_justification(result: Any, justification: bytes | None) -> Any:
    engines = None if justification is None else [[to_hex(b"FRNK"), to_hex(justification)]]
    return {**result, "justifications": engines}


async def strip_justification(client: AsyncClient, params: list, result: Any) -> Any:
    return with_justification(result, None)


async def proof_at_genesis(client: LyingNode, params: list, result: Any) -> Any:
    return await client.truth("state_getReadProof", [params[0], to_hex(client.genesis_hash)])
