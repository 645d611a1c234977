"""Job params: what each kind accepts, and every class of bad params refused with ``InvalidParams``."""

from __future__ import annotations

import pytest

from compute_pallet.kinds import KIND_IDS, KINDS, InvalidParams, UnknownKind, fedavg, train, validate_params
from compute_pallet.kinds.params import MAX_PARAMS_BYTES


def test_every_kind_has_an_id_and_accepts_empty_params() -> None:
    assert set(KINDS) == set(KIND_IDS)
    for name, kind_id in KIND_IDS.items():
        validate_params(name, b"{}")
        validate_params(kind_id, b"{}")


def test_given_values_are_read_and_the_rest_default() -> None:
    p = train.parse(b'{"hidden": [32, 16], "learning_rate": 1, "epochs": 5}')
    assert (p.hidden, p.learning_rate, p.epochs, p.batch_size) == ((32, 16), 1.0, 5, 32)
    assert fedavg.parse(b'{"aggregation": "mean", "weights": [3, 1]}').weights == (3, 1)


@pytest.mark.parametrize(
    ("kind", "params", "reason"),
    [
        ("train", b'{"epoch": 5}', "unknown keys: epoch"),
        ("evaluate", b'{"batch_size": 5}', "unknown keys"),
        ("train", b'{"epochs": "5"}', "expected an integer"),
        ("train", b'{"epochs": true}', "expected an integer"),
        ("train", b'{"epochs": 5.0}', "expected an integer"),
        ("train", b'{"learning_rate": "fast"}', "expected a number"),
        ("train", b'{"hidden": 64}', "expected a list"),
        ("train", b'{"hidden": [64, "a"]}', r"hidden\[1\]"),
        ("train", b'{"hidden": [100000]}', "outside"),
        ("train", b'{"hidden": [8, 8, 8, 8, 8]}', "5 entries"),
        ("train", b'{"epochs": 1000000000}', "outside"),
        ("train", b'{"batch_size": 0}', "outside"),
        ("train", b'{"learning_rate": 1e999}', "outside"),
        ("train", b'{"learning_rate": NaN}', "NaN"),
        ("train", b'{"momentum": -Infinity}', "Infinity"),
        ("train", b'{"validation_split": 0.9}', "outside"),
        ("train", b'{"epochs": 1, "epochs": 2}', "duplicate key"),
        ("train", b"[1, 2]", "JSON object"),
        ("train", b"{", "not UTF-8 JSON"),
        ("train", b'{"\xff": 1}', "not UTF-8 JSON"),
        ("train", b"[" * 3000, "not UTF-8 JSON"),
        ("train", b" " * (MAX_PARAMS_BYTES + 1), "bytes, at most"),
        ("fedavg", b'{"aggregation": "max"}', "expected one of"),
        ("fedavg", b'{"aggregation": "median", "weights": [1, 2]}', "unweighted"),
        ("fedavg", b'{"weights": [0, 1]}', "outside"),
        ("fedavg", b'{"weights": []}', "0 entries"),
    ],
)
def test_bad_params_are_refused(kind: str, params: bytes, reason: str) -> None:
    with pytest.raises(InvalidParams, match=reason):
        validate_params(kind, params)


def test_unknown_kinds_are_refused() -> None:
    for unknown in ("sort", 4, 255):
        with pytest.raises(UnknownKind):
            validate_params(unknown, b"{}")
