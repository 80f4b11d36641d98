"""How stable a cluster is across an ensemble of clusterings (runs on disjoint token subsets,
or spd's ensemble members): the share of its member pairs that one run puts in one cluster, and
per member, the share of the other members it stays with.

Each ensemble run gives a cluster id per subcomponent (`-1` where the run did not see it fire);
a pair counts in a run only where both members were seen. A cluster of one member has no pairs:
its stability is NaN, as is everything measured where no run saw the pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

STABLE = 0.8  # a cluster whose pairs stay together in at least this share of the runs
ENSEMBLE_FILE = "clustering/ensemble.npy"  # in a study: `[runs, subcomponents]` cluster ids


@dataclass
class Stability:
    clusters: pd.Series  # per cluster id: share of member pairs co-clustered over the runs
    # per clustered subcomponent: share of its cluster's other members in its run's cluster
    members: pd.Series


def co_clustering(assignments: np.ndarray, ensemble: np.ndarray) -> Stability:
    """Stability of every cluster of `assignments` [n] across `ensemble` [runs, n]."""
    clustered = np.flatnonzero(assignments >= 0)
    runs = np.asarray(ensemble)[:, clustered]
    seen = pd.DataFrame(
        {
            "cluster": np.tile(assignments[clustered], len(runs)),
            "subcomponent": np.tile(clustered, len(runs)),
            "run": np.repeat(np.arange(len(runs)), len(clustered)),
            "label": runs.reshape(-1),
        }
    )
    seen = seen[seen["label"] >= 0]
    together = seen.groupby(["cluster", "run", "label"]).size().rename("together")
    seen = seen.join(together, on=["cluster", "run", "label"])
    seen_in_run = seen.groupby(["cluster", "run"]).size().rename("seen")
    seen = seen.join(seen_in_run, on=["cluster", "run"])
    pairs = (together * (together - 1) // 2).groupby(level=["cluster", "run"]).sum()
    possible = seen_in_run * (seen_in_run - 1) // 2
    per_cluster = pd.DataFrame({"pairs": pairs, "possible": possible}).groupby("cluster").sum()
    cluster_ids = np.unique(assignments[clustered])
    clusters = per_cluster["pairs"] / per_cluster["possible"].where(per_cluster["possible"] > 0)
    member_sums = (
        seen.assign(stayed=seen["together"] - 1, others=seen["seen"] - 1)
        .groupby("subcomponent")[["stayed", "others"]]
        .sum()
    )
    members = member_sums["stayed"] / member_sums["others"].where(member_sums["others"] > 0)
    return Stability(
        clusters=clusters.reindex(cluster_ids).astype(np.float64),
        members=members.reindex(clustered).astype(np.float64),
    )


def chance_co_clustering(ensemble: np.ndarray) -> float:
    """The share of pairs of subcomponents that one run puts in one cluster, averaged over the
    runs: `Σ n(n - 1) / (N(N - 1))` over a run's cluster sizes `n`, `N` the subcomponents it saw
    fire; what a cluster's stability would be if its members were paired at random."""
    shares = []
    for run in np.asarray(ensemble):
        sizes = np.unique(run[run >= 0], return_counts=True)[1].astype(np.float64)
        seen = sizes.sum()
        if seen >= 2:
            shares.append(float((sizes * (sizes - 1)).sum() / (seen * (seen - 1))))
    return float(np.mean(shares)) if shares else float("nan")


def with_stability(
    clusters: pd.DataFrame, members: pd.DataFrame, stability: Stability | None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The clusters and members tables with their `stability` column (NaN: not measured, as
    for a clustering without an ensemble)."""
    if stability is None:
        return clusters.assign(stability=np.nan), members.assign(stability=np.nan)
    return (
        clusters.assign(stability=stability.clusters.reindex(clusters["cluster"]).to_numpy()),
        members.assign(stability=stability.members.reindex(members["subcomponent"]).to_numpy()),
    )
