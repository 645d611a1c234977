"""Finding Intel ISA-L's erasure-code library and declaring the four functions Cairn calls.

ISA-L ships in two places we can rely on: inside the ``pyeclib`` manylinux wheel (a vendored copy under
``site-packages/pyeclib.libs/``, named like ``libisal-pyeclib.so.2``) and in Debian's ``libisal2``
package (``libisal.so.2`` on the loader path). :func:`load_isal` tries, in order: the path in the
``CAIRN_ISAL_LIBRARY`` environment variable, every ``pyeclib.libs/libisal*.so*`` next to an importable
``pyeclib`` or in any site-packages folder, the system loader's ``isal``, then the plain sonames. The first
file that loads and exports all four functions wins.

The functions (from ISA-L's ``erasure_code.h``), called through ``ctypes``, which releases the GIL for
the duration of each call:

- ``void gf_gen_cauchy1_matrix(unsigned char *a, int rows, int k)``
- ``int gf_invert_matrix(unsigned char *in, unsigned char *out, const int n)`` (0 on success; ``in`` is
  destroyed)
- ``void ec_init_tables(int k, int rows, unsigned char *a, unsigned char *gftbls)`` (32 bytes of
  tables per coefficient)
- ``void ec_encode_data(int len, int k, int rows, unsigned char *gftbls, unsigned char **data,
  unsigned char **coding)``
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import site
from collections.abc import Iterator
from functools import cache
from pathlib import Path

from storage_node.erasure.errors import BackendUnavailableError

LIBRARY_ENVIRONMENT_VARIABLE = "CAIRN_ISAL_LIBRARY"
REQUIRED_FUNCTIONS = ("gf_gen_cauchy1_matrix", "gf_invert_matrix", "ec_init_tables", "ec_encode_data")
SYSTEM_SONAMES = ("libisal.so.2", "libisal.so")

_byte_pointer = ctypes.POINTER(ctypes.c_ubyte)
_pointer_array = ctypes.POINTER(ctypes.c_void_p)
_PROTOTYPES = {
    "gf_gen_cauchy1_matrix": (None, [_byte_pointer, ctypes.c_int, ctypes.c_int]),
    "gf_invert_matrix": (ctypes.c_int, [_byte_pointer, _byte_pointer, ctypes.c_int]),
    "ec_init_tables": (None, [ctypes.c_int, ctypes.c_int, _byte_pointer, _byte_pointer]),
    "ec_encode_data": (None, [ctypes.c_int, ctypes.c_int, ctypes.c_int, _byte_pointer,
                              _pointer_array, _pointer_array]),
}


def candidate_paths() -> Iterator[str]:
    """Where ISA-L may be, most specific first (files that do not exist are skipped by the loader)."""
    configured = os.environ.get(LIBRARY_ENVIRONMENT_VARIABLE)
    if configured:
        yield configured
    folders: list[Path] = []
    spec = importlib.util.find_spec("pyeclib")
    if spec is not None and spec.submodule_search_locations:
        folders += [Path(location).parent for location in spec.submodule_search_locations]
    folders += [Path(p) for p in (*site.getsitepackages(), site.getusersitepackages())]
    seen: set[Path] = set()
    for folder in folders:
        for library in sorted((folder / "pyeclib.libs").glob("libisal*.so*")):
            if library not in seen:
                seen.add(library)
                yield str(library)
    found = ctypes.util.find_library("isal")
    if found:
        yield found
    yield from SYSTEM_SONAMES


def _declare(library: ctypes.CDLL) -> ctypes.CDLL:
    for name, (result, arguments) in _PROTOTYPES.items():
        function = getattr(library, name)
        function.restype = result
        function.argtypes = arguments
    return library


@cache
def load_isal() -> tuple[ctypes.CDLL, str]:
    """The loaded library and the path it came from; :class:`BackendUnavailableError` if none loads."""
    tried = []
    for path in candidate_paths():
        try:
            library = ctypes.CDLL(path)
        except OSError:
            tried.append(path)
            continue
        if all(hasattr(library, name) for name in REQUIRED_FUNCTIONS):
            return _declare(library), path
        tried.append(f"{path} (lacks the erasure-code functions)")
    raise BackendUnavailableError(
        "ISA-L not found: install the 'pyeclib' wheel or Debian's libisal2, or set "
        f"{LIBRARY_ENVIRONMENT_VARIABLE}; tried " + ", ".join(tried))
