"""Every error the erasure-coding engine raises: one tree rooted at :class:`ErasureCodingError`.

Errors about a single fragment (:class:`FragmentError` and its subclasses) are raised when a fragment
is parsed or built on its own. While decoding a set, such a fragment is treated as missing instead, and
the error is kept in :attr:`NotEnoughFragmentsError.rejected` should too few fragments remain.
"""

from __future__ import annotations

from collections.abc import Mapping


class ErasureCodingError(Exception):
    """Base class of everything raised by ``storage_node.erasure``."""


class InvalidParametersError(ErasureCodingError, ValueError):
    """Code parameters (k, m), a segment size or a backend name outside what the engine supports."""


class BackendUnavailableError(ErasureCodingError):
    """The backend asked for by name cannot run here (library, package or device missing)."""


class InvalidFragmentIndexError(ErasureCodingError, ValueError):
    """A fragment index outside ``0 .. k+m-1`` was given as a key or as a wanted index."""


class DuplicateFragmentError(ErasureCodingError):
    """Two fragments given for the same index."""


class NotEnoughFragmentsError(ErasureCodingError):
    """Fewer than k usable fragments; ``rejected`` says why each unusable one was set aside."""

    def __init__(self, message: str, *, usable: int, needed: int,
                 rejected: Mapping[int, FragmentError] | None = None) -> None:
        self.usable = usable
        self.needed = needed
        self.rejected = dict(rejected or {})
        reasons = "; ".join(f"fragment {index}: {error}" for index, error in sorted(self.rejected.items()))
        super().__init__(f"{message} ({reasons})" if reasons else message)


class TruncatedStreamError(ErasureCodingError):
    """Every fragment stream ended before the segment flagged as the object's last one."""


class FragmentError(ErasureCodingError):
    """Something is wrong with one fragment."""


class TruncatedFragmentError(FragmentError):
    """The buffer ends inside the fragment header or before the payload length the header implies."""


class FragmentFormatError(FragmentError):
    """Bad magic, unsupported version, or header fields that contradict each other or the code limits."""


class FragmentLengthError(FragmentError):
    """A payload whose length is not the shard length its segment length implies."""


class CorruptedFragmentError(FragmentError):
    """The checksum in the header does not match the header fields and payload."""


class MismatchedFragmentError(FragmentError):
    """A fragment that belongs to another code, segment or index than the set it was given with."""
