"""`science.md`: what each measure of a cluster's reliability means, its null, and its
distribution over one study's clusters; written by `build` into the study and, for the demo,
into `docs/science.md` (`spd-atlas science`). Torch-free: it reads the analyses and the
explanation scores a store holds."""

from __future__ import annotations

import numpy as np
import pandas as pd

from dashboard.analysis.measures import ALWAYS_ON_SHARE, LUMP_EXCESS, reliability_labels
from dashboard.analysis.stability import ENSEMBLE_FILE, STABLE, chance_co_clustering
from dashboard.analysis.study_analyses import cluster_analyses, has_file
from dashboard.study.reader import Study

PERCENTILES = (10, 25, 50, 75, 90)
INTRUDER_CHANCE = 0.2  # 1 / dashboard.pipeline.autointerp.evidence.INTRUDER_CHOICES

COHESION_MEASURES = {
    "cohesion": "member entries over (firing tokens x members): the mean share of a cluster's "
    "members active where it fires; 1 = they always fire together",
    "cohesion_null": "the null: the cohesion of the same members if each fired as often as it "
    "does, independently of the others, `Σf / (size · (1 - Π(1 - f)))`",
    "cohesion_ratio": "observed cohesion over its null",
    "cohesion_excess": "chance-corrected cohesion, `(cohesion - null) / (1 - null)`: 0 = no "
    "more together than independent members, 1 = always together",
}
SCORE_MEASURES = {
    "detection": "AUROC of the judge's yes/no over texts where the cluster fires and texts "
    "where it does not, given the cluster's explanation",
    "detection_baseline": "the same, given a random other cluster's explanation (the null)",
    "fuzzing": "AUROC of the judge's yes/no over the cluster's texts with its firing tokens "
    "marked and with as many other tokens marked, given its explanation",
    "fuzzing_baseline": "the same, given a random other cluster's explanation (the null)",
    "intruder": "the probability the judge gives the one text of five not from the cluster "
    f"(no explanation; the null is chance, {INTRUDER_CHANCE})",
}


def distribution_table(table: pd.DataFrame, measures: dict[str, str]) -> list[str]:
    """A markdown table: per measure, the clusters that have it, its mean and percentiles."""
    header = " | ".join(f"{p}th" if p != 50 else "median" for p in PERCENTILES)
    lines = [
        f"| measure | what it is | clusters | mean | {header} |",
        "|---|---|---|---|" + "---|" * len(PERCENTILES),
    ]
    for column, meaning in measures.items():
        values = table[column].to_numpy(np.float64) if column in table else np.zeros(0)
        values = values[np.isfinite(values)]
        if len(values) == 0:
            lines.append(f"| `{column}` | {meaning} | 0 | | " + " | " * (len(PERCENTILES) - 1))
            continue
        cells = " | ".join(f"{v:.3g}" for v in np.percentile(values, PERCENTILES))
        lines.append(f"| `{column}` | {meaning} | {len(values)} | {values.mean():.3g} | {cells} |")
    return lines


def label_lines(clusters: pd.DataFrame) -> list[str]:
    labels = clusters["labels"].fillna("")
    rules = {
        "always-on": f"fires on more than {ALWAYS_ON_SHARE:.0%} of the tokens",
        "lump": f"two members or more, chance-corrected cohesion under {LUMP_EXCESS}",
        "stable": f"stability at least {STABLE}",
    }
    lines = ["| label | rule | clusters | share |", "|---|---|---|---|"]
    for label, rule in rules.items():
        count = int(labels.str.contains(label, regex=False).sum())
        lines.append(f"| {label} | {rule} | {count} | {count / max(len(labels), 1):.1%} |")
    return lines


def score_lines(scores: pd.DataFrame | None, n_clusters: int) -> list[str]:
    if scores is None or scores.empty:
        return [
            "No explanation of this study's clusters has been scored yet: `spd-atlas explain "
            "<study>` explains and scores them (docs/explanations.md), and `spd-atlas science` "
            "then writes their distributions here."
        ]
    lines = [
        f"{len(scores)} of the {n_clusters} clusters have a scored explanation (the newest of "
        "each; `spd-atlas explain --sample N` scores a random sample).",
        "",
        *distribution_table(scores, SCORE_MEASURES),
        "",
    ]
    for measure in ("detection", "fuzzing"):
        both = scores[[measure, f"{measure}_baseline"]].dropna()
        if len(both):
            own, random = both[measure], both[f"{measure}_baseline"]
            above = float((own > random).mean())
            agreement = (
                f"; across clusters the two correlate, r = {np.corrcoef(own, random)[0, 1]:.2f} "
                "(how much of a cluster's score its texts decide, whatever the explanation)"
                if len(both) > 2 and own.std() > 0 and random.std() > 0
                else ""
            )
            lines.append(
                f"- {measure}: the cluster's own explanation scored above the random one for "
                f"{above:.0%} of {len(both)} clusters (half of them would, by chance); mean "
                f"difference {float((own - random).mean()):+.3f}{agreement}."
            )
    intruder = scores["intruder"].dropna()
    if len(intruder):
        lines.append(
            f"- intruder: mean {intruder.mean():.3f} against chance {INTRUDER_CHANCE} over "
            f"{len(intruder)} clusters."
        )
    return lines


def science_report(study: Study, iteration: int, scores: pd.DataFrame | None) -> str:
    """The markdown of `science.md` for `study` at `iteration`; `scores` per cluster as
    `ExplanationStore.newest_scores` gives them (None or empty: none scored)."""
    clusters = cluster_analyses(study, iteration).clusters
    clusters = clusters.assign(labels=reliability_labels(clusters))
    several = clusters[clusters["size"] >= 2]
    chance = (
        chance_co_clustering(np.asarray(study.array(ENSEMBLE_FILE)))
        if has_file(study, ENSEMBLE_FILE)
        else float("nan")
    )
    lumps = clusters["labels"].fillna("").str.contains("lump", regex=False)
    stability_by_kind = (
        f"Median stability of lumps {clusters.loc[lumps, 'stability'].median():.3g}, of the "
        f"other clusters {clusters.loc[~lumps, 'stability'].median():.3g}."
    )
    lines = [
        "# Is this cluster real? The measures, their nulls, and one study's distributions",
        "",
        "<!-- written by spd-atlas build (the study's science.md) and spd-atlas science; "
        "do not edit by hand -->",
        "",
        f"Study `{study.name}` at iteration {iteration}: {len(clusters):,} clusters, "
        f"{len(several):,} of two members or more. Percentiles are over the clusters that have "
        "the measure. Definitions in full: docs/analyses.md (cohesion, stability, labels) and "
        "docs/explanations.md (scores).",
        "",
        "## Cohesion against its null (clusters of two members or more)",
        "",
        *distribution_table(several, COHESION_MEASURES),
        "",
        "## Stability across an ensemble of clusterings",
        "",
        "The share of a cluster's member pairs that the ensemble's runs (the study's clustering "
        "again on disjoint window subsets, or an imported spd ensemble's other runs) put in one "
        f"cluster. The null, pairs drawn at random, lands together {chance:.2%} of the time "
        "(`Σ n(n - 1) / (N(N - 1))` over each run's cluster sizes).",
        "",
        *distribution_table(several, {"stability": "pairs kept together across the runs"}),
        "",
        stability_by_kind,
        "",
        "## Labels",
        "",
        *label_lines(clusters),
        "",
        "## Explanation scores, each beside its baseline",
        "",
        *score_lines(scores, len(clusters)),
        "",
    ]
    return "\n".join(lines)
