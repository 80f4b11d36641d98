"""Callbacks of `/study`: a click on the MDL curve opens the list at that iteration."""

from __future__ import annotations

from dash import Input, Output, State, callback, no_update

from dashboard.pages import study as page
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
