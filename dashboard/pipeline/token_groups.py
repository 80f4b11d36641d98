"""Token groups: k-means over the target's token embeddings, each group named by its members."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.cluster import KMeans

LABEL_TOKENS = 5


def token_groups(embeddings: np.ndarray, n_groups: int, seed: int = 0) -> np.ndarray:
    """Group of every token `[vocab]` from k-means on the unit-normalized embeddings."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    n_groups = min(n_groups, len(vectors))
    kmeans = KMeans(n_clusters=n_groups, n_init=3, random_state=seed)
    return kmeans.fit_predict(vectors).astype(np.int32)


def group_labels(groups: np.ndarray, tokens: list[str], base_count: np.ndarray) -> pd.DataFrame:
    """group, label (its most frequent tokens in the corpus), size."""
    n_groups = int(groups.max()) + 1 if len(groups) else 0
    order = np.lexsort((-base_count[: len(groups)], groups))
    labels = []
    for group in range(n_groups):
        members = order[groups[order] == group][:LABEL_TOKENS]
        labels.append(" ".join(repr(tokens[token]) for token in members))
    return pd.DataFrame(
        {
            "group": np.arange(n_groups, dtype=np.int32),
            "label": labels,
            "size": np.bincount(groups, minlength=n_groups).astype(np.int64),
        }
    )
