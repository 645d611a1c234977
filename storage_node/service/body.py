"""The fragment API's path.

Path (version 1): ``/v1/fragments/0x<64 hex digits>/<segment>/<fragment>``, the indices in decimal without
sign or leading zeros, ``segment`` < 2^32 and ``fragment`` < 2^16. Anything else (percent escapes, dots,
slashes, other lengths) is not a fragment's path: :class:`BadPath`, HTTP 400.

The body (``u16 LE count ++ count x 32-byte fragment roots ++ the fragment's bytes``) is the SDK's
:mod:`sdk.storage.wire` (``check_fragment_body``, ``split_body``), which clients and this
daemon share; a stored fragment is kept in that layout.
"""

from __future__ import annotations

import re

from storage_node.service.store import FragmentKey

__all__ = ["BadPath", "FRAGMENTS_PREFIX", "parse_fragment_path"]

FRAGMENTS_PREFIX = "/v1/fragments/"
_PATH = re.compile(r"/v1/fragments/0x([0-9a-fA-F]{64})/(0|[1-9][0-9]{0,9})/(0|[1-9][0-9]{0,4})")
MAX_SEGMENT = 2**32 - 1
MAX_FRAGMENT = 2**16 - 1


class BadPath(ValueError):
    """Not the path of a fragment."""


def parse_fragment_path(path: str) -> FragmentKey:
    """The fragment a request path names (the raw path, before any percent-decoding)."""
    match = _PATH.fullmatch(path)
    if match is None:
        raise BadPath(f"not a fragment path: expected {FRAGMENTS_PREFIX}0x<64 hex>/<segment>/<fragment>")
    segment, fragment = int(match[2]), int(match[3])
    if segment > MAX_SEGMENT or fragment > MAX_FRAGMENT:
        raise BadPath("segment must be below 2^32 and fragment below 2^16")
    return FragmentKey(bytes.fromhex(match[1]), segment, fragment)

