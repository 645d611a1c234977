"""Dataset ``.npz`` and model ``safetensors`` files: canonical bytes, interop with numpy and the
safetensors library, and a typed error for every class of malformed or oversized file."""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy

from compute_pallet import datasets, formats
from compute_pallet.formats import (Dataset, MalformedDataset, MalformedModel, Model, TooLarge, load_dataset,
                                    load_model, save_dataset, save_model)

X = np.arange(12, dtype=np.float32).reshape(4, 3)
Y = np.array([0, 1, 2, 1], dtype=np.int64)


def _model(training: dict[str, object] | None = None) -> Model:
    rng = np.random.default_rng(1)
    w0, w1 = rng.standard_normal((5, 3), dtype=np.float32), rng.standard_normal((2, 5), dtype=np.float32)
    return Model((w0, w1), (np.zeros(5, np.float32), np.ones(2, np.float32)),
                 np.zeros(3, np.float32), np.full(3, 2, np.float32), training)


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _npy(descr: str, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """An ``.npy`` member with any header numpy parses, whether or not it describes an array numpy can make."""
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue() + data


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


MEMBERS = {"X.npy": _npy("<f4", X.shape, X.tobytes()), "y.npy": _npy("<i8", Y.shape, Y.tobytes())}


def _corrupt_deflate() -> bytes:
    """A deflated X.npy whose compressed bytes are overwritten: zlib's own error, not zipfile's."""
    data = bytearray(_zip(MEMBERS, zipfile.ZIP_DEFLATED))
    start = data.index(b"X.npy") + len("X.npy")  # the local header's name, then the compressed data
    data[start + 8 : start + 14] = b"\xff" * 6
    return bytes(data)


def _encrypted() -> bytes:
    """A dataset whose first member claims to be encrypted (bit 0 of its flags, in both headers)."""
    data = bytearray(save_dataset(Dataset(X, Y)))
    data[6] |= 1
    data[data.index(b"PK\x01\x02") + 8] |= 1
    return bytes(data)


CRAFTED_DATASETS = {
    "a zero-sized dtype": _zip({"X.npy": _npy("|S0", (3,)), "y.npy": _npy("<i8", (1,), bytes(8))}),
    "a negative shape": _zip({"X.npy": _npy("<f4", (-1, -1), bytes(4)), "y.npy": _npy("<i8", (1,), bytes(8))}),
    "a structured dtype": _zip({"X.npy": _npy("|V4", (1,), bytes(4)), "y.npy": _npy("<i8", (1,), bytes(8))}),
    "a corrupt deflate stream": _corrupt_deflate(),
    "an encrypted member": _encrypted(),
    "a bzip2 member": _zip(MEMBERS, zipfile.ZIP_BZIP2),
}
"""Datasets that numpy's and zipfile's readers fail on with errors of their own (a ``ValueError`` from
``reshape``, ``zlib.error``, ``RuntimeError``), or read only where Python was built with bzip2: each must be
refused as malformed like any other, on every machine."""


def _safetensors(tensors: dict[str, np.ndarray], layers: list[int] | None = None, **metadata: str) -> bytes:
    """A file written by the safetensors library itself, with our metadata unless overridden."""
    if layers is not None:
        metadata = {"format": "cairn-mlp/v1",
                    "architecture": json.dumps({"type": "mlp", "layers": layers, "activation": "relu"}),
                    **metadata}
    return safetensors.numpy.save(tensors, metadata=metadata)


def _tensors(model: Model) -> dict[str, np.ndarray]:
    return safetensors.numpy.load(save_model(model))


# -- datasets ----------------------------------------------------------------------------------------


def test_a_dataset_round_trips_canonically_and_numpy_reads_it() -> None:
    data = save_dataset(Dataset(X, Y))
    assert save_dataset(Dataset(X.copy(), Y.copy())) == data
    loaded = load_dataset(data)
    assert np.array_equal(loaded.X, X) and np.array_equal(loaded.y, Y)
    with np.load(io.BytesIO(data)) as npz:
        assert np.array_equal(npz["X"], X) and np.array_equal(npz["y"], Y)
    assert load_dataset(_npz(X=X, y=Y)).X.tolist() == X.tolist()  # np.savez's own files load too
    assert load_dataset(save_dataset(Dataset(X, None)), require_labels=False).y is None


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a zip", "zip"),
        (_npz(X=X.astype(np.float64), y=Y), "float32"),
        (_npz(X=X[0], y=Y), "float32, n×d"),
        (_npz(X=X[:0], y=Y[:0]), "n >= 1"),
        (_npz(X=X, y=Y.astype(np.int32)), "int64"),
        (_npz(X=X, y=Y[:3]), "int64"),
        (_npz(X=np.where(X == 5, np.nan, X).astype(np.float32), y=Y), "NaN"),
        (_npz(X=X, y=Y - 1), "labels"),
        (_npz(X=X, y=Y + formats.MAX_CLASSES), "labels"),
        (_npz(X=X), "needs labels"),
        (_npz(y=Y), "members"),
        (_npz(X=X, y=Y, z=Y), "members"),
        (_npz(X=np.array([{}, {}], dtype=object).reshape(1, 2), y=Y[:1]), "object"),
    ],
)
def test_malformed_datasets_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedDataset, match=reason):
        load_dataset(data)


@pytest.mark.parametrize("name", CRAFTED_DATASETS)
def test_datasets_the_decoders_fail_on_are_refused_as_malformed(name: str) -> None:
    with pytest.raises(MalformedDataset):  # compressed=True: the most the decoder takes (local files)
        load_dataset(CRAFTED_DATASETS[name], compressed=True)


def test_a_member_whose_header_overstates_its_data_is_refused() -> None:
    """The declared shape is checked against the member's size before any array is allocated."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False, "shape": (1 << 40, 8)})
        archive.writestr("X.npy", header.getvalue() + X.tobytes())
        y = io.BytesIO()
        np.lib.format.write_array(y, Y)
        archive.writestr("y.npy", y.getvalue())
    with pytest.raises(MalformedDataset, match="declares"):
        load_dataset(buffer.getvalue())


def test_oversized_datasets_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = save_dataset(Dataset(X, Y))
    monkeypatch.setattr(formats, "MAX_DATASET_BYTES", len(data) - 1)
    with pytest.raises(TooLarge, match="dataset is"):
        load_dataset(data)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.zeros((1000, 100), np.float32), y=np.zeros(1000, np.int64))
    monkeypatch.setattr(formats, "MAX_DATASET_BYTES", 200_000)  # over the zip, under what it unpacks to
    with pytest.raises(TooLarge, match="unpacks"):
        load_dataset(buffer.getvalue(), compressed=True)


def test_a_zip_whose_directory_is_past_two_members_size_is_refused_before_it_is_parsed() -> None:
    """zipfile holds several times a central directory's bytes while it parses it: 82 MB of empty members took
    535 MB, more than a job's memory estimate gives that many bytes of dataset."""
    many = _zip({f"{i}.npy": b"" for i in range(300)})
    with pytest.raises(MalformedDataset, match="central directory is .* bytes"):
        load_dataset(many)
    long_names = _zip({"X.npy" + "x" * 5000: b"", "y.npy": b""})
    with pytest.raises(MalformedDataset, match="central directory"):
        load_dataset(long_names)
    commented = io.BytesIO()  # zipfile finds the end record behind a comment, or behind 64 KiB of anything
    with zipfile.ZipFile(commented, "w") as archive:
        for i in range(300):
            archive.writestr(f"{i}.npy", b"")
        archive.comment = b"PK" * 100
    for hidden in (commented.getvalue(), many + bytes(1 << 16)):
        with pytest.raises(MalformedDataset, match="ending with its directory's end record"):
            load_dataset(hidden)
    train, _ = datasets.split("digits")
    assert load_dataset(train).X.shape[1] == 64  # np.savez's two members pass


def test_a_compressed_dataset_is_refused_unless_local_files_are_read() -> None:
    """A job's cost is sized by its inputs' bytes: 4 MB of zeros compress to a few KB."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, X=np.zeros((10_000, 100), np.float32), y=np.zeros(10_000, np.int64))
    assert len(buffer.getvalue()) < 10_000
    with pytest.raises(MalformedDataset, match="compressed: a job's cost is sized by its inputs' bytes"):
        load_dataset(buffer.getvalue())
    assert load_dataset(buffer.getvalue(), compressed=True).X.shape == (10_000, 100)


def test_bundled_datasets_split_the_same_way_every_time() -> None:
    from compute_pallet import datasets  # scikit-learn takes seconds to import: not in the child processes below

    train, held = datasets.split("wine")
    assert (train, held) == datasets.split("wine")
    a, b = load_dataset(train), load_dataset(held)
    assert (len(a.y), len(b.y)) == (143, 35) and a.X.shape[1] == 13
    whole = {tuple(row) for row in datasets.load("wine").X.tolist()}
    assert {tuple(row) for row in a.X.tolist()} | {tuple(row) for row in b.X.tolist()} == whole
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("mnist")


def test_shards_are_disjoint_and_hold_every_sample() -> None:
    from compute_pallet import datasets

    train, _ = datasets.split("wine")
    shards = [load_dataset(datasets.shard(train, i, 3)) for i in range(3)]
    assert sum(len(s.y) for s in shards) == 143
    rows = [tuple(row) + (label,) for s in shards for row, label in zip(s.X.tolist(), s.y.tolist())]
    whole = load_dataset(train)
    assert sorted(rows) == sorted(tuple(row) + (label,) for row, label in zip(whole.X.tolist(), whole.y.tolist()))
    for index in (-1, 3):
        with pytest.raises(ValueError, match="does not exist"):
            datasets.shard(train, index, 3)


def test_cairn_compute_dataset_writes_the_split_and_its_shards(tmp_path) -> None:
    from click.testing import CliRunner

    from compute_pallet import datasets
    from sdk.cli import main

    result = CliRunner().invoke(main, ["compute", "dataset", "wine", "-o", str(tmp_path / "wine"), "--shards", "2"])
    assert result.exit_code == 0, result.output
    train, held = datasets.split("wine")
    written = [Path(line) for line in result.output.splitlines()]
    assert [p.name for p in written] == ["train.npz", "held-out.npz", "shard-0.npz", "shard-1.npz"]
    assert [p.read_bytes() for p in written] == [train, held, datasets.shard(train, 0, 2), datasets.shard(train, 1, 2)]
    unknown = CliRunner().invoke(main, ["compute", "dataset", "mnist", "-o", str(tmp_path / "x")])
    assert unknown.exit_code == 2 and not (tmp_path / "x").exists()


# -- models ------------------------------------------------------------------------------------------


def test_a_model_round_trips_and_the_safetensors_library_reads_it() -> None:
    model = _model({"kind": "train", "epochs": 3})
    data = save_model(model)
    loaded = load_model(data)
    assert loaded.layer_sizes == (3, 5, 2) and loaded.classes == 2 and loaded.training == model.training
    assert all(np.array_equal(a, b) for a, b in zip(loaded.weights + loaded.biases, model.weights + model.biases))
    tensors = safetensors.numpy.load(data)
    assert sorted(tensors) == ["input.mean", "input.std", "layers.0.bias", "layers.0.weight", "layers.1.bias",
                               "layers.1.weight"]
    assert load_model(_safetensors(tensors, [3, 5, 2], training="{}")).training == {}  # the library's files load


def test_model_bytes_are_the_same_in_every_process() -> None:
    """The library's own writer orders metadata by a per-process hash; ours must not."""
    child = ("import sys; from tests.compute_pallet.test_formats import _model; from compute_pallet.formats "
             "import save_model; sys.stdout.buffer.write(save_model(_model({'a': 1, 'b': 2, 'c': 3})))")
    runs = {subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, timeout=60).stdout
            for _ in range(3)}
    assert runs == {save_model(_model({"a": 1, "b": 2, "c": 3}))}


def test_the_first_bad_tensor_is_named_in_name_order_in_every_process() -> None:
    """The safetensors library returns tensors in a per-process order; the refusal must not depend on it."""
    child = ("import sys, numpy as np; from tests.compute_pallet.test_formats import _safetensors, _tensors, _model; "
             "from compute_pallet.formats import load_model, MalformedModel\n"
             "bad = {name: np.full_like(t, np.nan) for name, t in _tensors(_model()).items()}\n"
             "try: load_model(_safetensors(bad, [3, 5, 2]))\n"
             "except MalformedModel as exc: print(exc)")
    runs = {subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True,
                           timeout=60).stdout for _ in range(4)}
    assert runs == {"input.mean holds NaN or infinite values\n"}


def _header(tensors: dict[str, object]) -> bytes:
    """A hand-written safetensors header (the library would not write these)."""
    header = json.dumps({"__metadata__": {"format": "cairn-mlp/v1"}, **tensors}).encode()
    return struct.pack("<Q", len(header)) + header


def _without(name: str) -> dict[str, np.ndarray]:
    tensors = _tensors(_model())
    del tensors[name]
    return tensors


def _with(name: str, value: np.ndarray) -> dict[str, np.ndarray]:
    return {**_tensors(_model()), name: value}


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "shorter"),
        (struct.pack("<Q", 1 << 30) + b"{}", "header length"),
        (struct.pack("<Q", 2) + b"[]", "__metadata__"),
        (struct.pack("<Q", 3) + b"{\xff}", "UTF-8 JSON"),
        (_header({"layers.0.weight": {"dtype": "BF16", "shape": [1, 1], "data_offsets": [0, 2]}}) + b"\0\0", "F32"),
        (_header({"layers.0.weight": {"dtype": "F32", "shape": [1, 1], "data_offsets": [0, 2]}}) + b"\0\0",
         "not a safetensors file"),
        (_safetensors(_without("layers.1.bias"), [3, 5, 2]), "expected"),
        (_safetensors(_without("input.std"), [3, 5, 2]), "expected"),
        (_safetensors(_with("layers.2.bias", np.zeros(2, np.float32)), [3, 5, 2]), "expected"),
        (_safetensors(_with("layers.0.weight", np.zeros((5, 3), np.float64)), [3, 5, 2]), "float32"),
        (_safetensors(_with("layers.0.weight", np.zeros((5, 4), np.float32)), [4, 5, 2]), "input.mean"),
        (_safetensors(_with("layers.1.weight", np.zeros((2, 4), np.float32)), [3, 5, 2]), "layer 1"),
        (_safetensors(_with("layers.0.bias", np.zeros(4, np.float32)), [3, 5, 2]), "layer 0"),
        (_safetensors(_with("layers.0.bias", np.array([0, 0, np.nan, 0, 0], np.float32)), [3, 5, 2]), "NaN"),
        (_safetensors(_with("input.std", np.zeros(3, np.float32)), [3, 5, 2]), "std > 0"),
        (_safetensors(_tensors(_model()), [3, 6, 2]), "architecture"),
        (_safetensors(_tensors(_model()), [3, 5, 2], format="onnx"), "format"),
        (_safetensors(_tensors(_model()), [3, 5, 2], training="[1]"), "training"),
        (_safetensors(_tensors(_model()), [3, 5, 2], training='{"a": 1' + "0" * 5000 + "}"), "training is not JSON"),
        (_safetensors(_tensors(_model()), [3, 5, 2], training='{"a": ' + "[" * 900 + "]" * 900 + "}"), "nests"),
        (_header({"a": json.loads("[" * 17 + "]" * 17)}), "header nests deeper than 16"),
        (_safetensors(_tensors(_model())), "format"),
        (save_model(_model())[:-4], "not a safetensors file"),
    ],
)
def test_malformed_models_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(MalformedModel, match=reason):
        load_model(data)


def test_oversized_models_are_refused_before_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    data = save_model(_model())
    monkeypatch.setattr(formats, "MAX_MODEL_BYTES", len(data) - 1)
    with pytest.raises(TooLarge):
        load_model(data)
    monkeypatch.undo()
    too_wide = np.zeros((formats.MAX_WIDTH + 1, 1), np.float32)
    with pytest.raises(MalformedModel, match="outside the bounds"):
        load_model(_safetensors({"layers.0.weight": too_wide, "layers.0.bias": np.zeros(len(too_wide), np.float32)},
                                [1, formats.MAX_WIDTH + 1]))
