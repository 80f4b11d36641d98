"""Cluster attribution graphs (`/graph`): the time to build one for a prompt of `--tokens`
held-out tokens, beside a plain forward of the target on the same tokens (a ratio), and how
well the attributions predict the measured ablations: Spearman's rho between each graph's top
nodes' attributions and the change in the target logit when each is switched off, per prompt
(median and mean over `--prompts` held-out prompts), and pooled over every checked node.
Goals: a 32-token prompt's graph within 5 s on 2 CPU cores; rho at least 0.6.

Run: python -m bench.graph [--study DIR] (default: $ATLAS_DATA_DIR/demo) [--prompts 20]
     [--tokens 32] [--smoke] (tiny sizes; give --study)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.smoke import parse_arguments
from dashboard.decomposition.api import load_decomposition
from dashboard.inference.attribution import spearman
from dashboard.inference.compute import attribution_graph, heldout_windows
from dashboard.inference.locate import find_decomposition
from dashboard.models.target import target_logits
from dashboard.settings import Settings
from dashboard.study import Study
from dashboard.study.summary import cluster_assignments

SECONDS_GOAL = 5.0
RHO_GOAL = 0.6


def main() -> None:
    settings = Settings.from_env()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--study", type=Path, default=settings.data_dir / "demo")
    parser.add_argument("--prompts", type=int, default=20)
    parser.add_argument("--tokens", type=int, default=32)
    args = parse_arguments(parser, {"prompts": 3, "tokens": 16})
    study = Study(args.study)
    decomposition = load_decomposition(find_decomposition(study, settings.data_dir))
    assignments = [int(a) for a in cluster_assignments(study, study.default_iteration)]
    windows = heldout_windows(decomposition, args.tokens)
    chosen = windows[np.linspace(0, len(windows) - 1, args.prompts).astype(int)]
    prompts = [decomposition.tokenizer.decode(row) for row in chosen]
    attribution_graph(decomposition, prompts[0], assignments)  # warm-up
    seconds, forward_seconds, rhos, tokens, nodes, edges = [], [], [], [], [], []
    pooled_attribution, pooled_effect = [], []
    for prompt in prompts:
        started = time.perf_counter()
        graph = attribution_graph(decomposition, prompt, assignments)
        seconds.append(time.perf_counter() - started)
        ids = decomposition.encode(prompt)
        started = time.perf_counter()
        with torch.no_grad():
            target_logits(decomposition.target, ids)
        forward_seconds.append(time.perf_counter() - started)
        tokens.append(len(graph.tokens))
        nodes.append(len(graph.nodes))
        edges.append(len(graph.edges))
        if graph.spearman is not None:
            rhos.append(graph.spearman)
        pooled_attribution += [check.attribution for check in graph.checks]
        pooled_effect += [check.ablation for check in graph.checks]
    p50, p50_forward = float(np.median(seconds)), float(np.median(forward_seconds))
    pooled = spearman(np.array(pooled_attribution), np.array(pooled_effect))
    figures = {
        "benchmark": "graph",
        "study": study.name,
        "prompts": len(prompts),
        "tokens_mean": round(float(np.mean(tokens)), 1),
        "threads": torch.get_num_threads(),
        "graph_p50_s": round(p50, 3),
        "graph_max_s": round(max(seconds), 3),
        "baseline_forward_p50_ms": round(1000 * p50_forward, 2),
        "ratio_graph_over_forward": round(p50 / p50_forward, 1),
        "nodes_mean": round(float(np.mean(nodes)), 1),
        "edges_mean": round(float(np.mean(edges)), 1),
        "spearman_per_prompt": [round(rho, 3) for rho in rhos],
        "spearman_median": round(float(np.median(rhos)), 3) if rhos else None,
        "spearman_mean": round(float(np.mean(rhos)), 3) if rhos else None,
        "spearman_pooled": None if pooled is None else round(pooled, 3),
        "goals": {
            "graph_within_5_s": {
                "value": round(max(seconds), 3),
                "met": max(seconds) <= SECONDS_GOAL,
            },
            "spearman_at_least_0.6": {
                "value": round(float(np.median(rhos)), 3) if rhos else None,
                "met": bool(rhos) and float(np.median(rhos)) >= RHO_GOAL,
            },
        },
    }
    print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
