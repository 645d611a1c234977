"""The provider's small HTTP API: ``GET /v1/health`` (also ``/health``; JSON) and ``GET /metrics`` (Prometheus).

The endpoint registered on chain points here. Nothing is uploaded to a provider: jobs come from the chain
and data from the storage network, so the API only answers what the devnet's ``status`` and the benchmark
ask. Anything else is 404, a method other than GET 405.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

from compute_pallet.service.metrics import CONTENT_TYPE, ProviderMetrics
from sdk.serving import HttpApp, Receive, Scope, Send, respond, respond_error

__all__ = ["ProviderApi"]

HEALTH_PATHS = ("/v1/health", "/health")


class ProviderApi(HttpApp):
    """A raw ASGI app; ``health()`` gives the health document at request time."""

    def __init__(self, metrics: ProviderMetrics, health: Callable[[], Mapping[str, object]]) -> None:
        self.metrics, self.health = metrics, health

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path not in (*HEALTH_PATHS, "/metrics"):
            await respond_error(send, 404, "NotFound", f"no route {path[:100]}")
        elif scope["method"] != "GET":
            await respond_error(send, 405, "MethodNotAllowed", "only GET")
        elif path == "/metrics":
            await respond(send, 200, self.metrics.render().encode(), CONTENT_TYPE)
        else:
            await respond(send, 200, json.dumps(self.health()).encode(), "application/json")
