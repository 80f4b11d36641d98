"""Small studies in the format, made from seeded random numbers, for format and page tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dashboard.study import StudyWriter
from dashboard.study.provenance import sha256_json

MODULES = ("layers.0.attn.q_proj", "layers.0.mlp.down_proj", "layers.1.mlp.up_proj")


# A cluster of the default random study at its last iteration: the one its merge 1 forms (its
# 22 initial groups are clusters 0-21, so merge k forms cluster 22 + k), of 2 members.
A_MERGED_CLUSTER = 23


def write_random_study(
    destination: Path,
    subcomponents_per_module: int = 8,
    n_windows: int = 12,
    window_length: int = 16,
    vocab_size: int = 40,
    n_merges: int = 10,
    seed: int = 0,
    overwrite: bool = False,
) -> Path:
    rng = np.random.default_rng(seed)
    labels, modules, indices, layers, kinds = [], [], [], [], []
    for module in MODULES:
        for index in range(subcomponents_per_module):
            labels.append(f"{module}:{index}")
            modules.append(module)
            indices.append(index)
            layers.append(int(module.split(".")[1]))
            kinds.append(module.split(".", 2)[2])
    n_sub = len(labels)
    n_tokens = n_windows * window_length
    token_ids = rng.integers(0, vocab_size, size=(n_windows, window_length), dtype=np.int32)

    counts = rng.integers(0, n_tokens // 4, size=n_sub)
    counts[-2:] = 0  # two dead subcomponents
    positions = [np.sort(rng.choice(n_tokens, size=count, replace=False)) for count in counts]
    values = [rng.uniform(0.05, 1.0, size=count).astype(np.float16) for count in counts]
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)

    alive = counts > 0
    initial_groups = np.full(n_sub, -1, dtype=np.int32)
    initial_groups[alive] = np.arange(alive.sum(), dtype=np.int32)
    roots = list(range(int(alive.sum())))
    merges = []
    for iteration in range(min(n_merges, len(roots) - 1)):
        a, b = sorted(rng.choice(roots, size=2, replace=False).tolist())
        roots.remove(b)
        merges.append((iteration, a, b, float(rng.normal()), len(roots)))

    subcomponents = pd.DataFrame(
        {
            "label": labels,
            "module": modules,
            "index": np.array(indices, dtype=np.int32),
            "layer": np.array(layers, dtype=np.int32),
            "module_kind": kinds,
            "firing_frequency": (counts / n_tokens).astype(np.float32),
            "mean_ci": np.array([v.mean() if len(v) else 0 for v in values], dtype=np.float32),
            "max_ci": np.array([v.max() if len(v) else 0 for v in values], dtype=np.float32),
        }
    )
    vocab = pd.DataFrame(
        {
            "token_id": np.arange(vocab_size, dtype=np.int32),
            "token": [f"<b>tok{i}</b>" if i == 0 else f" tok{i}" for i in range(vocab_size)],
            "base_count": np.bincount(token_ids.ravel(), minlength=vocab_size).astype(np.int64),
        }
    )
    merge_table = pd.DataFrame(
        merges, columns=["iteration", "group_a", "group_b", "cost", "k_groups"]
    ).astype({"iteration": "int32", "group_a": "int32", "group_b": "int32", "k_groups": "int32"})
    provenance = {
        key: sha256_json([key, seed])
        for key in ("target_model", "decomposition", "dataset", "clustering_config")
    }
    with StudyWriter(
        destination,
        name=f"random-{seed}",
        provenance=provenance,
        default_iteration=len(merges),
        overwrite=overwrite,
    ) as writer:
        writer.write_table("subcomponents.parquet", subcomponents)
        writer.write_table("vocab.parquet", vocab)
        writer.write_array("windows/token_ids.npy", token_ids)
        writer.write_array("activations/indptr.npy", indptr)
        writer.write_array(
            "activations/token_index.npy", np.concatenate(positions).astype(np.int32)
        )
        writer.write_array("activations/ci.npy", np.concatenate(values).astype(np.float16))
        writer.write_array("clustering/initial_groups.npy", initial_groups)
        writer.write_table("clustering/merges.parquet", merge_table)
    return Path(destination)
