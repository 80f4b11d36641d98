"""Explanations per cluster and per subcomponent, in SQLite and in the real PostgreSQL server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest

from dashboard.stores.database import Database, StoreError
from dashboard.stores.explanations import (
    NO_ITERATION,
    Explanation,
    ExplanationError,
    ExplanationStore,
    Score,
)


@pytest.fixture
def store(store_database: Database) -> ExplanationStore:
    return ExplanationStore(store_database)


@pytest.fixture
def study() -> str:
    """A study name of this test alone (the PostgreSQL database outlives test runs)."""
    return f"study-{uuid.uuid4().hex[:8]}"


def test_round_trip_update_and_lookup(store: ExplanationStore, study: str) -> None:
    store.put(Explanation(study, 12, "cluster", "7", "person", "ada", "fires on dates"))
    store.put(Explanation(study, 12, "cluster", "7", "model", "smollm2", "years", score=0.71))
    store.put(
        Explanation(study, NO_ITERATION, "subcomponent", "layers.0.mlp:3", "person", "ada", "x")
    )
    found = store.of_target(study, 12, "cluster", "7")
    assert {(e.source, e.author, e.text, e.score) for e in found} == {
        ("person", "ada", "fires on dates", None),
        ("model", "smollm2", "years", 0.71),
    }
    first = next(e for e in found if e.author == "ada")
    store.put(Explanation(study, 12, "cluster", "7", "person", "ada", "fires on four-digit years"))
    again = [e for e in store.of_target(study, 12, "cluster", "7") if e.author == "ada"]
    assert len(again) == 1 and again[0].text == "fires on four-digit years"
    assert again[0].created_at == first.created_at
    assert store.of_target(study, 13, "cluster", "7") == []
    assert len(store.of_study(study, 12)) == 2
    assert store.exists(study, 12, "cluster", "7", "smollm2")
    assert not store.exists(study, 12, "cluster", "8", "smollm2")


@pytest.mark.parametrize(
    ("explanation", "message"),
    [
        (Explanation("s", 1, "cluster", "1", "person", "ada", "  "), "text: empty"),
        (Explanation("s", 1, "cluster", "1", "robot", "ada", "x"), "source 'robot'"),
        (Explanation("s", 1, "layer", "1", "person", "ada", "x"), "kind 'layer'"),
        (Explanation("s", 1, "cluster", "1", "person", "", "x"), "author: empty"),
        (Explanation("s", 1, "cluster", "1", "person", "a", "x" * 5000), "the limit is 4,000"),
        (Explanation("s", 3, "subcomponent", "m:1", "person", "a", "x"), "has none"),
        (Explanation("s", 1, "cluster", "1", "model", "m", "x", float("nan")), "score nan"),
        (
            Explanation("s", 1, "cluster", "1", "model", "m", "x", scores=(Score("recall", 1),)),
            "score 'recall'",
        ),
        (
            Explanation("s", 1, "cluster", "1", "model", "m", "x", scores=(Score("fuzzing", 2),)),
            "fuzzing value 2",
        ),
        (
            Explanation(
                "s", 1, "cluster", "1", "model", "m", "x", scores=(Score("intruder", 0.3),) * 2
            ),
            "given twice",
        ),
    ],
)
def test_bad_explanations_are_refused_by_name(explanation: Explanation, message: str) -> None:
    with pytest.raises(ExplanationError, match=message):
        explanation.checked()


def test_export_and_import_and_a_bad_file_stores_nothing(
    store: ExplanationStore, study: str, tmp_path: Path
) -> None:
    store.put(Explanation(study, 4, "cluster", "1", "person", "ada", "<script>x</script>"))
    store.put(Explanation(study, 4, "cluster", "2", "model", "smollm2", "commas", score=0.5))
    exported = json.loads(json.dumps(store.export(study)))
    assert len(exported) == 2
    other = ExplanationStore(Database(f"sqlite:///{tmp_path / 'other.sqlite3'}"))
    assert other.import_records(exported) == 2
    assert {e.text for e in other.of_study(study, 4)} == {"<script>x</script>", "commas"}
    broken = [*exported, {**exported[0], "target": "3", "kind": "nonsense"}]
    fresh = ExplanationStore(Database(f"sqlite:///{tmp_path / 'fresh.sqlite3'}"))
    with pytest.raises(ExplanationError, match="record 2: kind 'nonsense'"):
        fresh.import_records(broken)
    assert fresh.export(study) == []  # nothing half-imported
    with pytest.raises(ExplanationError, match="unknown field"):
        fresh.import_records([{**exported[0], "extra": 1}])
    with pytest.raises(ExplanationError, match="JSON list"):
        fresh.import_records({"study": study})


def test_a_locked_database_is_a_clear_error_and_loses_nothing(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "store.sqlite3"
    store = ExplanationStore(Database(f"sqlite:///{path}"))
    store.put(Explanation("s", 1, "cluster", "1", "person", "ada", "kept"))
    impatient = ExplanationStore(Database(f"sqlite:///{path}", lock_timeout=0.2))
    holder = sqlite3.connect(path, timeout=0)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked"):
            impatient.put(Explanation("s", 1, "cluster", "2", "person", "a", "y"))
    finally:
        holder.rollback()
        holder.close()
    assert [e.text for e in store.of_study("s", 1)] == ["kept"]


def test_the_cli_exports_and_imports_and_refuses_a_bad_file(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
        env = {**os.environ, "ATLAS_DATA_DIR": str(data_dir)}
        env.pop("DATABASE_URL", None)
        return subprocess.run(
            [sys.executable, "-m", "dashboard.cli", "explanations", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    source = tmp_path / "source"
    source.mkdir()
    ExplanationStore(Database(f"sqlite:///{source / 'atlas.sqlite3'}")).put(
        Explanation("micro", 5, "cluster", "3", "person", "ada", "commas")
    )
    exported = tmp_path / "explanations.json"
    assert cli(source, "export", "--study", "micro", "--out", str(exported)).returncode == 0
    assert [r["text"] for r in json.loads(exported.read_text())] == ["commas"]
    target = tmp_path / "target"
    done = cli(target, "import", str(exported))
    assert done.returncode == 0 and "imported 1" in done.stdout
    bad = tmp_path / "bad.json"
    bad.write_text("[{]")
    refused = cli(target, "import", str(bad))
    assert refused.returncode == 2 and "not JSON" in refused.stderr
    again = cli(target, "export")
    assert [r["author"] for r in json.loads(again.stdout)] == ["ada"]  # nothing lost


def test_scores_beside_their_baselines_round_trip_and_replace(
    store: ExplanationStore, study: str, tmp_path: Path
) -> None:
    scores = (Score("detection", 0.75, 0.5), Score("intruder", 0.4, 0.2))
    store.put(Explanation(study, 3, "cluster", "5", "model", "m", "commas", 0.75, scores=scores))
    store.put(Explanation(study, 3, "cluster", "6", "person", "ada", "no scores"))
    (found,) = [e for e in store.of_target(study, 3, "cluster", "5")]
    assert found.scores == scores
    table = store.newest_scores(study, 3)
    assert table["cluster"].tolist() == [5]
    row = table.iloc[0]
    assert (row["detection"], row["detection_baseline"], row["intruder"]) == (0.75, 0.5, 0.4)
    assert row[["fuzzing", "fuzzing_baseline"]].isna().all()
    exported = json.loads(json.dumps(store.export(study)))
    other = ExplanationStore(Database(f"sqlite:///{tmp_path / 'other.sqlite3'}"))
    other.import_records(exported)
    assert other.of_target(study, 3, "cluster", "5")[0].scores == scores
    rescored = (Score("fuzzing", 0.6, 0.55),)
    store.put(Explanation(study, 3, "cluster", "5", "model", "m", "commas", scores=rescored))
    assert store.of_target(study, 3, "cluster", "5")[0].scores == rescored
    assert store.newest_scores("no-such-study", 3).empty


def earlier_and_stable(path: Path) -> tuple[dict[int, int], int, int]:
    """A random study's earlier ids at its last iteration ({earlier: stable}), one cluster whose
    id changed and one (never merged) whose id did not."""
    from dashboard.study import Study
    from dashboard.study.clusters import assignments_at, earlier_ids_at

    random = Study(path)
    merges = random.table("clustering/merges.parquet")
    initial = np.asarray(random.array("clustering/initial_groups.npy"))
    ids = earlier_ids_at(initial, merges, random.n_merges)
    now = assignments_at(initial, merges, random.n_merges)
    kept = int(now[(now >= 0) & (now <= initial.max())][0])
    assert ids and kept not in ids
    return ids, next(iter(ids)), kept


def test_explanations_move_from_the_earlier_cluster_ids_to_stable_ones(
    store: ExplanationStore, study: str, tmp_path: Path
) -> None:
    """Before stable ids a cluster was named by its surviving group; `relabel` moves what was
    stored under those ids (scores too) to the stable ids, and running it again changes nothing."""
    from tests.study_factory import write_random_study

    ids, merged, kept = earlier_and_stable(write_random_study(tmp_path / study))
    iteration = 10  # the random study's last
    for target in (merged, kept):
        store.put(
            Explanation(
                study,
                iteration,
                "cluster",
                str(target),
                "person",
                "ada",
                f"of {target}",
                scores=(Score("detection", 0.7, 0.5),),
            )
        )
    assert store.relabel(study, iteration, ids) == 1
    moved = {e.target: e for e in store.of_study(study, iteration)}
    assert set(moved) == {str(ids[merged]), str(kept)}
    assert moved[str(ids[merged])].text == f"of {merged}" and moved[str(ids[merged])].scores
    assert store.relabel(study, iteration, ids) == 0


def test_the_cli_relabels_a_study_s_explanations(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from tests.study_factory import write_random_study

    data = tmp_path / "data"
    ids, merged, _ = earlier_and_stable(write_random_study(data / "random"))
    store = ExplanationStore(Database(f"sqlite:///{data / 'atlas.sqlite3'}"))
    name = "random-0"  # the random study's name (explanations are kept by study name)
    store.put(Explanation(name, 10, "cluster", str(merged), "person", "ada", "commas"))
    env = {**os.environ, "ATLAS_DATA_DIR": str(data)}
    env.pop("DATABASE_URL", None)

    def relabel() -> str:
        done = subprocess.run(
            [sys.executable, "-m", "dashboard.cli", "explanations", "relabel", "random"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert "moved 1 explanation(s)" in relabel()
    assert "moved 0 explanation(s)" in relabel()
    assert [e.target for e in store.of_study(name, 10)] == [str(ids[merged])]
