"""The model-side operations of the inference service (torch): each is the function named as
its method of `InferenceService`, taking the decomposition and then that method's arguments,
and returns that method's result (`dashboard.inference.results`)."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

from dashboard.decomposition.api import Decomposition
from dashboard.inference.limits import MAX_SLICE_WINDOWS, MAX_TOKENS, TARGET_CACHE_BYTES
from dashboard.inference.results import (
    AttributionGraph,
    Comparison,
    HeldoutPrompts,
    MaskedInference,
    MaskedSlice,
    MaskedSummary,
    ProbeResult,
    PromptImportance,
    WindowComparison,
)
from dashboard.models.target import target_logits


class InputTooLongError(ValueError):
    """A text longer than the service accepts."""


def encode(decomposition: Decomposition, text: str) -> torch.Tensor:
    ids = decomposition.encode(text)
    if ids.shape[1] == 0:
        raise ValueError("the text has no tokens")
    if ids.shape[1] > MAX_TOKENS:
        raise InputTooLongError(
            f"the text has {ids.shape[1]:,} tokens; the limit is {MAX_TOKENS:,} per text"
        )
    return ids


def token_strings(decomposition: Decomposition, ids: torch.Tensor) -> list[str]:
    return [decomposition.tokenizer.decode([int(i)]) for i in ids[0]]


def flat_ci(decomposition: Decomposition, ids: torch.Tensor) -> np.ndarray:
    """`[seq, n_subcomponents]` CI in the study's label order (module by module)."""
    with torch.no_grad():
        per_module = decomposition.causal_importances(ids)
    return (
        torch.cat([per_module[path][0] for path in decomposition.module_paths], dim=-1)
        .cpu()
        .numpy()
    )


def probe(decomposition: Decomposition, text: str, threshold: float) -> ProbeResult:
    """Tokens of `text` and every (position, subcomponent, CI) above `threshold`."""
    ids = encode(decomposition, text)
    ci = flat_ci(decomposition, ids)
    positions, subcomponents = np.nonzero(ci > threshold)
    return ProbeResult(
        tokens=token_strings(decomposition, ids),
        position=positions.tolist(),
        subcomponent=subcomponents.tolist(),
        ci=np.round(ci[positions, subcomponents], 4).tolist(),
    )


def prompt_importance(
    decomposition: Decomposition, prompts: list[str], aggregate: str
) -> PromptImportance:
    """Per subcomponent, the max or mean CI over every token of every prompt."""
    if aggregate not in ("max", "mean"):
        raise ValueError(f"aggregate {aggregate!r}: expected max or mean")
    if not prompts:
        raise ValueError("the prompt set is empty")
    stacked = np.concatenate([flat_ci(decomposition, encode(decomposition, p)) for p in prompts])
    values = stacked.max(axis=0) if aggregate == "max" else stacked.mean(axis=0)
    return PromptImportance(per_subcomponent=np.round(values, 6).tolist())


def module_masks(decomposition: Decomposition, values: np.ndarray) -> dict[str, torch.Tensor]:
    """Split a `[n_subcomponents]` mask into the per-module masks of the masked forward."""
    masks, start = {}, 0
    for path in decomposition.module_paths:
        count = decomposition.model.component(path).n_components
        masks[path] = torch.as_tensor(
            values[start : start + count], dtype=torch.float32, device=decomposition.device
        )
        start += count
    return masks


def decoded(decomposition: Decomposition, ids: torch.Tensor) -> list[str]:
    """Each id as its own text (`ids` of any shape, flattened)."""
    texts = token_texts(decomposition)
    return [texts[i] for i in ids.reshape(-1).tolist()]


def token_texts(decomposition: Decomposition) -> list[str]:
    """Every id of the vocabulary as its own text, decoded once per model."""
    key = str(decomposition.directory)
    if key not in TOKEN_TEXTS:
        tokenizer = decomposition.tokenizer
        TOKEN_TEXTS.clear()  # one model's vocabulary at a time
        TOKEN_TEXTS[key] = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return TOKEN_TEXTS[key]


TOKEN_TEXTS: dict[str, list[str]] = {}


@dataclass
class TargetOutputs:
    """What masked inference needs of the target on a batch `[rows, seq]`; none of it depends
    on the mask."""

    probabilities: torch.Tensor  # [rows, seq, vocab]
    negative_entropy: torch.Tensor  # [rows, seq]: Σ p log p
    loss: torch.Tensor  # [rows, seq - 1]: of each next token
    top: torch.Tensor  # [rows, seq, k]: ids of the k likeliest next tokens

    @property
    def nbytes(self) -> int:
        return sum(t.element_size() * t.nelement() for t in vars(self).values())


def target_outputs(decomposition: Decomposition, ids: torch.Tensor, top_k: int) -> TargetOutputs:
    with torch.no_grad():
        log_p = log_probabilities(target_logits(decomposition.target, ids))
        following = ids[:, 1:, None].to(log_p.device)
        probabilities = log_p.exp()
        return TargetOutputs(
            probabilities=probabilities,
            negative_entropy=torch.linalg.vecdot(probabilities, log_p),
            loss=-log_p[:, :-1].gather(-1, following)[..., 0],
            top=log_p.topk(top_k, -1).indices,
        )


def compared(
    decomposition: Decomposition,
    ids: torch.Tensor,
    weights: dict,
    top_k: int,
    target: TargetOutputs | None = None,
) -> list[Comparison]:
    """Target against masked model on a batch `[rows, seq]`: per row its tokens, per-position
    KL, both losses and top-k next tokens, and the row's means. `target`: the target's outputs
    on `ids`, when already known (read, never changed)."""
    target = target or target_outputs(decomposition, ids, top_k)
    with torch.no_grad():
        masked_log = log_probabilities(
            decomposition.model.forward_folded(ids.to(decomposition.device), weights)
        )
        following = ids[:, 1:, None].to(masked_log.device)
        masked_loss = -masked_log[:, :-1].gather(-1, following)[..., 0]
        masked_top = masked_log.topk(top_k, -1).indices
        agreement = (target.top[..., 0] == masked_top[..., 0]).float()
        # KL(target ‖ masked) = Σ p log p - Σ p log q (rounding may leave -1e-7 for a match)
        kl = target.negative_entropy - torch.linalg.vecdot(target.probabilities, masked_log)
        kl = kl.clamp_(min=0.0)
    target_top, target_loss = target.top, target.loss
    rows, length = ids.shape
    tokens = decoded(decomposition, ids)
    tops = decoded(decomposition, torch.stack([target_top, masked_top]).cpu())
    per_row = rows * length * top_k
    kl, agreement = kl.cpu().numpy(), agreement.cpu().numpy()
    target_loss, masked_loss = target_loss.cpu().numpy(), masked_loss.cpu().numpy()
    results = []
    for row in range(rows):
        start = row * length * top_k
        results.append(
            Comparison(
                tokens=tokens[row * length : (row + 1) * length],
                kl=np.round(kl[row], 5).tolist(),
                target_loss=np.round(target_loss[row], 4).tolist(),
                masked_loss=np.round(masked_loss[row], 4).tolist(),
                target_top=chunks(tops[start : start + length * top_k], top_k),
                masked_top=chunks(tops[per_row + start : per_row + start + length * top_k], top_k),
                mean_kl=float(kl[row].mean()),
                loss_difference=float((masked_loss[row] - target_loss[row]).mean())
                if length > 1
                else None,
                top1_agreement=float(agreement[row].mean()),
            )
        )
    return results


def log_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """`log_softmax` over the vocabulary, in float32, in place where the logits already are
    (a batch's logits are tens of MB: every copy costs)."""
    logits = logits.float()
    return logits.sub_(logits.logsumexp(-1, keepdim=True))


def chunks(values: list, size: int) -> list[list]:
    return [values[i : i + size] for i in range(0, len(values), size)]


def summary(results: list[Comparison]) -> MaskedSummary:
    """Means over rows (each row counts once, as each prompt always did)."""
    differences = [r.loss_difference for r in results if r.loss_difference is not None]
    return MaskedSummary(
        mean_kl=float(np.mean([r.mean_kl for r in results])),
        loss_difference=float(np.mean(differences)) if differences else 0.0,
        top1_agreement=float(np.mean([r.top1_agreement for r in results])),
    )


def folded(decomposition: Decomposition, values: list[float]) -> dict[str, torch.Tensor]:
    """The mask `values` folded into each module's weight (computed once per job)."""
    masks = module_masks(decomposition, np.asarray(values, dtype=np.float32))
    with torch.no_grad():
        return decomposition.model.folded_weights(masks)


def masked_inference(
    decomposition: Decomposition, values: list[float], prompts: list[str], top_k: int = 5
) -> MaskedInference:
    """For each prompt: both models' top-k next tokens, per-position loss and KL; a summary."""
    weights = folded(decomposition, values)
    results = [
        compared(decomposition, encode(decomposition, prompt), weights, top_k)[0]
        for prompt in prompts
    ]
    return MaskedInference(prompts=results, summary=summary(results))


def heldout_windows(decomposition: Decomposition, window_length: int) -> np.ndarray:
    """The held-out corpus (documents no model here trained on) cut into windows: `[n, length]`."""
    key = (str(decomposition.directory), window_length)
    if key not in HELDOUT_WINDOWS:
        from dashboard.models.corpus import split_documents, wiki_documents
        from dashboard.models.datasets import HELDOUT_FRACTION
        from dashboard.models.tokens import cut_windows, token_stream

        held_out = split_documents(wiki_documents(), HELDOUT_FRACTION, seed=0).heldout
        stream = token_stream(decomposition.tokenizer, held_out)
        HELDOUT_WINDOWS.clear()  # one model's windows at a time
        TARGET_ON_WINDOWS.clear()
        HELDOUT_WINDOWS[key] = cut_windows(stream, window_length)
    return HELDOUT_WINDOWS[key]


HELDOUT_WINDOWS: dict[tuple[str, int], np.ndarray] = {}


class OutputsCache:
    """The most recently used target outputs, up to `budget` bytes in all (one larger is not
    kept)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.outputs: OrderedDict[tuple, TargetOutputs] = OrderedDict()

    def get(self, key: tuple) -> TargetOutputs | None:
        outputs = self.outputs.get(key)
        if outputs is not None:
            self.outputs.move_to_end(key)
        return outputs

    def put(self, key: tuple, outputs: TargetOutputs) -> TargetOutputs:
        if outputs.nbytes <= self.budget:
            self.outputs[key] = outputs
            while sum(kept.nbytes for kept in self.outputs.values()) > self.budget:
                self.outputs.popitem(last=False)
        return outputs

    def clear(self) -> None:
        self.outputs.clear()


# The target's outputs on held-out windows do not depend on the mask: a slice run again with
# another mask (the usual way masks are compared) needs only the masked forward.
TARGET_ON_WINDOWS = OutputsCache(TARGET_CACHE_BYTES)


def masked_inference_slice(
    decomposition: Decomposition,
    values: list[float],
    start: int,
    count: int,
    window_length: int,
    batch_size: int = 8,
    top_k: int = 3,
) -> MaskedSlice:
    """Masked inference on held-out windows `start .. start + count - 1`, `batch_size` at a
    time: the summary over the slice, and each window's figures and tokens."""
    windows = heldout_windows(decomposition, window_length)
    check_slice(start, count, len(windows))
    weights = folded(decomposition, values)
    chosen = torch.as_tensor(windows[start : start + count], dtype=torch.long)
    results: list[Comparison] = []
    for first in range(0, len(chosen), batch_size):
        batch = chosen[first : first + batch_size].to(decomposition.device)
        key = (str(decomposition.directory), window_length, start + first, len(batch), top_k)
        target = TARGET_ON_WINDOWS.get(key)
        if target is None:
            target = TARGET_ON_WINDOWS.put(key, target_outputs(decomposition, batch, top_k))
        results += compared(decomposition, batch, weights, top_k, target)
    numbered = [
        WindowComparison(**vars(result), window=start + offset)
        for offset, result in enumerate(results)
    ]
    return MaskedSlice(windows=numbered, summary=summary(results), available=len(windows))


def check_slice(start: int, count: int, available: int) -> None:
    if not 1 <= count <= MAX_SLICE_WINDOWS:
        raise ValueError(f"{count} windows; a slice holds 1 to {MAX_SLICE_WINDOWS}")
    if start < 0 or start + count > available:
        raise ValueError(
            f"windows {start}:{start + count} are outside the held-out corpus, which has "
            f"{available:,} windows of this length (0 to {available - 1:,})"
        )


def heldout_prompts(
    decomposition: Decomposition, count: int = 8, characters: int = 240
) -> HeldoutPrompts:
    """Openings of documents the models never trained on (the corpus's held-out split)."""
    from dashboard.models.corpus import split_documents, wiki_documents
    from dashboard.models.datasets import HELDOUT_FRACTION

    del decomposition  # the split is the same for every model trained here
    held_out = split_documents(wiki_documents(), HELDOUT_FRACTION, seed=0).heldout
    return HeldoutPrompts(
        prompts=[document[:characters].rsplit(" ", 1)[0] for document in held_out[:count]]
    )


def module_depth(path: str) -> float:
    """The layer of a module's path (`model.layers.3.mlp.up_proj`: 3.5; attention: 3.0)."""
    found = LAYER.search(path)
    layer = int(found.group(1)) if found else 0
    return layer + (0.5 if ".mlp." in path else 0.0)


LAYER = re.compile(r"\.(\d+)\.")


def output_of(decomposition: Decomposition, ids: torch.Tensor, target: str) -> tuple[int, int]:
    """(position, token id) of the output a graph explains. `target`: empty, the likeliest next
    token after the text; `@P`, at position P the token that follows it in the text (the
    likeliest one at the last position); anything else, that token (one token) after the text."""
    last = ids.shape[1] - 1
    if target.startswith("@"):
        try:
            position = int(target[1:])
        except ValueError:
            raise ValueError(f"target {target!r}: expected @ and a position") from None
        if not 0 <= position <= last:
            raise ValueError(f"target position {position} is outside the text's 0 to {last}")
        if position < last:
            return position, int(ids[0, position + 1])
        target = ""
    if not target:
        with torch.no_grad():
            logits = target_logits(decomposition.target, ids)
        return last, int(logits[0, last].argmax())
    token = decomposition.tokenizer(target, add_special_tokens=False)["input_ids"]
    if len(token) != 1:
        raise ValueError(f"target {target!r} is {len(token)} tokens; a target is one token")
    return last, int(token[0])


def attribution_graph(
    decomposition: Decomposition,
    text: str,
    assignments: list[int],
    target: str = "",
    threshold: float = 0.1,
    node_share: float = 0.8,
    edge_share: float = 0.8,
) -> AttributionGraph:
    """Which clusters (`assignments`: a cluster per subcomponent, -1 dead) at which positions
    drove the target logit, through which earlier ones; the ablation check of its top nodes."""
    from dashboard.inference.attribution import GraphSettings, cluster_graph

    ids = encode(decomposition, text)
    clusters = np.asarray(assignments, dtype=np.int64)
    if len(clusters) != len(decomposition.labels):
        raise ValueError(
            f"{len(clusters)} assignments for {len(decomposition.labels)} subcomponents"
        )
    for name, share in (
        ("threshold", threshold),
        ("node share", node_share),
        ("edge share", edge_share),
    ):
        if not 0 < share <= 1:
            raise ValueError(f"{name} {share} is outside (0, 1]")
    position, token = output_of(decomposition, ids, target)
    modules, model = decomposition.module_paths, decomposition.model
    with torch.no_grad():
        ci = {path: values[0] for path, values in decomposition.causal_importances(ids).items()}

    def forward(masks: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        acts: dict[str, torch.Tensor] = {}
        logits = model.forward_masked(ids, {p: m[None] for p, m in masks.items()}, record=acts)
        return logits[0, position, token], {path: a[0] for path, a in acts.items()}

    def batched(masks: dict[str, torch.Tensor]) -> torch.Tensor:
        rows = next(iter(masks.values())).shape[0]
        return model.forward_masked(ids.expand(rows, -1), masks)[:, position, token]

    depth = np.concatenate([np.full(ci[path].shape[-1], module_depth(path)) for path in modules])
    settings = GraphSettings(threshold=threshold, node_share=node_share, edge_share=edge_share)
    with torch.enable_grad():
        nodes, edges, figures = cluster_graph(
            forward, batched, ci, modules, clusters, depth, position, settings
        )
    return AttributionGraph(
        tokens=token_strings(decomposition, ids),
        output_position=position,
        output_token=decomposition.tokenizer.decode([token]),
        nodes=nodes,
        edges=edges,
        **figures,
    )
