"""Rank-1 subcomponents, CI functions, the masked forward pass, SPD training, spd import.

`from dashboard.decomposition import load_decomposition` loads torch on first use only, so
modules that just need the config types (the command line, for one) stay light.
"""

from typing import Any

__all__ = ["Decomposition", "load_decomposition"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from dashboard.decomposition import api

        return getattr(api, name)
    raise AttributeError(f"module 'dashboard.decomposition' has no attribute {name!r}")
