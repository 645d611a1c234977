"""Compute job kinds: what a provider runs for a job, named on chain by a ``u8`` id.

A kind's run is a pure function of its input files, its params (JSON bytes, opaque on chain) and a seed
the chain gives; honest providers reproduce one another's outputs bit for bit (see ``kernels``), so the
pallet compares only result digests. Each kind is one module (``train``, ``evaluate``, ``infer``,
``fedavg``) with ``FIELDS`` (its params), ``run(inputs, params, seed) -> KindOutput`` and
``resources(params, input_sizes) -> Resources``; ``KINDS`` names them.

**Result digest** (what a provider commits to): ``blake2_256(DOMAIN_COMPUTE_RESULT ++ u32 count ++
(u32 len(name) ++ name ++ blake3(output)) for each output in name order ++ canonical JSON of result)``,
all integers little-endian, names UTF-8, the JSON with sorted keys, no spaces, no NaN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import blake3

from compute_pallet.kinds import evaluate, fedavg, infer, train
from compute_pallet.kinds.params import InvalidParams
from compute_pallet.kinds.types import InvalidInputs, Kind, KindOutput, Resources
from runtime.hashing import DOMAIN_COMPUTE_RESULT, blake2_256

__all__ = [
    "KIND_IDS",
    "KINDS",
    "InvalidParams",
    "InvalidInputs",
    "UnknownKind",
    "Kind",
    "KindOutput",
    "Resources",
    "kind",
    "validate_params",
    "result_digest",
]

# The on-chain id of each kind (ComputeJobs stores the u8). Append only: an id is never reused.
KIND_IDS: dict[str, int] = {"train": 0, "evaluate": 1, "infer": 2, "fedavg": 3}

KINDS: dict[str, Kind] = {"train": train, "evaluate": evaluate, "infer": infer, "fedavg": fedavg}


class UnknownKind(ValueError):
    """No kind has this name or on-chain id."""


def kind(name_or_id: str | int) -> Kind:
    """The kind module named ``name_or_id`` (a name or a ``KIND_IDS`` value). Raises ``UnknownKind``."""
    names = {kind_id: name for name, kind_id in KIND_IDS.items()}
    name = names.get(name_or_id) if isinstance(name_or_id, int) else name_or_id
    if name not in KINDS:
        raise UnknownKind(f"no job kind {name_or_id!r}")
    return KINDS[name]


def validate_params(kind_name_or_id: str | int, params: bytes) -> None:
    """Raise ``InvalidParams`` unless ``params`` are ones this kind runs with (``UnknownKind`` for the kind)."""
    kind(kind_name_or_id).parse(params)


def result_digest(outputs: Mapping[str, bytes], result: Mapping[str, object]) -> bytes:
    """The 32-byte digest a provider commits to: its output files and its result record, canonically."""
    parts = [DOMAIN_COMPUTE_RESULT, len(outputs).to_bytes(4, "little")]
    for name in sorted(outputs):
        encoded = name.encode("utf-8")
        parts += [len(encoded).to_bytes(4, "little"), encoded, blake3.blake3(outputs[name]).digest()]
    record = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    parts.append(record.encode("utf-8"))
    return blake2_256(b"".join(parts))
