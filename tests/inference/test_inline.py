"""The inline inference service on the micro study's real decomposition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dashboard.inference.compute import InputTooLongError
from dashboard.inference.service import CachedService, InferenceService, InlineService
from dashboard.settings import Settings
from dashboard.study import Study

TEXT = "The river flows through the old city and into the sea."


@pytest.fixture(scope="module")
def study(micro_study: Path) -> Study:
    return Study(micro_study)


@pytest.fixture(scope="module")
def service(micro_data_dir: Path) -> InlineService:
    return InlineService(Settings.from_env({"ATLAS_DATA_DIR": str(micro_data_dir)}))


def test_probe_returns_the_decompositions_importances(service, study) -> None:
    result = service.probe(study, TEXT, 0.1)
    n_tokens = len(result.tokens)
    assert n_tokens > 5 and "".join(result.tokens) == TEXT
    assert len(result.position) == len(result.subcomponent) == len(result.ci) > 0
    assert max(result.position) < n_tokens
    assert max(result.subcomponent) < len(study.subcomponents)
    assert min(result.ci) > 0.1
    decomposition = service.decomposition(study)
    ci = decomposition.causal_importances(decomposition.encode(TEXT))
    first = decomposition.module_paths[0]
    expected = np.argwhere(ci[first][0].cpu().numpy() > 0.1)
    got = [
        (p, s)
        for p, s in zip(result.position, result.subcomponent, strict=True)
        if s < ci[first].shape[-1]
    ]
    assert sorted(got) == sorted(map(tuple, expected.tolist()))


def test_masks_steer_the_model(service, study) -> None:
    n = len(study.subcomponents)
    prompts = [TEXT, "In 1990 the team won the national cup."]
    full = service.masked_inference(study, [1.0] * n, prompts)
    empty = service.masked_inference(study, [0.0] * n, prompts)
    assert full.summary.mean_kl < 0.2 < empty.summary.mean_kl
    assert full.summary.top1_agreement > empty.summary.top1_agreement
    first = full.prompts[0]
    assert len(first.kl) == len(first.tokens) == len(first.target_top)
    assert len(first.target_loss) == len(first.tokens) - 1
    assert all(len(top) == 5 for top in first.target_top)


def test_importance_over_prompts(service, study) -> None:
    prompts = [TEXT, "The cat sat on the mat."]
    highest = service.prompt_importance(study, prompts, "max").per_subcomponent
    average = service.prompt_importance(study, prompts, "mean").per_subcomponent
    assert len(highest) == len(study.subcomponents)
    assert all(h >= a for h, a in zip(highest, average, strict=True))
    with pytest.raises(ValueError, match="aggregate 'median'"):
        service.prompt_importance(study, prompts, "median")


def test_oversized_text_is_refused_with_its_limit(service, study) -> None:
    with pytest.raises(InputTooLongError, match="the limit is 512 per text"):
        service.probe(study, "word " * 2000, 0.1)


class Counting(InferenceService):
    """The real service, counting how often it computes."""

    def __init__(self, backend: InlineService):
        self.backend, self.calls = backend, 0

    def call(self, study, operation, arguments):
        self.calls += 1
        return self.backend.call(study, operation, arguments)


def test_results_are_cached_by_study_operation_and_input(service, study, tmp_path) -> None:
    counting = Counting(service)
    cached = CachedService(counting, Settings.from_env({"ATLAS_DATA_DIR": str(tmp_path)}))
    first = cached.probe(study, TEXT, 0.1)
    assert cached.probe(study, threshold=0.1, text=TEXT) == first
    assert counting.calls == 1
    cached.probe(study, TEXT, 0.2)
    assert counting.calls == 2
    with pytest.raises(InputTooLongError):
        cached.probe(study, "word " * 2000, 0.1)
    with pytest.raises(InputTooLongError):  # errors are not cached
        cached.probe(study, "word " * 2000, 0.1)
    assert counting.calls == 4
    held_out = cached.heldout_prompts(study)
    assert cached.heldout_prompts(study, count=8) == held_out  # a default, said or not
    assert counting.calls == 5 and len(held_out.prompts) == 8


def test_a_folded_mask_computes_what_the_masked_subcomponents_do(service, study) -> None:
    import torch

    from dashboard.inference.compute import folded, module_masks

    decomposition = service.decomposition(study)
    values = np.random.default_rng(0).random(len(study.subcomponents)).astype(np.float32)
    ids = decomposition.encode(TEXT)
    by_subcomponents = decomposition.forward_masked(ids, module_masks(decomposition, values))
    with torch.no_grad():
        by_weights = decomposition.model.forward_folded(ids, folded(decomposition, values))
    np.testing.assert_allclose(by_weights.numpy(), by_subcomponents.numpy(), atol=1e-4)


def test_masked_inference_on_a_held_out_slice(service, study) -> None:
    n = len(study.subcomponents)
    arguments = {"values": [0.0] * n, "start": 3, "count": 10, "window_length": 16}
    result = service.masked_inference_slice(study, **arguments)
    windows = result.windows
    assert [w.window for w in windows] == list(range(3, 13))
    assert all(len(w.tokens) == len(w.kl) == 16 for w in windows)
    assert result.summary.mean_kl == pytest.approx(np.mean([w.mean_kl for w in windows]))
    assert result.summary.mean_kl > 0.2  # everything off: the model is lost
    one_batch = service.masked_inference_slice(study, **{**arguments, "batch_size": 10})
    np.testing.assert_allclose(
        [w.mean_kl for w in one_batch.windows], [w.mean_kl for w in windows], atol=1e-5
    )
    with pytest.raises(ValueError, match="a slice holds 1 to 64"):
        service.masked_inference_slice(study, **{**arguments, "count": 65})
    with pytest.raises(ValueError, match="outside the held-out corpus"):
        service.masked_inference_slice(study, **{**arguments, "start": 10**7})


def test_kl_and_losses_are_the_textbook_ones(service, study) -> None:
    import torch
    import torch.nn.functional as F

    from dashboard.inference.compute import folded

    values = np.random.default_rng(1).random(len(study.subcomponents)).tolist()
    result = service.masked_inference(study, values, [TEXT])
    decomposition = service.decomposition(study)
    ids = decomposition.encode(TEXT)
    with torch.no_grad():
        target = F.log_softmax(decomposition.target(ids).logits[0].float(), -1)
        masked = decomposition.model.forward_folded(ids, folded(decomposition, values))
        masked = F.log_softmax(masked[0].float(), -1)
    kl = F.kl_div(masked, target, log_target=True, reduction="none").sum(-1)
    np.testing.assert_allclose(result.prompts[0].kl, kl.numpy(), atol=1e-4)
    losses = -masked[:-1].gather(-1, ids[0, 1:, None])[:, 0]
    np.testing.assert_allclose(result.prompts[0].masked_loss, losses.numpy(), atol=1e-3)


def test_another_mask_on_a_slice_reuses_the_targets_outputs_unchanged(service, study) -> None:
    from dashboard.inference.compute import TARGET_ON_WINDOWS

    n = len(study.subcomponents)
    rng = np.random.default_rng(2)
    first, second = (rng.random(n).tolist() for _ in range(2))
    arguments = {"start": 0, "count": 6, "window_length": 16, "batch_size": 4}
    TARGET_ON_WINDOWS.clear()
    service.masked_inference_slice(study, first, **arguments)
    assert len(TARGET_ON_WINDOWS.outputs) == 2  # one entry per batch of the slice
    kept = service.masked_inference_slice(study, second, **arguments)
    TARGET_ON_WINDOWS.clear()
    computed = service.masked_inference_slice(study, second, **arguments)
    for name in ("kl", "target_loss", "masked_loss"):
        np.testing.assert_allclose(
            [getattr(w, name) for w in kept.windows],
            [getattr(w, name) for w in computed.windows],
            atol=1e-6,
        )
    assert [w.target_top for w in kept.windows] == [w.target_top for w in computed.windows]


def test_the_outputs_cache_keeps_the_most_recent_within_its_budget() -> None:
    import torch

    from dashboard.inference.compute import OutputsCache, TargetOutputs

    def outputs(values: int) -> TargetOutputs:  # 4 bytes a value
        return TargetOutputs(*(torch.zeros(values // 4) for _ in range(4)))

    cache = OutputsCache(budget=3 * 400)
    for key in "abcd":
        cache.put((key,), outputs(100))
    assert list(cache.outputs) == [("b",), ("c",), ("d",)]
    assert cache.get(("b",)) is not None  # used: now the most recent
    cache.put(("e",), outputs(100))
    assert list(cache.outputs) == [("d",), ("b",), ("e",)]
    cache.put(("huge",), outputs(1000))  # over the whole budget: not kept
    assert ("huge",) not in cache.outputs and len(cache.outputs) == 3
