"""Callbacks of a cluster page's explanations and GitHub discussion."""

from __future__ import annotations

from dash import Input, Output, State, callback, ctx, no_update

from dashboard.app_state import settings
from dashboard.components.discussion import explanation_list, issue_list
from dashboard.page_data import loaded_study
from dashboard.pages import cluster as page
from dashboard.stores import database, explanation_store
from dashboard.stores.database import StoreError
from dashboard.stores.explanations import Explanation, ExplanationError
from dashboard.stores.github import GitHubClient, GitHubError, GitHubStore, sync


@callback(
    Output(page.EXPLANATIONS, "children"),
    Output(page.EXPLAIN_MESSAGE, "children"),
    Output(page.EXPLAIN_MESSAGE, "is_open"),
    Output(page.EXPLAIN_TEXT, "value"),
    Input(page.STORE, "data"),
    Input(page.EXPLAIN_SAVE, "n_clicks"),
    State(page.EXPLAIN_AUTHOR, "value"),
    State(page.EXPLAIN_TEXT, "value"),
)
def explanations(store: dict, _clicks, author: str | None, text: str | None):
    """List the cluster's explanations; on Save, store the typed one first (kept on error)."""
    study = loaded_study(store["version"])
    target = (study.name, store["iteration"], "cluster", str(store["cluster"]))
    cleared = no_update
    try:
        if ctx.triggered_id == page.EXPLAIN_SAVE:
            explanation_store().put(
                Explanation(*target, "person", (author or "").strip(), (text or "").strip())
            )
            cleared = ""
        listed = explanation_store().of_target(*target)
    except (ExplanationError, StoreError) as error:
        return no_update, f"Not saved: {error}", True, no_update
    return explanation_list(listed), "", False, cleared


@callback(
    Output(page.DISCUSSION, "children"),
    Output(page.DISCUSS_MESSAGE, "children"),
    Output(page.DISCUSS_MESSAGE, "is_open"),
    Input(page.STORE, "data"),
    Input(page.DISCUSS_REFRESH, "n_clicks"),
)
def discussion(store: dict, _clicks):
    """Issues about this cluster from the store; Refresh first fetches what changed on GitHub
    since the last sync (the token stays on the server)."""
    current = settings()
    if current.github_repo is None:
        return issue_list([]), no_update, no_update
    github = GitHubStore(database())
    message, shown = "", False
    try:
        if ctx.triggered_id == page.DISCUSS_REFRESH:
            client = GitHubClient(
                current.github_api, current.github_repo, current.github_token, max_wait=10
            )
            report = sync(client, github)
            message, shown = f"Fetched {report.issues_stored} updated issue(s) from GitHub.", True
        study = loaded_study(store["version"])
        issues = github.issues_of(
            current.github_repo, study.name, store["iteration"], store["cluster"]
        )
    except (GitHubError, StoreError) as error:
        return no_update, f"GitHub discussion not refreshed: {error}", True
    return issue_list(issues), message, shown
