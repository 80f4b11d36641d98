"""Reading one subcomponent's activations from a study: memory-mapped, against two baselines,
loading the array per lookup (`np.load`) and the array already in memory (loaded once, what a
process with RAM to spare would keep).

Prints one JSON line: seconds per lookup for each, the ratio of each baseline over memory-mapped,
and the resident memory the in-memory array costs.
Run: python -m bench.study_io [--windows N] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.smoke import parse_arguments
from dashboard.study import Study
from tests.study_factory import write_random_study


def per_lookup_seconds(lookup, repeats: int) -> float:
    start = time.perf_counter()
    for subcomponent in range(repeats):
        lookup(subcomponent)
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=4096)
    parser.add_argument("--window-length", type=int, default=128)
    parser.add_argument("--per-module", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parse_arguments(
        parser, {"windows": 64, "window_length": 32, "per_module": 8, "repeats": 5}
    )

    with tempfile.TemporaryDirectory() as scratch:
        path = write_random_study(
            Path(scratch) / "bench-study",
            subcomponents_per_module=args.per_module,
            n_windows=args.windows,
            window_length=args.window_length,
            vocab_size=4096,
            n_merges=50,
        )
        study = Study(path)
        indptr = study.array("activations/indptr.npy")

        def mapped(subcomponent: int) -> float:
            start, stop = indptr[subcomponent], indptr[subcomponent + 1]
            return float(study.array("activations/ci.npy")[start:stop].astype(np.float32).sum())

        def loaded(subcomponent: int) -> float:
            ci = np.load(path / "activations/ci.npy")
            start, stop = indptr[subcomponent], indptr[subcomponent + 1]
            return float(ci[start:stop].astype(np.float32).sum())

        in_memory_ci = np.load(path / "activations/ci.npy")  # loaded once, kept

        def in_memory(subcomponent: int) -> float:
            start, stop = indptr[subcomponent], indptr[subcomponent + 1]
            return float(in_memory_ci[start:stop].astype(np.float32).sum())

        assert mapped(3) == loaded(3) == in_memory(3)
        mapped_s = per_lookup_seconds(mapped, args.repeats)
        loaded_s = per_lookup_seconds(loaded, args.repeats)
        in_memory_s = per_lookup_seconds(in_memory, args.repeats)
        print(
            json.dumps(
                {
                    "benchmark": "study_io.subcomponent_lookup",
                    "stored_activations": int(indptr[-1]),
                    "mapped_seconds": round(mapped_s, 6),
                    "baseline_full_load_seconds": round(loaded_s, 6),
                    "ratio": round(loaded_s / mapped_s, 2),
                    "baseline_in_memory_seconds": round(in_memory_s, 7),
                    "ratio_in_memory_over_mapped": round(in_memory_s / mapped_s, 3),
                    "in_memory_array_bytes": int(in_memory_ci.nbytes),
                }
            )
        )


if __name__ == "__main__":
    main()
