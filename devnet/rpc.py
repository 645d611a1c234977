"""A blocking JSON-RPC call over HTTP, enough for the launcher's ``status`` and for tests that poll nodes.

Applications use the SDK's client; this is the one request ``status`` needs, with a short deadline so a
process that stopped answering shows as such instead of hanging the command.
"""

from __future__ import annotations

import http.client
import json
import urllib.request

__all__ = ["rpc_call"]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0) -> object:
    """The result of ``method``; ``OSError`` when the node does not answer (or not in HTTP), ``RuntimeError`` for
    an RPC error or an answer that is not one (callers handle these two only: anything else ended ``status``,
    a foreground ``up`` or a soak)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            reply = json.loads(response.read())
    except http.client.HTTPException as exc:  # a reply cut short, or not HTTP
        raise OSError(f"{url}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:
        raise RuntimeError(f"{url}: an answer that is not JSON") from exc
    if not isinstance(reply, dict) or not ("error" in reply or "result" in reply):
        raise RuntimeError(f"{url}: an answer that is not JSON-RPC")
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["result"]
