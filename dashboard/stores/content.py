"""Content-addressed stores: causal masks and texts (prompt sets, probe text) named by hash.

A mask's name is the hash of its canonical bytes: the decomposition's id and its non-zero
values by subcomponent label, sorted, rounded to 6 decimals, as compact JSON. The same mask gets
the same name in any process; a stored mask never changes.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from dashboard.stores.database import Database

HASH_LENGTH = 20
HASH_PATTERN = re.compile(rf"^[0-9a-f]{{{HASH_LENGTH}}}$")
MAX_TEXT_CHARS = 20_000


class MalformedHashError(ValueError):
    """Not a hash this store could have made."""


class UnknownHashError(LookupError):
    """A well-formed hash that names nothing stored."""


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:HASH_LENGTH]


def checked_hash(text: str) -> str:
    value = text.strip().lower()
    if not HASH_PATTERN.match(value):
        raise MalformedHashError(
            f"{text!r} is not a hash: expected {HASH_LENGTH} hexadecimal characters"
        )
    return value


@dataclass(frozen=True)
class CausalMask:
    """Per-subcomponent multipliers in [0, 1]; subcomponents not listed are 0 (off)."""

    decomposition: str  # the decomposition's provenance hash
    values: dict[str, float]  # label -> value, non-zero only

    def canonical_bytes(self) -> bytes:
        values = {
            label: round(float(value), 6)
            for label, value in sorted(self.values.items())
            if round(float(value), 6) != 0
        }
        return json.dumps(
            {"decomposition": self.decomposition, "values": values},
            sort_keys=True,
            separators=(",", ":"),
        ).encode()

    @property
    def hash(self) -> str:
        return content_hash(self.canonical_bytes())

    @classmethod
    def from_bytes(cls, body: bytes | str) -> CausalMask:
        data = json.loads(body)
        return cls(data["decomposition"], data["values"])


def validated_values(values: dict[str, float], labels: set[str]) -> dict[str, float]:
    unknown = sorted(set(values) - labels)
    if unknown:
        raise ValueError(f"unknown subcomponent(s): {', '.join(unknown[:5])}")
    bad = [label for label, value in values.items() if not 0 <= float(value) <= 1]
    if bad:
        raise ValueError(f"mask values must lie in [0, 1]; {bad[0]} has {values[bad[0]]}")
    return {label: float(value) for label, value in values.items()}


class ContentStore:
    def __init__(self, database: Database):
        self.database = database

    def put_mask(self, mask: CausalMask, label: str = "") -> str:
        """Store a mask (once: later puts of the same mask change nothing) and return its hash."""
        self.database.execute(
            "INSERT INTO masks (hash, decomposition, body, label, created_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (hash) DO NOTHING",
            (
                mask.hash,
                mask.decomposition,
                mask.canonical_bytes().decode(),
                label[:200],
                datetime.now(UTC).isoformat(timespec="seconds"),
            ),
        )
        return mask.hash

    def mask(self, text: str) -> tuple[CausalMask, str]:
        """(mask, label) for a hash; malformed and unknown hashes raise their own errors."""
        value = checked_hash(text)
        rows = self.database.execute("SELECT body, label FROM masks WHERE hash = ?", (value,))
        if not rows:
            raise UnknownHashError(f"no mask is stored under {value}")
        return CausalMask.from_bytes(rows[0][0]), rows[0][1]

    def masks(self, decomposition: str, limit: int = 50) -> list[tuple[str, str, str]]:
        """(hash, label, created_at) of the newest masks of a decomposition."""
        return [
            tuple(row)
            for row in self.database.execute(
                "SELECT hash, label, created_at FROM masks WHERE decomposition = ? "
                "ORDER BY created_at DESC, hash LIMIT ?",
                (decomposition, limit),
            )
        ]

    def put_text(self, text: str) -> str:
        if len(text) > MAX_TEXT_CHARS:
            raise ValueError(
                f"text of {len(text):,} characters is over the limit of {MAX_TEXT_CHARS:,}"
            )
        value = content_hash(text.encode())
        self.database.execute(
            "INSERT INTO texts (hash, body) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING",
            (value, text),
        )
        return value

    def text(self, text_hash: str) -> str:
        value = checked_hash(text_hash)
        rows = self.database.execute("SELECT body FROM texts WHERE hash = ?", (value,))
        if not rows:
            raise UnknownHashError(f"no text is stored under {value}")
        return rows[0][0]
