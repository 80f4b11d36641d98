"""Every per-cluster measure of one clustering iteration, computed in one vectorized pass.

Activation of a cluster on a token = the largest CI among its members there (only stored
entries, i.e. CI above the harvest threshold). Masses are sums of that activation.

Over 400 lines by choice: the measures share one pass over the clusters' activity and their
labels (`MEASURE_LABELS`) sit beside them, so that a new measure is added in this module alone.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import sparse

from dashboard.analysis.activity import ClusterActivity, cluster_activity, entry_owners
from dashboard.analysis.cluster_examples import example_table
from dashboard.analysis.stability import STABLE, co_clustering, with_stability
from dashboard.analysis.statistics import (
    entropy_rows,
    gini,
    group_starts,
    grouped_entropy,
    rank_within_groups,
    top_per_group,
)
from dashboard.study.reader import ColumnStore

TOKEN_RANKINGS = ("count", "mass")
TOP_TOKEN_SHARE = 0.1  # token concentration: activation mass on the top 10% of distinct tokens
ALWAYS_ON_SHARE = 0.5  # a cluster or member firing on more than this share of tokens: always on
LUMP_EXCESS = 0.05  # chance-corrected cohesion under this (two members or more): a lump
LABELS = ("always-on", "lump", "stable")  # reliability_labels, in this order
# Every per-cluster measure the list and the cluster page show, in column order, with its label
# (a column of `ClusterAnalyses.clusters`, or an explanation score the list joins to it)
MEASURE_LABELS = {
    "size": "members",
    "firing_frequency": "firing frequency",
    "window_frequency": "window frequency",
    "mean_activation": "mean activation",
    "token_entropy": "token entropy (nats)",
    "token_concentration": "token concentration",
    "distinct_tokens": "distinct tokens",
    "position_entropy": "position entropy",
    "depth_mean": "depth (mean layer)",
    "depth_spread": "depth spread",
    "attention_share": "attention share",
    "module_entropy": "module entropy",
    "top_module_share": "top module share",
    "n_modules": "modules",
    "member_gini": "member Gini",
    "cohesion": "cohesion",
    "cohesion_null": "cohesion if independent",
    "cohesion_ratio": "cohesion / independent",
    "cohesion_excess": "cohesion above chance",
    "always_on_members": "always-on members",
    "stability": "stability (pairs kept together)",
    "detection": "detection (explanation)",
    "detection_baseline": "detection (random explanation)",
    "fuzzing": "fuzzing (explanation)",
    "fuzzing_baseline": "fuzzing (random explanation)",
    "intruder": "intruder (chance 0.2)",
}


@dataclass(frozen=True)
class MeasureInputs:
    """What the measures read from a study."""

    indptr: np.ndarray
    token_index: np.ndarray
    ci: np.ndarray
    token_ids: np.ndarray  # [n_windows, window_length]
    base_count: np.ndarray  # [vocab] count of each token over the harvested windows
    subcomponents: pd.DataFrame  # module, layer, module_kind, firing_frequency
    threshold: float  # harvest threshold: stored CI lies in (threshold, 1]
    bins: int = 20
    token_groups: np.ndarray | None = None  # [vocab] embedding group of each token
    n_token_groups: int = 0

    @property
    def store(self) -> ColumnStore:
        return ColumnStore(self.indptr, self.token_index, self.ci)


@dataclass
class ClusterAnalyses:
    """Tables and `[k, ...]` arrays whose rows follow `clusters["cluster"]` (ascending ids)."""

    clusters: pd.DataFrame
    tokens: pd.DataFrame  # cluster, ranking, rank, token_id, count, mass, base_frequency, pmi
    members: pd.DataFrame  # subcomponent, cluster, mass, share
    coactivation: pd.DataFrame  # cluster, other, rank, count, jaccard
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    # cluster, kind, band, window, offset, activation: the examples pages show (None: a study
    # stored before they were)
    examples: pd.DataFrame | None = None

    def row_of(self, cluster: int) -> int:
        ids = self.clusters["cluster"].to_numpy()
        row = int(np.searchsorted(ids, cluster))
        if row >= len(ids) or ids[row] != cluster:
            raise KeyError(f"cluster {cluster} does not exist at this iteration")
        return row


def histogram_rows(rows: np.ndarray, values: np.ndarray, k: int, edges: np.ndarray) -> np.ndarray:
    bins = len(edges) - 1
    index = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, bins - 1)
    return np.bincount(rows * bins + index, minlength=k * bins).reshape(k, bins)


def window_maxima(
    activity: ClusterActivity, window_length: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per (cluster, window) that fires: (row, max activation, offset of the first maximum)."""
    window = activity.position // window_length
    keys = activity.row.astype(np.int64) * (int(window.max()) + 1 if len(window) else 1) + window
    starts = group_starts(keys)
    if len(starts) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, np.zeros(0, dtype=np.float32), empty
    maxima = np.maximum.reduceat(activity.value, starts)
    group = np.repeat(np.arange(len(starts)), np.diff(np.append(starts, len(keys))))
    candidate = np.where(activity.value == maxima[group], np.arange(len(keys)), len(keys))
    first = np.minimum.reduceat(candidate, starts)
    return activity.row[starts], maxima, activity.position[first] % window_length


def token_table(
    activity: ClusterActivity, flat_tokens: np.ndarray, base_count: np.ndarray, top: int
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Top tokens by count and by mass per cluster, and the token-distribution measures."""
    k, vocab = activity.n_clusters, len(base_count)
    tokens = flat_tokens[activity.position].astype(np.int64)
    keys, inverse = np.unique(activity.row.astype(np.int64) * vocab + tokens, return_inverse=True)
    rows, token_ids = keys // vocab, keys % vocab
    counts = np.bincount(inverse, minlength=len(keys))
    masses = np.bincount(inverse, weights=activity.value, minlength=len(keys))
    firing = activity.firing_counts()
    n_tokens = flat_tokens.size
    base_frequency = base_count[token_ids] / n_tokens
    with np.errstate(divide="ignore"):
        pmi = np.log(counts / firing[rows]) - np.log(base_frequency)
    frames = []
    for ranking, score in zip(TOKEN_RANKINGS, (counts, masses), strict=True):
        chosen = top_per_group(rows, score.astype(np.float64), top)
        frames.append(
            pd.DataFrame(
                {
                    "cluster": activity.clusters[rows[chosen]],
                    "ranking": ranking,
                    "rank": rank_within_groups(rows[chosen]).astype(np.int16),
                    "token_id": token_ids[chosen].astype(np.int32),
                    "count": counts[chosen].astype(np.int64),
                    "mass": masses[chosen],
                    "base_frequency": base_frequency[chosen],
                    "pmi": pmi[chosen],
                }
            )
        )
    by_mass = np.lexsort((-masses, rows))
    distinct = np.bincount(rows, minlength=k)
    top_n = np.ceil(TOP_TOKEN_SHARE * distinct)
    in_top = rank_within_groups(rows[by_mass]) < top_n[rows[by_mass]]
    total_mass = np.bincount(rows, weights=masses, minlength=k)
    top_mass = np.bincount(rows[by_mass][in_top], weights=masses[by_mass][in_top], minlength=k)
    measures = {
        "distinct_tokens": distinct,
        "token_entropy": grouped_entropy(rows, masses, k),
        "token_concentration": np.divide(
            top_mass, total_mass, out=np.zeros(k), where=total_mass > 0
        ),
    }
    return pd.concat(frames, ignore_index=True), measures


def member_table(
    inputs: MeasureInputs, assignments: np.ndarray, clusters: np.ndarray
) -> pd.DataFrame:
    """Every alive member with its CI mass and its share of its cluster's member mass."""
    n_sub = len(inputs.indptr) - 1
    mass = np.bincount(
        entry_owners(inputs.indptr), weights=np.asarray(inputs.ci, np.float32), minlength=n_sub
    )
    members = np.flatnonzero(assignments >= 0)
    cluster = assignments[members]
    totals = np.bincount(np.searchsorted(clusters, cluster), weights=mass[members])
    share = mass[members] / np.maximum(totals[np.searchsorted(clusters, cluster)], 1e-30)
    return pd.DataFrame(
        {
            "subcomponent": members.astype(np.int32),
            "cluster": cluster.astype(np.int32),
            "mass": mass[members],
            "share": share,
        }
    )


def makeup_measures(members: pd.DataFrame, subcomponents: pd.DataFrame, k: int) -> pd.DataFrame:
    """Depth, attention share, module concentration and firing-frequency skew per cluster."""
    row = members["cluster"].rank(method="dense").to_numpy().astype(np.int64) - 1
    share = members["share"].to_numpy()
    info = subcomponents.iloc[members["subcomponent"].to_numpy()]
    layer = info["layer"].to_numpy().astype(np.float64)
    is_attention = info["module"].str.contains("attn").to_numpy()
    depth = np.bincount(row, weights=share * layer, minlength=k)
    spread = np.sqrt(np.bincount(row, weights=share * (layer - depth[row]) ** 2, minlength=k))
    module_codes, module_names = pd.factorize(info["module"])
    per_module = np.bincount(
        row * len(module_names) + module_codes, minlength=k * len(module_names)
    ).reshape(k, len(module_names))
    sizes = per_module.sum(axis=1)
    frequency = info["firing_frequency"].to_numpy()
    order = np.argsort(row, kind="stable")
    starts = np.append(group_starts(row[order]), len(row))
    return pd.DataFrame(
        {
            "size": sizes,
            "depth_mean": depth,
            "depth_spread": spread,
            "attention_share": np.bincount(row, weights=share * is_attention, minlength=k),
            "n_modules": (per_module > 0).sum(axis=1),
            "module_entropy": entropy_rows(per_module.astype(np.float64)),
            "top_module": np.asarray(module_names)[per_module.argmax(axis=1)],
            "top_module_share": per_module.max(axis=1) / np.maximum(sizes, 1),
            "member_gini": [gini(frequency[order[a:b]]) for a, b in itertools.pairwise(starts)],
        }
    )


def coactivation_table(
    activity: ClusterActivity, n_positions: int, top: int, block_rows: int = 1024
) -> pd.DataFrame:
    """The `top` other clusters firing on the most shared tokens, with their Jaccard index.

    Shared counts come from the sparse product of the cluster x token firing matrix with its
    transpose, a block of rows at a time, so memory stays bounded by one block's partners.
    """
    k = activity.n_clusters
    fires = sparse.csr_matrix(
        (np.ones(len(activity.row), dtype=np.float32), (activity.row, activity.position)),
        shape=(k, n_positions),
    )
    by_token = fires.T.tocsr()
    firing = activity.firing_counts()
    frames = []
    for start in range(0, k, block_rows):
        shared = (fires[start : start + block_rows] @ by_token).tocoo()
        a, b = shared.row + start, shared.col
        off_diagonal = a != b
        a, b = a[off_diagonal], b[off_diagonal]
        count = shared.data[off_diagonal].astype(np.int64)
        jaccard = count / (firing[a] + firing[b] - count)
        # equal counts: the partner that fires less has the higher Jaccard index and wins
        tie_break = int(firing.max(initial=0)) + 1
        chosen = top_per_group(a, count * tie_break + (tie_break - 1 - firing[b]), top)
        frames.append(
            pd.DataFrame(
                {
                    "cluster": activity.clusters[a[chosen]],
                    "other": activity.clusters[b[chosen]],
                    "rank": rank_within_groups(a[chosen]).astype(np.int16),
                    "count": count[chosen],
                    "jaccard": jaccard[chosen],
                }
            )
        )
    if not frames:
        return pd.DataFrame(columns=["cluster", "other", "rank", "count", "jaccard"])
    return pd.concat(frames, ignore_index=True)


def independent_cohesion(
    indptr: np.ndarray, assignments: np.ndarray, clusters: np.ndarray, n_tokens: int
) -> pd.DataFrame:
    """Per cluster (rows follow `clusters`): the cohesion its members would have if each fired as
    often as it does, but independently of the others, `Σf / (size · (1 - Π(1 - f)))` (the
    expected member entries over the expected tokens where any member fires), and its members
    that fire on more than `ALWAYS_ON_SHARE` of the tokens."""
    alive = assignments >= 0
    rows = np.searchsorted(clusters, assignments[alive])
    frequency = np.diff(np.asarray(indptr))[alive] / max(n_tokens, 1)
    k = len(clusters)
    size = np.bincount(rows, minlength=k)
    expected_entries = np.bincount(rows, weights=frequency, minlength=k)
    log_all_silent = np.bincount(
        rows, weights=np.log1p(-np.minimum(frequency, 1.0 - 1e-12)), minlength=k
    )
    expected_firing = -np.expm1(log_all_silent)
    return pd.DataFrame(
        {
            "cohesion_null": np.divide(
                expected_entries,
                size * expected_firing,
                out=np.zeros(k),
                where=expected_firing > 0,
            ),
            "always_on_members": np.bincount(
                rows, weights=frequency > ALWAYS_ON_SHARE, minlength=k
            ).astype(np.int64),
        }
    )


def with_cohesion_null(clusters: pd.DataFrame, null: pd.DataFrame) -> pd.DataFrame:
    """`clusters` with the null's columns, `cohesion_ratio` (observed over null cohesion) and
    `cohesion_excess`, chance-corrected cohesion `(observed - null) / (1 - null)`: 0 when the
    members fire together no more than independent ones would, 1 when they always fire together."""
    observed, expected = clusters["cohesion"].to_numpy(), null["cohesion_null"].to_numpy()
    ratio = np.divide(observed, expected, out=np.zeros(len(null)), where=expected > 0)
    # one member: observed and null are both 1 (up to rounding), and nothing is above chance
    several = (clusters["size"].to_numpy() >= 2) & (expected < 1.0)
    excess = np.divide(observed - expected, 1.0 - expected, out=np.zeros(len(null)), where=several)
    return clusters.assign(
        **{name: null[name].to_numpy() for name in null},
        cohesion_ratio=ratio,
        cohesion_excess=excess,
    )


def reliability_labels(clusters: pd.DataFrame) -> pd.Series:
    """Per cluster, those that hold of: "always-on" (it fires on more than `ALWAYS_ON_SHARE` of
    the tokens), "lump" (two members or more whose chance-corrected cohesion is under
    `LUMP_EXCESS`: they fire together hardly more than independent subcomponents would) and
    "stable" (an ensemble of clusterings keeps at least `STABLE` of its member pairs together),
    joined by ", "; or ""."""
    always_on = clusters["firing_frequency"].to_numpy() > ALWAYS_ON_SHARE
    lump = (clusters["size"].to_numpy() >= 2) & (
        clusters["cohesion_excess"].to_numpy() < LUMP_EXCESS
    )
    stable = clusters["stability"].to_numpy() >= STABLE  # NaN (not measured): not stable
    labels = [
        ", ".join(name for name, holds in zip(LABELS, flags, strict=True) if holds)
        for flags in zip(always_on, lump, stable, strict=True)
    ]
    return pd.Series(labels, index=clusters.index, dtype=object)


def analyse_clusters(
    inputs: MeasureInputs,
    assignments: np.ndarray,
    top_tokens: int = 10,
    top_related: int = 10,
    ensemble: np.ndarray | None = None,
) -> ClusterAnalyses:
    """All measures of every cluster of one assignment (cluster id per subcomponent, -1 dead);
    with an `ensemble` of clusterings ([runs, subcomponents]), their stability across it."""
    activity = cluster_activity(inputs.store, assignments)
    k = activity.n_clusters
    n_windows, length = inputs.token_ids.shape
    n_tokens = n_windows * length
    flat_tokens = np.asarray(inputs.token_ids).reshape(-1)
    firing = activity.firing_counts()
    edges = np.linspace(inputs.threshold, 1.0, inputs.bins + 1)
    window_rows, window_max, argmax_offset = window_maxima(activity, length)
    offsets = activity.position % length
    position_mass = np.bincount(
        activity.row * length + offsets, weights=activity.value, minlength=k * length
    ).reshape(k, length)
    arrays = {
        "ci_histogram": histogram_rows(activity.row, activity.value, k, edges),
        "window_max_histogram": histogram_rows(window_rows, window_max, k, edges),
        "position_mass": position_mass,
        "argmax_position": np.bincount(
            window_rows * length + argmax_offset, minlength=k * length
        ).reshape(k, length),
    }
    if inputs.token_groups is not None:
        groups = inputs.token_groups[flat_tokens[activity.position]].astype(np.int64)
        g = inputs.n_token_groups
        arrays["token_group_histogram"] = np.bincount(
            activity.row * g + groups, minlength=k * g
        ).reshape(k, g)
    tokens, token_measures = token_table(activity, flat_tokens, inputs.base_count, top_tokens)
    members = member_table(inputs, assignments, activity.clusters)
    makeup = makeup_measures(members, inputs.subcomponents, k)
    mass = np.bincount(activity.row, weights=activity.value, minlength=k)
    windows_fired = np.bincount(window_rows, minlength=k)
    clusters = pd.DataFrame(
        {
            "cluster": activity.clusters,
            "size": makeup["size"].to_numpy(),
            "firing_frequency": firing / n_tokens,
            "window_frequency": windows_fired / n_windows,
            "mean_activation": np.divide(mass, firing, out=np.zeros(k), where=firing > 0),
            "position_entropy": entropy_rows(position_mass) / np.log(max(length, 2)),
            "argmax_entropy": entropy_rows(arrays["argmax_position"].astype(np.float64))
            / np.log(max(length, 2)),
            **token_measures,
            # mean share of members active where the cluster fires: 1 = they always fire together
            "cohesion": np.divide(
                activity.member_entries,
                firing * makeup["size"].to_numpy().astype(np.float64),
                out=np.zeros(k),
                where=firing > 0,
            ),
            **{name: makeup[name].to_numpy() for name in makeup.columns if name != "size"},
        }
    )
    clusters = with_cohesion_null(
        clusters, independent_cohesion(inputs.indptr, assignments, activity.clusters, n_tokens)
    )
    stability = None if ensemble is None else co_clustering(assignments, ensemble)
    clusters, members = with_stability(clusters, members, stability)
    return ClusterAnalyses(
        clusters=clusters,
        tokens=tokens,
        members=members,
        coactivation=coactivation_table(activity, n_tokens, top_related),
        arrays=arrays,
        examples=example_table(
            activity.clusters, activity.row, activity.position, activity.value, length
        ),
    )


def makeup_matrix(subcomponents: pd.DataFrame, members: np.ndarray) -> pd.DataFrame:
    """Members per layer (rows) and module kind (columns) of one cluster."""
    info = subcomponents.iloc[np.asarray(members)]
    return pd.crosstab(info["layer"], info["module_kind"]).rename_axis(
        index="layer", columns="module kind"
    )


def member_coactivation(indptr: np.ndarray, token_index: np.ndarray, members: np.ndarray):
    """`[m, m]` tokens on which both members fire (diagonal: each member's own count)."""
    columns = [np.asarray(token_index[indptr[m] : indptr[m + 1]]) for m in members]
    rows = np.repeat(np.arange(len(members)), [len(c) for c in columns])
    positions = np.concatenate(columns) if columns else np.zeros(0, dtype=np.int64)
    fires = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, positions)),
        shape=(len(members), int(positions.max(initial=0)) + 1),
    )
    return (fires @ fires.T).toarray().astype(np.int64)
