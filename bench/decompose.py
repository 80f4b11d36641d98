"""SPD training speed against a plain forward + backward of the target on the same batch.

Prints one JSON line per device (CPU, and CUDA when present): steps per second of both and
their ratio (SPD / plain); then, when the preset's decomposition has been built (`make run` builds
the demo's), one line of its quality from its `report.json`: the CI-masked loss gap and KL on
held-out text, and L0 / C (active subcomponents per token over subcomponents) per module.
Run: python -m bench.decompose [--preset demo] [--steps 20] [--data-dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.smoke import parse_arguments
from dashboard.decomposition.presets import PRESETS
from dashboard.decomposition.train import new_decomposed_model, training_step
from dashboard.models.datasets import corpus_windows
from dashboard.models.loading import load_target
from dashboard.models.target import target_logits
from dashboard.settings import Settings
from dashboard.study.quality import quality_from_report


def steps_per_second(step, n_steps: int, device: torch.device) -> float:
    step(0)  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for index in range(n_steps):
        step(index + 1)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return n_steps / (time.perf_counter() - start)


def bench_device(preset: str, device: torch.device, n_steps: int, data_dir: Path) -> dict:
    config = PRESETS[preset]
    target = load_target(config.target, data_dir)
    windows = corpus_windows(target.tokenizer, config.train.window_length, max_heldout_windows=1)
    batch = torch.from_numpy(windows.train[: config.train.batch_size]).long().to(device)

    plain = copy.deepcopy(target.model).to(device).train().requires_grad_(True)
    plain_optimizer = torch.optim.AdamW(plain.parameters(), lr=1e-4)

    def plain_step(_: int) -> None:
        logits = target_logits(plain, batch)
        loss = torch.nn.functional.cross_entropy(
            logits[:, :-1].flatten(0, 1), batch[:, 1:].flatten()
        )
        plain_optimizer.zero_grad(set_to_none=True)
        loss.backward()
        plain_optimizer.step()

    model = new_decomposed_model(target.model, config).to(device)
    optimizer = torch.optim.AdamW(model.trainable_parameters(), lr=config.train.learning_rate)
    rng = np.random.default_rng(0)

    def spd_step(step: int) -> None:
        total, _ = training_step(model, config, batch, step, rng)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()

    baseline = steps_per_second(plain_step, n_steps, device)
    spd = steps_per_second(spd_step, n_steps, device)
    return {
        "benchmark": "decompose.training_step",
        "preset": preset,
        "device": str(device),
        "batch_tokens": int(batch.numel()),
        "subcomponents": len(model.labels),
        "spd_steps_per_s": round(spd, 3),
        "baseline_forward_backward_steps_per_s": round(baseline, 3),
        "ratio": round(spd / baseline, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="demo")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument(
        "--data-dir", type=Path, default=Settings.from_env().data_dir, help="holds models/"
    )
    args = parse_arguments(parser, {"preset": "micro", "steps": 2})
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        print(json.dumps(bench_device(args.preset, device, args.steps, args.data_dir)), flush=True)
    report = args.data_dir / "decompositions" / args.preset / "report.json"
    if report.is_file():
        print(json.dumps(quality(args.preset, json.loads(report.read_text()))), flush=True)


def quality(preset: str, report: dict) -> dict:
    """The figures of a decomposition's evaluation that say how faithful and sparse it is."""
    measured = quality_from_report(report)
    if measured is None:
        raise SystemExit(f"the {preset} decomposition's report.json has no evaluation")
    shares = {m.module: m.l0_fraction for m in measured.modules}
    worst = max(shares, key=shares.get)
    return {
        "benchmark": "decompose.quality",
        "preset": preset,
        "target_loss": round(measured.target_loss, 3),
        "ci_masked_gap_nats": round(measured.loss_gap, 3),
        "ci_masked_kl": round(measured.masked_kl, 3),
        "mean_l0_over_c": round(measured.mean_l0_fraction, 4),
        "worst_module": worst,
        "worst_l0_over_c": round(shares[worst], 4),
        "modules_over_10_percent": sorted(m.module for m in measured.dense_modules),
        "l0_over_c": {path: round(share, 4) for path, share in shares.items()},
    }


if __name__ == "__main__":
    main()
