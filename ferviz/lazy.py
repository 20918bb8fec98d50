"""Lazy re-exports for a package's ``__init__`` (PEP 562): each name is imported from its module on
first use, so importing the package costs nothing and its modules never import it back half-made."""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def exports(package: str, homes: dict[str, str]) -> Callable[[str], object]:
    """The module ``__getattr__`` of `package`: name -> ``package.homes[name]``'s attribute of that name."""
    def __getattr__(name: str):
        module = homes.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later look-ups skip this function
        return value
    return __getattr__
