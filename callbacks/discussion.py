"""Callbacks of explanations (cluster and subcomponent pages) and of a cluster's GitHub
discussion."""

from __future__ import annotations

from types import ModuleType

from dash import Input, Output, State, callback, ctx, no_update

from dashboard.app_state import settings
from dashboard.components.discussion import explanation_list, issue_list
from dashboard.pages import cluster as page
from dashboard.pages import component as component_page
from dashboard.stores import database, explanation_store
from dashboard.stores.database import StoreError
from dashboard.stores.explanations import NO_ITERATION, Explanation, ExplanationError
from dashboard.stores.github import GitHubClient, GitHubError, GitHubStore, sync
from dashboard.study_view import loaded_study


def explanation_target(study, store: dict) -> tuple[str, int, str, str]:
    """(study, iteration, kind, target) of the cluster or subcomponent a page shows."""
    if "cluster" in store:
        return study.name, store["iteration"], "cluster", str(store["cluster"])
    label = study.subcomponents["label"].iloc[store["subcomponent"]]
    return study.name, NO_ITERATION, "subcomponent", str(label)


def register_explanations(view: ModuleType) -> None:
    """List a page's explanations; on Save, store the typed one first (kept on error)."""

    @callback(
        Output(view.EXPLANATIONS, "children"),
        Output(view.EXPLAIN_MESSAGE, "children"),
        Output(view.EXPLAIN_MESSAGE, "is_open"),
        Output(view.EXPLAIN_TEXT, "value"),
        Input(view.STORE, "data"),
        Input(view.EXPLAIN_SAVE, "n_clicks"),
        State(view.EXPLAIN_AUTHOR, "value"),
        State(view.EXPLAIN_TEXT, "value"),
    )
    def explanations(store: dict, _clicks, author: str | None, text: str | None):
        target = explanation_target(loaded_study(store["version"]), store)
        cleared = no_update
        try:
            if ctx.triggered_id == view.EXPLAIN_SAVE:
                explanation_store().put(
                    Explanation(*target, "person", (author or "").strip(), (text or "").strip())
                )
                cleared = ""
            listed = explanation_store().of_target(*target)
        except (ExplanationError, StoreError) as error:
            return no_update, f"Not saved: {error}", True, no_update
        return explanation_list(listed), "", False, cleared


register_explanations(page)
register_explanations(component_page)


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
