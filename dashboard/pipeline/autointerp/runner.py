"""Explaining a study's clusters in batches, storing each batch as it is done; resumable."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from dashboard.analysis.study_analyses import cluster_analyses
from dashboard.pipeline.autointerp.clients import Explainer
from dashboard.pipeline.autointerp.evidence import (
    DEFAULT_EVIDENCE,
    EvidenceConfig,
    cluster_evidence,
)
from dashboard.pipeline.autointerp.prompts import NO_EXPLANATION
from dashboard.pipeline.autointerp.scores import decoys, explanation_scores
from dashboard.stores.explanations import MEASURES, Explanation, ExplanationStore, Score
from dashboard.study.reader import Study


@dataclass
class ExplainReport:
    author: str
    scores: dict[int, tuple[Score, ...]] = field(default_factory=dict)  # cluster -> its scores
    skipped: list[int] = field(default_factory=list)  # explained by this author before
    weak_contrast: list[int] = field(default_factory=list)  # fire in their non-activating texts
    seconds: float = 0.0

    @property
    def explained(self) -> list[int]:
        return list(self.scores)

    def means(self) -> dict[str, tuple[float, float | None]]:
        """Per measure, the mean score over the clusters that have one, and the mean of their
        baselines (None where no baseline was measured)."""
        means = {}
        for measure in MEASURES:
            found = [s for scores in self.scores.values() for s in scores if s.measure == measure]
            if found:
                baselines = [s.baseline for s in found if s.baseline is not None]
                means[measure] = (
                    float(np.mean([s.value for s in found])),
                    float(np.mean(baselines)) if baselines else None,
                )
        return means


def clusters_to_explain(
    study: Study,
    iteration: int,
    clusters: Sequence[int] | None,
    limit: int | None,
    sample: int | None = None,
) -> list[int]:
    """The named clusters (all that fire at `iteration` by default), by id: `sample` of them
    drawn at random (seeded, the same each time), then the first `limit`."""
    for name, count in (("limit", limit), ("sample", sample)):
        if count is not None and count < 0:
            raise ValueError(f"{name} {count}: expected a number of clusters, 0 or more")
    table = cluster_analyses(study, iteration).clusters
    firing = set(table.loc[table["firing_frequency"] > 0, "cluster"].tolist())
    if clusters is None:
        chosen = sorted(firing)
    else:
        chosen = sorted(set(clusters))
        missing = [c for c in chosen if c not in set(table["cluster"].tolist())]
        if missing:
            raise ValueError(f"no cluster(s) {missing} at iteration {iteration} of {study.name}")
        silent = [c for c in chosen if c not in firing]
        if silent:
            raise ValueError(f"cluster(s) {silent} never fire: there is nothing to explain")
    if sample is not None and sample < len(chosen):
        drawn = np.random.default_rng(0).choice(len(chosen), size=sample, replace=False)
        chosen = [chosen[i] for i in sorted(drawn)]
    return chosen if limit is None else chosen[:limit]


def explain_study(
    study: Study,
    iteration: int,
    store: ExplanationStore,
    explainer: Explainer,
    clusters: Sequence[int] | None = None,
    limit: int | None = None,
    batch_size: int = 8,
    progress: bool = True,
    config: EvidenceConfig = DEFAULT_EVIDENCE,
    sample: int | None = None,
) -> ExplainReport:
    """Explain and score clusters in batches, storing each batch as soon as it is done; clusters
    this explainer already explained are skipped, so an interrupted run resumes."""
    if batch_size < 1:
        raise ValueError(f"batch size {batch_size}: expected 1 or more")
    started = time.perf_counter()
    report = ExplainReport(author=explainer.name)
    todo = []
    for cluster in clusters_to_explain(study, iteration, clusters, limit, sample):
        if store.exists(study.name, iteration, "cluster", str(cluster), explainer.name):
            report.skipped.append(cluster)
        else:
            todo.append(cluster)
    others = [
        e.text
        for e in store.of_study(study.name, iteration)
        if e.author == explainer.name and e.text != NO_EXPLANATION
    ]
    with tqdm(total=len(todo), desc="explain", unit=" clusters", disable=not progress) as bar:
        for first in range(0, len(todo), batch_size):
            batch = todo[first : first + batch_size]
            evidence = [cluster_evidence(study, iteration, c, config) for c in batch]
            texts = dict(zip(batch, explainer.explain(evidence), strict=True))
            explained = {c: t for c, t in texts.items() if t != NO_EXPLANATION}
            decoy_of = decoys(explained, others, config.seed)
            for found in evidence:
                text = texts[found.cluster]
                scores: tuple[Score, ...] = ()
                if text != NO_EXPLANATION:
                    scores = explanation_scores(explainer, found, text, decoy_of[found.cluster])
                detection = next((s.value for s in scores if s.measure == "detection"), None)
                store.put(
                    Explanation(
                        study=study.name,
                        iteration=iteration,
                        kind="cluster",
                        target=str(found.cluster),
                        source="model",
                        author=explainer.name,
                        text=text,
                        score=detection,
                        scores=scores,
                    )
                )
                report.scores[found.cluster] = scores
                if found.weak_contrast:
                    report.weak_contrast.append(found.cluster)
                bar.update(1)
            others.extend(explained.values())
    report.seconds = time.perf_counter() - started
    return report
