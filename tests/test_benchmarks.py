"""Every benchmark in `bench/` runs with `--smoke` (tiny sizes or the micro study, seconds each)
as CI would run it, and ends its output with the JSON it always prints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 600


def last_json(stdout: str) -> dict:
    """The JSON object that ends `stdout` (on one line, or indented over several)."""
    decoder = json.JSONDecoder()
    for start in reversed([match.start() for match in re.finditer(r"^\{", stdout, re.M)]):
        try:
            value, end = decoder.raw_decode(stdout, start)
        except json.JSONDecodeError:
            continue
        if not stdout[end:].strip():
            return value
    raise AssertionError(f"stdout does not end with a JSON object:\n{stdout[-2000:]}")


def smoke(bench: str, data_dir: Path, *args: str | Path) -> dict:
    """Run `python -m bench.<bench> --smoke ARGS` with ATLAS_DATA_DIR=`data_dir`; its last JSON."""
    return last_json(smoke_output(bench, data_dir, *args))


def smoke_output(bench: str, data_dir: Path, *args: str | Path) -> str:
    """What `python -m bench.<bench> --smoke ARGS` printed, with ATLAS_DATA_DIR=`data_dir`."""
    done = subprocess.run(
        [sys.executable, "-m", f"bench.{bench}", "--smoke", *map(str, args)],
        cwd=REPO,
        env={**os.environ, "ATLAS_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert done.returncode == 0, f"bench.{bench} failed:\n{done.stderr[-4000:]}"
    return done.stdout


def test_study_io(tmp_path: Path) -> None:
    figures = smoke("study_io", tmp_path)
    assert figures["ratio"] > 0
    assert {"mapped_seconds", "baseline_full_load_seconds"} <= figures.keys()
    assert figures["baseline_in_memory_seconds"] > 0 and figures["in_memory_array_bytes"] > 0


def test_cluster(tmp_path: Path) -> None:
    output = smoke_output("cluster", tmp_path)
    ensemble = json.loads(
        next(line for line in output.splitlines() if "stability_ensemble" in line)
    )
    assert ensemble["runs"] == 4 and ensemble["ratio"] > 0
    assert 0 <= ensemble["median_stability"] <= 1
    figures = last_json(output)
    assert figures["benchmark"] == "cluster.versus_spd_loop"
    assert figures["ratio"] > 0
    assert figures["float64_spd_loop_agrees"], figures  # spd's loop merges the same pairs


def test_analyses(tmp_path: Path) -> None:
    figures = smoke("analyses", tmp_path)
    assert figures["bench"] == "lens_decodings"
    assert figures["ratio_numpy_over_device"] > 0


def test_app(tmp_path: Path) -> None:
    figures = smoke("app", tmp_path)
    assert figures["ratio_cluster_cold_over_warm_p50"] > 0
    assert figures["ratio_plain_over_sent"] > 1
    for view in ("list_page_warm", "filter_sort", "cluster_page_cold", "cluster_page_warm"):
        assert {"p50_ms", "p95_ms"} <= figures[view].keys()


def test_decompose(micro_data_dir: Path, micro_decomposition: Path) -> None:
    output = smoke_output("decompose", micro_data_dir, "--data-dir", micro_data_dir)
    speed, quality = (json.loads(line) for line in output.splitlines() if line.startswith("{"))
    assert speed["preset"] == "micro"
    assert speed["ratio"] > 0
    # then the quality of the micro decomposition built for the tests, from its report.json
    report = json.loads((micro_decomposition / "report.json").read_text())
    assert quality["benchmark"] == "decompose.quality" and quality["preset"] == "micro"
    assert quality["ci_masked_gap_nats"] == round(
        report["ci_masked_loss"] - report["target_loss"], 3
    )
    assert set(quality["l0_over_c"]) == set(report["modules"])
    assert quality["worst_l0_over_c"] == max(quality["l0_over_c"].values())


def test_harvest(micro_data_dir: Path, micro_decomposition: Path) -> None:
    output = smoke_output("harvest", micro_data_dir, "--data-dir", micro_data_dir)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    forward, workers = lines[0], lines[-1]
    assert forward["preset"] == "micro" and forward["ratio"] > 0
    assert workers["benchmark"] == "harvest.workers" and workers["shards"] == 4
    assert workers["identical"] is True
    assert workers["workers"].keys() == {"1", "2"} and workers["ratio_2_over_1"] > 0
    assert workers["single_process_tokens_per_s"] > 0


def test_live(micro_study: Path, tmp_path: Path) -> None:
    figures = smoke("live", tmp_path, "--study", micro_study)
    assert figures["probe_tokens"] > 0
    assert figures["ratio_probe_over_forward"] > 0
    assert figures["embedded_probe_p50_ms"] > 0
    assert figures["ratio_masked_first_run_over_forward"] > 0
    assert figures["ratio_masked_another_mask_over_forward"] > 0


def test_graph(micro_study: Path, tmp_path: Path) -> None:
    figures = smoke("graph", tmp_path, "--study", micro_study)
    assert figures["prompts"] == 3 and figures["tokens_mean"] > 0
    assert figures["graph_p50_s"] > 0 and figures["ratio_graph_over_forward"] > 0
    assert figures["nodes_mean"] > 0
    assert set(figures["goals"]) == {"graph_within_5_s", "spearman_at_least_0.6"}


@pytest.mark.browser
def test_browser(micro_study: Path, tmp_path: Path) -> None:
    figures = smoke("browser", tmp_path, "--study", micro_study)
    assert figures["errors"] == []
    assert figures["floor_ms"] > 0
    kinds = {"floor", "clusters", "cluster_largest", "cluster", "component", "sample"}
    assert kinds | {"probe_result", "graph_result", "infer_result"} == figures["pages"].keys()
    for page in figures["pages"].values():
        assert page["cold"]["p95_ms"] > 0 and page["dom_nodes_max"] > 0 and page["bytes_p50"] > 0
        assert {"cold", "warm"} == page["ratio_p95_over_floor"].keys()
    for goal in figures["goals"].values():
        assert isinstance(goal["met"], bool)


@pytest.mark.browser
@pytest.mark.integration
def test_load(micro_study: Path, tmp_path: Path) -> None:
    figures = smoke("load", tmp_path, "--study", micro_study)
    assert figures["modes"].keys() == {"embedded", "scaled"}
    assert isinstance(figures["goal"]["met"], bool)
    assert figures["scaled_over_embedded_throughput"].keys() == {"1"}


def test_report_writes_the_figures_of_each_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    figures = smoke("report", tmp_path, "--only", "study_io", "cluster", "--out", out)
    assert figures["failed"] == []
    text = out.read_text()
    assert "## bench.study_io" in text and "## bench.cluster" in text
    assert "| mapped_seconds |" in text and "CPU:" in text
    report = json.loads(out.with_suffix(".json").read_text())
    assert [b["name"] for b in report["benchmarks"]] == ["study_io", "cluster"]


def test_report_fills_the_docs_blocks_from_the_figures(tmp_path: Path) -> None:
    from bench.report import fill_docs

    doc = tmp_path / "live.md"
    doc.write_text(
        "Before.\n<!-- bench.report: live -->\nold figures\n<!-- /bench.report -->\nAfter.\n"
    )
    (tmp_path / "other.md").write_text(
        "<!-- bench.report: browser -->\nkept\n<!-- /bench.report -->\n"
    )
    result = {
        "name": "live",
        "command": "python -m bench.live",
        "date": "2026-11-30 15:00 UTC",
        "commit": "abc1234",
        "figures": [{"probe_p50_ms": 6.6, "goal": {"met": True}}],
    }
    assert fill_docs({"benchmarks": [result]}, tmp_path) == ["live.md"]
    text = doc.read_text()
    assert "old figures" not in text and text.startswith("Before.") and text.endswith("After.\n")
    assert "| probe_p50_ms | 6.6 |" in text and "| goal.met | true |" in text
    assert "commit abc1234" in text
    assert "kept" in (tmp_path / "other.md").read_text()  # no figures for it: left as it was
