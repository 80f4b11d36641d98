"""Find the decomposition a study was built from: its directory's content id must equal the
study's `provenance.decomposition`."""

from __future__ import annotations

from pathlib import Path

from dashboard.study import Study


class DecompositionNotFoundError(LookupError):
    """No decomposition directory matches the study."""


def find_decomposition(study: Study, data_dir: Path) -> Path:
    """The recorded directory if it still matches, else a match in `<data dir>/decompositions`."""
    from dashboard.decomposition.store import PARAMETERS, content_id

    wanted = study.provenance["decomposition"]
    recorded = (study.manifest.get("settings") or {}).get("decomposition_dir")
    candidates = [Path(recorded)] if recorded else []
    candidates += sorted(p.parent for p in (data_dir / "decompositions").glob(f"*/{PARAMETERS}"))
    for candidate in candidates:
        if (candidate / PARAMETERS).is_file() and content_id(candidate) == wanted:
            return candidate
    raise DecompositionNotFoundError(
        f"study {study.name} was built from decomposition {wanted[:12]}, which is neither at its "
        f"recorded path nor under {data_dir / 'decompositions'}"
    )
