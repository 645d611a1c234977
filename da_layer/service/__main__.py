"""``python -m da_layer.service``: ``cairn da-node`` without the console script (the devnet starts it so)."""

from da_layer.service.cli import da_node

if __name__ == "__main__":
    da_node()
