"""Server time of the dashboard on a generated study of 20,000 clusters and 100,000
subcomponents, and the 3D map's payload at 100,000 points.

The pages' own layout and callback functions run in-process inside a Flask request context,
with the embedded cache. Baselines in the same process: a cluster page's first view (cold) vs
its repeat views (warm), and the map sent as Python lists vs typed arrays.
Run: python -m bench.app [--subcomponents 100000] [--clusters 20000] [--tokens 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analyses import synthetic_inputs
from dashboard.analysis.measures import analyse_clusters
from dashboard.analysis.study_analyses import write_cluster_analyses
from dashboard.study import StudyWriter
from dashboard.study.clusters import assignments_at

REPEATS = 20


def random_merges(n_groups: int, n_clusters: int, seed: int = 0) -> pd.DataFrame:
    """Merge random pairs of current groups until `n_clusters` remain."""
    rng = np.random.default_rng(seed)
    alive = list(range(n_groups))
    rows = []
    for iteration in range(n_groups - n_clusters):
        i, j = sorted(rng.choice(len(alive), size=2, replace=False))
        a, b = alive[i], alive[j]
        a, b = min(a, b), max(a, b)
        alive[j] = alive[-1]
        alive.pop()
        if alive[i] != a and i < len(alive):
            alive[i] = a
        rows.append((iteration, a, b, float(rng.random()), len(alive)))
    return pd.DataFrame(rows, columns=["iteration", "group_a", "group_b", "cost", "k_groups"])


def generated_study(path: Path, n_subcomponents: int, n_clusters: int, n_tokens: int) -> Path:
    inputs = synthetic_inputs(n_subcomponents, n_tokens)
    initial = np.arange(n_subcomponents, dtype=np.int32)
    merges = random_merges(n_subcomponents, n_clusters).astype(
        {"iteration": np.int32, "group_a": np.int32, "group_b": np.int32, "k_groups": np.int32}
    )
    iteration = len(merges)
    analyses = analyse_clusters(inputs, assignments_at(initial, merges, iteration))
    subcomponents = inputs.subcomponents.assign(
        label=[f"{m}:{i}" for i, m in enumerate(inputs.subcomponents["module"])],
        index=np.arange(n_subcomponents, dtype=np.int32),
        mean_ci=np.float32(0.5),
        max_ci=np.float32(1.0),
        firing_frequency=inputs.subcomponents["firing_frequency"].astype(np.float32),
    )
    vocab = pd.DataFrame(
        {
            "token_id": np.arange(len(inputs.base_count), dtype=np.int32),
            "token": [f"t{i}" for i in range(len(inputs.base_count))],
            "base_count": inputs.base_count.astype(np.int64),
        }
    )
    rng = np.random.default_rng(3)
    coordinates = rng.normal(size=(n_clusters, 5))
    provenance = {
        key: "0" * 64 for key in ("target_model", "decomposition", "dataset", "clustering_config")
    }
    with StudyWriter(path, "bench-20k", provenance, default_iteration=iteration) as writer:
        writer.write_table("subcomponents.parquet", subcomponents)
        writer.write_table("vocab.parquet", vocab)
        writer.write_array("windows/token_ids.npy", inputs.token_ids)
        writer.write_array("activations/indptr.npy", inputs.indptr)
        writer.write_array("activations/token_index.npy", inputs.token_index)
        writer.write_array("activations/ci.npy", inputs.ci)
        writer.write_array("clustering/initial_groups.npy", initial)
        writer.write_table("clustering/merges.parquet", merges)
        write_cluster_analyses(writer.write_table, writer.write_array, analyses)
        writer.write_table(
            "analyses/map.parquet",
            pd.DataFrame(
                {
                    "cluster": analyses.clusters["cluster"].to_numpy(np.int32),
                    **dict(zip(("x", "y", "z", "x2", "y2"), coordinates.T, strict=True)),
                }
            ),
        )
        writer.settings = {"harvest": {"threshold": 0.1}, "analyses": {"iteration": iteration}}
    return path


def timed(function, *args) -> float:
    started = time.perf_counter()
    function(*args)
    return time.perf_counter() - started


def percentiles(seconds: list[float]) -> dict:
    values = np.asarray(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 1),
        "p95_ms": round(float(np.percentile(values, 95)), 1),
    }


def map_payload_bytes(n_points: int) -> tuple[int, int]:
    """The map figure at `n_points` as the app sends it, and as a plain figure of Python lists
    (float coordinates and colour, `[id, size, top tokens]` customdata) would be sent."""
    import plotly.graph_objects as go
    from plotly.io.json import to_json_plotly

    from dashboard.components.map_figure import map_figure

    rng = np.random.default_rng(0)
    coordinates = pd.DataFrame(rng.normal(size=(n_points, 3)), columns=["x", "y", "z"])
    table = pd.DataFrame(
        {
            "cluster": np.arange(n_points),
            "size": rng.integers(1, 50, n_points),
            "top_tokens": [f"' tok{i % 997}' ' tok{i % 13}'" for i in range(n_points)],
            "firing_frequency": rng.random(n_points),
        }
    )
    sent = len(to_json_plotly(map_figure(coordinates, table, "firing_frequency", "frequency")))
    plain = go.Figure(
        go.Scatter3d(
            x=coordinates["x"].tolist(),
            y=coordinates["y"].tolist(),
            z=coordinates["z"].tolist(),
            mode="markers",
            marker={"color": table["firing_frequency"].tolist()},
            customdata=table[["cluster", "size", "top_tokens"]].values.tolist(),
            hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>%{customdata[2]}",
        )
    )
    return sent, len(to_json_plotly(plain))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subcomponents", type=int, default=100_000)
    parser.add_argument("--clusters", type=int, default=20_000)
    parser.add_argument("--tokens", type=int, default=200_000)
    parser.add_argument("--map-points", type=int, default=100_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    started = time.perf_counter()
    study_path = generated_study(work / "study", args.subcomponents, args.clusters, args.tokens)
    generate_s = time.perf_counter() - started
    os.environ.update({"ATLAS_DATA_DIR": str(work), "ATLAS_STUDY": str(study_path)})

    import app as atlas
    from callbacks import cluster as cluster_callbacks
    from callbacks import clusters as list_callbacks
    from dashboard.app_state import current_study
    from dashboard.pages import cluster as cluster_page
    from dashboard.pages import clusters as list_page

    study = current_study().study
    state = list_page.query_state(study, {})
    request = {
        "startRow": 0,
        "endRow": 100,
        "sortModel": [{"colId": "size", "sort": "desc"}],
        "filterModel": {},
    }
    filtered = {
        "startRow": 0,
        "endRow": 100,
        "sortModel": [{"colId": "token_entropy", "sort": "asc"}],
        "filterModel": {
            "modules": {"filterType": "text", "type": "contains", "filter": "*mlp*&!*q_proj*"},
            "firing_frequency": {"filterType": "text", "type": "contains", "filter": ">0.01"},
        },
    }
    clusters = study.table("analyses/clusters.parquet")["cluster"].to_numpy()
    rng = np.random.default_rng(1)
    chosen = rng.choice(clusters, size=REPEATS, replace=False)
    with atlas.server.test_request_context():
        list_first = timed(
            lambda: (
                list_page.layout(),
                list_callbacks.rows(request, state),
                list_callbacks.draw_map("firing_frequency", state, None),
                list_callbacks.draw_distribution("size", state),
            )
        )
        list_warm = [
            timed(list_page.layout) + timed(list_callbacks.rows, request, state)
            for _ in range(REPEATS)
        ]
        filter_sort = [timed(list_callbacks.rows, filtered, state) for _ in range(REPEATS)]

        def cluster_view(cluster: int) -> None:
            store = {"cluster": int(cluster), "iteration": state["iteration"]}
            cluster_page.layout(str(cluster))
            cluster_callbacks.fill_overview(store)
            cluster_callbacks.fill_examples(store, 0.0)
            cluster_callbacks.fill_lenses(store, "all")

        cold = [timed(cluster_view, c) for c in chosen]
        warm = [timed(cluster_view, c) for c in chosen]
    typed_bytes, list_bytes = map_payload_bytes(args.map_points)
    figures = {
        "bench": "app",
        "subcomponents": args.subcomponents,
        "clusters": args.clusters,
        "tokens": args.tokens,
        "generate_study_s": round(generate_s, 1),
        "list_page_first_s": round(list_first, 3),
        "list_page_warm": percentiles(list_warm),
        "filter_sort": percentiles(filter_sort),
        "cluster_page_cold": percentiles(cold),
        "cluster_page_warm": percentiles(warm),
        "ratio_cluster_cold_over_warm_p50": round(np.median(cold) / np.median(warm), 2),
        "map_points": args.map_points,
        "map_payload_mb": round(typed_bytes / 1e6, 2),
        "map_payload_plain_lists_mb": round(list_bytes / 1e6, 2),
        "ratio_plain_over_sent": round(list_bytes / typed_bytes, 2),
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
