"""Harvest throughput against a plain forward pass of the target on the same batches, and the
harvest sharded over Celery workers against the single-process harvest.

Prints one JSON line per device (CPU, and CUDA when present) with tokens per second of both and
their ratio (harvest / forward; the goal is at least 0.5). With `--workers 1,2` it then harvests
the preset's windows in this process (the baseline), and again with 1 and with 2 fresh
`spd-atlas worker --queue harvest` processes of `--threads` torch threads each on a private
Redis, and prints their tokens per second (from sending the shards to the last one written:
the pool's own cost, the workers' loading of the decomposition included), the ratios, and
whether every shard is byte-identical to the baseline's (the goal: 2 workers at 1.6x one).
Run: python -m bench.harvest [--preset demo] [--batches 8] [--workers 1,2] [--threads 1]
     [--tokens N] [--shard-batches N] [--device cpu|cuda] [--data-dir DIR] [--smoke]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from bench.serving import Fleet
from bench.smoke import parse_arguments
from dashboard.decomposition import load_decomposition
from dashboard.decomposition.store import is_complete
from dashboard.models.target import target_logits
from dashboard.pipeline.harvest import batch_entries, harvest_windows, run_harvest
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


def shard_digests(shards: list[Path]) -> list[str]:
    """One digest per shard over its files' bytes."""
    digests = []
    for shard in shards:
        digest = hashlib.sha256()
        for file in sorted(shard.iterdir()):
            digest.update(file.name.encode())
            digest.update(file.read_bytes())
        digests.append(digest.hexdigest())
    return digests


def harvest_on_fresh_workers(
    fleet: Fleet, count: int, threads: int, harvest: dict, work_dir: Path
) -> tuple[float, float, list[str]]:
    """Start `count` harvest workers, harvest into `work_dir`, stop them: (seconds to start the
    workers, seconds to harvest, the shards' digests)."""
    from dashboard.pipeline.harvest_workers import harvest_on_workers
    from dashboard.settings import Settings

    started = time.perf_counter()
    names = [
        fleet.start_worker("harvest", f"harvest-{count}-{index}", "--threads", str(threads))
        for index in range(count)
    ]
    start_s = time.perf_counter() - started
    started = time.perf_counter()
    shards = harvest_on_workers(settings=Settings.from_env(fleet.env), work_dir=work_dir, **harvest)
    harvest_s = time.perf_counter() - started
    for name in names:
        fleet.stop(name)
    digests = shard_digests(shards)
    shutil.rmtree(work_dir)
    return start_s, harvest_s, digests


def bench_workers(
    directory: Path, args: argparse.Namespace, counts: list[int], device: torch.device
) -> dict:
    """The harvest in this process against 1, 2, ... fresh Celery workers."""
    preset = BUILD_PRESETS[args.preset]
    config = preset.harvest
    if args.tokens:
        config = dataclasses.replace(config, n_tokens=args.tokens)
    shard_batches = args.shard_batches or preset.shard_batches
    decomposition = load_decomposition(directory, device=str(device))
    windows = harvest_windows(decomposition, config)
    with tempfile.TemporaryDirectory(prefix="bench-harvest-") as scratch:
        scratch_dir = Path(scratch)
        started = time.perf_counter()
        local = run_harvest(decomposition, config, scratch_dir / "single", windows, shard_batches)
        single_s = time.perf_counter() - started
        reference = shard_digests(local)
        shutil.rmtree(scratch_dir / "single")
        fleet = Fleet(
            scratch_dir,
            {"ATLAS_DATA_DIR": str(directory.parent.parent), "ATLAS_DEVICE": device.type},
        )
        harvest = {
            "decomposition_dir": directory,
            "config": config,
            "windows": windows,
            "shard_batches": shard_batches,
        }
        runs, identical = {}, True
        try:
            port = fleet.start_redis()
            fleet.env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            for count in counts:
                start_s, harvest_s, digests = harvest_on_fresh_workers(
                    fleet, count, args.threads, harvest, scratch_dir / f"workers-{count}"
                )
                identical = identical and digests == reference
                runs[str(count)] = {
                    "tokens_per_s": round(windows.size / harvest_s),
                    "seconds": round(harvest_s, 2),
                    "workers_start_s": round(start_s, 2),
                }
        finally:
            fleet.stop_all()
    single = windows.size / single_s
    figures = {
        "benchmark": "harvest.workers",
        "preset": args.preset,
        "device": str(device),
        "tokens": int(windows.size),
        "shards": len(reference),
        "threads_per_worker": args.threads,
        "single_process_threads": torch.get_num_threads(),
        "single_process_tokens_per_s": round(single),
        "workers": runs,
        "ratio_over_single_process": {
            count: round(run["tokens_per_s"] / single, 3) for count, run in runs.items()
        },
        "identical": identical,
    }
    if "1" in runs and "2" in runs:
        figures["ratio_2_over_1"] = round(runs["2"]["tokens_per_s"] / runs["1"]["tokens_per_s"], 3)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", choices=sorted(BUILD_PRESETS), default="demo")
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument(
        "--workers", default="1,2", help="counts of harvest workers to time ('': none)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--tokens", type=int, help="harvest this many (default: the preset's)")
    parser.add_argument("--shard-batches", type=int, help="default: the preset's")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="of --workers")
    parser.add_argument(
        "--data-dir", type=Path, default=Settings.from_env().data_dir, help="holds decompositions/"
    )
    args = parse_arguments(parser, {"preset": "micro", "batches": 2, "workers": "1,2"})
    preset = BUILD_PRESETS[args.preset]
    directory = args.data_dir / "decompositions" / preset.decomposition
    if not is_complete(directory):
        raise SystemExit(f"{directory}: no finished decomposition; run spd-atlas build first")
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        print(json.dumps(bench_device(directory, args.preset, device, args.batches)), flush=True)
    if args.workers:
        counts = [int(count) for count in args.workers.split(",")]
        figures = bench_workers(directory, args, counts, torch.device(args.device))
        print(json.dumps(figures), flush=True)


if __name__ == "__main__":
    main()
