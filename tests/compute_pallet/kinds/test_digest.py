"""The result digest: canonical over outputs and result, and sensitive to every part of them."""

from __future__ import annotations

import pytest

from compute_pallet.kinds import result_digest

OUTPUTS = {"model.safetensors": b"weights", "report.json": b"{}"}
RESULT = {"accuracy": 0.97, "per_class": [{"class": 0, "support": 3}], "samples": 3}


def test_the_digest_is_canonical() -> None:
    digest = result_digest(OUTPUTS, RESULT)
    assert len(digest) == 32
    reordered = dict(reversed(list(OUTPUTS.items())))
    assert result_digest(reordered, {"samples": 3, "per_class": [{"support": 3, "class": 0}], "accuracy": 0.97}) == digest


@pytest.mark.parametrize(
    ("outputs", "result"),
    [
        ({**OUTPUTS, "model.safetensors": b"weightz"}, RESULT),
        ({"model.safetensor": b"weights", "report.json": b"{}"}, RESULT),
        ({"model.safetensors": b"weights"}, RESULT),
        (OUTPUTS, {**RESULT, "accuracy": 0.9700000000000001}),
        (OUTPUTS, {**RESULT, "extra": None}),
        ({"ab": b"", "c": b""}, {}),
    ],
)
def test_every_difference_changes_the_digest(outputs: dict[str, bytes], result: dict[str, object]) -> None:
    assert result_digest(outputs, result) != result_digest(OUTPUTS, RESULT)
    assert result_digest({"ab": b"", "c": b""}, {}) != result_digest({"a": b"", "bc": b""}, {})


def test_results_that_are_not_json_are_refused() -> None:
    with pytest.raises(ValueError):
        result_digest(OUTPUTS, {"loss": float("nan")})
    with pytest.raises(TypeError):
        result_digest(OUTPUTS, {"raw": b"bytes"})
