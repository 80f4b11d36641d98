"""The cluster list as one table, and the filter language of its columns.

Filters are text, typed in the column's filter box or carried in the URL:
- numeric columns: comparisons `>2.5`, `>=`, `<`, `<=`, `=`, `!=`, ranges `0.1..0.5`; `&` joins
  terms that must all hold, `,` joins alternatives (`<2,>10`).
- `modules`: shell patterns over a cluster's module paths: `*mlp*,*attn*` (either), `*mlp*&*.1.*`
  (both), `!*q_proj*` (no member in a q_proj).
- other text columns: case-insensitive substring.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

import numpy as np
import pandas as pd

from dashboard.analysis.measures import ClusterAnalyses, reliability_labels

SPARK_BLOCKS = "▁▂▃▄▅▆▇█"
COMPARISON = re.compile(r"^(>=|<=|!=|>|<|=)?\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)$")
RANGE = re.compile(r"^([-+]?[\d.eE+-]+)\s*\.\.\s*([-+]?[\d.eE+-]+)$")
TOP_TOKENS_SHOWN = 5


class FilterError(ValueError):
    """A filter expression that cannot be read."""


def sparkline(counts: np.ndarray) -> str:
    counts = np.asarray(counts, dtype=np.float64)
    if counts.max(initial=0) <= 0:
        return ""
    levels = np.ceil(counts / counts.max() * (len(SPARK_BLOCKS) - 1)).astype(int)
    return "".join(SPARK_BLOCKS[level] for level in levels)


def cluster_table(
    analyses: ClusterAnalyses, subcomponents: pd.DataFrame, tokens: list[str]
) -> pd.DataFrame:
    """One row per cluster: measures, module list, makeup and histogram sparklines, top tokens."""
    table = analyses.clusters.copy()
    info = subcomponents.iloc[analyses.members["subcomponent"].to_numpy()]
    by_cluster = pd.Series(info["module"].to_numpy()).groupby(
        analyses.members["cluster"].to_numpy()
    )
    table["modules"] = table["cluster"].map(by_cluster.apply(lambda m: ",".join(sorted(set(m)))))
    n_layers = int(subcomponents["layer"].max()) + 1
    layer_counts = (
        pd.crosstab(analyses.members["cluster"].to_numpy(), info["layer"].to_numpy())
        .reindex(columns=range(n_layers), fill_value=0)
        .reindex(table["cluster"], fill_value=0)
    )
    table["layers"] = [sparkline(row) for row in layer_counts.to_numpy()]
    table["ci_histogram"] = [sparkline(row) for row in analyses.arrays["ci_histogram"]]
    top = analyses.tokens[analyses.tokens["ranking"] == "mass"]
    top = top[top["rank"] < TOP_TOKENS_SHOWN]
    joined = top.groupby("cluster")["token_id"].apply(
        lambda ids: " ".join(repr(tokens[i]) for i in ids)
    )
    table["top_tokens"] = table["cluster"].map(joined).fillna("")
    table["labels"] = reliability_labels(table)
    return table


def numeric_mask(values: pd.Series, expression: str, column: str) -> np.ndarray:
    def term_mask(term: str) -> np.ndarray:
        term = term.strip()
        if match := RANGE.match(term):
            try:
                low, high = float(match.group(1)), float(match.group(2))
            except ValueError:
                raise FilterError(f"{column}: {term!r} is not a range like 0.1..0.5") from None
            return ((values >= low) & (values <= high)).to_numpy()
        match = COMPARISON.match(term)
        if match is None:
            raise FilterError(f"{column}: cannot read {term!r}; use >2.5, <=3, =1, !=0 or 0.1..0.5")
        operator, number = match.group(1) or "=", float(match.group(2))
        compare = {
            ">": values > number,
            ">=": values >= number,
            "<": values < number,
            "<=": values <= number,
            "=": np.isclose(values, number),
            "!=": ~np.isclose(values, number),
        }[operator]
        return np.asarray(compare)

    return any_of_all_of(expression, term_mask, len(values))


def module_mask(modules: pd.Series, expression: str) -> np.ndarray:
    lists = [text.split(",") if text else [] for text in modules.fillna("")]

    def term_mask(term: str) -> np.ndarray:
        term = term.strip()
        exclude = term.startswith("!")
        pattern = term[1:].strip() if exclude else term
        if not pattern:
            raise FilterError(f"modules: empty pattern in {expression!r}")
        hits = np.array([any(fnmatchcase(m, pattern) for m in ms) for ms in lists], dtype=bool)
        return ~hits if exclude else hits

    return any_of_all_of(expression, term_mask, len(modules), alternatives=",")


def any_of_all_of(expression: str, term_mask, size: int, alternatives: str = ",") -> np.ndarray:
    """`a&b,c` = (a and b) or c."""
    result = np.zeros(size, dtype=bool)
    for alternative in expression.split(alternatives):
        if not alternative.strip():
            continue
        terms = np.ones(size, dtype=bool)
        for term in alternative.split("&"):
            terms &= term_mask(term)
        result |= terms
    return result


def query_table(
    table: pd.DataFrame, filters: dict[str, str] | None, sort: str = ""
) -> pd.DataFrame:
    """The rows that pass every `{column: expression}` filter, sorted by `sort` (`column`,
    `-column` for descending, or empty); a filter or sort on a column the table lacks is named
    in the error."""
    mask = np.ones(len(table), dtype=bool)
    for column, expression in (filters or {}).items():
        if column not in table.columns:
            raise FilterError(f"no column {column!r} to filter on")
        expression = str(expression or "").strip()
        if not expression:
            continue
        if column == "modules":
            mask &= module_mask(table["modules"], expression)
        elif pd.api.types.is_numeric_dtype(table[column]):
            mask &= numeric_mask(table[column], expression, column)
        else:
            mask &= (
                table[column].astype(str).str.contains(expression, case=False, regex=False)
            ).to_numpy()
    result = table[mask]
    column = sort.removeprefix("-")
    if column:
        if column not in table.columns:
            raise FilterError(f"no column {column!r} to sort by")
        result = result.sort_values(column, ascending=not sort.startswith("-"), kind="stable")
    return result
