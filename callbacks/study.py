"""Callbacks of `/study`: a click on the MDL curve opens the list at that iteration; the panel
of a build in progress is read again every two seconds until the build ends (and, for a study
not built yet, until its build starts)."""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from dashboard.app_state import study_directory
from dashboard.components import build_progress
from dashboard.pages import study as page
from dashboard.study.build_progress import read_progress
from dashboard.study_view import links_of, loaded_study


@callback(
    Output(page.GO, "href"),
    Input(page.MDL, "picked"),
    State(page.STATE, "data"),
    prevent_initial_call=True,
)
def open_picked_iteration(picked: dict | None, state: dict):
    study = loaded_study(state["version"])
    x = picked.get("x") if isinstance(picked, dict) else None
    if isinstance(x, bool) or not isinstance(x, int) or not 0 <= x <= study.n_merges:
        return no_update
    return links_of(study, {"study": state.get("study"), "iteration": x}).clusters()


@callback(
    Output(build_progress.PANEL, "children"),
    Output(build_progress.PANEL, "is_open"),
    Output(build_progress.POLL, "disabled"),
    Input(build_progress.POLL, "n_intervals"),
    State(build_progress.NAME, "data"),
    State(build_progress.PANEL, "is_open"),
    prevent_initial_call=True,
)
def refresh_build_progress(_: int, name: str | None, shown: bool):
    """The build's figures; when it ends, say so and stop (a panel never shown keeps waiting)."""
    directory = study_directory(name)
    record = None if directory is None else read_progress(directory)
    if record is None and not shown:
        return no_update, False, False
    return build_progress.progress_body(record), True, record is None
