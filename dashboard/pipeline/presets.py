"""What `spd-atlas build --preset NAME` runs: decomposition, harvest and clustering settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from dashboard.pipeline.analyse import AnalysisConfig
from dashboard.pipeline.clustering import ClusteringConfig
from dashboard.pipeline.harvest import DEFAULT_SHARD_BATCHES, HarvestConfig
from dashboard.pipeline.sae import SaeConfig
from dashboard.pipeline.stability import StabilityConfig
from dashboard.pipeline.tuned_lens import TunedLensConfig


@dataclass(frozen=True)
class ExampleConfig:
    top_k: int = 20
    quantile_bands: int = 10
    per_band: int = 5
    histogram_bins: int = 20


@dataclass(frozen=True)
class BuildPreset:
    decomposition: str  # a decomposition preset of dashboard.decomposition.presets
    harvest: HarvestConfig
    clustering: ClusteringConfig
    examples: ExampleConfig = ExampleConfig()
    analyses: AnalysisConfig = field(default_factory=AnalysisConfig)
    stability: StabilityConfig = field(default_factory=StabilityConfig)
    # batches per harvest shard, the unit a worker computes: it changes no byte of the study
    shard_batches: int = DEFAULT_SHARD_BATCHES


BUILD_PRESETS: dict[str, BuildPreset] = {
    "micro": BuildPreset(
        decomposition="micro",
        harvest=HarvestConfig(n_tokens=8192, window_length=32, batch_size=64, threshold=0.1),
        shard_batches=1,  # four shards, so the tests exercise sharding
        clustering=ClusteringConfig(activation_threshold=0.2, alpha=1.0),
        examples=ExampleConfig(top_k=5, quantile_bands=4, per_band=2, histogram_bins=10),
        analyses=AnalysisConfig(
            token_groups=8,
            lens_windows=64,
            residual_sample=512,
            tuned_lens=TunedLensConfig(steps=100),
            sae=SaeConfig(expansion=4, k=4, steps=100),
        ),
    ),
    "demo": BuildPreset(
        decomposition="demo",
        harvest=HarvestConfig(n_tokens=1_048_576, window_length=128, batch_size=64, threshold=0.1),
        # The demo's activations are dense (about 90 groups per token at 0.2), and a merge costs
        # O(tokens of the smaller group x groups per token): cluster on the first 131k tokens.
        clustering=ClusteringConfig(activation_threshold=0.2, alpha=1.0, max_tokens=131_072),
    ),
    "smollm2": BuildPreset(
        decomposition="smollm2",
        harvest=HarvestConfig(n_tokens=1_048_576, window_length=256, batch_size=32, threshold=0.1),
        clustering=ClusteringConfig(activation_threshold=0.2, alpha=1.0, max_tokens=262_144),
        # 30 layers: residuals of 64 windows x 256 tokens at 31 points take about 1.2 GB
        analyses=AnalysisConfig(lens_windows=64),
    ),
}
