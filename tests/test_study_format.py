import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dashboard.study import (
    Study,
    StudyExistsError,
    StudyValidationError,
    StudyWriter,
    validate_study,
)
from dashboard.study.provenance import sha256_file
from tests.study_factory import write_random_study


def rewrite_manifest(study: Path, change) -> None:
    manifest_path = study / "study.json"
    manifest = json.loads(manifest_path.read_text())
    change(manifest)
    manifest_path.write_text(json.dumps(manifest))


def relist(study: Path, relative: str) -> None:
    """Update a file's size and hash in the manifest after replacing it."""
    path = study / relative

    def update(manifest: dict) -> None:
        manifest["files"][relative] = {"bytes": path.stat().st_size, "sha256": sha256_file(path)}

    rewrite_manifest(study, update)


def messages(study: Path) -> list[str]:
    return [str(problem) for problem in validate_study(study)]


def test_round_trip(random_study: Path) -> None:
    study = Study(random_study)
    assert study.name == "random-0"
    assert study.manifest["schema_version"] == 1
    assert set(study.provenance) == {
        "target_model",
        "decomposition",
        "dataset",
        "clustering_config",
    }
    token_ids = study.array("windows/token_ids.npy")
    assert isinstance(token_ids, np.memmap)
    assert not token_ids.flags.writeable
    assert study.window_shape == (12, 16)
    assert list(study.subcomponents["label"][:2]) == [
        "layers.0.attn.q_proj:0",
        "layers.0.attn.q_proj:1",
    ]
    assert study.default_iteration == study.n_merges == 10
    assert len(study.version) == 16


def test_reader_refuses_names_outside_the_format(random_study: Path) -> None:
    study = Study(random_study)
    with pytest.raises(KeyError, match="not an array"):
        study.array("../secrets.npy")


def test_writer_refuses_an_existing_study(random_study: Path) -> None:
    with pytest.raises(StudyExistsError, match="already exists"):
        write_random_study(random_study, seed=1)
    assert Study(random_study).name == "random-0"


def test_writer_overwrites_when_asked(random_study: Path) -> None:
    write_random_study(random_study, seed=1, overwrite=True)
    assert Study(random_study).name == "random-1"
    assert [p.name for p in random_study.parent.iterdir()] == [random_study.name]


def test_incomplete_write_leaves_the_old_study_and_no_draft(random_study: Path) -> None:
    before = sha256_file(random_study / "study.json")
    writer = StudyWriter(random_study, "partial", {}, default_iteration=0, overwrite=True)
    with (
        pytest.raises(StudyValidationError, match=re.escape("files.vocab.parquet: missing from")),
        writer,
    ):
        writer.write_array("windows/token_ids.npy", np.zeros((2, 3), dtype=np.int32))
    assert sha256_file(random_study / "study.json") == before
    assert [p.name for p in random_study.parent.iterdir()] == [random_study.name]


def test_crash_while_writing_leaves_no_draft(tmp_path: Path) -> None:
    writer = StudyWriter(tmp_path / "new", "crash", {}, default_iteration=0)
    with pytest.raises(RuntimeError, match="disk full"), writer:
        writer.write_array("windows/token_ids.npy", np.zeros((2, 3), dtype=np.int32))
        raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_large_arrays_are_written_through_a_memory_map(tmp_path: Path) -> None:
    writer = StudyWriter(tmp_path / "new", "mapped", {}, default_iteration=0)
    with pytest.raises(StudyValidationError), writer:  # the study is incomplete on purpose
        mapped = writer.open_array("windows/token_ids.npy", "int32", (4, 5))
        mapped[:] = 7
        mapped.flush()
        assert np.load(writer.path_for("windows/token_ids.npy")).sum() == 140


def test_valid_study_has_no_problems(random_study: Path) -> None:
    assert validate_study(random_study) == []


def test_missing_file(random_study: Path) -> None:
    (random_study / "activations" / "ci.npy").unlink()
    assert "activations/ci.npy: missing (listed in the manifest)" in messages(random_study)
    with pytest.raises(StudyValidationError, match=r"activations/ci\.npy: missing"):
        Study(random_study)


def test_file_missing_from_the_manifest(random_study: Path) -> None:
    rewrite_manifest(random_study, lambda m: m["files"].pop("vocab.parquet"))
    assert "study.json: files.vocab.parquet: missing from the manifest" in messages(random_study)


def test_wrong_dtype(random_study: Path) -> None:
    np.save(
        random_study / "activations/ci.npy",
        np.full(len(np.load(random_study / "activations/ci.npy")), 0.5),
    )
    relist(random_study, "activations/ci.npy")
    assert messages(random_study) == ["activations/ci.npy: dtype: is float64, expected float16"]


def test_wrong_number_of_dimensions(random_study: Path) -> None:
    np.save(random_study / "windows/token_ids.npy", np.zeros(8, dtype=np.int32))
    relist(random_study, "windows/token_ids.npy")
    assert messages(random_study) == [
        "windows/token_ids.npy: shape: is (8,), expected 2 dimension(s)"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda m: m.update(schema_version=2),
            "study.json: schema_version: is 2, this version of SPD Atlas reads schema version 1",
        ),
        (lambda m: m.pop("name"), "study.json: name: missing (human-readable study name)"),
        (
            lambda m: m.update(default_iteration=True),
            "study.json: default_iteration: is true, expected int",
        ),
        (
            lambda m: m["provenance"].pop("dataset"),
            "study.json: provenance.dataset: missing (sha256 of the dataset)",
        ),
        (
            lambda m: m.update(default_iteration=99),
            "study.json: default_iteration: is 99, the merge history has 10 merges",
        ),
        (
            lambda m: m["files"].update({"../outside.npy": {"bytes": 1, "sha256": ""}}),
            "study.json: files.../outside.npy: must stay inside the study",
        ),
    ],
)
def test_bad_manifest_fields(random_study: Path, change, expected: str) -> None:
    rewrite_manifest(random_study, change)
    assert expected in messages(random_study)


def test_unreadable_manifest(random_study: Path) -> None:
    (random_study / "study.json").write_text("{not json")
    assert messages(random_study)[0].startswith("study.json: unreadable JSON")


def test_missing_manifest(tmp_path: Path) -> None:
    assert messages(tmp_path) == ["study.json: missing: a study directory needs a manifest"]


def test_changed_content_fails_the_hash(random_study: Path) -> None:
    path = random_study / "windows/token_ids.npy"
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    assert messages(random_study) == [
        "windows/token_ids.npy: content does not match its sha256 in the manifest"
    ]
    assert validate_study(random_study, deep=False) == []


def test_truncated_file_fails_the_size(random_study: Path) -> None:
    path = random_study / "subcomponents.parquet"
    path.write_bytes(path.read_bytes()[:100])
    assert messages(random_study)[0].startswith(
        "subcomponents.parquet: is 100 bytes, the manifest says"
    )


def test_corrupt_parquet(random_study: Path) -> None:
    (random_study / "vocab.parquet").write_bytes(b"not parquet at all")
    relist(random_study, "vocab.parquet")
    assert messages(random_study)[0].startswith("vocab.parquet: not a readable Parquet file")


def test_corrupt_npy(random_study: Path) -> None:
    (random_study / "activations/indptr.npy").write_bytes(b"\x93NUMPY garbage")
    relist(random_study, "activations/indptr.npy")
    assert messages(random_study)[0].startswith("activations/indptr.npy: not a readable .npy file")


def test_missing_and_mistyped_columns(random_study: Path) -> None:
    table = pq.read_table(random_study / "subcomponents.parquet").to_pandas()
    table = table.drop(columns=["mean_ci"]).astype({"layer": "float64"})
    pq.write_table(
        pa.Table.from_pandas(table, preserve_index=False), random_study / "subcomponents.parquet"
    )
    relist(random_study, "subcomponents.parquet")
    assert messages(random_study) == [
        "subcomponents.parquet: layer: has type double, expected int32",
        "subcomponents.parquet: mean_ci: missing column (expected float)",
    ]


def test_inconsistent_lengths(random_study: Path) -> None:
    np.save(random_study / "clustering/initial_groups.npy", np.zeros(3, dtype=np.int32))
    relist(random_study, "clustering/initial_groups.npy")
    assert messages(random_study) == [
        "clustering/initial_groups.npy: shape: has 3 entries, expected one per subcomponent (24)"
    ]


def test_values_out_of_range(random_study: Path) -> None:
    ci = np.load(random_study / "activations/ci.npy")
    ci[0] = 1.5
    np.save(random_study / "activations/ci.npy", ci)
    relist(random_study, "activations/ci.npy")
    assert messages(random_study) == [
        "activations/ci.npy: values: causal importances must lie in (0, 1]"
    ]


def test_invalid_merge(random_study: Path) -> None:
    merges = pq.read_table(random_study / "clustering/merges.parquet").to_pandas()
    merges.loc[3, ["group_a", "group_b"]] = merges.loc[0, ["group_a", "group_b"]].to_numpy()
    pq.write_table(
        pa.Table.from_pandas(merges, preserve_index=False),
        random_study / "clustering/merges.parquet",
    )
    relist(random_study, "clustering/merges.parquet")
    assert messages(random_study)[0].startswith("clustering/merges.parquet: row 3: merges groups")


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "dashboard.cli", *args], capture_output=True, text=True, check=False
    )


def test_cli_validate_accepts_a_valid_study(random_study: Path) -> None:
    result = run_cli("validate", str(random_study))
    assert result.returncode == 0, result.stderr
    assert "valid study" in result.stdout


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda s: (s / "activations/ci.npy").unlink(), "activations/ci.npy: missing"),
        (
            lambda s: (
                np.save(
                    s / "activations/indptr.npy",
                    np.load(s / "activations/indptr.npy").astype(np.int32),
                ),
                relist(s, "activations/indptr.npy"),
            ),
            "activations/indptr.npy: dtype: is int32, expected int64",
        ),
        (
            lambda s: rewrite_manifest(s, lambda m: m.update(schema_version=7)),
            "study.json: schema_version: is 7",
        ),
    ],
    ids=["missing-file", "wrong-dtype", "wrong-schema-version"],
)
def test_cli_validate_names_the_problem(random_study: Path, damage, expected: str) -> None:
    damage(random_study)
    result = run_cli("validate", str(random_study))
    assert result.returncode == 1
    assert expected in result.stderr


def test_tables_written_from_pandas_keep_their_types(tmp_path: Path) -> None:
    study = Study(write_random_study(tmp_path / "s"))
    merges = study.table("clustering/merges.parquet")
    assert merges.dtypes["group_a"] == np.int32
    assert isinstance(merges, pd.DataFrame)
