"""Live-model speed: probe latency for 128 tokens, and masked-inference throughput, each beside a
plain forward pass of the target on the same tokens in the same run; CPU, and CUDA when present.

Run: python -m bench.live [--decomposition DIR] (default: $ATLAS_DATA_DIR/decompositions/demo)
     [--smoke] (default: $ATLAS_DATA_DIR/decompositions/micro)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from bench.smoke import parse_arguments
from dashboard.decomposition.api import load_decomposition
from dashboard.inference.compute import heldout_prompts, masked_inference, probe
from dashboard.models.target import target_logits
from dashboard.settings import Settings

TOKENS = 128


def text_of_tokens(decomposition, count: int) -> str:
    """Held-out corpus text cut to about `count` tokens."""
    text = " ".join(heldout_prompts(decomposition, count=8, characters=4000))
    ids = decomposition.encode(text)[0, :count]
    return decomposition.tokenizer.decode(ids.tolist())


def timed(function, repeats: int) -> list[float]:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - started)
    return seconds


def bench_device(directory: Path, device: str, repeats: int, n_prompts: int) -> dict:
    decomposition = load_decomposition(directory, device=device)
    text = text_of_tokens(decomposition, TOKENS)
    ids = decomposition.encode(text)
    n_tokens = ids.shape[1]
    with torch.no_grad():
        forward = timed(lambda: target_logits(decomposition.target, ids), repeats)
    probing = timed(lambda: probe(decomposition, text, 0.1), repeats)
    prompts = [text] * n_prompts
    values = [1.0] * len(decomposition.labels)
    masked = timed(lambda: masked_inference(decomposition, values, prompts), 3)
    with torch.no_grad():
        plain = timed(lambda: [target_logits(decomposition.target, ids) for _ in prompts], 3)
    tokens = n_tokens * n_prompts
    return {
        "bench": "live",
        "device": device,
        "decomposition": directory.name,
        "probe_tokens": n_tokens,
        "probe_p50_ms": round(1000 * float(np.median(probing)), 1),
        "target_forward_p50_ms": round(1000 * float(np.median(forward)), 1),
        "ratio_probe_over_forward": round(float(np.median(probing) / np.median(forward)), 2),
        "masked_inference_tokens_per_s": round(tokens / float(np.median(masked))),
        "target_forward_tokens_per_s": round(tokens / float(np.median(plain))),
        "ratio_masked_over_forward_throughput": round(
            float(np.median(plain) / np.median(masked)), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    decompositions = Settings.from_env().data_dir / "decompositions"
    parser.add_argument("--decomposition", type=Path, default=decompositions / "demo")
    parser.add_argument("--repeats", type=int, default=20, help="probes and plain forwards")
    parser.add_argument("--prompts", type=int, default=16, help="per masked-inference run")
    args = parse_arguments(
        parser, {"decomposition": decompositions / "micro", "repeats": 2, "prompts": 2}
    )
    if not args.decomposition.is_dir():
        raise SystemExit(f"{args.decomposition}: no decomposition (build the demo first)")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        print(
            json.dumps(bench_device(args.decomposition, device, args.repeats, args.prompts)),
            flush=True,
        )


if __name__ == "__main__":
    main()
