"""`spd-atlas decompose` and `spd-atlas import-spd` from the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.decomposition.spd_format import (
    LLAMA_SIMPLE,
    llama_simple_state,
    write_pretrain_run,
    write_spd_run,
)
from tests.decomposition.test_spd_import import modules_of, spd_config


def run_cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "ATLAS_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_decompose_writes_then_refuses_to_overwrite(micro_data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "dec"
    first = run_cli(
        micro_data_dir, "decompose", "--preset", "micro", "--steps", "3", "--out", str(out)
    )
    assert first.returncode == 0, first.stderr
    assert "ci_masked_loss" in first.stdout
    assert (out / "report.json").is_file()
    assert "SPD" in first.stderr  # the progress bar
    again = run_cli(
        micro_data_dir, "decompose", "--preset", "micro", "--steps", "3", "--out", str(out)
    )
    assert again.returncode == 2
    assert "already holds a finished decomposition; pass --force" in again.stderr
    forced = run_cli(
        micro_data_dir,
        "decompose",
        "--preset",
        "micro",
        "--steps",
        "3",
        "--out",
        str(out),
        "--force",
    )
    assert forced.returncode == 0, forced.stderr


def test_decompose_names_a_pattern_that_matches_nothing(
    micro_data_dir: Path, tmp_path: Path
) -> None:
    result = run_cli(
        micro_data_dir,
        "decompose",
        "--preset",
        "micro",
        "--module",
        "model.layers.*.mlp.typo=8",
        "--out",
        str(tmp_path / "dec"),
    )
    assert result.returncode == 2
    assert "'model.layers.*.mlp.typo' matches no linear module" in result.stderr
    assert "model.layers.0.mlp.down_proj" in result.stderr


def test_bad_module_option_is_refused_by_the_parser(tmp_path: Path) -> None:
    result = run_cli(tmp_path, "decompose", "--module", "model.layers.*", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "expected PATTERN=C" in result.stderr


def test_import_spd_from_the_command_line(tmp_path: Path) -> None:
    generator = torch.Generator().manual_seed(1)
    target_state = llama_simple_state(LLAMA_SIMPLE, generator)
    pretrain = write_pretrain_run(tmp_path / "pretrain", target_state, LLAMA_SIMPLE)
    write_spd_run(
        tmp_path / "run",
        target_state,
        modules_of(target_state),
        spd_config("vector_mlp"),
        generator,
    )
    out = tmp_path / "imported"
    result = run_cli(
        tmp_path,
        "import-spd",
        str(tmp_path / "run"),
        "--target",
        str(pretrain / "checkpoints" / "model_step_40.pt"),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert (out / "components.safetensors").is_file()
    missing = run_cli(
        tmp_path,
        "import-spd",
        str(tmp_path / "nowhere"),
        "--target",
        str(pretrain),
        "--out",
        str(tmp_path / "x"),
    )
    assert missing.returncode == 2
    assert "nowhere/final_config.yaml: cannot read" in missing.stderr
