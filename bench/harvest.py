"""Harvest throughput against a plain forward pass of the target on the same batches.

Prints one JSON line per device (CPU, and CUDA when present) with tokens per second of both and
their ratio (harvest / forward; the goal is at least 0.5).
Run: python -m bench.harvest [--preset demo] [--batches 8] [--data-dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from bench.smoke import parse_arguments
from dashboard.decomposition import load_decomposition
from dashboard.decomposition.store import is_complete
from dashboard.models.target import target_logits
from dashboard.pipeline.harvest import batch_entries, harvest_windows
from dashboard.pipeline.presets import BUILD_PRESETS
from dashboard.settings import Settings


def tokens_per_second(step, batches: list[torch.Tensor], device: torch.device) -> float:
    step(batches[0])  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for batch in batches:
        step(batch)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return sum(batch.numel() for batch in batches) / (time.perf_counter() - start)


def bench_device(directory, preset_name: str, device: torch.device, n_batches: int) -> dict:
    preset = BUILD_PRESETS[preset_name]
    dec = load_decomposition(directory, device=str(device))
    windows = harvest_windows(dec, preset.harvest)
    size = preset.harvest.batch_size
    batches = [
        torch.from_numpy(windows[i * size : (i + 1) * size]).long().to(device)
        for i in range(n_batches)
    ]
    with torch.no_grad():
        plain = tokens_per_second(lambda b: target_logits(dec.target, b), batches, device)
    harvest = tokens_per_second(
        lambda b: batch_entries(dec, b, preset.harvest.threshold, 0), batches, device
    )
    return {
        "benchmark": "harvest.tokens_per_second",
        "preset": preset_name,
        "device": str(device),
        "harvest_tokens_per_s": round(harvest),
        "baseline_forward_tokens_per_s": round(plain),
        "ratio": round(harvest / plain, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=sorted(BUILD_PRESETS), default="demo")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument(
        "--data-dir", type=Path, default=Settings.from_env().data_dir, help="holds decompositions/"
    )
    args = parse_arguments(parser, {"preset": "micro", "batches": 2})
    preset = BUILD_PRESETS[args.preset]
    directory = args.data_dir / "decompositions" / preset.decomposition
    if not is_complete(directory):
        raise SystemExit(f"{directory}: no finished decomposition; run spd-atlas build first")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        print(json.dumps(bench_device(directory, args.preset, device, args.batches)), flush=True)


if __name__ == "__main__":
    main()
