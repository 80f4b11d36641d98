"""Cluster attribution graphs: which clusters, at which positions, drove one output, and through
which earlier clusters; checked against ablations of the same nodes.

The model runs with a mask per (position, subcomponent) set to its causal importance, the SPD
decomposition's own CI-masked forward. With `m` the masks, `ci` their values there, and a
cluster k at position i the subcomponents s of k at i:

    attribution(k, i → y)        = Σ_{s ∈ k} ci[i, s] · ∂y/∂m[i, s]
    attribution(k, i → k', j)    = Σ_{s ∈ k} ci[i, s] · ∂r(k', j)/∂m[i, s]
    r(k', j)                     = Σ_{s ∈ k'} m[j, s] · (x_j · V_s)

the gradient times the mask's value: the first-order estimate of what switching the cluster
off at that position (its masks to 0) takes away from y, or from the later cluster's masked
inner activation r. `ablation_effects` measures the same switch-off exactly, for comparison.
Everything here is torch over a prompt: `[seq, n_subcomponents]` arrays of one prompt are small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from dashboard.inference.results import GraphCheck, GraphEdge, GraphNode

# masks {module: [seq, C]} -> (y, {module: inner activations x·V, [seq, C]})
MaskedForward = Callable[[dict[str, torch.Tensor]], tuple[torch.Tensor, dict[str, torch.Tensor]]]


@dataclass(frozen=True)
class Node:
    position: int
    cluster: int


def flat(per_module: dict[str, torch.Tensor], modules: list[str]) -> torch.Tensor:
    """`[seq, n_subcomponents]` in label order (module by module)."""
    return torch.cat([per_module[path] for path in modules], dim=-1)


def by_cluster(values: np.ndarray, assignments: np.ndarray, n_clusters: int) -> np.ndarray:
    """Sum `[seq, n_subcomponents]` over each cluster's members: `[seq, n_clusters]` (dead
    subcomponents, assignment -1, are left out)."""
    alive = assignments >= 0
    summed = np.zeros((values.shape[0], n_clusters), dtype=np.float64)
    np.add.at(summed.T, assignments[alive], values[:, alive].T)
    return summed


def cluster_ci(ci: np.ndarray, assignments: np.ndarray, n_clusters: int) -> np.ndarray:
    """A cluster's activation at each position: the max CI of its members, `[seq, n_clusters]`."""
    alive = assignments >= 0
    top = np.zeros((ci.shape[0], n_clusters), dtype=np.float64)
    np.maximum.at(top.T, assignments[alive], ci[:, alive].T)
    return top


class AttributionRun:
    """One masked forward with gradients, from which node and edge attributions are read."""

    def __init__(
        self,
        forward: MaskedForward,
        ci: dict[str, torch.Tensor],
        modules: list[str],
        assignments: np.ndarray,
    ):
        self.modules = modules
        self.assignments = assignments
        self.n_clusters = int(assignments.max()) + 1 if (assignments >= 0).any() else 0
        self.masks = {path: ci[path].detach().clone().requires_grad_(True) for path in modules}
        self.ci = flat(ci, modules).detach().cpu().numpy().astype(np.float64)
        self.output, acts = forward(self.masks)
        self.written = flat({p: self.masks[p] * acts[p] for p in modules}, modules)
        self.acts = flat(acts, modules).detach().cpu().numpy().astype(np.float64)

    def contributions(self, value: torch.Tensor) -> np.ndarray:
        """`[seq, n_clusters]`: Σ over each cluster's members of ci · ∂value/∂mask."""
        grads = torch.autograd.grad(
            value, [self.masks[p] for p in self.modules], retain_graph=True, allow_unused=True
        )
        grads = [
            torch.zeros_like(self.masks[p]) if g is None else g
            for p, g in zip(self.modules, grads, strict=True)
        ]
        gradient = torch.cat(grads, dim=-1).detach().cpu().numpy().astype(np.float64)
        return by_cluster(gradient * self.ci, self.assignments, self.n_clusters)

    def to_output(self) -> np.ndarray:
        return self.contributions(self.output)

    def to_node(self, node: Node) -> np.ndarray:
        """Attributions from every (position, cluster) to `node`'s masked inner activation,
        without the node's own masks scaling it (∂r/∂m of a member's own mask is its inner
        activation: no edge); what its members in earlier layers feed its later ones stays."""
        members = self.assignments == node.cluster
        selected = torch.as_tensor(members, device=self.written.device)
        found = self.contributions(self.written[node.position][selected].sum())
        own = self.ci[node.position, members] * self.acts[node.position, members]
        found[node.position, node.cluster] -= own.sum()
        return found


def ablation_effects(
    forward: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    ci: dict[str, torch.Tensor],
    modules: list[str],
    assignments: np.ndarray,
    nodes: list[Node],
) -> np.ndarray:
    """y(CI masks) - y(the same, with the node's cluster masked to 0 at its position), for each
    node: what switching it off really takes away. `forward` maps masks `{module: [rows, seq,
    C]}` to y per row; all nodes run as one batch, after the unablated row."""
    rows = len(nodes) + 1
    masks = {path: ci[path].detach().expand(rows, *ci[path].shape).clone() for path in modules}
    start = 0
    for path in modules:
        count = ci[path].shape[-1]
        local = assignments[start : start + count]
        for row, node in enumerate(nodes, start=1):
            members = torch.as_tensor(local == node.cluster, device=masks[path].device)
            masks[path][row, node.position, members] = 0.0
        start += count
    with torch.no_grad():
        values = forward(masks).detach().cpu().numpy().astype(np.float64)
    return values[0] - values[1:]


def kept_by_share(weights: np.ndarray, share: float, most: int) -> np.ndarray:
    """Indices of the largest |weights| that together carry `share` of their total (at most
    `most`), largest first."""
    magnitude = np.abs(weights)
    order = np.argsort(-magnitude, kind="stable")
    total = magnitude.sum()
    if total == 0:
        return order[:0]
    cumulative = np.cumsum(magnitude[order]) / total
    count = int(np.searchsorted(cumulative, share - 1e-12) + 1)
    return order[: min(count, most, len(order))]


def spearman(first: np.ndarray, second: np.ndarray) -> float | None:
    """Spearman's rank correlation (average ranks for ties); None below 3 pairs or when one
    side is constant."""
    if len(first) < 3:
        return None

    def ranks(values: np.ndarray) -> np.ndarray:
        order = np.argsort(values, kind="stable")
        ranked = np.empty(len(values))
        ranked[order] = np.arange(len(values))
        for value in np.unique(values):  # ties share their mean rank
            tied = values == value
            ranked[tied] = ranked[tied].mean()
        return ranked

    a, b = ranks(first), ranks(second)
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class GraphSettings:
    threshold: float = 0.1  # a node is a cluster whose max member CI at a position is above this
    node_share: float = 0.8  # keep the nodes that carry this share of the total |attribution|
    edge_share: float = 0.8  # ... and the edges between them that carry this share
    max_nodes: int = 40
    max_edges: int = 200
    checked: int = 20  # the top active nodes (drawn or pruned) whose ablation is measured


def cluster_graph(
    forward: MaskedForward,
    batched: Callable[[dict[str, torch.Tensor]], torch.Tensor],
    ci: dict[str, torch.Tensor],
    modules: list[str],
    assignments: np.ndarray,
    depth: np.ndarray,
    last_position: int,
    settings: GraphSettings,
) -> tuple[list[GraphNode], list[GraphEdge], dict]:
    """The pruned graph of the clusters active at positions up to `last_position` (`depth`: a
    layer per subcomponent), its edges, and figures: the output's value, active nodes, kept share,
    checked nodes and the Spearman correlation of their attributions with their measured
    ablation effects."""
    run = AttributionRun(forward, ci, modules, assignments)
    to_output = run.to_output()
    activation = cluster_ci(run.ci, assignments, run.n_clusters)
    activation[last_position + 1 :] = 0.0
    positions, clusters = np.nonzero(activation > settings.threshold)
    attributions = to_output[positions, clusters]
    kept = kept_by_share(attributions, settings.node_share, settings.max_nodes)
    nodes = [Node(int(positions[i]), int(clusters[i])) for i in kept]
    ablation: dict[Node, float] = {}
    top = kept_by_share(attributions, 1.0, settings.checked)  # drawn or not
    checked = [Node(int(positions[i]), int(clusters[i])) for i in top]
    if checked:
        effects = ablation_effects(batched, ci, modules, assignments, checked)
        ablation = dict(zip(checked, effects.tolist(), strict=True))
    index = {node: number for number, node in enumerate(nodes)}
    weights, pairs = [], []
    for receiver in nodes:
        incoming = run.to_node(receiver)
        for source in nodes:
            if source.position <= receiver.position and source != receiver:
                weights.append(incoming[source.position, source.cluster])
                pairs.append((index[source], index[receiver]))
    weights_array = np.asarray(weights, dtype=np.float64)
    edges = [
        GraphEdge(pairs[i][0], pairs[i][1], float(weights_array[i]))
        for i in kept_by_share(weights_array, settings.edge_share, settings.max_edges)
    ]
    edges += [
        GraphEdge(index[node], -1, float(to_output[node.position, node.cluster])) for node in nodes
    ]
    graph_nodes = [
        GraphNode(
            position=node.position,
            cluster=node.cluster,
            depth=round(
                node_depth(
                    run.ci[node.position], assignments == node.cluster, depth, settings.threshold
                ),
                3,
            ),
            ci=round(float(activation[node.position, node.cluster]), 4),
            attribution=float(to_output[node.position, node.cluster]),
            ablation=ablation.get(node),
        )
        for node in nodes
    ]
    total = float(np.abs(attributions).sum())
    figures = {
        "output_logit": float(run.output.detach()),
        "active_nodes": len(positions),
        "kept_share": round(float(np.abs(attributions[kept]).sum()) / total, 4) if total else 0.0,
        "checks": [
            GraphCheck(n.position, n.cluster, float(to_output[n.position, n.cluster]), ablation[n])
            for n in checked
        ],
        "spearman": spearman(
            np.array([to_output[n.position, n.cluster] for n in checked]),
            np.array([ablation[n] for n in checked]),
        ),
    }
    return graph_nodes, edges, figures


def node_depth(ci: np.ndarray, members: np.ndarray, depth: np.ndarray, threshold: float) -> float:
    """The CI-weighted mean depth of a cluster's members active at a position."""
    weights = np.where(members & (ci > threshold), ci, 0.0)
    if weights.sum() == 0:
        weights = np.where(members, ci, 0.0)
    return float((weights * depth).sum() / weights.sum()) if weights.sum() else 0.0
