"""Compute job kinds: what a provider runs for a job, named on chain by a ``u8`` id.

A kind's run is a pure function of its input files, its params (JSON bytes, opaque on chain) and a seed
the chain gives; honest providers reproduce one another's outputs bit for bit (see ``kernels``), so the
pallet compares only result digests. Each kind is one module (``train``, ``evaluate``, ``infer``,
``fedavg``) with ``FIELDS`` (its params), ``run(inputs, params, seed) -> KindOutput`` and
``resources(params, input_sizes) -> Resources``; ``KINDS`` names them.

**Input layout.** A job's inputs are a list of file ids on chain; ``named_inputs`` gives the kind's names
for them by position: ``train`` [dataset, model?], ``evaluate`` and ``infer`` [model, dataset], ``fedavg``
[base, update…, validation?] — the federated pallet's order; a last file that is an ``.npz`` (a zip) is the
validation set, as no model file (safetensors) can start like one. Sizes alone cannot tell, so ``estimate``
reads fedavg's last input as the validation set when the params declare one (``features``), and the kind
refuses inputs that say otherwise; ``input_sizes`` names sizes with it as an update (for display).
``input_limits`` gives the largest file each position may be (its format's bound), so that a runner refuses
a bigger one before reading it.

**Result digest** (what a provider commits to): ``blake2_256(DOMAIN_COMPUTE_RESULT ++ u32 count ++
(u32 len(name) ++ name ++ blake3(output)) for each output in name order ++ canonical JSON of result)``,
all integers little-endian, names UTF-8, the JSON with sorted keys, no spaces, no NaN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import blake3

from compute_pallet.formats import MAX_DATASET_BYTES, MAX_MODEL_BYTES, FormatError
from compute_pallet.kinds import evaluate, fedavg, infer, train
from compute_pallet.kinds.params import InvalidParams
from compute_pallet.kinds.types import InvalidInputs, Kind, KindOutput, Resources
from runtime.hashing import DOMAIN_COMPUTE_RESULT, blake2_256

__all__ = [
    "KIND_IDS",
    "KIND_NAMES",
    "KINDS",
    "InvalidParams",
    "InvalidInputs",
    "UnknownKind",
    "Kind",
    "KindOutput",
    "Resources",
    "kind",
    "validate_params",
    "named_inputs",
    "input_sizes",
    "estimate",
    "input_limits",
    "result_digest",
    "REFUSALS",
    "UNEXPECTED",
    "refusal_meaning",
]

# The on-chain id of each kind (ComputeJobs stores the u8). Append only: an id is never reused.
KIND_IDS: dict[str, int] = {"train": 0, "evaluate": 1, "infer": 2, "fedavg": 3}

KIND_NAMES: dict[int, str] = {kind_id: name for name, kind_id in KIND_IDS.items()}
"""Each on-chain kind id's name."""

KINDS: dict[str, Kind] = {"train": train, "evaluate": evaluate, "infer": infer, "fedavg": fedavg}


class UnknownKind(ValueError):
    """No kind has this name or on-chain id."""


REFUSALS: tuple[type[ValueError], ...] = (InvalidInputs, InvalidParams, FormatError)
"""What a kind refuses its inputs or params with (their subclasses too): alike on every honest machine, so a
result to commit to, recorded as ``{"refused": <class name>}``."""
UNEXPECTED = "UnexpectedError"
"""The refusal recorded when a kind raised an exception that is not one of its refusals: its type and message
name library internals, so this fixed code stands for them all."""


def refusal_meaning(name: str) -> str | None:
    """What a result's ``{"refused": name}`` says, for people: the refusal class's first docstring line, its
    markup dropped (``None`` for a name no refusal has)."""
    if name == UNEXPECTED:
        return "The kind raised an error that is none of its refusals (an input it failed to check, or a bug)."
    classes = list(REFUSALS)
    while classes:
        refusal = classes.pop()
        if refusal.__name__ == name:
            return (refusal.__doc__ or name).strip().splitlines()[0].replace("``", "")
        classes.extend(refusal.__subclasses__())
    return None


def _kind_name(name_or_id: str | int) -> str:
    name = KIND_NAMES.get(name_or_id) if isinstance(name_or_id, int) else name_or_id
    if name not in KINDS:
        raise UnknownKind(f"no job kind {name_or_id!r}")
    return name


def kind(name_or_id: str | int) -> Kind:
    """The kind module named ``name_or_id`` (a name or a ``KIND_IDS`` value). Raises ``UnknownKind``."""
    return KINDS[_kind_name(name_or_id)]


def validate_params(kind_name_or_id: str | int, params: bytes) -> None:
    """Raise ``InvalidParams`` unless ``params`` are ones this kind runs with (``UnknownKind`` for the kind)."""
    kind(kind_name_or_id).parse(params)


_ZIP_MAGIC = b"PK\x03\x04"
_DATASETS = ("dataset", "validation")
"""The inputs that are datasets, by name; every other input is a model."""


def _names(kind_name: str, count: int, last_is_dataset: bool) -> list[str]:
    if kind_name == "train":
        names = ["dataset", "model"]
    elif kind_name in ("evaluate", "infer"):
        names = ["model", "dataset"]
    else:  # fedavg
        updates = count - 1 - last_is_dataset
        names = ["base", *(f"updates.{i}" for i in range(updates)), *(["validation"] if last_is_dataset else [])]
    if count > len(names):
        raise InvalidInputs(f"{kind_name} takes at most {len(names)} inputs, got {count}")
    return names[:count]


def named_inputs(name_or_id: str | int, files: Sequence[bytes]) -> dict[str, bytes]:
    """A job's input files, in its on-chain order, under the names its kind's ``run`` takes (see "Input
    layout"). Raises ``InvalidInputs`` for more files than the kind takes, ``UnknownKind``."""
    last_is_dataset = len(files) > 1 and files[-1].startswith(_ZIP_MAGIC)
    return dict(zip(_names(_kind_name(name_or_id), len(files), last_is_dataset), files))


def input_sizes(name_or_id: str | int, sizes: Sequence[int]) -> dict[str, int]:
    """The sizes of a job's inputs under the names ``resources`` takes, fedavg's last input as an update."""
    return dict(zip(_names(_kind_name(name_or_id), len(sizes), False), sizes))


def estimate(name_or_id: str | int, params: bytes, sizes: Sequence[int]) -> Resources:
    """The kind's estimate of one run over inputs of ``sizes`` bytes, in the job's order: what a submitter
    asks for by default and the least memory the chain lets a job declare. fedavg's last input is its
    validation set when its params declare one (``features``; the kind refuses inputs that say otherwise): its
    size alone cannot tell, and the two readings' costs differ by orders of magnitude. Raises
    ``InvalidInputs`` for more inputs than the kind takes, ``InvalidParams``, ``UnknownKind``."""
    name = _kind_name(name_or_id)
    validated = name == "fedavg" and len(sizes) > 1 and fedavg.parse(params).features > 0
    return kind(name).resources(params, dict(zip(_names(name, len(sizes), validated), sizes)))


def input_limits(name_or_id: str | int, count: int) -> list[int]:
    """The largest file each of a job's ``count`` inputs may be, by position: ``MAX_DATASET_BYTES`` for a
    dataset, ``MAX_MODEL_BYTES`` for a model, the larger for fedavg's last input (an update or the validation
    set: its first bytes tell, not its size). Raises ``InvalidInputs`` for more files than the kind takes."""
    kind_name = _kind_name(name_or_id)
    namings = (_names(kind_name, count, False), _names(kind_name, count, count > 1))
    return [MAX_DATASET_BYTES if set(names) & set(_DATASETS) else MAX_MODEL_BYTES for names in zip(*namings)]


def result_digest(outputs: Mapping[str, bytes], result: Mapping[str, object]) -> bytes:
    """The 32-byte digest a provider commits to: its output files and its result record, canonically."""
    parts = [DOMAIN_COMPUTE_RESULT, len(outputs).to_bytes(4, "little")]
    for name in sorted(outputs):
        encoded = name.encode("utf-8")
        parts += [len(encoded).to_bytes(4, "little"), encoded, blake3.blake3(outputs[name]).digest()]
    record = json.dumps(result, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    parts.append(record.encode("utf-8"))
    return blake2_256(b"".join(parts))
