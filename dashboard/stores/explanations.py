"""Explanations per cluster (study, iteration, id) and per subcomponent (by label): who or what
wrote them, the scores measured of them, each beside its baseline, and when. Export and import
as JSON."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime

import pandas as pd

from dashboard.stores.database import Database

KINDS = ("cluster", "subcomponent")
SOURCES = ("person", "github", "model")
NO_ITERATION = -1  # subcomponents are not tied to a clustering iteration
MAX_EXPLANATION_CHARS = 4000
MAX_AUTHOR_CHARS = 200
# detection and fuzzing: AUROC, the baseline a random other cluster's explanation; intruder: the
# chance of picking the odd text out, the baseline 1 / the texts shown (no explanation needed)
MEASURES = ("detection", "fuzzing", "intruder")


class ExplanationError(ValueError):
    """An explanation (or a record to import) that cannot be stored, with what is wrong."""


@dataclass(frozen=True)
class Score:
    """One measure of an explanation (`dashboard.pipeline.autointerp`), beside its baseline."""

    measure: str  # one of MEASURES
    value: float
    baseline: float | None = None

    def checked(self) -> Score:
        if self.measure not in MEASURES:
            raise ExplanationError(f"score {self.measure!r}: expected one of {MEASURES}")
        for name, number in (("value", self.value), ("baseline", self.baseline)):
            if number is not None and not (math.isfinite(number) and 0.0 <= number <= 1.0):
                raise ExplanationError(f"score {self.measure} {name} {number!r}: not in [0, 1]")
        return self


@dataclass(frozen=True)
class Explanation:
    study: str
    iteration: int  # NO_ITERATION for subcomponents
    kind: str  # "cluster" or "subcomponent"
    target: str  # a cluster id, or a subcomponent label such as "layers.0.mlp.up_proj:12"
    source: str  # "person", "github" (author: the address) or "model" (its name)
    author: str
    text: str
    score: float | None = None  # the detection score of a model's explanation
    created_at: str = ""
    updated_at: str = ""
    scores: tuple[Score, ...] = ()  # a model's explanation: each measure beside its baseline

    def checked(self) -> Explanation:
        """This explanation, or ExplanationError naming the first field that is wrong."""
        problems = [
            (not self.study.strip(), "study: empty"),
            (self.kind not in KINDS, f"kind {self.kind!r}: expected one of {KINDS}"),
            (self.source not in SOURCES, f"source {self.source!r}: expected one of {SOURCES}"),
            (not str(self.target).strip(), "target: empty"),
            (not self.author.strip(), "author: empty (a name, an issue address or a model)"),
            (len(self.author) > MAX_AUTHOR_CHARS, f"author: over {MAX_AUTHOR_CHARS} characters"),
            (not self.text.strip(), "text: empty"),
            (
                len(self.text) > MAX_EXPLANATION_CHARS,
                f"text: {len(self.text):,} characters; the limit is {MAX_EXPLANATION_CHARS:,}",
            ),
            (
                self.kind == "subcomponent" and self.iteration != NO_ITERATION,
                f"iteration: a subcomponent's explanation has none ({NO_ITERATION})",
            ),
            (
                self.kind == "cluster" and self.iteration < 0,
                f"iteration {self.iteration}: a cluster's explanation names its iteration",
            ),
            (
                self.score is not None and not math.isfinite(self.score),
                f"score {self.score!r}: expected a finite number or none",
            ),
        ]
        for wrong, message in problems:
            if wrong:
                raise ExplanationError(message)
        for score in self.scores:
            score.checked()
        if len({score.measure for score in self.scores}) < len(self.scores):
            raise ExplanationError("scores: a measure given twice")
        return self


def explanation_from_record(record: object, position: int = 0) -> Explanation:
    """An Explanation from one JSON record of an export; ExplanationError names what is wrong."""
    names = {field.name for field in fields(Explanation)}
    if not isinstance(record, dict):
        raise ExplanationError(
            f"record {position}: expected an object, got {type(record).__name__}"
        )
    unknown = set(record) - names
    if unknown:
        raise ExplanationError(f"record {position}: unknown field(s) {sorted(unknown)}")
    required = {"study", "iteration", "kind", "target", "source", "author", "text"}
    missing = required - set(record)
    if missing:
        raise ExplanationError(f"record {position}: missing field(s) {sorted(missing)}")
    try:
        explanation = Explanation(
            study=str(record["study"]),
            iteration=int(record["iteration"]),
            kind=str(record["kind"]),
            target=str(record["target"]),
            source=str(record["source"]),
            author=str(record["author"]),
            text=str(record["text"]),
            score=None if record.get("score") is None else float(record["score"]),
            created_at=str(record.get("created_at") or ""),
            updated_at=str(record.get("updated_at") or ""),
            scores=tuple(score_from_record(one) for one in record.get("scores") or ()),
        )
        return explanation.checked()
    except (TypeError, ValueError, KeyError) as error:
        raise ExplanationError(f"record {position}: {error}") from None


def score_from_record(record: object) -> Score:
    if not isinstance(record, dict) or set(record) - {"measure", "value", "baseline"}:
        raise ExplanationError(f"scores: expected {{measure, value, baseline}}, got {record!r}")
    baseline = None if record.get("baseline") is None else float(record["baseline"])
    return Score(str(record["measure"]), float(record["value"]), baseline)


KEY = "study, iteration, kind, target, source, author"
KEY_MATCH = "study = ? AND iteration = ? AND kind = ? AND target = ? AND source = ? AND author = ?"
COLUMNS = "study, iteration, kind, target, source, author, body, score, created_at, updated_at"
UPSERT = f"""INSERT INTO explanations ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (study, iteration, kind, target, source, author)
    DO UPDATE SET body = excluded.body, score = excluded.score, updated_at = excluded.updated_at"""


def newest_texts(explanations: list[Explanation]) -> dict[int, str]:
    """Cluster id -> the text of its first explanation in `explanations` (newest first)."""
    newest: dict[int, str] = {}
    for explanation in explanations:
        if explanation.target.isdigit():
            newest.setdefault(int(explanation.target), explanation.text)
    return newest


def newest_scores(explanations: list[Explanation]) -> pd.DataFrame:
    """Per cluster, the scores of its first scored explanation in `explanations` (newest
    first): `cluster`, then each measure and `<measure>_baseline` (a column per measure, NaN
    where not measured)."""
    rows: dict[int, dict[str, float]] = {}
    for explanation in explanations:
        if explanation.scores and explanation.target.isdigit():
            rows.setdefault(int(explanation.target), score_columns(explanation.scores))
    columns = [name for measure in MEASURES for name in (measure, f"{measure}_baseline")]
    table = pd.DataFrame.from_dict(rows, orient="index", columns=columns, dtype=float)
    return table.rename_axis("cluster").reset_index()


def score_columns(scores: tuple[Score, ...]) -> dict[str, float]:
    columns: dict[str, float] = {}
    for score in scores:
        columns[score.measure] = score.value
        baseline = score.baseline
        columns[f"{score.measure}_baseline"] = math.nan if baseline is None else baseline
    return columns


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class ExplanationStore:
    """One explanation per (study, iteration, kind, target, source, author): writing again
    updates its text and score and keeps when it was first written."""

    def __init__(self, database: Database):
        self.database = database

    @staticmethod
    def row(explanation: Explanation) -> tuple:
        stamp = now()
        return (
            explanation.study,
            explanation.iteration,
            explanation.kind,
            str(explanation.target),
            explanation.source,
            explanation.author,
            explanation.text,
            explanation.score,
            explanation.created_at or stamp,
            explanation.updated_at or stamp,
        )

    @staticmethod
    def steps(explanation: Explanation) -> list[tuple[str, tuple]]:
        """The statements that store `explanation` and replace its scores."""
        row = ExplanationStore.row(explanation)
        key = row[:6]
        return [
            (UPSERT, row),
            (f"DELETE FROM explanation_scores WHERE {KEY_MATCH}", key),
            *(
                (
                    f"INSERT INTO explanation_scores ({KEY}, measure, value, baseline) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, score.measure, score.value, score.baseline),
                )
                for score in explanation.scores
            ),
        ]

    def put(self, explanation: Explanation) -> None:
        self.database.execute_all(self.steps(explanation.checked()))

    def select(self, where: str, parameters: tuple) -> list[Explanation]:
        rows = self.database.execute(
            f"SELECT {COLUMNS} FROM explanations WHERE {where} ORDER BY updated_at DESC, author",
            parameters,
        )
        scores: dict[tuple, list[Score]] = {}
        for *key, measure, value, baseline in self.database.execute(
            f"SELECT {KEY}, measure, value, baseline FROM explanation_scores WHERE {where} "
            "ORDER BY measure",
            parameters,
        ):
            scores.setdefault(tuple(key), []).append(Score(measure, value, baseline))
        return [  # COLUMNS in the order of its fields
            Explanation(*row, scores=tuple(scores.get(tuple(row[:6]), ()))) for row in rows
        ]

    def of_target(self, study: str, iteration: int, kind: str, target: str) -> list[Explanation]:
        """A cluster's (or subcomponent's) explanations, newest first."""
        return self.select(
            "study = ? AND iteration = ? AND kind = ? AND target = ?",
            (study, iteration, kind, str(target)),
        )

    def of_study(self, study: str, iteration: int, kind: str = "cluster") -> list[Explanation]:
        """Every explanation of one kind at one iteration of a study, newest first."""
        return self.select("study = ? AND iteration = ? AND kind = ?", (study, iteration, kind))

    def newest_scores(self, study: str, iteration: int) -> pd.DataFrame:
        """Per cluster, the scores of its newest scored explanation (`newest_scores`)."""
        return newest_scores(self.of_study(study, iteration))

    def newest(self, study: str, iteration: int) -> tuple[dict[int, str], pd.DataFrame]:
        """`newest_texts` and `newest_scores` from one read of the store."""
        explanations = self.of_study(study, iteration)
        return newest_texts(explanations), newest_scores(explanations)

    def exists(self, study: str, iteration: int, kind: str, target: str, author: str) -> bool:
        """Whether `author` already explained this target (how batch runs resume)."""
        return bool(
            self.database.execute(
                "SELECT 1 FROM explanations WHERE study = ? AND iteration = ? AND kind = ? "
                "AND target = ? AND author = ?",
                (study, iteration, kind, str(target), author),
            )
        )

    def iterations_of(self, study: str) -> list[int]:
        """The iterations at which clusters of `study` have explanations."""
        rows = self.database.execute(
            "SELECT DISTINCT iteration FROM explanations WHERE study = ? AND kind = 'cluster' "
            "ORDER BY iteration",
            (study,),
        )
        return [int(row[0]) for row in rows]

    def relabel(self, study: str, iteration: int, ids: dict[int, int]) -> int:
        """Move the explanations (and their scores) of clusters at `iteration` from their ids
        in `ids` to the ids they map to, in one transaction; how many moved."""
        targets = Counter(
            row[0]
            for row in self.database.execute(
                "SELECT target FROM explanations WHERE study = ? AND iteration = ? "
                "AND kind = 'cluster'",
                (study, iteration),
            )
        )
        moving = [
            (str(new), study, iteration, str(old)) for old, new in ids.items() if targets[str(old)]
        ]
        where = "study = ? AND iteration = ? AND kind = 'cluster' AND target = ?"
        self.database.execute_all(
            [
                (f"UPDATE {table} SET target = ? WHERE {where}", row)
                for row in moving
                for table in ("explanations", "explanation_scores")
            ]
        )
        return sum(targets[old] for *_, old in moving)

    def export(self, study: str | None = None) -> list[dict]:
        """Every explanation (of one study, if named) as JSON-ready records."""
        found = self.select("study = ?", (study,)) if study else self.select("1 = 1", ())
        return [asdict(explanation) for explanation in found]

    def import_records(self, records: object) -> int:
        """Check every record first, then store them all in one transaction: a bad file
        stores nothing and names the first wrong record."""
        if not isinstance(records, list):
            raise ExplanationError("expected a JSON list of explanation records")
        explanations = [explanation_from_record(r, i) for i, r in enumerate(records)]
        self.database.execute_all([step for e in explanations for step in self.steps(e)])
        return len(explanations)
