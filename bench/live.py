"""Live-model speed, each figure beside a plain forward pass of the target on the same tokens in
the same run; CPU, and CUDA when present:
- a probe of 128 tokens: in this process, and end to end through the embedded mode's service
  (request to result, warm: the resident inference process with its model loaded), against a
  plain forward that tokenizes the same text too;
- masked inference on held-out windows, `--batch` at a time, against plain forwards of the same
  batches (tokens per second): a slice's first run, which computes the target's outputs too (two
  forwards: at most 0.5x), and the same slice with another mask, which reuses them.

Run: python -m bench.live [--study DIR] (default: $ATLAS_DATA_DIR/demo, as `make run` builds it)
     [--smoke] (tiny sizes; give --study)
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from bench.smoke import parse_arguments
from dashboard.decomposition.api import load_decomposition
from dashboard.inference import resident
from dashboard.inference.compute import (
    TARGET_ON_WINDOWS,
    heldout_windows,
    masked_inference_slice,
    probe,
)
from dashboard.inference.locate import find_decomposition
from dashboard.inference.service import ResidentService
from dashboard.models.target import target_logits
from dashboard.settings import Settings
from dashboard.study import Study

TOKENS = 128
PROBE_GOAL_MS = 100  # plus twice the plain forward
THROUGHPUT_GOAL = 0.5  # masked inference over plain forwards, at batch 8


def timed(function, repeats: int) -> list[float]:
    """Seconds per call, after one call that is not counted (warm-up)."""
    function()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def median_ms(seconds: list[float]) -> float:
    return round(1000 * float(np.median(seconds)), 1)


def probe_text(decomposition, window_length: int) -> str:
    """Held-out text of about TOKENS tokens (whole held-out windows, joined)."""
    windows = heldout_windows(decomposition, window_length)
    ids = windows[: -(-TOKENS // window_length)].reshape(-1)[:TOKENS]
    return decomposition.tokenizer.decode(ids.tolist())


def embedded_probe(study: Study, text: str, repeats: int) -> list[float]:
    """Probe latency through the resident inference process of a data directory of its own,
    warm (the first request, which starts the process and loads the model, is not counted)."""
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings.from_env({**os.environ, "ATLAS_DATA_DIR": data_dir})
        service = ResidentService(settings)  # uncached: every request reaches the model
        try:
            return timed(lambda: service.probe(study, text, 0.1), repeats)
        finally:
            connection = resident.connect(settings)
            if connection is not None:
                with connection:
                    connection.send({"operation": "ping"})
                    os.kill(connection.recv()["result"]["pid"], signal.SIGTERM)


def bench_device(study: Study, device: str, args: argparse.Namespace) -> dict:
    directory = find_decomposition(study, Settings.from_env().data_dir)
    decomposition = load_decomposition(directory, device=device)
    window_length = study.window_shape[1]
    text = probe_text(decomposition, window_length)
    ids = decomposition.encode(text)
    with torch.no_grad():  # tokenizing included, as the probe does
        forward = timed(
            lambda: target_logits(decomposition.target, decomposition.encode(text)), args.repeats
        )
    probing = timed(lambda: probe(decomposition, text, 0.1), args.repeats)
    figures = {
        "bench": "live",
        "device": device,
        "study": study.name,
        "probe_tokens": int(ids.shape[1]),
        "probe_p50_ms": median_ms(probing),
        "target_forward_p50_ms": median_ms(forward),
        "ratio_probe_over_forward": round(float(np.median(probing) / np.median(forward)), 2),
    }
    if device == "cpu" or device == study_device():
        embedded = embedded_probe(study, text, args.repeats)
        figures["embedded_probe_p50_ms"] = median_ms(embedded)
        figures["embedded_probe_p95_ms"] = round(1000 * float(np.percentile(embedded, 95)), 1)
        goal = PROBE_GOAL_MS + 2 * figures["target_forward_p50_ms"]
        figures["goal_embedded_probe_ms"] = round(goal, 1)
        figures["goal_embedded_probe_met"] = figures["embedded_probe_p50_ms"] <= goal
    windows = heldout_windows(decomposition, window_length)[: args.windows]
    n_subcomponents = len(study.subcomponents)
    masks = [[float((i + shift) % 2) for i in range(n_subcomponents)] for shift in range(2)]
    arguments = {"start": 0, "count": len(windows), "window_length": window_length}

    def masked_slice(mask: list[float]) -> None:
        masked_inference_slice(decomposition, mask, batch_size=args.batch, **arguments)

    def first_run() -> None:  # a slice not seen before: the target is computed too
        TARGET_ON_WINDOWS.clear()
        masked_slice(masks[0])

    def another_mask() -> None:  # the same slice again with another mask: the target is kept
        masks.reverse()
        masked_slice(masks[0])

    masked_first = timed(first_run, 3)  # the windows are tokenized once, before (both sides)
    masked_again = timed(another_mask, 3)
    batches = [
        torch.as_tensor(windows[i : i + args.batch], dtype=torch.long, device=decomposition.device)
        for i in range(0, len(windows), args.batch)
    ]
    with torch.no_grad():
        plain = timed(lambda: [target_logits(decomposition.target, b) for b in batches], 3)
    tokens = windows.size
    first_ratio = float(np.median(plain) / np.median(masked_first))
    again_ratio = float(np.median(plain) / np.median(masked_again))
    return {
        **figures,
        "batch": args.batch,
        "masked_windows": len(windows),
        "target_forward_tokens_per_s": round(tokens / float(np.median(plain))),
        "masked_first_run_tokens_per_s": round(tokens / float(np.median(masked_first))),
        "ratio_masked_first_run_over_forward": round(first_ratio, 3),
        "masked_another_mask_tokens_per_s": round(tokens / float(np.median(masked_again))),
        "ratio_masked_another_mask_over_forward": round(again_ratio, 3),
        "goal_throughput_ratio": THROUGHPUT_GOAL,
        "goal_throughput_met_first_run": first_ratio >= THROUGHPUT_GOAL,
        "goal_throughput_met_another_mask": again_ratio >= THROUGHPUT_GOAL,
    }


def study_device() -> str:
    """The device the embedded service computes on (ATLAS_DEVICE; auto: CUDA when present)."""
    device = Settings.from_env().device
    return ("cuda" if torch.cuda.is_available() else "cpu") if device == "auto" else device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--study", type=Path, default=Settings.from_env().data_dir / "demo")
    parser.add_argument("--repeats", type=int, default=20, help="probes and plain forwards")
    parser.add_argument("--windows", type=int, default=64, help="held-out windows, masked")
    parser.add_argument("--batch", type=int, default=8, help="windows per forward")
    args = parse_arguments(parser, {"repeats": 2, "windows": 8, "batch": 8})
    if not (args.study / "study.json").is_file():
        raise SystemExit(f"{args.study}: no study (build the demo first: make run)")
    study = Study(args.study)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        print(json.dumps(bench_device(study, device, args)), flush=True)


if __name__ == "__main__":
    main()
