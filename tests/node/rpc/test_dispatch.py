"""JSON-RPC 2.0 semantics, checked on the dispatcher directly (no sockets): framing, batches, params forms,
errors, the unsafe policy by peer address, limits, and the registry's rules."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from node.rpc import CallContext, ConnectionInfo, Dispatcher, RpcConfig, RpcModule
from node.rpc.dispatch import allows_unsafe
from tests.node.rpc.conftest import Probe, call, demo_module

LOOPBACK = ("127.0.0.1", 40000)
REMOTE = ("203.0.113.7", 40000)


def invalid_request(detail: str) -> dict[str, Any]:
    return {"code": -32600, "message": "Invalid request", "data": detail}


async def dispatch(module: RpcModule, message: Any, *, peer: Any = LOOPBACK, **config: Any) -> Any:
    """Run one message as an HTTP client at ``peer``; the decoded response, or None."""
    dispatcher = Dispatcher(module, RpcConfig(**config))
    raw = message if isinstance(message, (str, bytes)) else json.dumps(message)
    with trio.fail_after(5):
        reply = await dispatcher.handle(raw, ConnectionInfo("http", peer))
    return None if reply.body is None else json.loads(reply.body)


async def test_single_call(module):
    assert await dispatch(module, call("system_chain", [])) == {"jsonrpc": "2.0", "result": "Cairn Test", "id": 1}


@pytest.mark.parametrize("request_id", ["abc", 7, 2.5, None, 2**70])
async def test_id_echoed(module, request_id):
    response = await dispatch(module, call("system_chain", id=request_id))
    assert response["id"] == request_id and response["result"] == "Cairn Test"


@pytest.mark.parametrize(
    "params, expected",
    [
        ([], []),
        (None, []),  # "params": null
        ("missing", []),
        ({}, []),
        ([1, "two"], [1, "two"]),
        ({"second": 2}, [None, 2]),
        ({"first": 1}, [1]),
        ({"second": 2, "first": 1}, [1, 2]),
    ],
)
async def test_params_forms(module, params, expected):
    request = {"jsonrpc": "2.0", "method": "test_echo", "id": 1}
    if params != "missing":
        request["params"] = params
    assert (await dispatch(module, request))["result"] == expected


async def test_named_params_rejected_when_undeclared_or_unknown(module):
    response = await dispatch(module, call("test_sized", {"length": 3}))
    assert response["error"]["code"] == -32602
    response = await dispatch(module, call("test_echo", {"third": 3}))
    assert response["error"] == {"code": -32602, "message": "Invalid params", "data": "unknown parameter(s): third"}


async def test_alias_answers_like_the_method(module):
    assert (await dispatch(module, call("test_echoAlias", [5])))["result"] == [5]


async def test_notification_runs_but_gets_no_response(module):
    request = {"jsonrpc": "2.0", "method": "test_echo", "params": [1]}
    assert await dispatch(module, request) is None
    # errors of notifications are not answered either
    assert await dispatch(module, {"jsonrpc": "2.0", "method": "no_such_method"}) is None
    assert await dispatch(module, {"jsonrpc": "2.0", "method": "test_buggy"}) is None


async def test_batch_mixed_valid_invalid_and_notifications(module):
    batch = [
        call("system_chain", id=1),
        {"jsonrpc": "2.0", "method": "test_echo", "params": [1]},  # notification: no entry
        call("no_such_method", id=2),
        {"jsonrpc": "1.0", "method": "system_chain", "id": 3},
        42,
        call("test_echo", [9], id=4),
        call("author_submitExtrinsic", ["0x00"], id=5),
    ]
    responses = await dispatch(module, batch)
    assert responses == [
        {"jsonrpc": "2.0", "result": "Cairn Test", "id": 1},
        {"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}, "id": 2},
        {"jsonrpc": "2.0", "error": invalid_request('jsonrpc must be "2.0"'), "id": 3},
        {"jsonrpc": "2.0", "error": invalid_request("a request must be a JSON object"), "id": None},
        {"jsonrpc": "2.0", "result": [9], "id": 4},
        {
            "jsonrpc": "2.0",
            "error": {"code": 1010, "message": "Invalid Transaction", "data": "Transaction has a bad signature"},
            "id": 5,
        },
    ]


async def test_batch_of_notifications_only_has_no_response(module):
    batch = [{"jsonrpc": "2.0", "method": "test_echo"}, {"jsonrpc": "2.0", "method": "system_chain"}]
    assert await dispatch(module, batch) is None


async def test_empty_batch_is_invalid_request(module):
    response = await dispatch(module, [])
    assert response["error"]["code"] == -32600 and response["id"] is None


async def test_batch_too_large(module):
    response = await dispatch(module, [call("system_chain", id=i) for i in range(5)], max_batch_len=4)
    assert response == {
        "jsonrpc": "2.0",
        "error": {"code": -32010, "message": "The batch request was too large", "data": "Exceeded max limit of 4"},
        "id": None,
    }
    assert len(await dispatch(module, [call("system_chain", id=i) for i in range(4)], max_batch_len=4)) == 4


@pytest.mark.parametrize("raw", [b"{", b"", b"nope", b'{"jsonrpc":"2.0","method":"x","id":1', b"[NaN]", b"\xff\xfe"])
async def test_malformed_json_is_parse_error(module, raw):
    parse_error = {"code": -32700, "message": "Parse error"}
    assert await dispatch(module, raw) == {"jsonrpc": "2.0", "error": parse_error, "id": None}


async def test_deeply_nested_json_is_parse_error(module):
    response = await dispatch(module, b"[" * 200_000 + b"]" * 200_000)
    assert response["error"]["code"] == -32700


@pytest.mark.parametrize(
    "request_obj, data",
    [
        ({"jsonrpc": "2.0", "id": 1}, "method must be a string"),
        ({"jsonrpc": "2.0", "method": 5, "id": 1}, "method must be a string"),
        (
            {"jsonrpc": "2.0", "method": "system_chain", "params": 5, "id": 1},
            "params must be an array, an object or null",
        ),
        ({"method": "system_chain", "id": 1}, 'jsonrpc must be "2.0"'),
    ],
)
async def test_invalid_requests_echo_the_id(module, request_obj, data):
    response = await dispatch(module, request_obj)
    assert response == {"jsonrpc": "2.0", "error": invalid_request(data), "id": 1}


@pytest.mark.parametrize("bad_id", [True, [1], {"a": 1}, "\ud800"])  # (a lone surrogate: no answer could echo it)
async def test_invalid_id_answers_with_null_id(module, bad_id):
    response = await dispatch(module, call("system_chain", id=bad_id))
    assert response["error"]["code"] == -32600 and response["id"] is None
    batch = await dispatch(module, [call("system_chain", id=bad_id), call("system_chain", id=2)])
    assert [(r["id"], "error" in r) for r in batch] == [(None, True), (2, False)]


async def test_unknown_method(module):
    response = await dispatch(module, call("chain_getNothing", []))
    assert response["error"] == {"code": -32601, "message": "Method not found"}


async def test_handler_rpc_error_is_returned_verbatim(module):
    response = await dispatch(module, call("author_submitExtrinsic", ["0x00"], id="x"))
    assert response == {
        "jsonrpc": "2.0",
        "error": {"code": 1010, "message": "Invalid Transaction", "data": "Transaction has a bad signature"},
        "id": "x",
    }


async def test_handler_bug_is_internal_error_and_logged(module, caplog):
    with caplog.at_level(logging.ERROR, logger="node.rpc.dispatch"):
        response = await dispatch(module, call("test_buggy"))
    assert response["error"] == {"code": -32603, "message": "Internal error"}
    assert "KeyError" in caplog.text and "test_buggy" in caplog.text
    assert (await dispatch(module, call("system_chain")))["result"] == "Cairn Test"


async def test_unserializable_result_is_internal_error(caplog):
    rpc = RpcModule()

    async def returns_object(params: list, ctx: CallContext) -> Any:
        return object()

    rpc.register("bad_result", returns_object)
    with caplog.at_level(logging.ERROR, logger="node.rpc.dispatch"):
        assert (await dispatch(rpc, call("bad_result")))["error"]["code"] == -32603


async def test_request_timeout(module):
    with trio.fail_after(2):
        response = await dispatch(module, call("test_sleep", [30]), request_timeout=0.1)
    assert response["error"]["code"] == -32000 and response["error"]["message"] == "Request timed out"


async def test_batch_shares_one_deadline(module):
    batch = [call("test_sleep", [seconds], id=i) for i, seconds in enumerate((0.1, 30, 0.1))]
    with trio.fail_after(2):
        responses = await dispatch(module, batch, request_timeout=0.4)
    assert [r.get("result") for r in responses] == [True, None, True]
    assert responses[1]["error"]["code"] == -32000


async def test_batch_calls_run_concurrently_and_answer_in_request_order(module):
    """Together they sleep 0.9 s, each less than the 0.5 s deadline: only concurrent calls all finish."""
    batch = [call("test_sleep", [seconds], id=i) for i, seconds in enumerate((0.3, 0.2, 0.1, 0.3))]
    with trio.fail_after(2):
        responses = await dispatch(module, batch, request_timeout=0.5)
    assert [(r["id"], r.get("result")) for r in responses] == [(0, True), (1, True), (2, True), (3, True)]


async def test_response_too_big(module):
    response = await dispatch(module, call("test_sized", [2000]), max_response_size=1000)
    assert response["error"] == {"code": -32008, "message": "Response is too big", "data": "Exceeded max limit of 1000"}
    assert len((await dispatch(module, call("test_sized", [900]), max_response_size=1000))["result"]) == 900


async def test_batch_response_too_big(module):
    batch = [call("test_sized", [400], id=i) for i in range(3)]
    response = await dispatch(module, batch, max_response_size=1000)
    assert response["error"]["code"] == -32011 and response["id"] is None


async def test_subscriptions_refused_without_websocket(module, probe):
    for method in ("test_subscribeTicks", "test_unsubscribeTicks"):
        response = await dispatch(module, call(method, ["abc"]))
        assert response["error"]["code"] == -32603 and response["error"]["message"] == "Internal error"
    assert probe.subscriptions == []


async def test_subscribe_from_a_plain_method_is_a_bug(module, caplog):
    with caplog.at_level(logging.ERROR, logger="node.rpc.dispatch"):
        response = await dispatch(module, call("test_notASubscription"))
    assert response["error"] == {"code": -32603, "message": "Internal error"}
    assert "register_subscription" in caplog.text


async def test_rpc_methods_lists_everything_sorted(module):
    result = (await dispatch(module, call("rpc_methods", [])))["result"]
    assert result["version"] == 1
    assert result["methods"] == sorted(result["methods"])
    for name in ("rpc_methods", "test_echoAlias", "test_subscribeTick", "test_unsubscribeTick", "author_rotateKeys"):
        assert name in result["methods"]


# -- unsafe methods ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "policy, peer, allowed",
    [
        ("auto", LOOPBACK, True),
        ("auto", ("127.8.9.10", 1), True),
        ("auto", ("::1", 1), True),
        ("auto", ("::ffff:127.0.0.1", 1), True),
        ("auto", REMOTE, False),
        ("auto", ("2001:db8::1", 1), False),
        ("auto", None, False),
        ("safe", LOOPBACK, False),
        ("unsafe", REMOTE, True),
    ],
)
async def test_unsafe_policy_by_peer(module, policy, peer, allowed):
    assert allows_unsafe(policy, peer) is allowed
    response = await dispatch(module, call("author_rotateKeys", []), peer=peer, rpc_methods=policy)
    if allowed:
        assert response["result"].startswith("0x")
    else:
        assert response["error"] == {"code": -32601, "message": "RPC call is unsafe to be called externally"}
    # safe methods answer everyone, and the handler sees the verdict
    peer_info = (await dispatch(module, call("test_peer"), peer=peer, rpc_methods=policy))["result"]
    assert peer_info == {"transport": "http", "allowUnsafe": allowed, "method": "test_peer"}


# -- robustness --------------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
request_like = st.fixed_dictionaries(
    {},
    optional={
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2]),
        "method": st.sampled_from(["system_chain", "test_echo", "test_buggy", "nope", 3]),
        "params": json_values,
        "id": json_values,
    },
)


@settings(max_examples=150, deadline=None)
@given(message=st.one_of(json_values, request_like, st.lists(request_like, max_size=5)))
async def test_any_json_gets_a_well_formed_answer(message):
    module = demo_module(Probe())
    response = await dispatch(module, message)
    responses = response if isinstance(response, list) else [] if response is None else [response]
    for item in responses:
        assert item["jsonrpc"] == "2.0" and "id" in item
        assert ("result" in item) != ("error" in item)
        if "error" in item:
            assert isinstance(item["error"]["code"], int) and isinstance(item["error"]["message"], str)


# -- registry ----------------------------------------------------------------------------------------------


async def _noop(params: list, ctx: CallContext) -> None:
    return None


def test_registry_rejects_taken_and_reserved_names():
    rpc = RpcModule()
    rpc.register("a_method", _noop, aliases=("a_alias",))
    for name in ("a_method", "a_alias", "rpc_methods", ""):
        with pytest.raises(ValueError):
            rpc.register(name, _noop)
    with pytest.raises(ValueError):
        rpc.register_subscription("a_subscribe", _noop, unsubscribe="a_alias")
    assert rpc.lookup("a_subscribe") is None  # nothing half-registered


def test_merge_combines_modules_and_refuses_overlap():
    chain, state = RpcModule(), RpcModule()
    chain.register("chain_getHeader", _noop)
    state.register("state_getStorage", _noop, aliases=("state_getStorageAt",))
    chain.merge(state)
    assert chain.method_names() == ["chain_getHeader", "state_getStorage", "state_getStorageAt"]
    clash = RpcModule()
    clash.register("state_getStorageAt", _noop)
    with pytest.raises(ValueError):
        chain.merge(clash)
