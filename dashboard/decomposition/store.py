"""The decomposition directory: config, modules, a copy of the target, parameters, report.

```
config.json              DecompositionConfig
modules.json             [{path, C, d_in, d_out}] in subcomponent order
target/                  the target model (Hugging Face directory or spd pretraining run)
components.safetensors   V, U, bias and CI-function parameters (present once complete)
report.json              the final evaluation (present once complete)
checkpoints/step_N/      parameters, optimizer state and progress of an unfinished run
```
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from dashboard.atomic import link_or_copy, write_atomically
from dashboard.decomposition.model import DecomposedModel

PARAMETERS = "components.safetensors"
REPORT = "report.json"
MODULES = "modules.json"
CONFIG = "config.json"
TARGET = "target"
CHECKPOINTS = "checkpoints"


class DecompositionExistsError(FileExistsError):
    """A finished decomposition is already there and overwriting was not asked for."""


def content_id(directory: Path) -> str:
    """The decomposition's identity: a hash of its parameters, config and module table (a
    study's `provenance.decomposition`)."""
    from dashboard.study.provenance import sha256_file, sha256_json

    return sha256_json([sha256_file(directory / name) for name in (PARAMETERS, CONFIG, MODULES)])


def is_complete(directory: Path) -> bool:
    return (directory / PARAMETERS).is_file() and (directory / REPORT).is_file()


def parameter_state(model: DecomposedModel) -> dict[str, torch.Tensor]:
    """Everything but the frozen target."""
    return {
        key: value.detach().contiguous().cpu()
        for key, value in model.state_dict().items()
        if not key.startswith("target.")
    }


def load_parameter_state(
    model: DecomposedModel, state: dict[str, torch.Tensor], source: Path
) -> None:
    own = parameter_state(model)
    missing = sorted(set(own) - set(state))
    if missing:
        raise ValueError(f"{source}: missing parameter(s) {', '.join(missing[:5])}")
    for key, value in state.items():
        if key not in own:
            raise ValueError(f"{source}: unexpected parameter {key}")
        if value.shape != own[key].shape:
            raise ValueError(
                f"{source}: {key} has shape {tuple(value.shape)}, "
                f"the model needs {tuple(own[key].shape)}"
            )
    model.load_state_dict(state, strict=False)


def save_parameters(model: DecomposedModel, path: Path) -> None:
    write_atomically(path, lambda tmp: save_file(parameter_state(model), str(tmp)))


def save_json(path: Path, value: object) -> None:
    write_atomically(path, lambda tmp: tmp.write_text(json.dumps(value, indent=2) + "\n"))


def module_table(model: DecomposedModel) -> list[dict]:
    return [
        {
            "path": path,
            "C": model.component(path).n_components,
            "d_in": model.component(path).V.shape[0],
            "d_out": model.component(path).U.shape[1],
        }
        for path in model.module_paths
    ]


def copy_target(source: Path, destination: Path) -> None:
    """Hard links where the file system allows (no extra space), copies elsewhere."""
    shutil.copytree(source, destination, copy_function=link_or_copy)


def save_checkpoint(
    directory: Path, model: DecomposedModel, optimizer: torch.optim.Optimizer, step: int
) -> None:
    """Write `checkpoints/step_N` completely, then drop older checkpoints."""
    checkpoints = directory / CHECKPOINTS
    checkpoints.mkdir(exist_ok=True)
    draft = Path(tempfile.mkdtemp(prefix=".step.", dir=checkpoints))
    save_file(parameter_state(model), str(draft / PARAMETERS))
    torch.save(optimizer.state_dict(), draft / "optimizer.pt")
    (draft / "progress.json").write_text(json.dumps({"step": step}))
    final = checkpoints / f"step_{step:07d}"
    if final.exists():
        shutil.rmtree(final)
    draft.rename(final)
    for older in sorted(checkpoints.glob("step_*"))[:-1]:
        shutil.rmtree(older)


def latest_checkpoint(directory: Path) -> Path | None:
    found = sorted((directory / CHECKPOINTS).glob("step_*"))
    return found[-1] if found else None


def restore_checkpoint(
    checkpoint: Path, model: DecomposedModel, optimizer: torch.optim.Optimizer
) -> int:
    """Load parameters and optimizer state; return the number of steps already done."""
    load_parameter_state(model, load_file(str(checkpoint / PARAMETERS)), checkpoint)
    optimizer.load_state_dict(torch.load(checkpoint / "optimizer.pt", weights_only=True))
    return json.loads((checkpoint / "progress.json").read_text())["step"]
