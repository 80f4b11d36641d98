"""Named decomposition set-ups: `micro` for tests, `demo` for the out-of-the-box study."""

from __future__ import annotations

from dashboard.decomposition.config import (
    DecompositionConfig,
    LossConfig,
    ModulePattern,
    TrainConfig,
)

LLAMA_ATTENTION = "model.layers.*.self_attn.*_proj"
LLAMA_MLP = "model.layers.*.mlp.*_proj"

PRESETS: dict[str, DecompositionConfig] = {
    "micro": DecompositionConfig(
        target="micro",
        modules=(ModulePattern(LLAMA_ATTENTION, 16), ModulePattern(LLAMA_MLP, 24)),
        ci_fn_hidden_dims=(16,),
        loss=LossConfig(importance_minimality=1e-3, layerwise_modules_per_step=2),
        train=TrainConfig(
            steps=60,
            batch_size=8,
            window_length=32,
            learning_rate=5e-3,
            faithfulness_warmup_steps=100,
            checkpoint_every=20,
            eval_windows=16,
        ),
    ),
    "demo": DecompositionConfig(
        target="demo",
        # C above each weight's rank (128), so the subcomponents can sum to it exactly. Layer
        # 0's down_proj is pressed five times as hard towards few subcomponents per token: at the
        # common coefficient it kept 22% of its subcomponents active per token, every other
        # module under 10% (docs/decomposition.md)
        modules=(
            ModulePattern(LLAMA_ATTENTION, 144),
            ModulePattern("model.layers.0.mlp.down_proj", 192, importance_minimality_scale=5.0),
            ModulePattern("model.layers.0.mlp.[gu]*_proj", 192),
            ModulePattern("model.layers.1.mlp.*_proj", 192),
        ),
        ci_fn_hidden_dims=(64,),
        loss=LossConfig(
            faithfulness=1e6,
            ci_masked_recon=0.5,
            importance_minimality=2e-3,
            pnorm=2.0,
            pnorm_final=0.5,
            pnorm_anneal_start=0.0,
            pnorm_anneal_end=1.0,
            layerwise_modules_per_step=2,
        ),
        train=TrainConfig(
            steps=1100,
            batch_size=8,
            window_length=128,
            learning_rate=2e-3,
            faithfulness_warmup_steps=1000,
            checkpoint_every=100,
            eval_windows=64,
        ),
    ),
    # Meant for a GPU: the first three layers of SmolLM2-135M-Instruct (d_model 576, MLP 1536).
    "smollm2": DecompositionConfig(
        target="smollm2",
        modules=(
            ModulePattern("model.layers.[0-2].self_attn.*_proj", 640),
            ModulePattern("model.layers.[0-2].mlp.*_proj", 1600),
        ),
        ci_fn_hidden_dims=(128,),
        loss=LossConfig(
            faithfulness=1e6,
            ci_masked_recon=0.5,
            importance_minimality=2e-3,
            importance_minimality_warmup=0.1,
            pnorm=2.0,
            pnorm_final=0.5,
            layerwise_modules_per_step=4,
        ),
        train=TrainConfig(
            steps=5000,
            batch_size=16,
            window_length=256,
            learning_rate=1e-3,
            faithfulness_warmup_steps=2000,
            checkpoint_every=500,
            eval_windows=32,
        ),
    ),
}
