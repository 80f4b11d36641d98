"""Import a goodfire-ai/spd run (`final_config.yaml` + `model_<step>.pth`) as a decomposition.

The run's config names its target by paths that exist on the machine it was trained on; the user
points at the target here instead. The target's weights are taken from the run's own checkpoint
(`target_model.*`), so the decomposition always pairs with exactly the model it was trained on.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import torch
import yaml

from dashboard.atomic import draft_directory
from dashboard.decomposition.config import (
    DecompositionConfig,
    LossConfig,
    ModulePattern,
    TrainConfig,
)
from dashboard.decomposition.evaluate import evaluate
from dashboard.decomposition.model import DecomposedModel, escape
from dashboard.decomposition.patterns import match_modules
from dashboard.decomposition.store import (
    MODULES,
    PARAMETERS,
    REPORT,
    TARGET,
    DecompositionExistsError,
    load_parameter_state,
    module_table,
    save_json,
    save_parameters,
)
from dashboard.models.datasets import corpus_windows
from dashboard.models.loading import Target, load_spd_run_target, load_target
from dashboard.models.target import context_length

RUN_CHECKPOINT = re.compile(r"^model_(\d+)\.pth$")
CONFIG_RENAMES = {
    "gate_type": "ci_fn_type",
    "gate_hidden_dims": "ci_fn_hidden_dims",
    "pretrained_model_name_hf": "pretrained_model_name",
}
EVAL_WINDOW_LENGTH = 64
SUPPORTED_SIGMOIDS = ("leaky_hard", "hard", "normal", "upper_leaky_hard")


class SpdImportError(ValueError):
    """A run that cannot be imported, with the reason."""


def read_run_config(run_dir: Path) -> dict:
    """`final_config.yaml`, with spd's own renames of older runs applied."""
    path = run_dir / "final_config.yaml"
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise SpdImportError(f"{path}: cannot read ({error})") from error
    if not isinstance(config, dict):
        raise SpdImportError(f"{path}: expected a mapping")
    for old, new in CONFIG_RENAMES.items():
        if old in config and new not in config:
            config[new] = config.pop(old)
    if "module_info" not in config and "target_module_patterns" in config:
        config["module_info"] = [
            {"module_pattern": pattern, "C": config["C"]}
            for pattern in config["target_module_patterns"]
        ]
    if config.get("identity_module_info") or config.get("identity_module_patterns"):
        raise SpdImportError(f"{path}: identity modules (pre_identity) are not supported")
    if not config.get("module_info"):
        raise SpdImportError(f"{path}: no module_info (module patterns with C)")
    model_class = str(config.get("pretrained_model_class", ""))
    config["pretrained_model_class"] = model_class.replace(
        "simple_stories_train.models.", "spd.pretrain.models."
    )
    return config


def run_checkpoint(run_dir: Path, step: int | None) -> Path:
    found = {
        int(match.group(1)): path
        for path in run_dir.glob("model_*.pth")
        if (match := RUN_CHECKPOINT.match(path.name))
    }
    if not found:
        raise SpdImportError(f"{run_dir}: no model_<step>.pth checkpoint")
    if step is None:
        return found[max(found)]
    if step not in found:
        raise SpdImportError(f"{run_dir}: no checkpoint for step {step} (have {sorted(found)})")
    return found[step]


def modernize_keys(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """spd's older key spellings, mapped to the current ones."""
    renamed = {}
    for key, value in state.items():
        key = key.replace("_gates.", "_ci_fns.")
        if key.startswith("patched_model."):
            key = "target_model." + key.removeprefix("patched_model.")
        key = key.replace(".original.weight", ".weight")
        legacy = re.match(r"^target_model\.(.+)\.components\.([UV])$", key)
        if legacy:
            key = f"_components.{escape(legacy.group(1))}.{legacy.group(2)}"
        renamed[key] = value
    return renamed


def check_target_kind(config: dict, target: Target) -> None:
    model_class = config["pretrained_model_class"]
    if model_class.startswith("spd.pretrain.models."):
        expected = model_class.rsplit(".", 1)[-1]
        actual = getattr(getattr(target.model, "config", None), "model_type", None)
        if target.kind != "spd-simple" or actual != expected:
            raise SpdImportError(
                f"the run decomposed a {expected} (spd pretraining model), "
                f"but --target is a {actual or target.kind} model"
            )
    elif target.kind != "hf":
        raise SpdImportError(f"the run decomposed {model_class}, but --target is an spd run")


def check_vocabulary(target: Target) -> None:
    rows = target.model.get_input_embeddings().weight.shape[0]
    if len(target.tokenizer) > rows:
        raise SpdImportError(
            f"the tokenizer has {len(target.tokenizer)} tokens but the model embeds only {rows}: "
            "pass the run's own tokenizer with --tokenizer"
        )


def load_target_weights(target: Target, state: dict[str, torch.Tensor], checkpoint: Path) -> None:
    weights = {
        k.removeprefix("target_model."): v
        for k, v in state.items()
        if k.startswith("target_model.")
    }
    if not weights:
        return
    own = target.model.state_dict()
    for key, value in weights.items():
        if key not in own:
            raise SpdImportError(f"{checkpoint}: target_model.{key} does not exist in --target")
        if own[key].shape != value.shape:
            raise SpdImportError(
                f"{checkpoint}: target_model.{key} has shape {tuple(value.shape)}, "
                f"--target has {tuple(own[key].shape)}"
            )
    target.model.load_state_dict(weights, strict=False)


def component_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`_components.*` and `_ci_fns.*` renamed to this project's `components.*` and `ci_fns.*`."""
    renamed = {}
    for key, value in state.items():
        if key.startswith("_components."):
            renamed["components." + key.removeprefix("_components.")] = value
        elif key.startswith("_ci_fns."):
            renamed["ci_fns." + key.removeprefix("_ci_fns.")] = value
    return renamed


def atlas_config(config: dict, target_spec: str, max_length: int | None) -> DecompositionConfig:
    return DecompositionConfig(
        target=target_spec,
        modules=tuple(
            ModulePattern(m["module_pattern"], int(m["C"])) for m in config["module_info"]
        ),
        ci_fn_type=config.get("ci_fn_type", "vector_mlp"),
        ci_fn_hidden_dims=tuple(config.get("ci_fn_hidden_dims", [8])),
        sigmoid_type=config.get("sigmoid_type", "leaky_hard"),
        use_delta_component=bool(config.get("use_delta_component", True)),
        sampling=config.get("sampling", "continuous"),
        loss=LossConfig(n_mask_samples=int(config.get("n_mask_samples", 1))),
        train=TrainConfig(
            steps=int(config.get("steps", 0) or 0),
            window_length=min(EVAL_WINDOW_LENGTH, max_length or EVAL_WINDOW_LENGTH),
            eval_windows=32,
        ),
    )


def write_target(target: Target, destination: Path) -> None:
    """The target with the run's weights, in the form `load_target_directory` reads."""
    destination.mkdir(parents=True)
    if target.kind == "hf":
        target.model.save_pretrained(destination)
        target.tokenizer.save_pretrained(destination)
        return
    shutil.copy2(target.directory / "model_config.yaml", destination / "model_config.yaml")
    (destination / "checkpoints").mkdir()
    torch.save(target.model.state_dict(), destination / "checkpoints" / "model_step_0.pt")
    target.tokenizer.backend_tokenizer.save(str(destination / "tokenizer.json"))


def configured_target(config: dict) -> Path:
    """The target the run's config names, when that path exists on this machine."""
    for key in ("pretrained_model_path", "pretrained_model_name"):
        value = config.get(key)
        if value and not str(value).startswith("wandb:") and Path(value).exists():
            return Path(value)
    named = config.get("pretrained_model_path") or config.get("pretrained_model_name")
    raise SpdImportError(
        f"the run's target {named!r} is not on this machine: "
        "pass --target with the model directory or checkpoint"
    )


def import_spd_run(
    run_dir: Path,
    target_path: Path | None,
    out_dir: Path,
    data_dir: Path,
    tokenizer_dir: Path | None = None,
    step: int | None = None,
    force: bool = False,
) -> dict:
    """Write a decomposition directory from an spd run; return its report."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    if out_dir.exists() and not force:
        raise DecompositionExistsError(f"{out_dir} already exists; pass --force to replace it")
    config = read_run_config(run_dir)
    checkpoint = run_checkpoint(run_dir, step)
    target_path = Path(target_path) if target_path is not None else configured_target(config)
    if tokenizer_dir is not None and (target_path / "model_config.yaml").is_file():
        target = load_spd_run_target(target_path, tokenizer_dir=Path(tokenizer_dir))
    else:
        target = load_target(target_path, data_dir)
    check_target_kind(config, target)
    check_vocabulary(target)
    sigmoid = config.get("sigmoid_type", "leaky_hard")
    if sigmoid not in SUPPORTED_SIGMOIDS:
        raise SpdImportError(
            f"sigmoid_type {sigmoid!r} is not supported ({', '.join(SUPPORTED_SIGMOIDS)})"
        )
    try:
        state = modernize_keys(torch.load(checkpoint, map_location="cpu", weights_only=True))
    except (OSError, RuntimeError) as error:
        raise SpdImportError(f"{checkpoint}: cannot read ({error})") from error
    load_target_weights(target, state, checkpoint)

    decomposition_config = atlas_config(config, str(target_path), context_length(target.model))
    sizes = match_modules(target.model, decomposition_config.modules)
    for path in sizes:
        key = f"_components.{escape(path)}.V"
        if key not in state:
            raise SpdImportError(f"{checkpoint}: {key} is missing for module {path}")
        sizes[path] = state[key].shape[1]
    model = DecomposedModel(
        target.model,
        sizes,
        decomposition_config.ci_fn_type,
        list(decomposition_config.ci_fn_hidden_dims),
        decomposition_config.sigmoid_type,
    )
    try:
        load_parameter_state(model, component_state(state), checkpoint)
    except ValueError as error:
        raise SpdImportError(str(error)) from error

    with draft_directory(out_dir) as draft:
        decomposition_config.save(draft / "config.json")
        save_json(
            draft / "spd_run.json",
            {"run_dir": str(run_dir), "checkpoint": checkpoint.name, "config": config},
        )
        save_json(draft / MODULES, module_table(model))
        write_target(target, draft / TARGET)
        save_parameters(model, draft / PARAMETERS)
        train = decomposition_config.train
        windows = corpus_windows(
            target.tokenizer,
            train.window_length,
            0,
            max_train_documents=1,
            max_heldout_windows=train.eval_windows,
        )
        report = evaluate(
            model,
            windows.heldout,
            8,
            torch.device("cpu"),
            decomposition_config.use_delta_component,
            decomposition_config.sampling,
            0,
        )
        report |= {
            "imported_from": str(run_dir),
            "checkpoint": checkpoint.name,
            "labels": len(model.labels),
        }
        save_json(draft / REPORT, report)
    return report
