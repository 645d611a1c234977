"""The node's JSON-RPC methods (Substrate's names and shapes) on top of ``node.rpc``'s server."""
