"""Compute job kinds: what a provider runs for a job, named on chain by a ``u8`` id.

A kind's run is a pure function of its input files, its params (JSON bytes, opaque on chain) and a seed
the chain gives; honest providers reproduce one another's outputs bit for bit (see ``kernels``), so the
pallet compares only result digests. Each kind is one module (``train``, ``evaluate``, ``infer``,
``fedavg``) with ``FIELDS`` (its params), ``run(inputs, params, seed) -> KindOutput`` and
``resources(params, input_sizes) -> Resources``; ``KINDS`` names them.

**Input layout.** A job's inputs are a list of file ids on chain; ``named_inputs`` gives the kind's names
for them by position: ``train`` [dataset, model?], ``evaluate`` and ``infer`` [model, dataset], ``fedavg``
[base, update…, validation?] — the federated pallet's order. fedavg's last input is the validation set
when the params declare one (``features``), for the names as for ``estimate`` (sizes alone cannot tell, and
its bytes are a participant's choice when it is an update), and the kind refuses inputs that say otherwise;
``input_sizes`` names sizes with it as an update (for display).
``input_limits`` gives the largest file each position may be (its format's bound), so that a runner refuses
a bigger one before reading it.

**Result digest** (what a provider commits to): ``blake2_256(DOMAIN_COMPUTE_RESULT ++ u32 count ++
(u32 len(name) ++ name ++ blake3(output)) for each output in name order ++ canonical JSON of result)``,
all integers little-endian, names UTF-8, the JSON with sorted keys, no spaces, no NaN.

**Outcome of a run** (:func:`outcome`): what a provider commits to, and what anyone rerunning a job gets. A
kind that refuses its inputs or params (:data:`REFUSALS`) does so on every honest machine alike, so that is
a result: the record ``{"refused": <class name>}`` with no outputs. Anything else a kind raises (a bug, or an
input it failed to check) is recorded alike as :data:`UNEXPECTED`. The record holds the class and not the
message because a message may quote the zip, numpy, JSON or safetensors library underneath, whose wording
varies across the versions honest providers may have; :attr:`Outcome.refused` keeps the exception for the
one who ran it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType

import blake3
import numpy as np

from compute_pallet.formats import MAX_DATASET_BYTES, MAX_MODEL_BYTES, FormatError, TooLarge
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
    "check_input_sizes",
    "result_digest",
    "canonical_json",
    "Outcome",
    "outcome",
    "REFUSALS",
    "UNEXPECTED",
    "refusal_meaning",
    "refusal_of",
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


def _refusal_classes() -> dict[str, type[ValueError]]:
    """Every refusal class by name: :data:`REFUSALS` and their subclasses."""
    found: dict[str, type[ValueError]] = {}
    classes = list(REFUSALS)
    while classes:
        refusal = classes.pop()
        found.setdefault(refusal.__name__, refusal)
        classes.extend(refusal.__subclasses__())
    return found


def refusal_meaning(name: str) -> str | None:
    """What a result's ``{"refused": name}`` says, for people: the refusal class's first docstring line, its
    markup dropped (``None`` for a name no refusal has)."""
    if name == UNEXPECTED:
        return "The kind raised an error that is none of its refusals (an input it failed to check, or a bug)."
    refusal = _refusal_classes().get(name)
    return None if refusal is None else (refusal.__doc__ or name).strip().splitlines()[0].replace("``", "")


@functools.cache
def _refusal_digests() -> dict[bytes, str]:
    return {result_digest({}, {"refused": name}): name for name in [*_refusal_classes(), UNEXPECTED]}


def refusal_of(digest: bytes | None) -> str | None:
    """The refusal whose result hashes to ``digest``, or ``None`` for a result a kind gave: a refusal's result
    is its record alone, with no output file, so a verified digest names it without a download."""
    return None if digest is None else _refusal_digests().get(digest)


def _machine_error(exc: BaseException) -> BaseException | None:
    """The machine's error that ``exc`` hides, if any: a ``MemoryError`` or a CuPy error (the device's or its
    driver's, never the kind's) anywhere in the chain of exceptions it was raised while handling or from, or an
    ``OSError`` there unless ``exc`` is a refusal (one a parser raised on the input's bytes stays the input's).
    zipfile's cleanup, say, fails with a ``ValueError`` on the buffer a ``MemoryError`` left half written: that
    recorded as the job's result would be one this machine's limits decided, not the job. ``None`` when
    ``exc`` is the kind's own."""
    deliberate = isinstance(exc, REFUSALS)
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        if isinstance(link, MemoryError) or type(link).__module__.split(".")[0] in _DEVICE_MODULES:
            return link
        if isinstance(link, OSError) and not deliberate:
            return link
        link = link.__cause__ or link.__context__  # the context even of ``raise ... from None``
    return None


_DEVICE_MODULES = frozenset({"cupy", "cupy_backends", "cupyx"})
"""Packages whose exceptions are the GPU's or its driver's (out of device memory, a failed kernel compile)."""


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


def named_inputs(name_or_id: str | int, files: Sequence[bytes], params: bytes) -> dict[str, bytes]:
    """A job's input files, in its on-chain order, under the names its kind's ``run`` takes (see "Input
    layout"); fedavg's last input is its validation set when its params declare one, as for :func:`estimate`
    (told by its bytes instead, an update that began like an ``.npz`` was taken for a validation set and failed
    the round). Raises ``InvalidInputs`` for more files than the kind takes, ``InvalidParams``,
    ``UnknownKind``."""
    name = _kind_name(name_or_id)
    return dict(zip(_names(name, len(files), _validated(name, len(files), params)), files))


def _validated(name: str, count: int, params: bytes) -> bool:
    """Whether a ``name`` job's last of ``count`` inputs is a validation set (fedavg declaring ``features``)."""
    return name == "fedavg" and count > 1 and fedavg.parse(params).features > 0


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
    return kind(name).resources(params, dict(zip(_names(name, len(sizes), _validated(name, len(sizes), params)),
                                                 sizes)))


def input_limits(name_or_id: str | int, count: int) -> list[int]:
    """The largest file each of a job's ``count`` inputs may be, by position: ``MAX_DATASET_BYTES`` for a
    dataset, ``MAX_MODEL_BYTES`` for a model, the larger for fedavg's last input (an update or the validation
    set: its first bytes tell, not its size). Raises ``InvalidInputs`` for more files than the kind takes."""
    kind_name = _kind_name(name_or_id)
    namings = (_names(kind_name, count, False), _names(kind_name, count, count > 1))
    return [MAX_DATASET_BYTES if set(names) & set(_DATASETS) else MAX_MODEL_BYTES for names in zip(*namings)]


def check_input_sizes(name_or_id: str | int, sizes: Sequence[int]) -> None:
    """Refuse (``formats.TooLarge``) an input larger than :func:`input_limits` allows its position, before it is
    read: whether reading it fits depends on the memory of the machine that would."""
    for index, (size, bound) in enumerate(zip(sizes, input_limits(name_or_id, len(sizes)), strict=True)):
        if size > bound:
            raise TooLarge(f"input {index} is {size} bytes, at most {bound}")


def result_digest(outputs: Mapping[str, bytes], result: Mapping[str, object]) -> bytes:
    """The 32-byte digest a provider commits to: its output files and its result record, canonically."""
    parts = [DOMAIN_COMPUTE_RESULT, len(outputs).to_bytes(4, "little")]
    for name in sorted(outputs):
        encoded = name.encode("utf-8")
        parts += [len(encoded).to_bytes(4, "little"), encoded, blake3.blake3(outputs[name]).digest()]
    parts.append(canonical_json(result))
    return blake2_256(b"".join(parts))


def canonical_json(value: object) -> bytes:
    """The JSON :func:`result_digest` hashes, and ``result.json`` holds: sorted keys, no spaces, UTF-8, no NaN
    (``ValueError``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


@dataclass(frozen=True)
class Outcome:
    """One run of a job's kind: its output files, its result record and their digest (see "Outcome of a run")."""

    outputs: Mapping[str, bytes]
    result: Mapping[str, object]
    digest: bytes
    refused: Exception | None = None
    """What the kind refused the inputs or params with (then ``result`` is ``{"refused": <code>}``)."""

    @property
    def refusal(self) -> str | None:
        """The refusal's code as the result records it: the class of a :data:`REFUSALS` one, else
        :data:`UNEXPECTED`; None for a result."""
        return None if self.refused is None else _refusal_code(self.refused)

    @property
    def message(self) -> str | None:
        """The refusal's message, for whoever ran it (an unexpected error's names its type); None for a result."""
        if self.refused is None:
            return None
        if isinstance(self.refused, REFUSALS):
            return str(self.refused)
        return f"{type(self.refused).__name__}: {self.refused}"


def _refusal_code(exc: Exception) -> str:
    return type(exc).__name__ if isinstance(exc, REFUSALS) else UNEXPECTED


def outcome(name_or_id: str | int, read_inputs: Callable[[], Sequence[bytes]], params: bytes, seed: bytes, *,
            xp: ModuleType = np) -> Outcome:
    """Run the kind on the files ``read_inputs()`` returns (in the job's order; called here, so that an input it
    refuses to read, one too large, is a refusal like any), ``params`` and ``seed``, on ``xp`` (numpy, or CuPy
    for a GPU job). ``MemoryError`` and ``OSError`` propagate, also from under another exception, and CuPy's
    errors (see :func:`_machine_error`): they are the machine's, not the job's. ``UnknownKind`` too."""
    name = _kind_name(name_or_id)
    try:
        # whatever floating-point error handling the calling process set (a rerun runs in a user's process), the
        # kinds run as in a fresh one: errors never change a value, only whether numpy warns or raises on it
        with np.errstate(all="ignore"):
            produced = kind(name).run(named_inputs(name, read_inputs(), params), params, seed, xp=xp)
        # hashed here, so that a result it cannot hash (a NaN) is refused
        return Outcome(produced.outputs, produced.result, result_digest(produced.outputs, produced.result))
    except (MemoryError, OSError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever a kind's deterministic code raised: see "Outcome of a run"
        machine_error = _machine_error(exc)
        if machine_error is not None:
            raise machine_error  # (Python cuts the cycle this makes of the chain)
        result = {"refused": _refusal_code(exc)}
        return Outcome({}, result, result_digest({}, result), exc)
