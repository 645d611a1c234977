"""How sure a light client is that a blob is available after sampling it: ``1 - 2**-samples``.

A blob's 128 cells are a 2x extension: any 64 recover it, so a blob that cannot be recovered is missing more
than half its cells. A cell drawn uniformly at random from such a blob is then missing with probability
above 1/2, and ``s`` independent draws that all succeed happen with probability below ``2**-s``. The
confidence a client reports after ``s`` verified samples is the complement (Avail's formula; Celestia fixes
``s = 16``, PeerDAS 8). Twenty samples give ``1 - 2**-20 > 1 - 10**-6``.

This is client-side arithmetic (floats): nothing on chain depends on it.
"""

from __future__ import annotations

import math

__all__ = ["confidence", "samples_for"]


def confidence(samples: int) -> float:
    """The confidence that ``samples`` verified random samples give."""
    if samples < 0:
        raise ValueError(f"a number of samples is not negative: {samples}")
    return 1.0 - 2.0 ** -samples


def samples_for(target: float) -> int:
    """The fewest samples whose confidence reaches ``target`` (``0 <= target < 1``)."""
    if not 0.0 <= target < 1.0:
        raise ValueError(f"a confidence is in [0, 1): {target}")
    samples = max(0, math.ceil(-math.log2(1.0 - target)))
    while confidence(samples) < target:  # (guards the last bit of float rounding)
        samples += 1
    return samples
