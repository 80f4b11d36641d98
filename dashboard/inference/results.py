"""What each inference operation returns, as frozen dataclasses (no torch, no numpy: the web
process reads them), and their JSON form, which only the transports use: the Celery task's
result and the resident process's connection."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, is_dataclass
from functools import cache
from typing import Any, TypeVar, get_args, get_origin, get_type_hints

ResultType = TypeVar("ResultType")


@dataclass(frozen=True)
class HeldoutPrompts:
    """Openings of documents the models never trained on."""

    prompts: list[str]


@dataclass(frozen=True)
class ProbeResult:
    """A text's tokens and every (position, subcomponent, CI) above the probe's threshold."""

    tokens: list[str]
    position: list[int]
    subcomponent: list[int]  # index in the study's subcomponent order
    ci: list[float]


@dataclass(frozen=True)
class PromptImportance:
    """Per subcomponent (the study's order), the max or mean CI over a prompt set's tokens."""

    per_subcomponent: list[float]


@dataclass(frozen=True)
class MaskedSummary:
    """Means over the prompts or windows of a masked-inference run, each counting once."""

    mean_kl: float
    loss_difference: float
    top1_agreement: float


@dataclass(frozen=True)
class Comparison:
    """The target against the masked model on one token sequence, position by position."""

    tokens: list[str]
    kl: list[float]  # KL(target ‖ masked) of the next-token distributions
    target_loss: list[float]  # of each next token: one fewer than the tokens
    masked_loss: list[float]
    target_top: list[list[str]]  # each position's likeliest next tokens
    masked_top: list[list[str]]
    mean_kl: float
    loss_difference: float | None  # masked minus target, mean; None for a single token
    top1_agreement: float


@dataclass(frozen=True)
class WindowComparison(Comparison):
    """A comparison on a held-out window, with the window's number."""

    window: int


@dataclass(frozen=True)
class MaskedInference:
    """Masked inference on a prompt set: each prompt's comparison and their summary."""

    prompts: list[Comparison]
    summary: MaskedSummary


@dataclass(frozen=True)
class MaskedSlice:
    """Masked inference on a slice of held-out windows; `available`: windows of that length."""

    windows: list[WindowComparison]
    summary: MaskedSummary
    available: int


@dataclass(frozen=True)
class GraphNode:
    """A cluster at a position: its activation (max member CI), depth (CI-weighted mean layer of
    its members active there; MLP half a layer above attention), its attribution to the output,
    and the measured effect of switching it off there (None when not checked)."""

    position: int
    cluster: int
    depth: float
    ci: float
    attribution: float
    ablation: float | None


@dataclass(frozen=True)
class GraphEdge:
    """Attribution from node `source` to node `target` (indices in `nodes`; -1: the output)."""

    source: int
    target: int
    weight: float


@dataclass(frozen=True)
class GraphCheck:
    """One of the top active nodes (drawn or pruned) switched off: its attribution beside the
    measured change in the output logit."""

    position: int
    cluster: int
    attribution: float
    ablation: float


@dataclass(frozen=True)
class AttributionGraph:
    """Which clusters, where, drove one output logit, and through which earlier clusters
    (`dashboard/inference/attribution.py`); the ablation check of its top nodes."""

    tokens: list[str]
    output_position: int
    output_token: str
    output_logit: float  # of the CI-masked model, which the attributions differentiate
    nodes: list[GraphNode]
    edges: list[GraphEdge]
    active_nodes: int  # (position, cluster) pairs above the threshold, before pruning
    kept_share: float  # of the total |attribution| of the active nodes, carried by `nodes`
    checks: list[GraphCheck]  # the top active nodes by |attribution|, switched off one by one
    spearman: float | None  # attribution against measured ablation effect, over `checks`


def to_json(result: Any) -> dict:
    """A result as plain dicts, lists and numbers."""
    return asdict(result)


def from_json(kind: type[ResultType], data: dict) -> ResultType:
    """The result of type `kind` from its JSON form (nested results rebuilt by their type)."""
    hints = field_types(kind)
    return kind(**{name: rebuilt(hints[name], value) for name, value in data.items()})


def rebuilt(hint: Any, value: Any) -> Any:
    if is_dataclass(hint):
        return from_json(hint, value)
    if get_origin(hint) is list and is_dataclass(get_args(hint)[0]):
        return [from_json(get_args(hint)[0], item) for item in value]
    return value


@cache
def field_types(kind: type) -> dict[str, Any]:
    hints = get_type_hints(kind)
    return {field.name: hints[field.name] for field in fields(kind)}
