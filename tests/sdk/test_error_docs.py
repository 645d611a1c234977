"""Module errors as the SDK names them: every constant an error's doc names is one the chain exports, and the
failure a client sees gives its value (three docs named constants their pallet did not export, and the message
gave no number)."""

from __future__ import annotations

import re

import pytest

from runtime.cairn import CairnRuntime
from runtime.primitives import DispatchErrors, ModuleError
from sdk.chain.runtime_view import RuntimeView

VIEW = RuntimeView(CairnRuntime())
ERRORS = [(name, error) for name, pallet in VIEW.runtime.by_name.items() for error in type(pallet).ERRORS]


@pytest.mark.parametrize(("pallet", "error"), ERRORS, ids=[f"{p}.{e.__name__}" for p, e in ERRORS])
def test_each_constant_an_error_names_is_exported_and_given_with_its_value(pallet, error):
    index, variant = VIEW.runtime.error_index[error]
    failure = VIEW.dispatch_failure(DispatchErrors.Module(ModuleError(index, bytes([variant, 0, 0, 0]))))
    assert (failure.pallet, failure.name) == (pallet, error.__name__)
    assert "``" not in failure.docs
    for named in re.findall(r"``([A-Z][A-Za-z]*(?:\.[A-Z][A-Za-z]*)?)``", error.__doc__.split("\n\n")[0]):
        owner, _, constant = named.rpartition(".")
        value = VIEW.constant(owner or pallet, constant)  # UnknownItem if the chain does not export it
        assert f"{named} ({value})" in failure.docs


def test_a_constant_of_another_pallet_is_named_with_it():
    redundancy = next(error for pallet, error in ERRORS
                      if pallet == "FederatedLearning" and error.__name__ == "BadRedundancy")
    index, variant = VIEW.runtime.error_index[redundancy]
    failure = VIEW.dispatch_failure(DispatchErrors.Module(ModuleError(index, bytes([variant, 0, 0, 0]))))
    most = VIEW.constant("ComputeJobs", "MaxRedundancy")
    assert str(failure) == (f"FederatedLearning.BadRedundancy: The aggregation's redundancy is below 2 (one "
                            "provider's reveal would set the round's scores, and so its rewards, alone) or above "
                            f"ComputeJobs.MaxRedundancy ({most}).")
