"""SPD training: faithfulness, stochastic reconstruction (all modules and layerwise) and
importance minimality, with checkpoints a run resumes from."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from dashboard.decomposition.config import DecompositionConfig, TrainConfig
from dashboard.decomposition.evaluate import evaluate
from dashboard.decomposition.losses import (
    faithfulness_loss,
    importance_minimality_loss,
    kl_to_target,
    stochastic_recon_loss,
)
from dashboard.decomposition.model import DecomposedModel
from dashboard.decomposition.patterns import importance_minimality_scales, match_modules
from dashboard.decomposition.store import (
    CONFIG,
    MODULES,
    PARAMETERS,
    REPORT,
    TARGET,
    DecompositionExistsError,
    copy_target,
    is_complete,
    latest_checkpoint,
    module_table,
    restore_checkpoint,
    save_checkpoint,
    save_json,
    save_parameters,
)
from dashboard.models.datasets import corpus_windows
from dashboard.models.loading import load_target
from dashboard.models.schedule import warmup_cosine

SHORT_NAMES = {
    "faithfulness": "faith",
    "stochastic_recon": "recon",
    "stochastic_recon_layerwise": "layerwise",
    "ci_masked_recon": "ci_masked",
    "importance_minimality": "minimality",
    "p": "p",
}


def learning_rate_at(step: int, train: TrainConfig) -> float:
    warmup = max(1, round(train.warmup_fraction * train.steps))
    return warmup_cosine(step, train.steps, warmup, train.learning_rate, train.final_lr_fraction)


def prepare_directory(out_dir: Path, config: DecompositionConfig, force: bool) -> bool:
    """Create or reuse `out_dir`; True when an unfinished run with this config is resumed."""
    if out_dir.exists() and force:
        shutil.rmtree(out_dir)
    if is_complete(out_dir):
        raise DecompositionExistsError(
            f"{out_dir} already holds a finished decomposition; pass --force to replace it"
        )
    if (out_dir / CONFIG).is_file():
        existing = DecompositionConfig.load(out_dir / CONFIG)
        if existing != config:
            raise DecompositionExistsError(
                f"{out_dir} holds an unfinished run with a different config; "
                "pass --force to start over, or resume it with the same options"
            )
        return True
    if out_dir.exists() and any(out_dir.iterdir()):
        raise DecompositionExistsError(f"{out_dir} exists and is not a decomposition directory")
    out_dir.mkdir(parents=True, exist_ok=True)
    config.save(out_dir / CONFIG)
    return False


def new_decomposed_model(
    target_model: torch.nn.Module, config: DecompositionConfig
) -> DecomposedModel:
    """Freshly initialised subcomponents for the modules the config's patterns match."""
    return DecomposedModel(
        target_model,
        match_modules(target_model, config.modules),
        config.ci_fn_type,
        list(config.ci_fn_hidden_dims),
        config.sigmoid_type,
    )


def faithfulness_warmup(model: DecomposedModel, train: TrainConfig) -> None:
    """Fit V U to W alone before the main phase (no forward passes needed)."""
    parameters = list(model.components.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=train.faithfulness_warmup_lr, weight_decay=0.0)
    for _ in range(train.faithfulness_warmup_steps):
        loss = faithfulness_loss(model.weight_deltas())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def training_step(
    model: DecomposedModel,
    config: DecompositionConfig,
    input_ids: torch.Tensor,
    step: int,
    layerwise_rng: np.random.Generator,
) -> tuple[torch.Tensor, dict[str, float]]:
    loss_config = config.loss
    with torch.no_grad():
        target, inputs = model.run_target(input_ids)
    ci = model.ci_from_inputs(inputs)
    weight_deltas = model.weight_deltas()
    deltas_for_masks = weight_deltas if config.use_delta_component else None
    terms: dict[str, torch.Tensor] = {"faithfulness": faithfulness_loss(weight_deltas)}
    if loss_config.stochastic_recon:
        terms["stochastic_recon"] = stochastic_recon_loss(
            model,
            input_ids,
            target,
            ci.lower,
            deltas_for_masks,
            loss_config.n_mask_samples,
            config.sampling,
        )
    if loss_config.stochastic_recon_layerwise:
        modules = model.module_paths
        if loss_config.layerwise_modules_per_step is not None:
            chosen = layerwise_rng.choice(
                len(modules),
                size=min(loss_config.layerwise_modules_per_step, len(modules)),
                replace=False,
            )
            modules = [modules[i] for i in sorted(chosen)]
        terms["stochastic_recon_layerwise"] = stochastic_recon_loss(
            model,
            input_ids,
            target,
            ci.lower,
            deltas_for_masks,
            loss_config.n_mask_samples,
            config.sampling,
            modules=modules,
        )
    if loss_config.ci_masked_recon:
        terms["ci_masked_recon"] = kl_to_target(model.forward_masked(input_ids, ci.lower), target)
    fraction = step / config.train.steps
    pnorm = loss_config.pnorm_at(fraction)
    scales = importance_minimality_scales(model.module_paths, config.modules)
    terms["importance_minimality"] = importance_minimality_loss(ci.upper, pnorm, scales)
    coefficients = {
        "faithfulness": loss_config.faithfulness,
        "stochastic_recon": loss_config.stochastic_recon,
        "stochastic_recon_layerwise": loss_config.stochastic_recon_layerwise,
        "ci_masked_recon": loss_config.ci_masked_recon,
        "importance_minimality": loss_config.importance_minimality_at(fraction),
    }
    total = sum(coefficients[name] * value for name, value in terms.items())
    return total, {name: float(value.detach()) for name, value in terms.items()} | {"p": pnorm}


def decompose(
    config: DecompositionConfig,
    out_dir: Path,
    data_dir: Path,
    device: torch.device,
    force: bool = False,
) -> dict:
    """Train (or resume) a decomposition into `out_dir`; return its report."""
    out_dir = Path(out_dir)
    train = config.train
    resuming = prepare_directory(out_dir, config, force)
    started = time.perf_counter()
    torch.manual_seed(train.seed)
    target = load_target(config.target, data_dir)
    if not (out_dir / TARGET).exists():
        copy_target(target.directory, out_dir / TARGET)
    model = new_decomposed_model(target.model, config).to(device)
    save_json(out_dir / MODULES, module_table(model))
    windows = corpus_windows(
        target.tokenizer, train.window_length, train.seed, max_heldout_windows=train.eval_windows
    )
    optimizer = torch.optim.AdamW(
        model.trainable_parameters(), lr=train.learning_rate, weight_decay=train.weight_decay
    )
    checkpoint = latest_checkpoint(out_dir) if resuming else None
    if checkpoint is not None:
        first_step = restore_checkpoint(checkpoint, model, optimizer)
        print(f"resuming {out_dir} at step {first_step}", flush=True)
    else:
        first_step = 0
        faithfulness_warmup(model, train)

    progress = tqdm(
        range(first_step, train.steps),
        desc="SPD",
        unit="step",
        initial=first_step,
        total=train.steps,
        mininterval=1.0,
    )
    for step in progress:
        # Seeds derive from (seed, step): a resumed run draws exactly what an unbroken one would.
        torch.manual_seed(train.seed * 1_000_003 + step)
        rng = np.random.default_rng([train.seed, step])
        rows = rng.integers(0, len(windows.train), size=train.batch_size)
        input_ids = torch.from_numpy(windows.train[rows]).long().to(device)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, train)
        total, terms = training_step(model, config, input_ids, step, rng)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        progress.set_postfix(
            {SHORT_NAMES[name]: f"{value:.3g}" for name, value in terms.items()}, refresh=False
        )
        if (step + 1) % train.checkpoint_every == 0 and step + 1 < train.steps:
            save_checkpoint(out_dir, model, optimizer, step + 1)

    report = evaluate(
        model,
        windows.heldout,
        train.batch_size,
        device,
        config.use_delta_component,
        config.sampling,
        train.seed,
    )
    report |= {
        "steps": train.steps,
        "device": str(device),
        "train_seconds_this_session": round(time.perf_counter() - started, 1),
        "resumed_from_step": first_step if resuming else None,
        "target": config.target,
        "labels": len(model.labels),
    }
    save_parameters(model, out_dir / PARAMETERS)
    save_json(out_dir / REPORT, report)
    shutil.rmtree(out_dir / "checkpoints", ignore_errors=True)
    return report
