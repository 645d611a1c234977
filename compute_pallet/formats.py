"""The compute market's file formats: datasets (``.npz``) and MLP models (``safetensors``), from and to bytes.

**Dataset** — an ``.npz`` (a zip of ``.npy`` members, as ``np.savez`` writes it) holding ``X`` (float32, n×d) and ``y``
(int64, n; class labels from 0). A file to predict on (``infer``) may omit ``y``. Nothing is coerced: a
float64 ``X`` or int32 ``y`` is refused, so that every provider trains on exactly the same numbers.

**Model** — a ``safetensors`` file holding ``layers.{i}.weight`` (float32, out×in) and ``layers.{i}.bias``
(float32, out) for i = 0…L−1, applied with ReLU between layers and logits out, and optionally
``input.mean`` / ``input.std`` (float32, in), applied first as (x − mean) / std. Its metadata holds
``format`` = ``cairn-mlp/v1``, ``architecture`` (JSON: ``{"activation": "relu", "layers": [in, h…, out],
"type": "mlp"}``) and optionally ``training`` (JSON: the parameters that made it).

Both are written canonically — zip members in a fixed order with a fixed timestamp, safetensors header
keys sorted and tensors laid out in name order — because a job's digest covers its output bytes and
honest providers must produce the same bytes. (The ``safetensors`` library's writer orders metadata by
a per-process hash, so it is used only to read.) Readers check the size before decoding anything and
raise a ``FormatError`` subclass for every malformed file, whatever the zip, npy or safetensors decoder
underneath raised (their error types and messages vary across the library versions a provider may have), and
check a file's parts in a fixed order (tensors by name), so that every honest provider refuses a bad file with
the same error. A refusal's class is what a job's result records (``compute_pallet.service.runner``); its
message is for logs.
"""

from __future__ import annotations

import io
import json
import math
import struct
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import safetensors.numpy

__all__ = [
    "MAX_DATASET_BYTES",
    "MAX_MODEL_BYTES",
    "MAX_OUTPUT_BYTES",
    "MAX_FEATURES",
    "MAX_CLASSES",
    "MAX_LAYERS",
    "MAX_WIDTH",
    "MODEL_FORMAT",
    "FormatError",
    "TooLarge",
    "MalformedDataset",
    "MalformedModel",
    "Dataset",
    "Model",
    "load_dataset",
    "save_dataset",
    "load_model",
    "save_model",
    "save_arrays",
]

MAX_DATASET_BYTES = 256 << 20
MAX_MODEL_BYTES = 64 << 20
MAX_HEADER_BYTES = 64 << 10
MAX_OUTPUT_BYTES = 2 << 30
"""The largest output file a kind writes, 2 GiB: well within the largest file the storage network takes (8 GiB
at the presets), so that every honest provider can upload what it committed to (one that could not would be
slashed for never revealing). A kind refuses a run whose output would be larger, the same on every machine."""
MAX_JSON_DEPTH = 16
"""How deep a model's JSON (its header, its ``architecture`` and ``training`` metadata) may nest: ours nest 3
deep. Checked before parsing, because the depth at which Python's parser gives up (``RecursionError``) depends
on the interpreter, and a provider must not accept a file another refuses."""
MAX_FEATURES = 1 << 16
MAX_CLASSES = 1000
MAX_LAYERS = 8
MAX_WIDTH = 4096
MODEL_FORMAT = "cairn-mlp/v1"
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: members carry no wall-clock time


class FormatError(ValueError):
    """A dataset or model file that this format does not accept."""


class TooLarge(FormatError):
    """The file, or an array it declares, is over this format's size bound (checked before decoding)."""


class MalformedDataset(FormatError):
    """Not a dataset ``.npz``: bad zip, unknown or missing member, wrong dtype or shape, NaN, bad label."""


class MalformedModel(FormatError):
    """Not a model file: bad header, missing or extra tensor, wrong dtype or shape, NaN, bad metadata."""


@dataclass(frozen=True)
class Dataset:
    X: npt.NDArray[np.float32]
    """Features, n×d, finite."""
    y: npt.NDArray[np.int64] | None
    """Labels in ``[0, MAX_CLASSES)``, n; None for a features-only file."""


@dataclass(frozen=True)
class Model:
    weights: tuple[npt.NDArray[np.float32], ...]
    """``layers.{i}.weight``, out×in; each layer's in is the previous layer's out."""
    biases: tuple[npt.NDArray[np.float32], ...]
    """``layers.{i}.bias``, out."""
    mean: npt.NDArray[np.float32] | None
    """``input.mean``: subtracted from inputs first (with ``std``, or neither)."""
    std: npt.NDArray[np.float32] | None
    """``input.std``: positive; inputs are divided by it after the mean is subtracted."""
    training: Mapping[str, object] | None = None
    """The metadata's ``training`` record: the parameters that made the model."""

    @property
    def layer_sizes(self) -> tuple[int, ...]:
        return (self.weights[0].shape[1], *(w.shape[0] for w in self.weights))

    @property
    def classes(self) -> int:
        return self.weights[-1].shape[0]


# -- datasets ----------------------------------------------------------------------------------------


def save_arrays(arrays: Mapping[str, np.ndarray]) -> bytes:
    """Canonical uncompressed ``.npz`` bytes of ``arrays`` (members in name order, fixed timestamps)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(arrays):
            _write_member(archive, f"{name}.npy", arrays[name])
    return buffer.getvalue()


def _write_member(archive: zipfile.ZipFile, name: str, array: np.ndarray) -> None:
    """Add ``array`` to ``archive`` as the ``.npy`` member ``name``. The member is made once and handed to the
    archive as a view: at most the array, its ``.npy`` and the archive are held at once (a job's memory
    estimate counts them, ``kinds.infer.resources``)."""
    member = io.BytesIO()
    np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
    with member.getbuffer() as view:
        archive.writestr(zipfile.ZipInfo(name, _ZIP_EPOCH), view)


def save_dataset(dataset: Dataset) -> bytes:
    """The dataset's canonical ``.npz`` bytes (checked as ``load_dataset`` would check them)."""
    arrays: dict[str, np.ndarray] = {"X": dataset.X} if dataset.y is None else {"X": dataset.X, "y": dataset.y}
    data = save_arrays(arrays)
    load_dataset(data, require_labels=dataset.y is not None)
    return data


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, compressed: bool) -> np.ndarray:
    """One ``.npy`` member, its header checked (an array of numbers, no negative dimension: anything else would
    fail in ``frombuffer`` or ``reshape``) and its declared size checked against the member's before reading
    the data. Only the members ``np.savez`` writes are read, and ``np.savez_compressed``'s where
    ``compressed``: bzip2 and LZMA are optional in a Python build, and an encrypted member needs a password."""
    if info.flag_bits & 0x1:
        raise MalformedDataset(f"{info.filename}: encrypted")
    if info.compress_type == zipfile.ZIP_DEFLATED and not compressed:
        raise MalformedDataset(f"{info.filename} is compressed: a job's cost is sized by its inputs' bytes, so a "
                               "dataset is stored uncompressed (numpy.savez, not savez_compressed)")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise MalformedDataset(f"{info.filename}: compression method {info.compress_type}; expected stored or deflated")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(member)
        else:
            raise MalformedDataset(f"{info.filename}: unsupported .npy version {version}")
        if dtype.kind not in "biufc":
            raise MalformedDataset(f"{info.filename}: {dtype.str} values are not numbers (object, bytes, text...)")
        if any(dimension < 0 for dimension in shape):
            raise MalformedDataset(f"{info.filename}: negative dimension in shape {shape}")
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes != info.file_size - member.tell():
            raise MalformedDataset(f"{info.filename}: header declares {nbytes} bytes of data, member holds "
                                   f"{info.file_size - member.tell()}")
        array = np.frombuffer(member.read(), dtype=dtype).reshape(shape, order="F" if fortran else "C")
    return array


MAX_DIRECTORY_BYTES = 4096
"""The largest zip central directory a dataset may have: ``X.npy`` and ``y.npy``'s entries take under 200
bytes. zipfile parses the whole directory before a member can be checked, at several times its size in memory:
82 MB of empty members took 535 MB, past the memory a job's estimate gives the dataset's bytes, and every
provider ran out of it (no result, all slashed as no-shows)."""
_END_OF_DIRECTORY = struct.Struct("<4s4H2LH")
_END_SIGNATURE, _ZIP64_LOCATOR_SIGNATURE = b"PK\x05\x06", b"PK\x06\x07"


def _check_directory_size(data: bytes) -> None:
    """Refuse a zip that does not end with its end-of-directory record (a comment after it, as no dataset writer
    adds, would let zipfile find a record this check does not), or whose central directory is past
    :data:`MAX_DIRECTORY_BYTES`, or kept in a zip64 record (no dataset this small needs one)."""
    end = len(data) - _END_OF_DIRECTORY.size
    if end < 0 or data[end:end + 4] != _END_SIGNATURE:
        raise MalformedDataset("not a zip ending with its directory's end record (and no comment)")
    directory_bytes = _END_OF_DIRECTORY.unpack_from(data, end)[5]
    if data[max(0, end - 20):max(0, end - 16)] == _ZIP64_LOCATOR_SIGNATURE or directory_bytes > MAX_DIRECTORY_BYTES:
        raise MalformedDataset(f"the zip's central directory is {directory_bytes} bytes (or zip64): a dataset's two "
                               f"members take at most {MAX_DIRECTORY_BYTES}")


def load_dataset(data: bytes, *, require_labels: bool = True, compressed: bool = False) -> Dataset:
    """Decode and check a dataset ``.npz``. Raises ``TooLarge`` or ``MalformedDataset``. ``compressed`` also
    reads deflated members (``np.savez_compressed``): for local files only, never a job's input, whose run the
    chain sizes from its bytes (a few hundred KB of zeros can unpack to the 256 MiB limit)."""
    if len(data) > MAX_DATASET_BYTES:
        raise TooLarge(f"dataset is {len(data)} bytes, at most {MAX_DATASET_BYTES}")
    _check_directory_size(data)
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = {info.filename: info for info in archive.infolist()}
            allowed = {"X.npy", "y.npy"}
            if set(members) - allowed or "X.npy" not in members:
                names = sorted(members)
                shown = ", ".join(repr(name[:40]) for name in names[:4]) + (", ..." if len(names) > 4 else "")
                raise MalformedDataset(f"{len(names)} members ({shown}); expected X.npy and optionally y.npy")
            if require_labels and "y.npy" not in members:
                raise MalformedDataset("no y.npy: this job needs labels")
            if sum(info.file_size for info in members.values()) > MAX_DATASET_BYTES:
                raise TooLarge(f"dataset unpacks to over {MAX_DATASET_BYTES} bytes")
            arrays = {name[0]: _read_member(archive, info, compressed) for name, info in members.items()}
    except (FormatError, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile, zlib and numpy's header parser raise types of their own
        raise MalformedDataset(f"not a readable zip of .npy members: {type(exc).__name__}: {exc}") from None
    X = arrays["X"]
    if X.dtype != np.dtype("<f4") or X.ndim != 2:
        raise MalformedDataset(f"X is {X.dtype} with shape {X.shape}; expected float32, n×d")
    if X.shape[0] < 1 or not 1 <= X.shape[1] <= MAX_FEATURES:
        raise MalformedDataset(f"X has shape {X.shape}; expected n >= 1 and 1 <= d <= {MAX_FEATURES}")
    if not np.isfinite(X).all():
        raise MalformedDataset("X holds NaN or infinite values")
    y = arrays.get("y")
    if y is not None:
        if y.dtype != np.dtype("<i8") or y.shape != (X.shape[0],):
            raise MalformedDataset(f"y is {y.dtype} with shape {y.shape}; expected int64, ({X.shape[0]},)")
        if y.min() < 0 or y.max() >= MAX_CLASSES:
            raise MalformedDataset(f"labels must lie in [0, {MAX_CLASSES})")
    return Dataset(np.ascontiguousarray(X), None if y is None else np.ascontiguousarray(y))


# -- models ------------------------------------------------------------------------------------------


def _canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _architecture(layer_sizes: tuple[int, ...]) -> dict[str, object]:
    return {"activation": "relu", "layers": list(layer_sizes), "type": "mlp"}


def _depth(text: str) -> int:
    """How deep the arrays and objects of the JSON ``text`` nest (brackets inside strings do not count)."""
    depth = deepest = 0
    quoted = escaped = False
    for char in text:
        if quoted:
            quoted = escaped or char != '"'
            escaped = not escaped and char == "\\"
        elif char == '"':
            quoted = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _json(text: str, what: str) -> object:
    """``text`` parsed, or ``MalformedModel`` for ``what``: nested past ``MAX_JSON_DEPTH`` or not JSON (a
    ``ValueError``: bad syntax, or an integer past Python's digit limit)."""
    if _depth(text) > MAX_JSON_DEPTH:
        raise MalformedModel(f"{what} nests deeper than {MAX_JSON_DEPTH}")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise MalformedModel(f"{what} is not JSON: {exc}") from None


def _json_object(metadata: Mapping[str, str], key: str) -> dict[str, object]:
    value = _json(metadata[key], f"metadata {key}")
    if not isinstance(value, dict):
        raise MalformedModel(f"metadata {key} is not a JSON object")
    return value


def _tensors(model: Model) -> dict[str, npt.NDArray[np.float32]]:
    tensors: dict[str, npt.NDArray[np.float32]] = {}
    for i, (weight, bias) in enumerate(zip(model.weights, model.biases, strict=True)):
        tensors[f"layers.{i}.weight"] = weight
        tensors[f"layers.{i}.bias"] = bias
    if model.mean is not None and model.std is not None:
        tensors["input.mean"] = model.mean
        tensors["input.std"] = model.std
    return tensors


def save_model(model: Model) -> bytes:
    """The model's canonical safetensors bytes (checked as ``load_model`` would check them)."""
    metadata = {"format": MODEL_FORMAT, "architecture": _canonical_json(_architecture(model.layer_sizes))}
    if model.training is not None:
        metadata["training"] = _canonical_json(model.training)
    header: dict[str, object] = {"__metadata__": metadata}
    chunks = []
    offset = 0
    for name, tensor in sorted(_tensors(model).items()):
        raw = np.ascontiguousarray(tensor, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    encoded = _canonical_json(header).encode()
    encoded += b" " * (-len(encoded) % 8)  # the spec's alignment padding
    data = struct.pack("<Q", len(encoded)) + encoded + b"".join(chunks)
    load_model(data)
    return data


def _metadata(data: bytes) -> dict[str, str]:
    """The header's ``__metadata__``, read with the header's size bounded first and every tensor's dtype
    checked (the library has no numpy type for some, e.g. BF16)."""
    if len(data) < 8:
        raise MalformedModel("shorter than a safetensors header")
    (length,) = struct.unpack_from("<Q", data)
    if length > MAX_HEADER_BYTES or 8 + length > len(data):
        raise MalformedModel(f"header length {length} is over {MAX_HEADER_BYTES} or past the end")
    try:
        text = data[8 : 8 + length].decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedModel("header is not UTF-8 JSON") from None
    header = _json(text, "header")
    metadata = header.get("__metadata__") if isinstance(header, dict) else None
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise MalformedModel("no __metadata__ of strings")
    for name, entry in header.items():
        if name != "__metadata__" and (not isinstance(entry, dict) or entry.get("dtype") != "F32"):
            raise MalformedModel(f"{name} is not a float32 (F32) tensor")
    return metadata


def _check_model(tensors: Mapping[str, np.ndarray]) -> Model:
    layers = sum(1 for name in tensors if name.startswith("layers.") and name.endswith(".weight"))
    if not 1 <= layers <= MAX_LAYERS:
        raise MalformedModel(f"{layers} layers; expected 1 to {MAX_LAYERS}")
    expected = {f"layers.{i}.{part}" for i in range(layers) for part in ("weight", "bias")}
    normalised = "input.mean" in tensors or "input.std" in tensors
    if normalised:
        expected |= {"input.mean", "input.std"}
    if set(tensors) != expected:
        raise MalformedModel(f"tensors {sorted(tensors)}; expected {sorted(expected)}")
    for name in sorted(tensors):  # all float32 (_metadata checked the dtypes); the loader's order is per process
        if not np.isfinite(tensors[name]).all():
            raise MalformedModel(f"{name} holds NaN or infinite values")
    weights = tuple(tensors[f"layers.{i}.weight"] for i in range(layers))
    biases = tuple(tensors[f"layers.{i}.bias"] for i in range(layers))
    width = weights[0].shape[1] if weights[0].ndim == 2 else 0
    for i, (weight, bias) in enumerate(zip(weights, biases)):
        if weight.ndim != 2 or weight.shape[1] != width or bias.shape != weight.shape[:1]:
            raise MalformedModel(f"layer {i}: weight {weight.shape}, bias {bias.shape}; expected (out, {width}), (out,)")
        width = weight.shape[0]
        if not 1 <= width <= MAX_WIDTH or not 1 <= weight.shape[1] <= MAX_FEATURES:
            raise MalformedModel(f"layer {i}: shape {weight.shape} is outside the bounds")
    mean = std = None
    if normalised:
        mean, std = tensors["input.mean"], tensors["input.std"]
        if mean.shape != (weights[0].shape[1],) or std.shape != mean.shape or not (std > 0).all():
            raise MalformedModel(f"input.mean {mean.shape} / input.std {std.shape} must be ({weights[0].shape[1]},), std > 0")
    if weights[-1].shape[0] > MAX_CLASSES:
        raise MalformedModel(f"{weights[-1].shape[0]} outputs; at most {MAX_CLASSES} classes")
    return Model(weights, biases, mean, std)


def load_model(data: bytes) -> Model:
    """Decode and check a model file. Raises ``TooLarge`` or ``MalformedModel``."""
    if len(data) > MAX_MODEL_BYTES:
        raise TooLarge(f"model is {len(data)} bytes, at most {MAX_MODEL_BYTES}")
    metadata = _metadata(data)
    try:
        tensors = safetensors.numpy.load(data)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - SafetensorError, or numpy's for a view of the buffer
        raise MalformedModel(f"not a safetensors file: {type(exc).__name__}: {exc}") from None
    model = _check_model(tensors)
    if metadata.get("format") != MODEL_FORMAT:
        raise MalformedModel(f"metadata format {metadata.get('format')!r}; expected {MODEL_FORMAT!r}")
    if "architecture" not in metadata or _json_object(metadata, "architecture") != _architecture(model.layer_sizes):
        raise MalformedModel(f"metadata architecture {metadata.get('architecture')!r} does not match the tensors")
    training = _json_object(metadata, "training") if "training" in metadata else None
    return Model(model.weights, model.biases, model.mean, model.std, training)
