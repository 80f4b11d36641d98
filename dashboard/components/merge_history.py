"""The merge history's MDL curve, as the list and the study page draw it (`charts.curve`)."""

from __future__ import annotations

from dashboard.components import charts
from dashboard.study import Study
from dashboard.study.summary import mdl_curve


def mdl_chart(study: Study, iteration: int, pick: bool) -> dict | None:
    """MDL total against iteration, the default (its minimum) and the shown iteration marked;
    None when the history does not record it."""
    found = mdl_curve(study)
    if found is None:
        return None
    marks = {"default (least MDL)": study.default_iteration}
    if iteration != study.default_iteration:
        marks["shown"] = iteration
    return charts.curve(*found, "MDL over the merge history", "iteration", "MDL total", marks, pick)
