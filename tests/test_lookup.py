"""Position lookups against a brute-force scan of the store."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashboard.study import Study
from dashboard.study.lookup import entries_between


def test_entries_between_matches_a_scan(random_study_template: Path) -> None:
    study = Study(random_study_template)
    indptr = study.array("activations/indptr.npy")
    token_index = study.array("activations/token_index.npy")
    ci = study.array("activations/ci.npy")
    owners = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    for start, stop in ((0, 16), (17, 40), (100, 101), (0, 10_000), (5, 5)):
        found = entries_between(indptr, token_index, ci, start, stop)
        inside = (token_index >= start) & (token_index < stop)
        expected = sorted(zip(owners[inside].tolist(), token_index[inside].tolist(), strict=True))
        got = sorted(zip(found["subcomponent"].tolist(), found["position"].tolist(), strict=True))
        assert got == expected
        np.testing.assert_allclose(
            np.sort(found["ci"].to_numpy()), np.sort(ci[inside].astype(np.float32))
        )
