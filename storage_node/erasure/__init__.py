"""Erasure coding for Cairn's storage network: systematic Reed-Solomon over GF(2^8).

A segment of data is split into k data shards and extended with m parity shards; any k of the k+m
fragments give the segment back, and any lost fragment can be rebuilt from k others. The code is fixed
byte for byte (version 1): field polynomial 0x11d, generator = identity over ISA-L's
``gf_gen_cauchy1_matrix(k+m, k)`` (see :mod:`.matrix`), shards padded to 64-byte multiples (see
:mod:`.params`), fragments serialised with a 96-byte header carrying a BLAKE2b checksum (see
:mod:`.fragment`). Every backend produces the same bytes, so nodes with and without a GPU interoperate:

- ``isal``: Intel ISA-L on the CPU, via ctypes (:mod:`.backends.isal_backend`);
- ``cupy``: a CUDA kernel via CuPy, for data on or headed to a GPU (:mod:`.backends.cupy_backend`);
- ``numpy``: the readable reference, always available (:mod:`.backends.numpy_backend`).

Usage::

    coder = ErasureCoder(10, 4)                      # backend="auto": GPU, else ISA-L, else NumPy
    fragments = coder.encode(data)                   # 14 Fragments; data shards are views of `data`
    blobs = serialize(fragments)                     # wire format: 96-byte header + payload each
    data = coder.decode({i: fragments[i] for i in (0, 2, 3, 5, 6, 7, 8, 10, 12, 13)})
    repaired = coder.reconstruct(survivors, wanted=[1, 4])   # rebuild only fragments 1 and 4

Large files go through :mod:`.stream` (segment by segment) or the ``cairn ec`` command (:mod:`.cli`).
"""

from storage_node.erasure.backends import BACKEND_NAMES, available_backends, get_backend
from storage_node.erasure.coder import ErasureCoder
from storage_node.erasure.errors import (
    BackendUnavailableError,
    CorruptedFragmentError,
    DuplicateFragmentError,
    ErasureCodingError,
    FragmentError,
    FragmentFormatError,
    FragmentLengthError,
    InvalidFragmentIndexError,
    InvalidParametersError,
    MismatchedFragmentError,
    NotEnoughFragmentsError,
    TruncatedFragmentError,
    TruncatedStreamError,
)
from storage_node.erasure.fragment import Fragment, FragmentHeader, SegmentInfo, parse_fragment, seal, serialize
from storage_node.erasure.params import CodeParams
from storage_node.erasure.stream import decode_stream, encode_stream

__all__ = [
    "BACKEND_NAMES",
    "BackendUnavailableError",
    "CodeParams",
    "CorruptedFragmentError",
    "DuplicateFragmentError",
    "ErasureCoder",
    "ErasureCodingError",
    "Fragment",
    "FragmentError",
    "FragmentFormatError",
    "FragmentHeader",
    "FragmentLengthError",
    "InvalidFragmentIndexError",
    "InvalidParametersError",
    "MismatchedFragmentError",
    "NotEnoughFragmentsError",
    "SegmentInfo",
    "TruncatedFragmentError",
    "TruncatedStreamError",
    "available_backends",
    "decode_stream",
    "encode_stream",
    "get_backend",
    "parse_fragment",
    "seal",
    "serialize",
]
