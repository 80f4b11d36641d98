"""`spd-atlas build`: decompose, harvest, cluster, analyse, write the study; skip what is current.

Work lives under `<data dir>/work/`, named by the hash of each stage's inputs, so a stage reruns
only when something it depends on changed, and an interrupted harvest resumes with its missing
shards. The harvest's shards are computed in this process, or by Celery workers on any host that
sees the data directory (`--workers celery`, `harvest_workers.py`), with the same bytes either
way; they are kept for later builds (delete `work/` to reclaim space). The study itself is
written by `StudyWriter` into a draft directory and renamed into place. While it runs, the build
records its stage and the harvest's progress beside the study, for the study page to show.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import torch

from dashboard.analysis.measures import MeasureInputs
from dashboard.analysis.stability import ENSEMBLE_FILE
from dashboard.analysis.study_analyses import stored_iteration
from dashboard.decomposition.api import Decomposition, load_decomposition
from dashboard.decomposition.presets import PRESETS as DECOMPOSITION_PRESETS
from dashboard.decomposition.store import TARGET, content_id, is_complete
from dashboard.decomposition.train import decompose
from dashboard.models.corpus import wiki_summaries_path
from dashboard.pipeline.analyse import analyse_study, stage
from dashboard.pipeline.clustering import MergeResult, merge_to_the_end
from dashboard.pipeline.examples import subcomponent_examples
from dashboard.pipeline.harvest import HarvestFigures, harvest_windows, run_harvest
from dashboard.pipeline.presets import BuildPreset
from dashboard.pipeline.sparse_store import ColumnStore, assemble, subcomponent_stats
from dashboard.pipeline.stability import cluster_share, ensemble_assignments
from dashboard.settings import Settings
from dashboard.study import Study, StudyExistsError, StudyWriter
from dashboard.study.build_progress import clear_progress, write_progress
from dashboard.study.clusters import assignments_at
from dashboard.study.provenance import sha256_directory, sha256_file, sha256_json
from dashboard.study.quality import REPORT as QUALITY_REPORT
from dashboard.study.quality import summary_of
from dashboard.study.schema import MANIFEST_NAME

LAYER = re.compile(r"\.(\d+)\.")


def module_layer_and_kind(path: str) -> tuple[int, str]:
    """`model.layers.1.mlp.down_proj` -> (1, `mlp.down_proj`); no layer number -> (-1, path)."""
    match = LAYER.search(f".{path}.")
    if match is None:
        return -1, path
    return int(match.group(1)), f".{path}."[match.end() :].strip(".") or path


def recorded_quality(decomposition_dir: Path) -> dict:
    """The decomposition's training report, as the study keeps it (nothing when it has none)."""
    try:
        report = json.loads((decomposition_dir / QUALITY_REPORT).read_text())
    except (OSError, ValueError):
        return {}
    return {"decomposition_quality": summary_of(report)}


def provenance_of(decomposition_dir: Path, preset: BuildPreset) -> dict[str, str]:
    return {
        "target_model": sha256_directory(decomposition_dir / TARGET),
        "decomposition": content_id(decomposition_dir),
        "dataset": sha256_json(
            {"corpus": sha256_file(wiki_summaries_path()), "harvest": asdict(preset.harvest)}
        ),
        "clustering_config": sha256_json(
            {
                "clustering": asdict(preset.clustering),
                "analyses": asdict(preset.analyses),
                "stability": asdict(preset.stability),
            }
        ),
    }


def subcomponent_table(decomposition: Decomposition, stats) -> pd.DataFrame:
    modules, indices, layers, kinds = [], [], [], []
    for path in decomposition.module_paths:
        layer, kind = module_layer_and_kind(path)
        n_components = decomposition.model.component(path).n_components
        modules += [path] * n_components
        indices += list(range(n_components))
        layers += [layer] * n_components
        kinds += [kind] * n_components
    return pd.DataFrame(
        {
            "label": decomposition.labels,
            "module": modules,
            "index": np.asarray(indices, dtype=np.int32),
            "layer": np.asarray(layers, dtype=np.int32),
            "module_kind": kinds,
            "firing_frequency": stats.firing_frequency,
            "mean_ci": stats.mean_ci,
            "max_ci": stats.max_ci,
        }
    )


def vocab_table(decomposition: Decomposition, token_ids: np.ndarray) -> pd.DataFrame:
    size = max(len(decomposition.tokenizer), int(token_ids.max()) + 1)
    return pd.DataFrame(
        {
            "token_id": np.arange(size, dtype=np.int32),
            "token": [decomposition.tokenizer.decode([i]) for i in range(size)],
            "base_count": np.bincount(token_ids.ravel(), minlength=size).astype(np.int64),
        }
    )


def cached_clustering(
    work: Path, store: ColumnStore, n_tokens: int, preset: BuildPreset
) -> MergeResult:
    """Merge once per (harvest, clustering) inputs; later builds read the saved history."""
    if (work / "merges.parquet").is_file():
        saved = json.loads((work / "clustering.json").read_text())
        return MergeResult(
            np.load(work / "initial_groups.npy"),
            pq.read_table(work / "merges.parquet").to_pandas(),
            saved["default_iteration"],
        )
    result = merge_to_the_end(store, n_tokens, preset.clustering)
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "initial_groups.npy", result.initial_groups)
    (work / "clustering.json").write_text(
        json.dumps({"default_iteration": result.default_iteration})
    )
    result.merges.to_parquet(work / "merges.parquet", index=False)  # last: marks the stage done
    return result


def build_study(
    name: str,
    preset: BuildPreset,
    data_dir: Path,
    out: Path,
    device: torch.device,
    force: bool = False,
    decomposition_dir: Path | None = None,
    workers: Workers = "local",
    settings: Settings | None = None,
) -> Path:
    """Run every stage that is not current and write the study; return its path. With
    `workers="celery"` the harvest's shards go to the harvest queue on `settings.redis_url`."""
    if decomposition_dir is None:
        decomposition_dir = data_dir / "decompositions" / preset.decomposition
        if not is_complete(decomposition_dir):
            decompose(
                DECOMPOSITION_PRESETS[preset.decomposition], decomposition_dir, data_dir, device
            )
    provenance = provenance_of(decomposition_dir, preset)
    if (out / MANIFEST_NAME).is_file():
        existing = Study(out)
        if existing.provenance != provenance and not force:
            raise StudyExistsError(
                f"{out} already holds a study built from other inputs; pass --force"
            )
        if existing.provenance == provenance:
            if stored_iteration(existing) is not None:
                print(f"{out} is up to date", flush=True)
                return out
            print(f"{out}: its analyses name clusters by older ids; rebuilding", flush=True)
        force = True  # the same inputs, rewritten
    try:
        write_study(name, preset, data_dir, out, device, force, decomposition_dir, provenance,
                    workers, settings)  # fmt: skip
    finally:
        clear_progress(out)
    return out


Workers = Literal["local", "celery"]


def harvest_shards(
    preset: BuildPreset,
    decomposition: Decomposition,
    decomposition_dir: Path,
    work_dir: Path,
    windows: np.ndarray,
    out: Path,
    workers: Workers,
    settings: Settings | None,
) -> list[Path]:
    """Every shard of the harvest, computed here or by the harvest queue's workers."""

    def report(figures: HarvestFigures) -> None:
        write_progress(out, "harvest", workers=workers, harvest=figures.to_json())

    if workers == "local":
        return run_harvest(
            decomposition, preset.harvest, work_dir, windows, preset.shard_batches, report
        )
    if settings is None or settings.redis_url is None:
        raise ValueError("--workers celery needs REDIS_URL: the Redis the harvest workers serve")
    from dashboard.pipeline.harvest_workers import harvest_on_workers

    return harvest_on_workers(decomposition_dir, preset.harvest, work_dir, windows,
                              preset.shard_batches, settings, report)  # fmt: skip


def write_study(
    name: str,
    preset: BuildPreset,
    data_dir: Path,
    out: Path,
    device: torch.device,
    force: bool,
    decomposition_dir: Path,
    provenance: dict[str, str],
    workers: Workers,
    settings: Settings | None,
) -> None:
    decomposition = load_decomposition(decomposition_dir, device=str(device))
    harvest_work = (
        data_dir
        / "work"
        / f"harvest-{sha256_json([provenance['decomposition'], provenance['dataset']])[:16]}"
    )
    windows = harvest_windows(decomposition, preset.harvest)
    shards = harvest_shards(
        preset, decomposition, decomposition_dir, harvest_work, windows, out, workers, settings
    )
    n_tokens = windows.size

    with StudyWriter(out, name, provenance, default_iteration=0, overwrite=force) as writer:
        writer.write_array("windows/token_ids.npy", windows)
        write_progress(out, "assembling the shards", workers=workers)
        store = assemble(shards, len(decomposition.labels), writer.open_array)
        examples = preset.examples
        stats = subcomponent_stats(
            store, n_tokens, preset.harvest.threshold, examples.histogram_bins
        )
        subcomponents = subcomponent_table(decomposition, stats)
        vocab = vocab_table(decomposition, windows)
        writer.write_table("subcomponents.parquet", subcomponents)
        writer.write_table("vocab.parquet", vocab)
        writer.write_array("activations/indptr.npy", store.indptr)
        writer.write_array("activations/ci_histograms.npy", stats.histograms)
        writer.write_table(
            "examples.parquet",
            subcomponent_examples(
                store, examples.top_k, examples.quantile_bands, examples.per_band
            ),
        )
        clustering_work = (
            data_dir
            / "work"
            / f"clustering-{sha256_json([harvest_work.name, asdict(preset.clustering)])[:16]}"
        )
        write_progress(out, "clustering", workers=workers)
        result = cached_clustering(clustering_work, store, n_tokens, preset)
        writer.write_array("clustering/initial_groups.npy", result.initial_groups)
        writer.write_table("clustering/merges.parquet", result.merges)
        writer.default_iteration = result.default_iteration
        writer.settings = {
            "harvest": asdict(preset.harvest),
            "clustering": asdict(preset.clustering),
            "examples": asdict(examples),
            "stability": asdict(preset.stability) | {"kind": "window subsets"},
            "decomposition_dir": str(decomposition_dir.resolve()),
            **recorded_quality(decomposition_dir),
        }
        inputs = MeasureInputs(
            indptr=store.indptr,
            token_index=store.token_index,
            ci=store.ci,
            token_ids=windows,
            base_count=vocab["base_count"].to_numpy(),
            subcomponents=subcomponents,
            threshold=preset.harvest.threshold,
            bins=examples.histogram_bins,
        )
        assignments = assignments_at(result.initial_groups, result.merges, result.default_iteration)
        ensemble = None
        if preset.stability.runs > 1:
            write_progress(out, "stability", workers=workers)
            started = stage(
                f"stability: clustering {preset.stability.runs} disjoint window subsets"
            )
            ensemble = ensemble_assignments(
                store,
                n_tokens,
                windows.shape[1],
                preset.clustering,
                preset.stability.runs,
                cluster_share(result),
            )
            writer.write_array(ENSEMBLE_FILE, ensemble)
            print(f"analyse: stability took {time.perf_counter() - started:.0f} s", flush=True)
        write_progress(out, "analyses", workers=workers)
        analyse_study(writer, decomposition, inputs, assignments, preset.analyses, ensemble)
