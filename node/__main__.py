"""``python -m node``: the same as ``cairn node`` (the devnet launcher starts nodes this way)."""

from node.cli import node

node(prog_name="cairn node")
