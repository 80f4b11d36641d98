"""Content hashes that name a study's inputs."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

CHUNK_BYTES = 1 << 20


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_json(value: Any) -> str:
    """Hash of a JSON-serialisable value in canonical form (sorted keys)."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()


def sha256_directory(path: Path) -> str:
    """Hash of every file under a directory: relative paths and contents, in sorted order."""
    digest = hashlib.sha256()
    for file_path in sorted(p for p in Path(path).rglob("*") if p.is_file()):
        digest.update(file_path.relative_to(path).as_posix().encode())
        digest.update(bytes.fromhex(sha256_file(file_path)))
    return digest.hexdigest()
