"""``kinds.outcome``: what a provider commits to and a rerun compares. A result is the kind's own outputs under
their digest; a refusal is the fixed record of its class (its message kept for whoever ran it), whether the
kind refused the inputs, the size check did before reading them, or the kind failed otherwise; the machine's
own failures are no outcome."""

from __future__ import annotations

import numpy as np
import pytest

from compute_pallet import kinds
from compute_pallet.formats import MAX_MODEL_BYTES
from compute_pallet.kinds import evaluate, mlp


def test_a_result_is_the_kind_s_outputs_under_their_digest(digits, trained):
    model = trained.outputs["model.safetensors"]
    ran = kinds.outcome("evaluate", lambda: [model, digits[1]], b"{}", b"seed")
    expected = evaluate.run({"model": model, "dataset": digits[1]}, b"{}", b"seed")
    assert (ran.outputs, ran.result) == (expected.outputs, expected.result)
    assert ran.digest == kinds.result_digest(expected.outputs, expected.result)
    assert ran.refused is None and ran.refusal is None and kinds.refusal_of(ran.digest) is None


def test_the_caller_s_floating_point_settings_change_nothing(digits):
    """A rerun runs in a user's process, whose numpy may raise on an underflow that a provider's ignores (this
    sharp model's softmax underflows): the outcome is the same."""
    sharp = kinds.outcome("train", lambda: [digits[0]], b'{"epochs": 3, "hidden": [32], "learning_rate": 0.05, '
                          b'"momentum": 0.99}', b"seed").outputs["model.safetensors"]
    expected = kinds.outcome("evaluate", lambda: [sharp, digits[1]], b"{}", b"seed")
    with np.errstate(all="raise"):
        assert kinds.outcome("evaluate", lambda: [sharp, digits[1]], b"{}", b"seed") == expected
    assert expected.refused is None


def test_a_refusal_records_its_class_and_keeps_its_message(digits, trained):
    model = trained.outputs["model.safetensors"]
    cases = [
        (lambda: [model, digits[1]], b'{"features": 3}', "InvalidInputs", "declare 3 features"),
        (lambda: [model, b"not a zip"], b"{}", "MalformedDataset", ""),
        (lambda: [model, digits[1], digits[1]], b"{}", "InvalidInputs", "at most 2 inputs"),
        (lambda: [model, digits[1]], b'{"epochs": 1}', "InvalidParams", "epochs"),
    ]
    for read, params, code, message in cases:
        ran = kinds.outcome("evaluate", read, params, b"seed")
        assert (ran.refusal, ran.result, ran.outputs) == (code, {"refused": code}, {})
        assert ran.digest == kinds.result_digest({}, {"refused": code}) and message in ran.message
        assert kinds.refusal_of(ran.digest) == code  # what a verified digest says without a download


def test_an_input_too_large_to_read_is_refused_by_the_size_check_before_it_is_read():
    def read() -> list[bytes]:
        kinds.check_input_sizes("evaluate", [MAX_MODEL_BYTES + 1, 10])
        raise AssertionError("read past the size check")

    ran = kinds.outcome("evaluate", read, b"{}", b"seed")
    assert ran.refusal == "TooLarge" and kinds.refusal_of(ran.digest) == "TooLarge"


def test_a_kind_failing_otherwise_is_the_fixed_unexpected_refusal_and_the_machine_s_errors_are_none(
        digits, trained, monkeypatch):
    model = trained.outputs["model.safetensors"]
    failure = ZeroDivisionError("float division by zero")

    def fail(*args: object) -> object:
        raise failure

    monkeypatch.setattr(mlp, "metrics", fail)
    ran = kinds.outcome("evaluate", lambda: [model, digits[1]], b"{}", b"seed")
    assert ran.refusal == kinds.UNEXPECTED and ran.refused is failure
    assert ran.message == "ZeroDivisionError: float division by zero"
    assert ran.result == {"refused": kinds.UNEXPECTED} and kinds.refusal_of(ran.digest) == kinds.UNEXPECTED
    for machine in (MemoryError(), OSError(28, "No space left on device")):
        def exhausted(machine: BaseException = machine) -> list[bytes]:
            raise machine

        with pytest.raises(type(machine)):
            kinds.outcome("evaluate", exhausted, b"{}", b"seed")
    with pytest.raises(kinds.UnknownKind):
        kinds.outcome("sort", lambda: [], b"{}", b"seed")
