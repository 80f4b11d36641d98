"""The results of the inference service survive their JSON form (the transports' wire), every
type of them, nested results included."""

from __future__ import annotations

import json

import pytest

from dashboard.inference.results import (
    AttributionGraph,
    Comparison,
    GraphCheck,
    GraphEdge,
    GraphNode,
    HeldoutPrompts,
    MaskedInference,
    MaskedSlice,
    MaskedSummary,
    ProbeResult,
    PromptImportance,
    WindowComparison,
    from_json,
    to_json,
)
from dashboard.inference.service import OPERATIONS

SUMMARY = MaskedSummary(mean_kl=0.125, loss_difference=-0.5, top1_agreement=0.75)
COMPARISON = Comparison(
    tokens=["The", " cat"],
    kl=[0.01, 0.2],
    target_loss=[1.5],
    masked_loss=[1.75],
    target_top=[[" cat", " dog"], [" sat", " ran"]],
    masked_top=[[" dog", " cat"], [" ran", " sat"]],
    mean_kl=0.105,
    loss_difference=0.25,
    top1_agreement=0.0,
)
SINGLE_TOKEN = Comparison(["A"], [0.0], [], [], [["."]], [["."]], 0.0, None, 1.0)
WINDOW = WindowComparison(**vars(COMPARISON), window=7)
EXAMPLES = [
    HeldoutPrompts(prompts=["Anarchism is a political philosophy", "Autism is"]),
    ProbeResult(
        tokens=["It", " was"], position=[0, 1, 1], subcomponent=[3, 0, 9], ci=[0.5, 1.0, 0.25]
    ),
    PromptImportance(per_subcomponent=[0.0, 0.333333, 1.0]),
    SUMMARY,
    COMPARISON,
    SINGLE_TOKEN,
    WINDOW,
    MaskedInference(prompts=[COMPARISON, SINGLE_TOKEN], summary=SUMMARY),
    MaskedSlice(
        windows=[WINDOW, WindowComparison(**vars(SINGLE_TOKEN), window=8)],
        summary=SUMMARY,
        available=4096,
    ),
    AttributionGraph(
        tokens=["The", " cat", " sat"],
        output_position=2,
        output_token=" on",
        output_logit=4.25,
        nodes=[
            GraphNode(position=0, cluster=3, depth=0.5, ci=1.0, attribution=0.5, ablation=0.75),
            GraphNode(position=2, cluster=7, depth=1.25, ci=0.5, attribution=-0.25, ablation=None),
        ],
        edges=[GraphEdge(source=0, target=1, weight=0.125), GraphEdge(0, -1, 0.5)],
        active_nodes=9,
        kept_share=0.8,
        checks=[GraphCheck(position=0, cluster=3, attribution=0.5, ablation=0.75)],
        spearman=None,
    ),
]


@pytest.mark.parametrize("result", EXAMPLES, ids=lambda result: type(result).__name__)
def test_a_result_comes_back_from_its_json_form_equal(result) -> None:
    wire = json.loads(json.dumps(to_json(result)))
    back = from_json(type(result), wire)
    assert back == result and type(back) is type(result)


def test_every_operations_result_type_has_an_example() -> None:
    assert {operation.result for operation in OPERATIONS.values()} <= {type(e) for e in EXAMPLES}


def test_nested_results_are_rebuilt_as_their_types() -> None:
    result = MaskedSlice(windows=[WINDOW], summary=SUMMARY, available=10)
    back = from_json(MaskedSlice, json.loads(json.dumps(to_json(result))))
    assert type(back.windows[0]) is WindowComparison and back.windows[0].window == 7
    assert type(back.summary) is MaskedSummary


def test_the_json_form_names_the_fields() -> None:
    wire = to_json(MaskedSlice(windows=[WINDOW], summary=SUMMARY, available=10))
    assert wire["windows"][0]["window"] == 7 and wire["summary"]["mean_kl"] == 0.125


def test_a_json_form_without_a_field_is_refused() -> None:
    wire = to_json(SUMMARY)
    del wire["top1_agreement"]
    with pytest.raises(TypeError, match="top1_agreement"):
        from_json(MaskedSummary, wire)
