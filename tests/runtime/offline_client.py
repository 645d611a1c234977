"""The real ``substrate-interface`` client, driven in-process against a :class:`LocalChain`.

``SubstrateInterface`` talks through a pluggable transport; this one answers its JSON-RPC requests from
the local chain (the same answers the node's RPC gives), so tests exercise the client's own metadata
decoding, call composition, signing and event decoding with no network.
"""

from __future__ import annotations

from typing import Any

from substrateinterface import SubstrateInterface
from substrateinterface.transport.base import TransportBase

from devnet.local_chain import LocalChain
from node.api.shapes import block_json, header_json


class LocalChainTransport(TransportBase):
    def __init__(self, chain: LocalChain) -> None:
        super().__init__()
        self.chain = chain
        self.requests: list[str] = []

    def _hash(self, params: list, index: int = 0) -> bytes:
        if len(params) > index and params[index]:
            return bytes.fromhex(params[index][2:])
        return self.chain.best_hash

    def rpc_request(self, payload: dict, result_handler: Any = None) -> dict:
        method, params = payload["method"], payload.get("params") or []
        self.requests.append(method)
        chain = self.chain
        if method == "rpc_methods":
            result: Any = {"version": 1, "methods": [
                "chain_getHead", "chain_getHeader", "chain_getBlock", "chain_getBlockHash", "chain_getFinalizedHead",
                "state_getRuntimeVersion", "state_getMetadata", "state_call", "state_getStorageAt",
                "state_getKeysPaged", "state_queryStorageAt", "system_chain", "system_properties",
            ]}
        elif method == "system_chain":
            result = chain.spec.name
        elif method == "system_properties":
            result = chain.spec.properties
        elif method in ("chain_getHead", "chain_getFinalizedHead"):
            result = "0x" + chain.best_hash.hex()
        elif method == "chain_getBlockHash":
            number = params[0] if params else None
            result = "0x" + (chain.hashes[number] if number is not None else chain.best_hash).hex()
        elif method == "chain_getHeader":
            result = header_json(chain.blocks[self._hash(params)].header)
        elif method == "chain_getBlock":
            result = block_json(chain.blocks[self._hash(params)])
        elif method == "state_getRuntimeVersion":
            result = chain.runtime.VERSION.to_json()
        elif method == "state_getMetadata":
            result = "0x" + chain.runtime.metadata.hex()
        elif method == "state_call":
            at = self._hash(params, 2)
            out = chain.api.call(params[0], bytes.fromhex(params[1][2:]), chain.states[at], at)
            result = "0x" + out.hex()
        elif method == "state_getStorageAt":
            value = chain.states[self._hash(params, 1)].get(bytes.fromhex(params[0][2:]))
            result = None if value is None else "0x" + value.hex()
        elif method == "state_getKeysPaged":
            prefix, count = bytes.fromhex(params[0][2:]), params[1]
            start = bytes.fromhex(params[2][2:]) if len(params) > 2 and params[2] else None
            state = chain.states[self._hash(params, 3)]
            keys = []
            for key, _ in state.items(prefix, start):
                keys.append("0x" + key.hex())
                if len(keys) == count:
                    break
            result = keys
        elif method == "state_queryStorageAt":
            at = self._hash(params, 1)
            state = chain.states[at]
            changes = []
            for key in params[0]:
                value = state.get(bytes.fromhex(key[2:]))
                changes.append([key, None if value is None else "0x" + value.hex()])
            result = [{"block": "0x" + at.hex(), "changes": changes}]
        else:
            return {"jsonrpc": "2.0", "id": payload["id"], "error": {"code": -32601, "message": f"Method not found: {method}"}}
        return {"jsonrpc": "2.0", "id": payload["id"], "result": result}


def offline_substrate(chain: LocalChain) -> SubstrateInterface:
    substrate = SubstrateInterface(url="http://127.0.0.1:1", auto_discover=False, ss58_format=42)
    substrate.transport = LocalChainTransport(chain)
    return substrate
