"""Arithmetic in GF(2^8) with the reduction polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11d).

Elements are bytes. Addition is XOR; multiplication is carry-less multiplication reduced modulo 0x11d,
the field ISA-L, Jerasure and most storage codes use. The element 2 (the polynomial ``x``) generates the
multiplicative group, so every non-zero element is ``2^e`` for one ``e`` in ``0..254`` and products are
computed through exponent/logarithm tables.

Tables (built once at import, all NumPy ``uint8`` except ``LOG``):

- ``EXP[e] = 2^e`` for ``e`` in ``0..509`` (doubled so ``EXP[LOG[a] + LOG[b]]`` needs no modulo);
- ``LOG[a]`` for ``a`` in ``1..255`` (``LOG[0]`` is unused and set to 0);
- ``MUL[a, b] = a * b`` (64 KiB), used for whole-row matrix operations;
- ``INV[a] = a^-1`` for ``a`` in ``1..255`` (``INV[0] = 0``, never used).

:func:`xtime` is the one-step "multiply by 2" that the vectorised backends apply to packed bytes.
"""

from __future__ import annotations

import numpy as np

POLYNOMIAL = 0x11D
"""The reduction polynomial: x^8 + x^4 + x^3 + x^2 + 1."""

FIELD_SIZE = 256


def xtime(a: int) -> int:
    """``a * 2`` in GF(2^8): shift left, reduce by the polynomial if the top bit fell out."""
    a <<= 1
    return a ^ POLYNOMIAL if a & 0x100 else a


def _exp_log_tables() -> tuple[np.ndarray, np.ndarray]:
    exp = np.zeros(2 * (FIELD_SIZE - 1), dtype=np.uint8)
    log = np.zeros(FIELD_SIZE, dtype=np.int32)
    element = 1
    for exponent in range(FIELD_SIZE - 1):
        exp[exponent] = exp[exponent + FIELD_SIZE - 1] = element
        log[element] = exponent
        element = xtime(element)
    return exp, log


EXP, LOG = _exp_log_tables()


def _mul_table() -> np.ndarray:
    logs = LOG[1:]
    table = np.zeros((FIELD_SIZE, FIELD_SIZE), dtype=np.uint8)
    table[1:, 1:] = EXP[logs[:, None] + logs[None, :]]
    return table


MUL = _mul_table()
INV = np.zeros(FIELD_SIZE, dtype=np.uint8)
INV[1:] = EXP[(FIELD_SIZE - 1 - LOG[1:]) % (FIELD_SIZE - 1)]


def mul(a: int, b: int) -> int:
    """``a * b`` in GF(2^8)."""
    return int(MUL[a, b])


def inv(a: int) -> int:
    """``a^-1`` in GF(2^8); ``a`` must be non-zero."""
    if not 0 < a < FIELD_SIZE:
        raise ZeroDivisionError(f"{a} has no inverse in GF(2^8)")
    return int(INV[a])


def div(a: int, b: int) -> int:
    """``a / b`` in GF(2^8); ``b`` must be non-zero."""
    return mul(a, inv(b))
