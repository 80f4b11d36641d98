"""The `analyse` stage of `build`: per-cluster measures, token groups, lenses and the map.

Everything is computed for the study's default iteration and written next to the harvest and
the clustering; `dashboard.analysis.study_analyses` reads it back, or recomputes the measures
for another iteration.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from dashboard.analysis.cluster_map import cluster_map
from dashboard.analysis.lens_decode import decode_clusters, decode_members
from dashboard.analysis.lenses import LensArray, decoding_arrays, lens_files
from dashboard.analysis.measures import ClusterAnalyses, MeasureInputs, analyse_clusters
from dashboard.analysis.sae_features import TopKSae, encode, feature_top_tokens
from dashboard.analysis.study_analyses import write_cluster_analyses
from dashboard.decomposition.api import Decomposition
from dashboard.pipeline.anatomy import Anatomy, anatomy_of
from dashboard.pipeline.directions import ResidualDirections, residual_directions
from dashboard.pipeline.lens_scoring import device_scorer
from dashboard.pipeline.residuals import collect_residuals
from dashboard.pipeline.sae import SaeConfig, train_topk_sae
from dashboard.pipeline.token_groups import group_labels, token_groups
from dashboard.pipeline.tuned_lens import TunedLensConfig, train_tuned_lens
from dashboard.study import StudyWriter
from dashboard.study.merge_tree import CLUSTER_IDS

LABEL_TOKENS = 6


@dataclass(frozen=True)
class AnalysisConfig:
    token_groups: int = 64  # k of the k-means over token embeddings
    top_tokens: int = 10  # per cluster, by count and by mass
    top_related: int = 10  # coactivating clusters kept per cluster
    top_items: int = 10  # lens items kept at each end (promoted / suppressed)
    lens_windows: int = 256  # harvested windows whose residuals train the tuned lens and SAEs
    residual_sample: int = 4096  # residual-stream tokens kept for the plane view
    batch_size: int = 32
    seed: int = 0
    tuned_lens: TunedLensConfig = field(default_factory=TunedLensConfig)
    sae: SaeConfig = field(default_factory=SaeConfig)


@dataclass
class TrainedLenses:
    tuned_weights: np.ndarray
    tuned_bias: np.ndarray
    sae_points: np.ndarray
    saes: list[TopKSae]
    report: dict


def stage(name: str) -> float:
    print(f"analyse: {name}", flush=True)
    return time.perf_counter()


def token_lens_matrices(anatomy: Anatomy) -> tuple[np.ndarray, np.ndarray]:
    """(logit lens `[d, vocab]` with the final-norm gain folded in, embeddings `[vocab, d]`)."""
    unembedding = anatomy.unembedding.weight.detach().float().cpu()
    gain = anatomy.final_norm_weight.float().cpu()
    logit = (unembedding * gain).T.numpy().astype(np.float16)
    return logit, anatomy.embedding.weight.detach().float().cpu().numpy().astype(np.float16)


def touched_points(directions: ResidualDirections, alive: np.ndarray) -> list[int]:
    """Residual points that some alive member's direction lives at."""
    points = set()
    for side, vectors in (("read", directions.read), ("write", directions.write)):
        has_path = alive & ~np.isnan(vectors).any(axis=1)
        points |= set(directions.table[f"{side}_point"].to_numpy()[has_path].tolist())
    return sorted(int(p) for p in points)


def train_lenses(
    decomposition: Decomposition,
    residuals: np.ndarray,
    lens_tokens: np.ndarray,
    sae_points: list[int],
    vocab: list[str],
    config: AnalysisConfig,
) -> tuple[TrainedLenses, pd.DataFrame]:
    """The tuned lens on every point, an SAE on each touched point, and the SAE feature table."""
    tuned = train_tuned_lens(
        decomposition.target, residuals, config.tuned_lens, decomposition.device
    )
    saes, feature_tables = [], []
    for point in tqdm(sae_points, desc="SAEs", leave=False):
        sae = train_topk_sae(residuals[point], config.sae, decomposition.device)
        saes.append(sae)
        top_tokens = feature_top_tokens(sae, residuals[point], lens_tokens, LABEL_TOKENS)
        indices, values = encode(sae, residuals[point])
        fired = np.bincount(indices[values > 0], minlength=sae.n_features)
        feature_tables.append(
            pd.DataFrame(
                {
                    "point": np.full(sae.n_features, point, dtype=np.int32),
                    "feature": np.arange(sae.n_features, dtype=np.int32),
                    "label": [" ".join(repr(vocab[t]) for t in tokens) for tokens in top_tokens],
                    "frequency": fired / len(lens_tokens),
                }
            )
        )
    report = {
        "tuned_lens": tuned.report,
        "sae": {str(point): sae.report for point, sae in zip(sae_points, saes, strict=True)},
    }
    lenses = TrainedLenses(
        tuned.weights, tuned.bias, np.asarray(sae_points, np.int32), saes, report
    )
    return lenses, pd.concat(feature_tables, ignore_index=True)


def lens_arrays(
    lenses: TrainedLenses, logit: np.ndarray, embedding: np.ndarray
) -> dict[str, np.ndarray]:
    """Every array the lens registry declares (`dashboard/analysis/lenses.py`), by name."""
    saes = {
        f"sae_{name}": np.stack([getattr(sae, name) for sae in lenses.saes])
        for name in ("encoder", "encoder_bias", "decoder", "decoder_bias")
    }
    return {
        "logit": logit,
        "embedding": embedding,
        "tuned_weights": lenses.tuned_weights,
        "tuned_bias": lenses.tuned_bias,
        "sae_points": lenses.sae_points,
        **saes,
    }


def write_lenses(
    writer: StudyWriter, arrays: dict[str, np.ndarray], tables: dict[str, pd.DataFrame]
) -> None:
    """Store each file of the lens registry, arrays in their declared dtypes."""
    for declared in lens_files():
        if isinstance(declared, LensArray):
            writer.write_array(declared.path, arrays[declared.name].astype(declared.dtype))
        else:
            writer.write_table(declared.path, tables[declared.name])


def residual_sample(
    residuals: np.ndarray, positions: np.ndarray, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random subset of the residual tokens, for the plane view: (float16, positions)."""
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(residuals.shape[1], min(size, residuals.shape[1]), replace=False))
    return residuals[:, chosen].astype(np.float16), positions[chosen]


def analyse_study(
    writer: StudyWriter,
    decomposition: Decomposition,
    inputs: MeasureInputs,
    assignments: np.ndarray,
    config: AnalysisConfig,
    ensemble: np.ndarray | None = None,
) -> ClusterAnalyses:
    """Compute every analysis of the clustering `assignments` (and its stability across
    `ensemble`, if given) and write it into the study."""
    timings: dict[str, float] = {}
    anatomy = anatomy_of(decomposition.target)
    vocab = [decomposition.tokenizer.decode([i]) for i in range(len(inputs.base_count))]

    started = stage("token groups")
    logit, embedding = token_lens_matrices(anatomy)
    groups = token_groups(embedding[: len(inputs.base_count)], config.token_groups, config.seed)
    writer.write_array("analyses/token_groups.npy", groups)
    writer.write_table(
        "analyses/token_group_labels.parquet", group_labels(groups, vocab, inputs.base_count)
    )
    inputs = MeasureInputs(
        **{**inputs.__dict__, "token_groups": groups, "n_token_groups": int(groups.max()) + 1}
    )
    timings["token_groups_s"] = time.perf_counter() - started

    started = stage("per-cluster measures")
    analyses = analyse_clusters(
        inputs, assignments, config.top_tokens, config.top_related, ensemble
    )
    write_cluster_analyses(writer.write_table, writer.write_array, analyses)
    timings["measures_s"] = time.perf_counter() - started

    started = stage("residual directions")
    components = {
        path: (decomposition.model.component(path).V, decomposition.model.component(path).U)
        for path in decomposition.module_paths
    }
    directions = residual_directions(anatomy, components)
    writer.write_table("lenses/directions.parquet", directions.table)
    writer.write_array("lenses/read_directions.npy", directions.read.astype(np.float32))
    writer.write_array("lenses/write_directions.npy", directions.write.astype(np.float32))
    timings["directions_s"] = time.perf_counter() - started

    started = stage("residual stream, tuned lens and SAEs")
    windows = np.asarray(inputs.token_ids[: config.lens_windows])
    residuals = collect_residuals(
        decomposition.target,
        windows,
        list(range(anatomy.n_layers + 1)),
        config.batch_size,
        decomposition.device,
    )
    sae_points = touched_points(directions, assignments >= 0)
    lenses, features = train_lenses(
        decomposition, residuals, windows.reshape(-1), sae_points, vocab, config
    )
    arrays = lens_arrays(lenses, logit, embedding)
    write_lenses(writer, arrays, {"sae_features": features})
    matrices = {array.name: arrays[array.name] for array in decoding_arrays()}
    del arrays  # frees the stacked arrays that no lens decodes with (SAE encoders, ...)
    sample, positions = residual_sample(
        residuals, np.arange(windows.size, dtype=np.int64), config.residual_sample, config.seed
    )
    writer.write_array("lenses/residual_sample.npy", sample)
    writer.write_array("lenses/residual_positions.npy", positions)
    del residuals
    timings["lenses_s"] = time.perf_counter() - started

    started = stage("lens decodings")
    scorer = device_scorer(matrices, decomposition.device)
    side_directions = {"read": directions.read, "write": directions.write}
    points = {side: directions.table[f"{side}_point"].to_numpy() for side in side_directions}
    alive = np.flatnonzero(assignments >= 0)
    writer.write_table(
        "lenses/member_decodings.parquet",
        decode_members(matrices, side_directions, points, alive, config.top_items, scorer),
    )
    writer.write_table(
        "lenses/cluster_decodings.parquet",
        decode_clusters(
            matrices, side_directions, points, analyses.members, config.top_items, scorer
        ),
    )
    timings["decodings_s"] = time.perf_counter() - started

    started = stage("cluster map (UMAP)")
    writer.write_table(
        "analyses/map.parquet",
        cluster_map(
            analyses.clusters,
            analyses.members,
            inputs.subcomponents,
            analyses.arrays,
            config.seed,
        ),
    )
    timings["map_s"] = time.perf_counter() - started
    writer.settings = {
        **(writer.settings or {}),
        "analyses": {
            "iteration": writer.default_iteration,
            "cluster_ids": CLUSTER_IDS,
            "config": asdict(config),
            "report": lenses.report,
            "timings": {name: round(seconds, 2) for name, seconds in timings.items()},
        },
    }
    return analyses
