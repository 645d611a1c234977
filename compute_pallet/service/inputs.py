"""Which name each of a job's on-chain inputs has for its kind.

A job names its input files as a list of file ids; a kind takes them as a mapping of names (``dataset``,
``model``, ``updates.0``, ...). The order is the contract between whoever submits a job and the providers:

- ``train``: ``[dataset, model?]`` (a model to start from, optional);
- ``evaluate``, ``infer``: ``[model, dataset]``;
- ``fedavg``: ``[parent?, updates..., validation?]``: a federated round's aggregation job (submitted by the
  ``FederatedLearning`` pallet) starts with the round's global model, which is also the job's ``parent``
  and is not an input of the averaging itself, and ends with the task's validation set when it has one.

An input past the kind's list gets the name ``input.<index>``, which every kind refuses as unknown: a job
with too many inputs is refused alike by every honest provider (a deterministic outcome), never guessed at.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["input_names"]

_POSITIONAL: dict[str, tuple[str, ...]] = {
    "train": ("dataset", "model"),
    "evaluate": ("model", "dataset"),
    "infer": ("model", "dataset"),
}


def input_names(kind: str, inputs: Sequence[bytes], *, parent: bytes | None = None,
                validation: bytes | None = None) -> list[str | None]:
    """A name per input of a job of ``kind`` (``None``: the input is not given to the kind). ``parent`` is the
    job's parent model (``Job.parent``), ``validation`` the validation set of its federated task, if any."""
    if kind != "fedavg":
        names = _POSITIONAL.get(kind, ())
        return [names[i] if i < len(names) else f"input.{i}" for i in range(len(inputs))]
    first = 1 if parent is not None and inputs and inputs[0] == parent else 0
    last = len(inputs) - 1 if validation is not None and len(inputs) > first and inputs[-1] == validation else None
    named: list[str | None] = [None] * first
    for i in range(first, len(inputs)):
        named.append("validation" if i == last else f"updates.{i - first}")
    return named
