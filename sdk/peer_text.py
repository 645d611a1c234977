"""Text a peer sent (an error body, a message in a node's JSON answer), made fit to show a user.

A storage or DA node's answer is untrusted: printed as it came, its control characters (ANSI escapes, carriage
returns) would rewrite the user's terminal, and its length is the node's choice.
"""

from __future__ import annotations

__all__ = ["peer_text"]

MAX_SHOWN = 4096
"""Characters of a peer's text kept: more than any error message of the APIs."""


def peer_text(raw: bytes | bytearray | str, limit: int = MAX_SHOWN) -> str:
    """``raw`` (bytes as UTF-8, invalid sequences replaced) with every character that is not printable shown
    as its escape (``\\x1b``), cut to ``limit`` characters."""
    text = (raw if isinstance(raw, str) else bytes(raw).decode("utf-8", errors="replace"))[:limit]
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)
