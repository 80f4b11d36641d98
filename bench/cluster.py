"""Merging to the end at 2k, 5k, 10k and 20k alive subcomponents over 2M tokens of sparse,
structured activations; the stability ensemble (`pipeline/stability.py`: 4 runs on disjoint
window subsets) at 5,000 subcomponents over 500k tokens against the one clustering of all of them
that a build runs anyway; and, at 600, 2,000 and 5,000 alive subcomponents, the speed-up over the
merge loop as goodfire-ai/spd runs it (bool mask, float32 torch), both for the same merges,
checking that both merge the same pairs (and, where float32 picks another pair among near-equal
costs, that spd's loop in float64 agrees with ours).

Each size runs in its own process so its peak memory (ru_maxrss) is its own. Prints one JSON line
per size: n_components, n_tokens, seconds, peak_gb; one for the ensemble; then one line per
compared size.
Run: python -m bench.cluster [--sizes 2000 5000 10000 20000] [--tokens 2000000]
     [--stability-size 5000] [--stability-tokens 500000]
     [--reference-sizes 600 2000 5000] [--reference-merges 300] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time

import numpy as np
import torch

from bench.smoke import parse_arguments
from dashboard.analysis.stability import co_clustering
from dashboard.pipeline.clustering import ClusteringConfig, binarised_columns, merge_to_the_end
from dashboard.pipeline.sparse_store import ColumnStore
from dashboard.pipeline.stability import cluster_share, ensemble_assignments
from dashboard.study.clusters import assignments_at

ACTIVE_PER_TOKEN = 24  # mean number of subcomponents above threshold per token
WINDOW = 128  # tokens per window, for the ensemble's window subsets


def structured_store(n_components: int, n_tokens: int, seed: int = 0) -> ColumnStore:
    """Subcomponents grouped into features; each token turns on a few features, plus noise."""
    rng = np.random.default_rng(seed)
    n_features = max(8, n_components // 8)
    feature_of = rng.integers(0, n_features, size=n_components)
    members = [np.flatnonzero(feature_of == f) for f in range(n_features)]
    features_per_token = max(1, ACTIVE_PER_TOKEN // 10)
    popularity = rng.zipf(1.5, size=n_features).astype(np.float64)
    popularity /= popularity.sum()
    drawn = rng.choice(n_features, size=(n_tokens, features_per_token), p=popularity)
    token_ids, component_ids = [], []
    for column in range(features_per_token):
        for feature in range(n_features):
            tokens = np.flatnonzero(drawn[:, column] == feature)
            if len(tokens) == 0 or len(members[feature]) == 0:
                continue
            keep = rng.random((len(tokens), len(members[feature]))) < 0.7
            t, m = np.nonzero(keep)
            token_ids.append(tokens[t])
            component_ids.append(members[feature][m])
    noise = n_tokens * (ACTIVE_PER_TOKEN // 4)
    token_ids.append(rng.integers(0, n_tokens, size=noise))
    component_ids.append(rng.integers(0, n_components, size=noise))
    tokens = np.concatenate(token_ids).astype(np.int64)
    components = np.concatenate(component_ids).astype(np.int64)
    keys = np.unique(components * n_tokens + tokens)
    components, tokens = np.divmod(keys, n_tokens)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(components, minlength=n_components))])
    values = rng.uniform(0.2, 1.0, size=len(tokens)).astype(np.float16)
    return ColumnStore(indptr.astype(np.int64), tokens.astype(np.int32), values)


def spd_style_merges(
    mask: torch.Tensor, alpha: float, merges: int, dtype: torch.dtype = torch.float32
) -> list[tuple[int, int]]:
    """The merge loop as goodfire-ai/spd runs it (`merge_iteration`, deterministic pair
    choice): a `[tokens, groups]` bool mask and a float32 coactivation matrix in torch; each
    merge computes the full cost matrix, ORs the pair's columns, multiplies the group into the
    mask (as float), and copies the coactivation matrix and the mask without the removed group.
    Ties go to the lowest pair, as in ours. `dtype` float64: the same loop, exact enough to
    check where float32 picks another pair among near-equal costs."""
    n_tokens = mask.shape[0]
    coact = mask.to(dtype).T @ mask.to(dtype)
    ranks = torch.ones(mask.shape[1], dtype=dtype)
    ids = list(range(mask.shape[1]))
    chosen = []
    for _ in range(merges):
        k = coact.shape[0]
        if k < 2:
            break
        normalised = coact / n_tokens
        s = torch.diag(normalised)
        coact_or = s[:, None] + s[None, :] - normalised
        s_other = (s.sum() - s[:, None] - s[None, :]) * math.log2((k - 1) / k)
        bits = coact_or * math.log2(k - 1) - (s[:, None] + s[None, :]) * math.log2(k)
        penalty = coact_or * (ranks[:, None] + ranks[None, :]) - (s * ranks)[:, None]
        penalty = penalty - (s * ranks)[None, :]
        costs = s_other + bits + alpha * penalty
        costs.masked_fill_(~torch.ones(k, k, dtype=torch.bool).triu_(1), float("inf"))
        best = int(torch.argmin(costs))  # row-major: the lowest (i, j) among ties
        i, j = divmod(best, k)
        chosen.append((ids[i], ids[j]))
        group = mask[:, i] | mask[:, j]
        row = group.to(dtype) @ mask.to(dtype)
        coact = coact.clone()
        coact[i, :], coact[:, i] = row, row
        coact[i, i] = group.to(dtype).sum()
        keep = torch.ones(k, dtype=torch.bool)
        keep[j] = False
        coact = coact[keep][:, keep]
        mask = mask.clone()
        mask[:, i] = group
        mask = mask[:, keep]
        ranks[i] += ranks[j]
        ranks = ranks[keep]
        del ids[j]
    return chosen


def bool_mask(store: ColumnStore, n_tokens: int, threshold: float) -> torch.Tensor:
    """The alive columns of the store as spd keeps them: `[tokens, alive]` bool."""
    alive, matrix = binarised_columns(store, threshold, n_tokens)
    del alive
    return torch.from_numpy(matrix.toarray() > 0)


def run_size(n_components: int, n_tokens: int) -> dict:
    store = structured_store(n_components, n_tokens)
    start = time.perf_counter()
    result = merge_to_the_end(store, n_tokens, ClusteringConfig(activation_threshold=0.1))
    seconds = time.perf_counter() - start
    return {
        "benchmark": "cluster.merge_to_the_end",
        "n_components": int((result.initial_groups >= 0).sum()),
        "n_tokens": n_tokens,
        "stored_activations": int(store.indptr[-1]),
        "merges": len(result.merges),
        "seconds": round(seconds, 2),
        "peak_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 3),
    }


def stability_ensemble(n_components: int, n_tokens: int, runs: int = 4) -> dict:
    """The build's stability ensemble against its one clustering of every token (to the end;
    the ensemble's runs stop at the clustering's clusters per subcomponent, at its lowest MDL)."""
    store = structured_store(n_components, n_tokens)
    config = ClusteringConfig(activation_threshold=0.1)
    start = time.perf_counter()
    full = merge_to_the_end(store, n_tokens, config)
    full_seconds = time.perf_counter() - start
    start = time.perf_counter()
    ensemble = ensemble_assignments(store, n_tokens, WINDOW, config, runs, cluster_share(full))
    ensemble_seconds = time.perf_counter() - start
    assignments = assignments_at(full.initial_groups, full.merges, full.default_iteration)
    stability = co_clustering(assignments, ensemble).clusters
    return {
        "benchmark": "cluster.stability_ensemble",
        "n_components": int((full.initial_groups >= 0).sum()),
        "n_tokens": n_tokens,
        "runs": runs,
        "seconds": round(ensemble_seconds, 2),
        "baseline_full_clustering_seconds": round(full_seconds, 2),
        "ratio": round(ensemble_seconds / full_seconds, 2),
        "median_stability": round(float(np.nanmedian(stability)), 3),
    }


def compare(n_components: int, n_tokens: int, merges: int) -> dict:
    """Both loops over the same store, for the same number of merges: seconds, and whether they
    merge the same pairs in the same order."""
    store = structured_store(n_components, n_tokens)
    config = ClusteringConfig(activation_threshold=0.1)
    start = time.perf_counter()
    ours = merge_to_the_end(store, n_tokens, config, stop_after=merges)
    ours_seconds = time.perf_counter() - start
    mask = bool_mask(store, n_tokens, config.activation_threshold)
    start = time.perf_counter()
    theirs = spd_style_merges(mask, config.alpha, len(ours.merges))
    theirs_seconds = time.perf_counter() - start
    pairs = list(zip(ours.merges.group_a.tolist(), ours.merges.group_b.tolist(), strict=True))
    same = next((n for n, (a, b) in enumerate(zip(pairs, theirs, strict=True)) if a != b), None)
    checked = len(pairs) if same is None else same + 1
    exact = spd_style_merges(mask, config.alpha, checked, torch.float64)  # not timed
    return {
        "benchmark": "cluster.versus_spd_loop",
        "alive_subcomponents": int(mask.shape[1]),
        "n_tokens": n_tokens,
        "merges": len(pairs),
        "seconds": round(ours_seconds, 2),
        "baseline_spd_seconds": round(theirs_seconds, 2),
        "ratio": round(theirs_seconds / ours_seconds, 2),
        "same_merge_sequence": same is None,
        "merges_before_first_difference": len(pairs) if same is None else same,
        # spd's loop in float64 over the same merges, through the first difference if any
        "float64_spd_loop_agrees": exact == pairs[:checked],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--stability-size", type=int, default=5000)
    parser.add_argument("--stability-tokens", type=int, default=500_000)
    parser.add_argument("--reference-sizes", type=int, nargs="+", default=[600, 2000, 5000])
    parser.add_argument("--reference-tokens", type=int, default=50_000)
    parser.add_argument(
        "--reference-merges", type=int, default=300, help="per size, both loops (spd: iters)"
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parse_arguments(
        parser,
        {
            "sizes": [200],
            "tokens": 20_000,
            "stability_size": 200,
            "stability_tokens": 20_000,
            "reference_sizes": [100],
            "reference_tokens": 5000,
            "reference_merges": 60,
        },
    )
    if args.one:
        print(json.dumps(run_size(args.one, args.tokens)), flush=True)
        return
    for size in args.sizes:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.cluster",
                "--one",
                str(size),
                "--tokens",
                str(args.tokens),
            ],
            check=True,
        )
    print(json.dumps(stability_ensemble(args.stability_size, args.stability_tokens)), flush=True)
    for size in args.reference_sizes:
        figures = compare(size, args.reference_tokens, args.reference_merges)
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
