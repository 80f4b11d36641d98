"""Cluster attributions on a two-layer linear toy, where every answer has a closed form."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dashboard.inference.attribution import (
    AttributionRun,
    Node,
    ablation_effects,
    kept_by_share,
    spearman,
)

D, SEQ = 4, 2
MODULES = ["a", "b"]
# subcomponents 0-2 in module a, 3-4 in module b; clusters: {0, 1}, {2}, {3}, {4}
ASSIGNMENTS = np.array([0, 0, 1, 2, 3])


class Toy:
    """h_j = x_j + ((x_j V_a) ∘ m_a[j]) U_a;  z_1 = h_1 + h_0;  y = ((z_1 V_b) ∘ m_b[1]) U_b · w.
    Every quantity is linear in each layer's masks, so first-order estimates are exact."""

    def __init__(self, seed: int = 0):
        generator = torch.Generator().manual_seed(seed)

        def random(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=generator, dtype=torch.float64)

        self.x, self.w = random(SEQ, D), random(D)
        self.V = {"a": random(D, 3), "b": random(D, 2)}
        self.U = {"a": random(3, D), "b": random(2, D)}
        self.ci = {
            "a": torch.rand(SEQ, 3, generator=generator, dtype=torch.float64),
            "b": torch.rand(SEQ, 2, generator=generator, dtype=torch.float64),
        }

    def forward(self, masks: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict]:
        acts_a = self.x @ self.V["a"]
        h = self.x + (acts_a * masks["a"]) @ self.U["a"]
        z = torch.stack([h[0], h[1] + h[0]])
        acts_b = z @ self.V["b"]
        out = (acts_b * masks["b"]) @ self.U["b"]
        return out[..., 1, :] @ self.w, {"a": acts_a, "b": acts_b}

    def batched(self, masks: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.stack(
            [
                self.forward({p: m[row] for p, m in masks.items()})[0]
                for row in range(len(masks["a"]))
            ]
        )


def closed_form(toy: Toy) -> tuple[np.ndarray, np.ndarray]:
    """(∂y/∂m · ci per subcomponent [SEQ, 5], ∂r(cluster 2, position 1)/∂m_a · ci [SEQ, 3])."""
    x, w = toy.x.numpy(), toy.w.numpy()
    Va, Ua, Vb, Ub = (
        toy.V["a"].numpy(),
        toy.U["a"].numpy(),
        toy.V["b"].numpy(),
        toy.U["b"].numpy(),
    )
    ci_a, ci_b = toy.ci["a"].numpy(), toy.ci["b"].numpy()
    h = x + (x @ Va * ci_a) @ Ua
    z1 = h[1] + h[0]
    out = np.zeros((SEQ, 5))
    out[1, 3:] = (z1 @ Vb) * (Ub @ w) * ci_b[1]
    through = ci_b[1] * (Ub @ w)  # y = Σ_c through_c (z_1 · V_b[:, c])
    for j in range(SEQ):  # z_1 holds h_0 and h_1 once each
        out[j, :3] = (x[j] @ Va) * (Ua @ (Vb @ through)) * ci_a[j]
    edge = np.zeros((SEQ, 3))
    for j in range(SEQ):  # r = m_b[1, 3] (z_1 · V_b[:, 0]): subcomponent 3 is cluster 2
        edge[j] = ci_b[1, 0] * (x[j] @ Va) * (Ua @ Vb[:, 0]) * ci_a[j]
    return out, edge


def test_node_and_edge_attributions_are_the_closed_form() -> None:
    toy = Toy()
    run = AttributionRun(toy.forward, toy.ci, MODULES, ASSIGNMENTS)
    expected, edge = closed_form(toy)
    by_cluster = np.stack(
        [expected[:, :2].sum(1), expected[:, 2], expected[:, 3], expected[:, 4]], axis=1
    )
    np.testing.assert_allclose(run.to_output(), by_cluster, rtol=1e-10, atol=1e-12)
    to_node = run.to_node(Node(position=1, cluster=2))
    np.testing.assert_allclose(to_node[:, 0], edge[:, :2].sum(1), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_node[:, 1], edge[:, 2], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_node[:, 2:], 0, atol=1e-12)  # module b does not feed b
    assert not run.to_output()[0, 2:].any()  # y reads position 1 of module b only


def test_ablations_of_a_linear_toy_equal_its_attributions() -> None:
    toy = Toy(seed=1)
    run = AttributionRun(toy.forward, toy.ci, MODULES, ASSIGNMENTS)
    attribution = run.to_output()
    nodes = [Node(p, c) for p in range(SEQ) for c in range(4)]
    effects = ablation_effects(toy.batched, toy.ci, MODULES, ASSIGNMENTS, nodes)
    expected = np.array([attribution[n.position, n.cluster] for n in nodes])
    np.testing.assert_allclose(effects, expected, rtol=1e-9, atol=1e-12)
    assert spearman(expected, effects) == pytest.approx(1.0)


def test_pruning_keeps_the_largest_share() -> None:
    weights = np.array([0.1, -5.0, 3.0, 0.0, 1.9])
    assert kept_by_share(weights, 0.5, 10).tolist() == [1]
    assert kept_by_share(weights, 0.8, 10).tolist() == [1, 2]
    assert kept_by_share(weights, 1.0, 10).tolist() == [1, 2, 4, 0]
    assert kept_by_share(weights, 1.0, 2).tolist() == [1, 2]
    assert kept_by_share(np.zeros(3), 0.9, 10).tolist() == []


def test_spearman() -> None:
    assert spearman(np.array([1.0, 2, 3, 4]), np.array([10.0, 20, 25, 100])) == pytest.approx(1)
    assert spearman(np.array([1.0, 2, 3]), np.array([3.0, 2, 1])) == pytest.approx(-1)
    assert spearman(np.array([1.0, 2]), np.array([1.0, 2])) is None
    assert spearman(np.array([1.0, 1, 1]), np.array([1.0, 2, 3])) is None


PROMPT = "The river flows through the old city and the people of the town walk along the"


@pytest.fixture(scope="module")
def micro(micro_study, micro_decomposition):
    from dashboard.decomposition import load_decomposition
    from dashboard.study import Study
    from dashboard.study.summary import cluster_assignments

    study = Study(micro_study)
    assignments = cluster_assignments(study, study.default_iteration)
    return load_decomposition(micro_decomposition), [int(a) for a in assignments]


def test_a_graph_of_the_micro_model(micro) -> None:
    from dashboard.inference.compute import attribution_graph

    decomposition, assignments = micro
    graph = attribution_graph(decomposition, PROMPT, assignments)
    n = len(graph.nodes)
    assert graph.output_position == len(graph.tokens) - 1
    assert 0 < n <= 40 and n <= graph.active_nodes
    assert len(graph.checks) == min(20, graph.active_nodes)
    assert [abs(c.attribution) for c in graph.checks] == sorted(
        (abs(c.attribution) for c in graph.checks), reverse=True
    )
    assert [abs(node.attribution) for node in graph.nodes] == sorted(
        (abs(node.attribution) for node in graph.nodes), reverse=True
    )
    checked = {(c.position, c.cluster): c.ablation for c in graph.checks}
    for node in graph.nodes:  # a drawn node that was checked carries its measured effect
        assert node.ablation == checked.get((node.position, node.cluster))
    assert all(0 <= e.source < n and -1 <= e.target < n for e in graph.edges)
    assert sorted(e.source for e in graph.edges if e.target == -1) == list(range(n))
    for edge in graph.edges:  # from an earlier or the same position only
        if edge.target >= 0:
            assert graph.nodes[edge.source].position <= graph.nodes[edge.target].position
    assert 0 < graph.kept_share <= 1


def test_targets(micro) -> None:
    from dashboard.inference.compute import encode, output_of

    decomposition, _ = micro
    ids = encode(decomposition, PROMPT)
    last = ids.shape[1] - 1
    assert output_of(decomposition, ids, "@3") == (3, int(ids[0, 4]))
    assert output_of(decomposition, ids, "")[0] == last
    assert output_of(decomposition, ids, f"@{last}") == output_of(decomposition, ids, "")
    the = decomposition.tokenizer(" the", add_special_tokens=False)["input_ids"]
    assert output_of(decomposition, ids, " the") == (last, the[0])
    with pytest.raises(ValueError, match="a target is one token"):
        output_of(decomposition, ids, " the old city")
    with pytest.raises(ValueError, match="expected @ and a position"):
        output_of(decomposition, ids, "@x")
