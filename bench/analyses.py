"""All per-cluster analyses at 2k and 20k clusters, against a one-cluster-at-a-time loop; and the
lens decodings, batched on a torch device (CUDA when present), against numpy.

Prints one JSON line per cluster count (measures, map, baseline loop, ratio) and one per lens
decoding run. Run: python -m bench.analyses [--clusters 2000 20000] [--tokens 1000000] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import numpy as np
import pandas as pd

from bench.cluster import structured_store
from bench.smoke import parse_arguments
from dashboard.analysis.cluster_map import cluster_map
from dashboard.analysis.lens_decode import decode_clusters
from dashboard.analysis.lenses import LENSES
from dashboard.analysis.measures import MeasureInputs, analyse_clusters

WINDOW = 128
VOCAB = 4096
SUBCOMPONENTS_PER_CLUSTER = 5
KINDS = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
         "mlp.gate_proj", "mlp.up_proj", "mlp.down_proj")  # fmt: skip
LAYERS = 4
LOOP_SAMPLE = 200


def synthetic_inputs(n_subcomponents: int, n_tokens: int, seed: int = 0) -> MeasureInputs:
    rng = np.random.default_rng(seed)
    n_tokens -= n_tokens % WINDOW  # whole windows
    store = structured_store(n_subcomponents, n_tokens, seed)
    token_ids = (rng.zipf(1.3, size=n_tokens) % VOCAB).astype(np.int32).reshape(-1, WINDOW)
    module_index = np.arange(n_subcomponents) % (LAYERS * len(KINDS))
    layers, kinds = np.divmod(module_index, len(KINDS))
    modules = [
        f"model.layers.{layer}.{KINDS[kind]}" for layer, kind in zip(layers, kinds, strict=True)
    ]
    subcomponents = pd.DataFrame(
        {
            "module": modules,
            "layer": layers.astype(np.int32),
            "module_kind": [KINDS[kind] for kind in kinds],
            "firing_frequency": np.diff(store.indptr) / n_tokens,
        }
    )
    return MeasureInputs(
        indptr=store.indptr,
        token_index=store.token_index,
        ci=store.ci,
        token_ids=token_ids,
        base_count=np.bincount(token_ids.ravel(), minlength=VOCAB),
        subcomponents=subcomponents,
        threshold=0.1,
        token_groups=rng.integers(0, 64, size=VOCAB),
        n_token_groups=64,
    )


def single_cluster_inputs(inputs: MeasureInputs, members: np.ndarray) -> MeasureInputs:
    """The inputs restricted to one cluster's members: what an on-demand page would read."""
    spans = [slice(inputs.indptr[m], inputs.indptr[m + 1]) for m in members]
    counts = [span.stop - span.start for span in spans]
    return dataclasses.replace(
        inputs,
        indptr=np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
        token_index=np.concatenate([inputs.token_index[span] for span in spans]),
        ci=np.concatenate([inputs.ci[span] for span in spans]),
        subcomponents=inputs.subcomponents.iloc[members].reset_index(drop=True),
    )


def one_cluster_at_a_time(inputs: MeasureInputs, assignments: np.ndarray, sample: int) -> float:
    """Seconds per cluster when the same measures are computed cluster by cluster."""
    clusters = np.unique(assignments)[:sample]
    members_of = pd.Series(np.arange(len(assignments))).groupby(assignments).apply(np.asarray)
    started = time.perf_counter()
    for cluster in clusters:
        members = members_of[cluster]
        analyse_clusters(
            single_cluster_inputs(inputs, members), np.zeros(len(members), dtype=np.int32)
        )
    return (time.perf_counter() - started) / len(clusters)


def warm_umap() -> None:
    """UMAP compiles its numba kernels on first use; pay that before timing (once a process)."""
    from dashboard.analysis.cluster_map import embed

    embed(np.random.default_rng(0).normal(size=(200, 8)), 3, seed=0)
    embed(np.random.default_rng(0).normal(size=(200, 8)), 2, seed=0)


def bench_measures(n_clusters: int, n_tokens: int) -> tuple[dict, MeasureInputs, object]:
    n_subcomponents = n_clusters * SUBCOMPONENTS_PER_CLUSTER
    inputs = synthetic_inputs(n_subcomponents, n_tokens)
    n_tokens = inputs.token_ids.size
    assignments = np.random.default_rng(1).permutation(n_subcomponents) % n_clusters
    started = time.perf_counter()
    analyses = analyse_clusters(inputs, assignments.astype(np.int32))
    measures_s = time.perf_counter() - started
    started = time.perf_counter()
    warm_umap()
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    cluster_map(analyses.clusters, analyses.members, inputs.subcomponents, analyses.arrays)
    map_s = time.perf_counter() - started
    per_cluster = one_cluster_at_a_time(inputs, assignments, LOOP_SAMPLE)
    loop_s = per_cluster * n_clusters
    figures = {
        "bench": "analyses",
        "clusters": n_clusters,
        "subcomponents": n_subcomponents,
        "tokens": n_tokens,
        "stored_entries": int(inputs.indptr[-1]),
        "all_measures_s": round(measures_s, 2),
        "umap_3d_and_2d_s": round(map_s, 2),
        "umap_first_use_compile_s": round(compile_s, 2),
        "baseline_loop_s": round(loop_s, 2),
        "baseline": f"the same measures one cluster at a time, timed on {LOOP_SAMPLE} clusters",
        "ratio_loop_over_vectorized": round(loop_s / measures_s, 2),
    }
    return figures, inputs, analyses


def bench_lens_decodings(analyses, n_clusters: int, d_model: int, vocab: int) -> dict:
    """decode_clusters with the numpy scorer and with the torch-device scorer."""
    import torch

    from dashboard.pipeline.lens_scoring import device_scorer

    rng = np.random.default_rng(2)
    members = analyses.members
    n_subcomponents = int(members["subcomponent"].max()) + 1
    matrices = {
        "logit": rng.normal(size=(d_model, vocab)).astype(np.float16),
        "embedding": rng.normal(size=(vocab, d_model)).astype(np.float16),
        "tuned_weights": (rng.normal(size=(LAYERS, d_model, d_model)) * 0.01).astype(np.float32),
        "sae_points": np.arange(LAYERS + 1, dtype=np.int32),
        "sae_decoder": rng.normal(size=(LAYERS + 1, 8 * d_model, d_model)).astype(np.float32),
    }
    directions = {
        side: rng.normal(size=(n_subcomponents, d_model)).astype(np.float32)
        for side in ("read", "write")
    }
    points = {
        "read": np.arange(n_subcomponents) % LAYERS,
        "write": np.arange(n_subcomponents) % LAYERS + 1,
    }
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    timings = {}
    for name, scorer in (
        ("numpy", None),
        (f"torch_{device.type}", device_scorer(matrices, device)),
    ):
        started = time.perf_counter()
        if scorer is None:
            decode_clusters(matrices, directions, points, members, 10)
        else:
            decode_clusters(matrices, directions, points, members, 10, scorer)
        timings[name] = time.perf_counter() - started
    numpy_s, device_s = timings["numpy"], timings[f"torch_{device.type}"]
    return {
        "bench": "lens_decodings",
        "clusters": n_clusters,
        "d_model": d_model,
        "vocab": vocab,
        "lenses": len(LENSES),
        "sides": 2,
        "device": device.type,
        "numpy_s": round(numpy_s, 2),
        f"torch_{device.type}_s": round(device_s, 2),
        "ratio_numpy_over_device": round(numpy_s / device_s, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clusters", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--lens-clusters", type=int, default=2000, help="largest count decoded")
    parser.add_argument("--d-model", type=int, default=576, help="SmolLM2-135M's width")
    parser.add_argument("--vocab", type=int, default=49152, help="SmolLM2-135M's vocabulary")
    args = parse_arguments(
        parser,
        {"clusters": [40], "tokens": 20_000, "lens_clusters": 40, "d_model": 32, "vocab": 512},
    )
    for n_clusters in args.clusters:
        figures, _, analyses = bench_measures(n_clusters, args.tokens)
        print(json.dumps(figures), flush=True)
        if n_clusters <= args.lens_clusters:
            print(
                json.dumps(bench_lens_decodings(analyses, n_clusters, args.d_model, args.vocab)),
                flush=True,
            )


if __name__ == "__main__":
    main()
