"""Merging to the end at 2k, 5k, 10k and 20k alive subcomponents over 2M tokens of sparse,
structured activations, and the speed-up over a dense spd-style loop where that can run.

Each size runs in its own process so its peak memory (ru_maxrss) is its own. Prints one JSON line
per size: n_components, n_tokens, seconds, peak_gb; then one line comparing both loops.
Run: python -m bench.cluster [--sizes 2000 5000 10000 20000] [--tokens 2000000] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from bench.smoke import parse_arguments
from dashboard.pipeline.clustering import ClusteringConfig, merge_to_the_end
from dashboard.pipeline.sparse_store import ColumnStore

ACTIVE_PER_TOKEN = 24  # mean number of subcomponents above threshold per token


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


def dense_reference_seconds(store: ColumnStore, n_tokens: int) -> float:
    """spd's loop: a dense cost matrix and a dense coactivation product per merge."""
    from tests.pipeline.test_clustering import spd_reference_merges

    mask = np.zeros((n_tokens, len(store.indptr) - 1), dtype=bool)
    for column in range(mask.shape[1]):
        mask[store.column(column)[0], column] = True
    start = time.perf_counter()
    spd_reference_merges(mask[:, mask.any(0)], alpha=1.0)
    return time.perf_counter() - start


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


def compare(n_components: int, n_tokens: int) -> dict:
    store = structured_store(n_components, n_tokens)
    start = time.perf_counter()
    merge_to_the_end(store, n_tokens, ClusteringConfig(activation_threshold=0.1))
    ours = time.perf_counter() - start
    reference = dense_reference_seconds(store, n_tokens)
    return {
        "benchmark": "cluster.versus_dense_reference",
        "n_components": n_components,
        "n_tokens": n_tokens,
        "seconds": round(ours, 2),
        "baseline_dense_seconds": round(reference, 2),
        "ratio": round(reference / ours, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000, 10000, 20000])
    parser.add_argument("--tokens", type=int, default=2_000_000)
    parser.add_argument("--reference-size", type=int, default=600)
    parser.add_argument("--reference-tokens", type=int, default=100_000)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parse_arguments(
        parser,
        {"sizes": [200], "tokens": 20_000, "reference_size": 100, "reference_tokens": 5000},
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
    print(json.dumps(compare(args.reference_size, args.reference_tokens)), flush=True)


if __name__ == "__main__":
    main()
