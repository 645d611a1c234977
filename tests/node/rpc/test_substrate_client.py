"""substrate-interface's own transports (HTTP and WebSocket) against the server, on a tiny registry."""

from __future__ import annotations

from typing import Any

import pytest
from substrateinterface import SubstrateInterface
from substrateinterface.exceptions import SubstrateRequestException
from substrateinterface.transport import HttpTransport, WebsocketTransport

from tests.node.rpc.conftest import CLIENT_TIMEOUT, in_thread


@pytest.mark.parametrize("scheme", ["http", "ws"])
async def test_substrate_interface_talks_to_the_server(start_server, scheme):
    server = await start_server()
    url = f"{scheme}://127.0.0.1:{server.port}"

    def client() -> dict[str, Any]:
        options = {"ws_options": {"timeout": CLIENT_TIMEOUT}} if scheme == "ws" else {}
        substrate = SubstrateInterface(url=url, use_remote_preset=False, **options)  # asks system_chain
        try:
            with pytest.raises(SubstrateRequestException) as rejected:
                substrate.rpc_request("author_submitExtrinsic", ["0x00"])
            return {
                "chain": substrate.chain,
                "lists_echo": substrate.supports_rpc_method("test_echo"),  # through rpc_methods
                "echo": substrate.rpc_request("test_echo", [1, None])["result"],
                "rejected": rejected.value.args[0],
            }
        finally:
            substrate.close()

    assert await in_thread(client) == {
        "chain": "Cairn Test",
        "lists_echo": True,
        "echo": [1, None],
        "rejected": {"code": 1010, "message": "Invalid Transaction", "data": "Transaction has a bad signature"},
    }


async def test_websocket_transport_subscription_and_unsubscribe(start_server):
    server = await start_server()

    def client() -> tuple[Any, Any]:
        transport = WebsocketTransport(url=f"ws://127.0.0.1:{server.port}", ws_options={"timeout": CLIENT_TIMEOUT})
        try:

            def on_update(message: dict[str, Any], update_nr: int, subscription_id: str) -> Any:
                assert message["method"] == "test_tick"
                if update_nr == 2:
                    return {"subscription": subscription_id, "result": message["params"]["result"]}
                return None

            request = {"jsonrpc": "2.0", "method": "test_subscribeTicks", "params": [5, 0.01], "id": 1}
            done = transport.rpc_request(request, result_handler=on_update)
            unsubscribe = {"jsonrpc": "2.0", "method": "test_unsubscribeTicks", "id": 2}
            return done, transport.rpc_request({**unsubscribe, "params": [done["subscription"]]})
        finally:
            transport.close()

    done, unsubscribed = await in_thread(client)
    assert done["result"] == 2
    assert unsubscribed == {"jsonrpc": "2.0", "result": True, "id": 2}  # must succeed, as substrate-interface needs


async def test_http_transport_plain_call(start_server):
    server = await start_server()

    def client() -> Any:
        transport = HttpTransport(url=f"http://127.0.0.1:{server.port}")
        return transport.rpc_request({"jsonrpc": "2.0", "method": "rpc_methods", "params": [], "id": 7})

    response = await in_thread(client)
    assert response["id"] == 7 and "system_chain" in response["result"]["methods"]
