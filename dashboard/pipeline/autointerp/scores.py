"""Detection, fuzzing and intruder scores, each beside its baseline (the package docstring)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dashboard.pipeline.autointerp.clients import Explainer
from dashboard.pipeline.autointerp.evidence import INTRUDER_CHOICES, ClusterEvidence
from dashboard.pipeline.autointerp.prompts import detection_prompt, fuzzing_prompt, intruder_prompt
from dashboard.stores.explanations import Score


def auroc(positive: Sequence[float] | np.ndarray, negative: Sequence[float] | np.ndarray) -> float:
    """The probability that a random positive scores above a random negative, ties counting
    half (the Mann-Whitney U over n_pos n_neg, from average ranks)."""
    positive = np.asarray(positive, dtype=np.float64).ravel()
    negative = np.asarray(negative, dtype=np.float64).ravel()
    if positive.size == 0 or negative.size == 0:
        raise ValueError("AUROC needs at least one positive and one negative score")
    ranks = average_ranks(np.concatenate([positive, negative]))
    n_pos, n_neg = positive.size, negative.size
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.flatnonzero(np.concatenate([[True], ordered[1:] != ordered[:-1]]))
    stops = np.append(starts[1:], len(values))
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat((starts + 1 + stops) / 2, stops - starts)
    return ranks


def detection_score(
    explainer: Explainer, explanation: str, activating: Sequence[str], non_activating: Sequence[str]
) -> float | None:
    """AUROC of the judge's answers, activating texts against non-activating ones; None when
    either side has no text."""
    if not activating or not non_activating:
        return None
    texts = (*activating, *non_activating)
    judged = explainer.judge([detection_prompt(explanation, text) for text in texts])
    return auroc(judged[: len(activating)], judged[len(activating) :])


def fuzzing_score(
    explainer: Explainer, explanation: str, rightly: Sequence[str], wrongly: Sequence[str]
) -> float | None:
    """AUROC of the judge's answers, rightly marked texts against wrongly marked ones."""
    if not rightly or not wrongly:
        return None
    judged = explainer.judge([fuzzing_prompt(explanation, t) for t in (*rightly, *wrongly)])
    return auroc(judged[: len(rightly)], judged[len(rightly) :])


def intruder_score(
    explainer: Explainer, trials: Sequence[tuple[Sequence[str], int]]
) -> float | None:
    """The mean probability the judge gives the intruder's number; None without trials."""
    if not trials:
        return None
    picked = explainer.pick([intruder_prompt(texts) for texts, _ in trials], INTRUDER_CHOICES)
    return float(np.mean([picked[i, at] for i, (_, at) in enumerate(trials)]))


def explanation_scores(
    explainer: Explainer, evidence: ClusterEvidence, explanation: str, decoy: str | None
) -> tuple[Score, ...]:
    """Detection and fuzzing of `explanation`, each beside the same test of `decoy` (a random
    other cluster's explanation), and the intruder score beside chance."""
    scores = []
    for measure, score_of, texts in (
        ("detection", detection_score, (evidence.activating, evidence.non_activating)),
        ("fuzzing", fuzzing_score, (evidence.rightly_marked, evidence.wrongly_marked)),
    ):
        value = score_of(explainer, explanation, *texts)
        if value is not None:
            baseline = None if decoy is None else score_of(explainer, decoy, *texts)
            scores.append(Score(measure, value, baseline))
    intruder = intruder_score(explainer, evidence.intruder_trials)
    if intruder is not None:
        scores.append(Score("intruder", intruder, 1.0 / INTRUDER_CHOICES))
    return tuple(scores)


def decoys(
    explanations: Mapping[int, str], others: Sequence[str], seed: int
) -> dict[int, str | None]:
    """For each cluster, a random explanation of another: from `explanations` (this batch's)
    when it holds more than one, else from `others` (explanations stored before)."""
    chosen: dict[int, str | None] = {}
    for cluster, text in explanations.items():
        pool = [t for c, t in explanations.items() if c != cluster and t != text]
        pool = pool or [t for t in others if t != text]
        rng = np.random.default_rng([seed, cluster, 3])
        chosen[cluster] = pool[int(rng.integers(0, len(pool)))] if pool else None
    return chosen
