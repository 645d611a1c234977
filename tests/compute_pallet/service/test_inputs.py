"""Which name each on-chain input of a job has for its kind (the order submitters and providers share)."""

from __future__ import annotations

import pytest

from compute_pallet.service.inputs import input_names

A, B, C, D = (bytes([i]) * 32 for i in range(1, 5))


@pytest.mark.parametrize("kind, inputs, names", [
    ("train", [A], ["dataset"]),
    ("train", [A, B], ["dataset", "model"]),
    ("evaluate", [A, B], ["model", "dataset"]),
    ("infer", [A, B], ["model", "dataset"]),
    ("train", [A, B, C], ["dataset", "model", "input.2"]),  # refused by the kind as unknown, alike everywhere
    ("evaluate", [A], ["model"]),
    ("fedavg", [A, B, C], ["updates.0", "updates.1", "updates.2"]),
])
def test_positional_names(kind, inputs, names):
    assert input_names(kind, inputs) == names


def test_a_federated_round_skips_its_parent_and_names_its_validation_set():
    assert input_names("fedavg", [A, B, C, D], parent=A, validation=D) == [None, "updates.0", "updates.1",
                                                                           "validation"]
    assert input_names("fedavg", [A, B, C], parent=A) == [None, "updates.0", "updates.1"]
    assert input_names("fedavg", [B, C], parent=A, validation=D) == ["updates.0", "updates.1"]  # neither is there
