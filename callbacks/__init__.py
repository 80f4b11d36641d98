"""Dash callbacks, one module per page; importing this package registers them all (every module
in it, so a new page's callbacks need no line here)."""

import importlib
import pkgutil

for found in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{found.name}")
