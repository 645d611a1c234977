"""Every name a module exports (its ``__all__``) is there: ``from sdk.compute import Rerun`` once failed, and
with it ``from sdk.compute import *``, though ``Rerun`` was listed."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ("runtime", "node", "sdk", "storage_node", "da_layer", "compute_pallet", "devnet")


def modules() -> list[str]:
    names = []
    for package in PACKAGES:
        names.append(package)
        names += [m.name for m in pkgutil.walk_packages(importlib.import_module(package).__path__, package + ".")
                  if not m.name.endswith(".__main__")]  # running a __main__ starts its program
    return names


@pytest.mark.parametrize("name", modules())
def test_every_exported_name_exists(name):
    module = importlib.import_module(name)
    missing = [export for export in getattr(module, "__all__", ()) if not hasattr(module, export)]
    assert not missing, f"{name}.__all__ names what it does not define: {missing}"
