"""The tokens one subcomponent fires on, against how often each occurs in the corpus."""

from __future__ import annotations

import numpy as np
import pandas as pd


def firing_token_table(
    token_ids: np.ndarray, ci: np.ndarray, base_counts: np.ndarray, tokens: list[str]
) -> pd.DataFrame:
    """token, token_id, count, mean_ci, and fires_on_share (the share of that token's
    occurrences where it fires), from the token id and CI of every firing; most fired first."""
    table = (
        pd.DataFrame({"token_id": np.asarray(token_ids), "ci": np.asarray(ci, np.float32)})
        .groupby("token_id")["ci"]
        .agg(count="size", mean_ci="mean")
        .reset_index()
    )
    table["fires_on_share"] = table["count"] / base_counts[table["token_id"]]
    table.insert(0, "token", [tokens[i] for i in table["token_id"]])
    return table.sort_values(["count", "mean_ci"], ascending=False, ignore_index=True)
