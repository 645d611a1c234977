"""``python -m storage_node.service``: the ``cairn storage-node`` command (what the devnet launches)."""

from storage_node.service.cli import storage_node

storage_node(prog_name="cairn storage-node")
