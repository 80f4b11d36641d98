"""Server time of the dashboard on a generated study of 20,000 clusters and 100,000
subcomponents, and the 3D map's payload at 100,000 points.

The pages' own layout and callback functions run in-process inside a Flask request context,
with the embedded cache: a page's layout, then the callbacks that fill it, found in the app's
callback map and given their inputs from that layout (lower sections as if scrolled to).
Baselines in the same process: a cluster page's first view (cold) vs its repeat views (warm),
and the map sent as Python lists vs typed arrays.
Run: python -m bench.app [--subcomponents 100000] [--clusters 20000] [--tokens 200000] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analyses import synthetic_inputs
from bench.smoke import parse_arguments
from dashboard.analysis.measures import analyse_clusters
from dashboard.analysis.study_analyses import write_cluster_analyses
from dashboard.study import StudyWriter
from dashboard.study.clusters import assignments_at
from dashboard.study.merge_tree import CLUSTER_IDS

SUBCOMPONENTS = 100_000  # the generated study's size
CLUSTERS = 20_000
TOKENS = 200_000


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
        writer.settings = {
            "harvest": {"threshold": 0.1},
            "analyses": {"iteration": iteration, "cluster_ids": CLUSTER_IDS},
        }
    return path


def bound_callbacks(
    callback_map: dict,
    layout,
    picked: Callable[[str, dict], bool],
    values: dict[tuple[str, str], object] | None = None,
) -> list[Callable[[], object]]:
    """The app's server callbacks that `picked(callback id, spec)` accepts, each bound to its
    inputs' and states' values in `layout` as the browser sends them on load (`values` overrides
    some), with every lazy section scrolled into view (the store that a section's
    `data-trigger` names set to true)."""
    components = {c.id: c for c in layout._traverse() if isinstance(getattr(c, "id", None), str)}
    shown = {trigger for c in layout._traverse() if (trigger := getattr(c, "data-trigger", None))}

    def value(dependency: dict) -> object:
        key = (dependency["id"], dependency["property"])
        if key in (values or {}):
            return values[key]
        if key[0] in shown and key[1] == "data":
            return True
        return getattr(components[key[0]], key[1], None) if key[0] in components else None

    return [
        partial(spec["callback"].__wrapped__, *map(value, spec["inputs"] + spec["state"]))
        for callback_id, spec in callback_map.items()
        if picked(callback_id, spec) and not spec.get("background")
    ]


def reading(store_id: str) -> Callable[[str, dict], bool]:
    """Picks the callbacks with the store's data as an Input: those that fill a page from it."""
    return lambda _, spec: {"id": store_id, "property": "data"} in spec["inputs"]


def writing(*outputs: str) -> Callable[[str, dict], bool]:
    """Picks the callbacks that write any of `outputs` (`id.property`, as in callback ids)."""
    return lambda callback_id, _: any(output in callback_id for output in outputs)


def run_filling(callbacks: list[Callable[[], object]]) -> None:
    """Run each callback as Dash would: one that declines to update (PreventUpdate) is skipped."""
    from dash.exceptions import PreventUpdate

    for fill in callbacks:
        with suppress(PreventUpdate):
            fill()


@contextmanager
def page_load_context() -> Iterator[None]:
    """Dash's callback context as on a page load (nothing triggered), for calling callbacks
    directly."""
    from dash._callback_context import context_value
    from dash._utils import AttributeDict

    token = context_value.set(AttributeDict(triggered_inputs=[]))
    try:
        yield
    finally:
        context_value.reset(token)


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


def lineage_times(study, callback_map: dict, repeats: int) -> tuple[float, list[float]]:
    """The study's merge tree built from its history (seconds), then a cluster page's lineage
    section (subtree, the two parts profiled from the store, later merges) for random clusters
    at random iterations, each the first time it is asked for (seconds each)."""
    from dashboard.study.merge_tree import merge_tree
    from dashboard.study.summary import cluster_assignments

    merges = study.table("clustering/merges.parquet", columns=["group_a", "group_b", "cost"])
    initial = np.asarray(study.array("clustering/initial_groups.npy"))
    tree_s = timed(merge_tree, initial, merges)
    fill = next(
        spec["callback"].__wrapped__
        for callback_id, spec in callback_map.items()
        if "cluster-lineage.children" in callback_id
    )
    from dashboard.components.lineage import lineage_children

    lineage_children.cache_clear()  # the cluster views before filled it
    rng = np.random.default_rng(2)
    seconds = []
    for _ in range(repeats):
        iteration = int(rng.integers(0, study.n_merges + 1))
        assignments = cluster_assignments(study, iteration)
        cluster = int(rng.choice(np.unique(assignments[assignments >= 0])))
        store = {"cluster": cluster, "iteration": iteration, "study": None}
        seconds.append(timed(fill, store | {"version": study.version}, True))
    return tree_s, seconds


def map_payload_bytes(n_points: int) -> tuple[int, int]:
    """The map's points at `n_points` as the app sends them, and as a plain plotly figure of
    Python lists (float coordinates and colour, `[id, size, top tokens]` customdata) would be
    sent."""
    import plotly.graph_objects as go
    from plotly.io.json import to_json_plotly

    from dashboard.components.map_points import map_colorbar, map_points

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
    sent = len(to_json_plotly(map_points(coordinates, table, "firing_frequency"))) + len(
        to_json_plotly(map_colorbar(table, "firing_frequency", "frequency"))
    )
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
    parser.add_argument("--subcomponents", type=int, default=SUBCOMPONENTS)
    parser.add_argument("--clusters", type=int, default=CLUSTERS)
    parser.add_argument("--tokens", type=int, default=TOKENS)
    parser.add_argument("--map-points", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=20, help="cluster pages and warm views")
    args = parse_arguments(
        parser,
        {
            "subcomponents": 2000,
            "clusters": 400,
            "tokens": 20_000,
            "map_points": 2000,
            "repeats": 3,
        },
    )
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    started = time.perf_counter()
    study_path = generated_study(work / "study", args.subcomponents, args.clusters, args.tokens)
    generate_s = time.perf_counter() - started
    os.environ.update({"ATLAS_DATA_DIR": str(work), "ATLAS_STUDY": str(study_path)})

    started = time.perf_counter()
    import app as atlas  # a worker's start: it reads the default study's list (warm_list)

    app_start_s = time.perf_counter() - started
    from dashboard.app_state import current_study
    from dashboard.pages import cluster as cluster_page
    from dashboard.pages import clusters as list_page

    study = current_study().study
    filtered = {
        "query": {
            "sort": "token_entropy",
            "filters": {"modules": "*mlp*&!*q_proj*", "firing_frequency": ">0.01"},
        },
        "start": 0,
        "end": 100,
    }
    clusters = study.table("analyses/clusters.parquet")["cluster"].to_numpy()
    rng = np.random.default_rng(1)
    chosen = rng.choice(clusters, size=args.repeats, replace=False)
    callback_map = atlas.app.callback_map

    def cluster_view(cluster: int) -> None:
        layout = cluster_page.layout(str(cluster))
        run_filling(bound_callbacks(callback_map, layout, reading(cluster_page.STORE)))

    with atlas.server.test_request_context(), page_load_context():
        # the list's first screen (map, distribution, first rows) is read in its layout
        list_first = timed(list_page.layout)
        list_warm = [timed(list_page.layout) for _ in range(args.repeats)]
        filtered_rows = bound_callbacks(
            callback_map,
            list_page.layout(),
            writing(f"{list_page.GRID}.block"),
            {(list_page.GRID, "request"): filtered},
        )
        filter_sort = [timed(run_filling, filtered_rows) for _ in range(args.repeats)]
        cold = [timed(cluster_view, c) for c in chosen]
        warm = [timed(cluster_view, c) for c in chosen]
        merge_tree_s, lineage = lineage_times(study, callback_map, args.repeats)
    typed_bytes, list_bytes = map_payload_bytes(args.map_points)
    figures = {
        "bench": "app",
        "subcomponents": args.subcomponents,
        "clusters": args.clusters,
        "tokens": args.tokens,
        "generate_study_s": round(generate_s, 1),
        "app_start_s": round(app_start_s, 2),
        "list_page_first_s": round(list_first, 3),
        "list_page_warm": percentiles(list_warm),
        "filter_sort": percentiles(filter_sort),
        "cluster_page_cold": percentiles(cold),
        "cluster_page_warm": percentiles(warm),
        "ratio_cluster_cold_over_warm_p50": round(np.median(cold) / np.median(warm), 2),
        "merge_tree_s": round(merge_tree_s, 3),
        "lineage": percentiles(lineage),
        "map_points": args.map_points,
        "map_payload_mb": round(typed_bytes / 1e6, 2),
        "map_payload_plain_lists_mb": round(list_bytes / 1e6, 2),
        "ratio_plain_over_sent": round(list_bytes / typed_bytes, 2),
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
