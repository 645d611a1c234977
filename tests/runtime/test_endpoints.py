"""The endpoint rule every node registry shares: an http(s) URL of printable ASCII, bounded."""

from __future__ import annotations

import pytest

from runtime.primitives import is_http_endpoint


@pytest.mark.parametrize("endpoint", [b"http://127.0.0.1:7000", b"https://node.example:443/cairn/", b"http://a",
                                      b"http://[::1]:8080"])
def test_urls_a_client_can_use_are_endpoints(endpoint):
    assert is_http_endpoint(endpoint, 64)


@pytest.mark.parametrize("endpoint", [
    b"", b"http://", b"127.0.0.1:7000", b"ftp://node", b"HTTP//node", b"http:///path", b"http://a b",
    b"http://node\x00", b"http://node\n", "http://prövider".encode(), b"\xff\xfe", b"http://" + b"a" * 58,
], ids=["empty", "scheme-only", "no-scheme", "other-scheme", "no-separator", "no-host", "space", "nul", "newline",
        "non-ascii", "non-utf8", "too-long"])
def test_anything_else_is_not(endpoint):
    assert not is_http_endpoint(endpoint, 64)
